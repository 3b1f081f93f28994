"""Hooks for the fault tests and audits, all in one place. Each does nothing unless its environment
variable is set: the tests set them to kill a worker mid-job, pause a table write, or log every
job that starts (tests/test_reliability.py, tests/test_build_ray.py)."""
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


def kill_once() -> None:
    """Test hook: with SNNBENCH_FAULT_KILL_ONCE=MARKER set, the first job that manages to create
    MARKER kills its own process (SIGKILL), as a worker dying mid-task would."""
    marker = os.environ.get(KILL_ONCE_ENV)
    if not marker:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


PAUSE_WRITE_ENV = "SNNBENCH_FAULT_PAUSE_WRITE"


def pause_table_write() -> None:
    """Test hook: with SNNBENCH_FAULT_PAUSE_WRITE=MARKER set (and SNNBENCH_FAULT_PAUSE_WRITE_AT=N, the
    N-th table write of this process, default 1), create MARKER and sleep in the middle of writing the
    temporary file, so that a test can kill the process exactly there. Once MARKER exists, no pause."""
    _writes_in_this_process[0] += 1
    marker = os.environ.get(PAUSE_WRITE_ENV)
    if not marker or _writes_in_this_process[0] != int(os.environ.get(PAUSE_WRITE_ENV + "_AT", "1")):
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
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
    marker = os.environ.get(DROPPED_INTERRUPT_ENV)
    if not marker:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    _InterruptsWhileFinalised()  # made and finalised at once
