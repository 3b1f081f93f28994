"""Hooks for the fault tests and audits, all in one place. Each does nothing unless its environment
variable is set: the tests set them to kill a worker mid-job, pause a table write, interrupt a build
in a way Python drops, or log every job that starts (tests/build/test_reliability.py,
tests/build/test_build.py, tests/build/test_build_ray.py)."""
from __future__ import annotations

import os
import signal
import time


JOB_LOG_ENV = "SNNBENCH_JOB_LOG"            # append one line per job started (audits, tests)
KILL_ONCE_ENV = "SNNBENCH_FAULT_KILL_ONCE"  # tests: the first job to start kills its own process


def log_job_start(kind, cell_hash, seed) -> None:
    """Audit hook: with SNNBENCH_JOB_LOG=FILE set, append "kind cell seed pid time" for each job a
    worker starts (one write, so lines of concurrent workers never interleave)."""
    path = os.environ.get(JOB_LOG_ENV)
    if path:
        line = f"{kind} {cell_hash} {seed} {os.getpid()} {time.time():.3f}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def _first_to_claim(marker) -> bool:
    """Whether this call created the file `marker` (None or empty: no marker, False): of all the
    processes of a test, exactly one gets True."""
    if not marker:
        return False
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def kill_once() -> None:
    """Test hook: with SNNBENCH_FAULT_KILL_ONCE=MARKER set, the first job that manages to create
    MARKER kills its own process (SIGKILL), as a worker dying mid-task would."""
    if _first_to_claim(os.environ.get(KILL_ONCE_ENV)):
        os.kill(os.getpid(), signal.SIGKILL)


PAUSE_WRITE_ENV = "SNNBENCH_FAULT_PAUSE_WRITE"


def pause_table_write() -> None:
    """Test hook: with SNNBENCH_FAULT_PAUSE_WRITE=MARKER set (and SNNBENCH_FAULT_PAUSE_WRITE_AT=N, the
    N-th table write of this process, default 1), create MARKER and sleep in the middle of writing the
    temporary file, so that a test can kill the process exactly there. Once MARKER exists, no pause."""
    _writes_in_this_process[0] += 1
    if _writes_in_this_process[0] == int(os.environ.get(PAUSE_WRITE_ENV + "_AT", "1")) \
            and _first_to_claim(os.environ.get(PAUSE_WRITE_ENV)):
        time.sleep(120)


_writes_in_this_process = [0]


DROPPED_INTERRUPT_ENV = "SNNBENCH_FAULT_DROPPED_INTERRUPT"


class _InterruptsWhileFinalised:
    """Sends this process SIGINT from its finaliser: the KeyboardInterrupt the handler raises there is
    dropped by Python (printed as "Exception ignored in ..."), as one arriving during any
    garbage collection would be."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs at the next bytecode boundary, still inside __del__
            pass


def drop_an_interrupt() -> None:
    """Test hook: with SNNBENCH_FAULT_DROPPED_INTERRUPT=MARKER set, the first job that manages to create
    MARKER interrupts its own process in a way that Python drops (see _InterruptsWhileFinalised)."""
    if _first_to_claim(os.environ.get(DROPPED_INTERRUPT_ENV)):
        _InterruptsWhileFinalised()  # made and finalised at once
