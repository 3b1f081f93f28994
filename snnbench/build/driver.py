"""Building a table: the job list, the crash-safe journal, the executors and the resumable build.

A build is a list of jobs (kind, cell, seed) under one protocol. An executor runs them (in this
process, in a pool of single-thread worker processes, or as Ray tasks); the driver alone records
each finished job in an SQLite journal (WAL mode, one transaction per job) before it counts as done,
and writes the HDF5 table from the journal atomically, at checkpoints and at the end. Killing a
build loses at most the jobs in flight; running the same command again resumes.

Several builds may share one journal (a fw and a bw build of the same protocol, even at the same
time): a job is claimed in the journal before it runs, so no job runs twice, and a finished job is
reused by every build that needs it.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import math
import multiprocessing
import os
import platform
import signal
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import (ConfigError, JournalError, ProtocolMismatchError, SnnbenchError, StorageError,
                     TableFormatError)
from ..files import check_path, output_lock, same_file, storage_error
from ..options import MAX_SEED, seed_value, whole_number
from ..protocols import Protocol
from ..space.cell import Cell, check_space, space_hashes, uniform_sample_hashes

JOURNAL_SUFFIX = ".journal.sqlite"
JOURNAL_FORMAT = "snnbench-journal"
JOURNAL_VERSION = 1
JOB_LOG_ENV = "SNNBENCH_JOB_LOG"            # append one line per job started (audits, tests)
KILL_ONCE_ENV = "SNNBENCH_FAULT_KILL_ONCE"  # tests: the first job to start kills its own process
HEARTBEAT_S = 10.0
STALE_AFTER_S = 90.0


# ----------------------------------------------------------------------------- jobs
@dataclass(frozen=True, order=True)
class Job:
    """One unit of work of a build: score or train one cell with one seed (under the build's protocol)."""
    kind: str
    cell_hash: str
    seed: int


def _parse_seeds(seeds, what: str) -> tuple:
    if isinstance(seeds, str):
        try:
            seeds = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"{what} must be comma-separated integers such as 0,1,2, got {seeds[:40]!r}") from None
    seeds = tuple(whole_number(s, what) for s in seeds)
    if any(not 0 <= s <= MAX_SEED for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"{what} must be distinct integers in 0..2**63-1, got {', '.join(map(str, seeds))[:80]}")
    return seeds


@dataclass(frozen=True)
class BuildSpec:
    """What a build produces. The trained cells are `sample` cells drawn uniformly from the space
    with `sample_seed`, or every cell with all_cells, or an explicit list of hashes `cells`
    (e.g. the trained cells of another table); every trained cell is also scored, and with
    score_sample M the scored cells are M in total (the trained ones plus others drawn with the same
    seed), or every cell of the space with score_all. scores_only: score the selected cells, train none."""
    space: str
    protocol: Protocol
    out: Path
    sample: int | None = None
    all_cells: bool = False
    sample_seed: int = 0
    seeds: tuple = (0, 1, 2)
    score_seeds: tuple = (0,)
    scores_only: bool = False
    score_sample: int | None = None
    score_all: bool = False
    journal: Path | None = None
    data_dir: str | None = None
    cells: tuple | None = None
    # A table whose scores were re-made under another network graph keeps its training runs: they
    # were made under train_protocol (the same protocol but for the graph), recorded in train_journal.
    train_protocol: Protocol | None = None
    train_journal: Path | None = None
    scored_cells: tuple | None = None

    def __post_init__(self):
        if self.cells is not None:
            object.__setattr__(self, "cells", tuple(sorted({Cell.parse(c).hash for c in self.cells})))
        if self.scored_cells is not None:
            object.__setattr__(self, "scored_cells", tuple(sorted({Cell.parse(c).hash for c in self.scored_cells})))
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "seeds", _parse_seeds(self.seeds, "--seeds"))
        object.__setattr__(self, "score_seeds", _parse_seeds(self.score_seeds, "--score-seeds"))
        if self.journal is not None:
            object.__setattr__(self, "journal", Path(self.journal))
        if self.train_journal is not None:
            object.__setattr__(self, "train_journal", Path(self.train_journal))

    def validate(self) -> "BuildSpec":
        """Check every setting without creating anything; returns self (ConfigError otherwise)."""
        check_space(self.space)
        self.protocol.validate()
        if (self.sample is not None) + self.all_cells + (self.cells is not None) != 1:
            raise ConfigError("choose the cells: give one of --sample N, --all or --cells FILE")
        seed_value(self.sample_seed, "--sample-seed")
        for option, value in (("--sample", self.sample), ("--score-sample", self.score_sample)):
            if value is not None and whole_number(value, option) > len(space_hashes(self.space)):
                raise ConfigError(f"{option} {value} is more than the {len(space_hashes(self.space))} cells of "
                                  f"the {self.space} space (use --all for every cell)")
        if self.cells is not None:
            if not self.cells:
                raise ConfigError("the cell list is empty")
            if self.space == "fw" and any(Cell.from_hash(h).space != "fw" for h in self.cells):
                raise ConfigError("the cell list holds bw cells, which a fw table cannot hold")
        if self.sample is not None and self.sample < 1:
            raise ConfigError(f"--sample must be at least 1, got {self.sample}")
        if self.score_sample is not None and self.score_sample < 1:
            raise ConfigError(f"--score-sample must be at least 1, got {self.score_sample}")
        if not self.score_seeds:
            raise ConfigError("give at least one scoring seed (--score-seeds 0)")
        if not self.scores_only and not self.seeds:
            raise ConfigError("give at least one training seed (--seeds 0,1) or --scores-only")
        if self.out.suffix != ".h5":
            raise ConfigError(f"--out must name an .h5 file, got {str(self.out)[:200]}")
        check_path(self.out, "--out")
        check_path(self.journal_path, "--journal")
        if self.out.is_dir():
            raise ConfigError(f"--out {self.out} is a folder")
        if self.out.exists() and not self.out.is_file():
            raise ConfigError(f"--out {self.out} is not a regular file")
        if self.journal_path.is_dir():
            raise ConfigError(f"--journal {self.journal_path} is a folder")
        if same_file(self.journal_path, self.out):
            raise ConfigError("the journal and the table must be different files")
        if self.train_protocol is not None:
            from ..protocols import differs_only_in_graph
            if not differs_only_in_graph(self.train_protocol, self.protocol):
                raise ConfigError("the training runs' protocol may differ from the table's only in the graph")
            if self.train_journal is None:
                raise ConfigError("a training protocol of its own needs the journal of its runs (train_journal)")
        return self

    @property
    def journal_path(self) -> Path:
        return self.journal if self.journal is not None else Path(str(self.out) + JOURNAL_SUFFIX)

    @property
    def training_seeds(self) -> tuple:
        return () if self.scores_only else self.seeds

    def selected_cells(self) -> list[str]:
        """The cells chosen by --sample/--all (trained unless scores_only), sorted by hash."""
        if self.all_cells:
            return sorted(space_hashes(self.space))
        if self.cells is not None:
            return list(self.cells)
        return uniform_sample_hashes(self.space, self.sample, self.sample_seed)

    def score_cells(self) -> list[str]:
        """Every cell of the table (each is scored for every scoring seed), sorted by hash."""
        selected = self.selected_cells()
        if self.all_cells or self.score_all:
            return sorted(space_hashes(self.space))
        if self.scored_cells is not None:
            selected = sorted(set(selected) | set(self.scored_cells))
        if self.score_sample is None or self.score_sample <= len(selected):
            return selected
        chosen = set(selected)
        pool = space_hashes(self.space)
        # a second stream of the same seed: the same command always adds the same cells
        for i in np.random.default_rng([self.sample_seed, 1]).permutation(len(pool)):
            if len(chosen) >= self.score_sample:
                break
            chosen.add(pool[i])
        return sorted(chosen)

    def jobs(self) -> list[Job]:
        """Score jobs first (cell x scoring seed), then training runs seed by seed, so that a partial
        table has every cell scored and as many cells as possible with one run."""
        jobs = [Job("score", h, s) for h in self.score_cells() for s in self.score_seeds]
        if not self.scores_only:
            train = self.selected_cells()
            jobs += [Job("train", h, s) for s in self.seeds for h in train]
        return jobs

    def selection(self) -> dict:
        """How the cells were chosen, as recorded in the table."""
        chosen = {"mode": "all" if self.all_cells else "cells" if self.cells is not None else "sample",
                  "sample": self.sample, "sample_seed": self.sample_seed,
                  "score_sample": "all" if self.score_all else self.score_sample,
                  "scores_only": self.scores_only, "sampler": "space.uniform_sample_hashes"}
        if self.cells is not None:
            chosen["cells"] = list(self.cells)
        if self.scored_cells is not None:
            chosen["scored_cells"] = list(self.scored_cells)
        return chosen


# ----------------------------------------------------------------------------- worker side
def _log_job_start(kind, cell_hash, seed) -> None:
    path = os.environ.get(JOB_LOG_ENV)
    if path:
        line = f"{kind} {cell_hash} {seed} {os.getpid()} {time.time():.3f}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def _kill_once_for_fault_test() -> None:
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


class WorkerStopping(Exception):
    """A worker process asked to stop (Ctrl-C reached it) refuses to start another job."""


_stop_requested = threading.Event()


def execute_job(kind: str, cell_hash: str, protocol_json: str, seed: int, data_dir=None, device=None,
                checkpoint_root=None, checkpoint_every: int = 0) -> dict:
    """What every executor runs for one job (in a worker): jobs.run_job plus the audit/test hooks. A
    worker bound to one GPU (devices.bind_worker, bind_ray_gpu) runs a cuda job on that GPU."""
    from ..jobs import run_job
    if _stop_requested.is_set():
        raise WorkerStopping("this worker was interrupted")
    _log_job_start(kind, cell_hash, seed)
    _kill_once_for_fault_test()
    return run_job(kind, cell_hash, protocol_json, seed, data_dir=data_dir, device=device,
                   checkpoint_root=checkpoint_root, checkpoint_every=checkpoint_every)


def execute_ray_job(*args) -> dict:
    """A job as a Ray task: bind the GPU Ray gave the task (none: the CPU), then execute_job."""
    from ..model.devices import bind_ray_gpu
    bind_ray_gpu()
    return execute_job(*args)


def _ray_cpu_task(*args) -> dict:
    return execute_ray_job(*args)


def _ray_gpu_task(*args) -> dict:
    # A separate remote function with max_calls=1: a Ray worker process that has initialised CUDA on
    # one GPU cannot move to another, and Ray may hand the next task another GPU id, so each GPU task
    # gets a fresh process.
    return execute_ray_job(*args)


def dataset_fingerprint(protocol_json: str, data_dir=None) -> str:
    """Fingerprint (data.Dataset.fingerprint) of the data a protocol trains and scores on: its
    dataset's splits as its input_size and train_size make them. Loaded afresh, so that changed files
    are seen."""
    from ..model.data import load_for_protocol
    return load_for_protocol(Protocol.from_json(protocol_json), data_dir).fingerprint()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when its driver ends, however it ends (kill -9 included): the
    kernel's parent-death signal on Linux, and a thread that watches the parent's pid everywhere (a
    worker whose parent died is re-parented, so its parent pid changes)."""
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the watcher thread alone
    if os.getppid() != parent_pid:  # the driver died before prctl took effect
        os._exit(1)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="snnbench-parent-watch", daemon=True).start()


def _init_single_thread_worker(parent_pid: int | None = None, gpu_plan=None, started=None) -> None:
    """Initialiser of a pool worker: one torch thread; no new job after Ctrl-C (the terminal sends
    SIGINT to the whole process group; the driver decides what happens, the worker starts nothing
    more); end with the driver. gpu_plan: the GPU of each worker (devices.worker_gpus); the k-th
    worker to start (`started`, a shared counter) binds to gpu_plan[k mod N] before torch touches CUDA."""
    signal.signal(signal.SIGINT, lambda *_: _stop_requested.set())
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    if gpu_plan and started is not None:
        from ..model.devices import bind_worker
        with started.get_lock():
            k = started.value
            started.value += 1
        bind_worker(gpu_plan[k % len(gpu_plan)])
    import torch
    torch.set_num_threads(1)


# ----------------------------------------------------------------------------- executors
class InProcessExecutor:
    """Runs each job in the calling process, one at a time (uses the GPU when there is one)."""
    name = "local"

    def __init__(self, data_dir=None, device=None, checkpoint_root=None, checkpoint_every: int = 0):
        self.data_dir, self.device = data_dir, device
        self.checkpoint_root, self.checkpoint_every = checkpoint_root, checkpoint_every
        self.capacity = 1
        self._queue = []

    def fingerprint(self, protocol: Protocol) -> str:
        return dataset_fingerprint(protocol.to_json(), self.data_dir)

    @property
    def in_flight(self) -> int:
        return len(self._queue)

    def submit(self, job: Job, protocol_json: str) -> None:
        self._queue.append((job, protocol_json))

    def wait(self, timeout: float) -> list:
        """Run one queued job; returns [(job, result, error)]."""
        job, protocol_json = self._queue.pop(0)
        try:
            return [(job, execute_job(job.kind, job.cell_hash, protocol_json, job.seed, self.data_dir,
                                      self.device, self.checkpoint_root, self.checkpoint_every), None)]
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a failing job is recorded and the build goes on
            return [(job, None, f"{type(exc).__name__}: {exc}")]

    def close(self) -> None:
        from ..model.checkpoint import remove_empty_root
        remove_empty_root(self.checkpoint_root)


class ProcessPoolExecutor:
    """Runs jobs in N single-thread worker processes (spawned). A worker that dies (killed, out of
    memory) breaks the pool; the pool is rebuilt and the jobs in flight are run again, each at most
    max_retries more times (a training job resumes from its checkpoint). gpu_plan: the GPU each worker
    binds to (devices.worker_gpus: round-robin over the visible GPUs); None: no binding (CPU)."""
    name = "local"

    def __init__(self, workers: int, data_dir=None, device=None, max_retries: int = 3, gpu_plan=None,
                 checkpoint_root=None, checkpoint_every: int = 0):
        self.workers, self.data_dir, self.device, self.max_retries = workers, data_dir, device, max_retries
        self.gpu_plan = list(gpu_plan) if gpu_plan and any(g is not None for g in gpu_plan) else None
        self.checkpoint_root, self.checkpoint_every = checkpoint_root, checkpoint_every
        self.capacity = 2 * workers
        self._futures = {}
        self._attempts = {}
        self._pool = self._new_pool()

    def _new_pool(self):
        context = multiprocessing.get_context("spawn")
        started = context.Value("i", 0) if self.gpu_plan else None
        return cf.ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_single_thread_worker,
                                      initargs=(os.getpid(), self.gpu_plan, started))

    def fingerprint(self, protocol: Protocol) -> str:
        return dataset_fingerprint(protocol.to_json(), self.data_dir)

    @property
    def in_flight(self) -> int:
        return len(self._futures)

    def submit(self, job: Job, protocol_json: str) -> None:
        self._attempts[job] = self._attempts.get(job, 0) + 1
        future = self._pool.submit(execute_job, job.kind, job.cell_hash, protocol_json, job.seed,
                                   self.data_dir, self.device, self.checkpoint_root, self.checkpoint_every)
        self._futures[future] = (job, protocol_json)

    def wait(self, timeout: float) -> list:
        finished, _ = cf.wait(list(self._futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out, broken = [], []
        for future in finished:
            job, protocol_json = self._futures.pop(future)
            try:
                out.append((job, future.result(), None))
            except cf.process.BrokenProcessPool:
                broken.append((job, protocol_json))
            except WorkerStopping:
                raise KeyboardInterrupt from None
            except Exception as exc:
                out.append((job, None, f"{type(exc).__name__}: {exc}"))
        if broken:
            out += self._rebuild(broken)
        return out

    def _rebuild(self, broken: list) -> list:
        """A worker died: every job still in the broken pool is lost; run them again in a new pool."""
        for future, (job, protocol_json) in list(self._futures.items()):
            broken.append((job, protocol_json))
        self._futures.clear()
        self._stop_pool()
        self._pool = self._new_pool()
        failed = []
        for job, protocol_json in broken:
            if self._attempts[job] > self.max_retries:
                failed.append((job, None, f"worker died {self._attempts[job]} times"))
            else:
                self.submit(job, protocol_json)
        return failed

    def _stop_pool(self) -> None:
        """Cancel the queued jobs and end the worker processes now: a job in flight is lost (the
        journal never saw it), and no queued job starts after the build stopped."""
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            try:
                process.kill()
            except (OSError, ValueError, AttributeError):
                pass
        for process in processes:
            try:
                process.join(timeout=5)
            except (OSError, ValueError, AssertionError, AttributeError):
                pass

    def close(self) -> None:
        from ..model.checkpoint import remove_empty_root
        self._futures.clear()
        self._stop_pool()
        remove_empty_root(self.checkpoint_root)


class RayExecutor:
    """Runs jobs as Ray tasks: training tasks take one GPU each when the cluster has GPUs (scoring
    tasks a quarter of one; jobs_per_gpu M: 1/M), one CPU otherwise or with device 'cpu'; Ray runs a
    task again when its worker dies (up to max_retries). A task that holds a GPU computes on the GPU
    Ray gave it (devices.bind_ray_gpu) in a process of its own. Results come back to the driver,
    which alone writes the journal."""
    name = "ray"

    def __init__(self, address=None, data_dir=None, device=None, max_retries: int = 3, jobs_per_gpu=None,
                 checkpoint_root=None, checkpoint_every: int = 0):
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'snnbench[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            if address:  # join a running cluster (`ray start --head` on the head node)
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(log_to_driver=False, include_dashboard=False)
        from ..model.devices import ray_gpu_share
        resources = ray.cluster_resources()
        self.cluster_gpus = resources.get("GPU", 0)
        self.data_dir, self.device, self.max_retries = data_dir, device, max_retries
        self.jobs_per_gpu = jobs_per_gpu
        ray_gpu_share("train", device, self.cluster_gpus, jobs_per_gpu)  # DeviceError before any task
        self.checkpoint_root, self.checkpoint_every = checkpoint_root, checkpoint_every
        self.capacity = max(2, 2 * int(resources.get("CPU", 1) + self.cluster_gpus * (jobs_per_gpu or 1)))
        self._on_cpu = ray.remote(_ray_cpu_task)
        self._on_gpu = ray.remote(max_calls=1)(_ray_gpu_task)
        self._refs = {}

    def _options(self, kind: str) -> dict:
        from ..model.devices import ray_gpu_share
        gpus = ray_gpu_share(kind, self.device, self.cluster_gpus, self.jobs_per_gpu)
        return dict(num_cpus=1, num_gpus=gpus, max_retries=self.max_retries, retry_exceptions=False)

    def fingerprint(self, protocol: Protocol) -> str:
        task = self.ray.remote(dataset_fingerprint).options(num_cpus=1, max_retries=self.max_retries)
        return self.ray.get(task.remote(protocol.to_json(), self.data_dir))

    @property
    def in_flight(self) -> int:
        return len(self._refs)

    def submit(self, job: Job, protocol_json: str) -> None:
        options = self._options(job.kind)
        remote = self._on_gpu if options["num_gpus"] > 0 else self._on_cpu
        ref = remote.options(**options).remote(job.kind, job.cell_hash, protocol_json, job.seed, self.data_dir,
                                               self.device, self.checkpoint_root, self.checkpoint_every)
        self._refs[ref] = job

    def wait(self, timeout: float) -> list:
        ready, _ = self.ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if ready:
            more, _ = self.ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
            ready = list({*ready, *more})
        out = []
        for ref in ready:
            job = self._refs.pop(ref)
            try:
                out.append((job, self.ray.get(ref), None))
            except self.ray.exceptions.RayError as exc:
                # a task's own exception (DeviceError, ...) is what the journal should say, not Ray's wrapper
                cause = getattr(exc, "cause", None)
                shown = cause if isinstance(cause, Exception) else exc
                out.append((job, None, f"{type(shown).__name__}: {str(shown).splitlines()[0] if str(shown) else ''}"))
        return out

    def close(self) -> None:
        for ref in self._refs:
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # a task that finished meanwhile cannot be cancelled: nothing to do
                pass
        self._refs.clear()
        from ..model.checkpoint import remove_empty_root
        remove_empty_root(self.checkpoint_root)


def make_executor(executor: str = "local", workers: int | None = 1, address=None, data_dir=None, device=None,
                  max_retries: int = 3, jobs_per_gpu: int | None = None, checkpoint_root=None,
                  checkpoint_every: int = 0):
    """An executor by name: 'local' (in-process, or a pool when workers > 1) or 'ray'.

    device: cpu, cuda (a local pool spreads its workers over the visible GPUs, round-robin), cuda:K
    or None (cuda when a GPU is visible). jobs_per_gpu M: at most M workers per GPU, and without
    `workers` GPUs x M of them; under Ray, each training task takes 1/M of a GPU. checkpoint_root:
    the folder of the training jobs' checkpoints (checkpoint.build_root), written every
    checkpoint_every epochs (0: none)."""
    from ..model.devices import check_device, visible_gpus, worker_count, worker_gpus
    if executor == "ray":
        return RayExecutor(address, data_dir, device, max_retries, jobs_per_gpu, checkpoint_root, checkpoint_every)
    if executor != "local":
        raise ConfigError(f"unknown executor {executor!r}: use local or ray")
    if address is not None:
        raise ConfigError("--address is for --executor ray")
    check_device(device)
    visible = visible_gpus() if device != "cpu" else []
    workers = worker_count(workers, device, jobs_per_gpu, visible)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    plan = worker_gpus(device, workers, visible, jobs_per_gpu)
    if workers == 1:
        return InProcessExecutor(data_dir, device, checkpoint_root, checkpoint_every)
    return ProcessPoolExecutor(workers, data_dir, device, max_retries, plan, checkpoint_root, checkpoint_every)


# ----------------------------------------------------------------------------- the journal
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_stopped(pid: int) -> bool:
    """Whether a process is stopped (Ctrl-Z, SIGSTOP) or traced: paused, not dead (Linux /proc; False
    where there is none)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("T", "t")


_STORAGE_ERRORS = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")


def journal_error(exc: sqlite3.Error, path) -> SnnbenchError:
    """SQLite's own error on a journal as a typed error of one line: StorageError when the disk or
    the file system failed (full, read-only, I/O), JournalError otherwise."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if name.startswith(_STORAGE_ERRORS) or "disk" in message or "readonly" in message:
        return StorageError(f"journal {path}: {message}")
    return JournalError(f"journal {path}: {message}")


def _protocol_difference(old_json: str, new: Protocol) -> str:
    old = json.loads(Protocol.from_json(old_json).to_json())
    new_d = json.loads(new.to_json())
    diff = [f"{k} {old.get(k)} vs {new_d.get(k)}" for k in sorted(set(old) | set(new_d))
            if k not in ("name", "seed") and old.get(k) != new_d.get(k)]
    return ", ".join(diff) or "same fields, other protocol version"


def _check_journal(conn: sqlite3.Connection, path: Path, protocol: Protocol) -> None:
    """Refuse (reading only) a file that is not our journal, or a journal of another protocol."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:  # not SQLite at all, or an SQLite file too damaged to read
        raise ConfigError(f"{path} exists and is not an snnbench journal (SQLite: {exc}); "
                          "choose another --journal or --out") from None
    if not tables:
        return
    meta = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
    if meta.get("format") != JOURNAL_FORMAT:
        raise ConfigError(f"{path} exists and is not an snnbench journal; choose another --journal")
    if int(meta.get("version", 0)) > JOURNAL_VERSION:
        raise ConfigError(f"{path} is a journal of a newer snnbench (version {meta['version']})")
    if meta.get("protocol_hash") != protocol.hash:
        raise ProtocolMismatchError(
            f"journal {path} holds jobs of protocol {meta.get('protocol_name')} {meta.get('protocol_hash')}, "
            f"not {protocol.name} {protocol.hash} ({_protocol_difference(meta['protocol_json'], protocol)}): "
            "rerun with the same protocol options, or give another --journal")


def _done_jobs(conn: sqlite3.Connection, protocol_hash: str) -> set:
    rows = conn.execute("SELECT kind, cell_hash, seed FROM jobs WHERE protocol_hash=?", (protocol_hash,))
    return {Job(k, h, int(s)) for k, h, s in rows}


def read_done_jobs(path, protocol: Protocol, leave_no_files: bool = False) -> set:
    """The finished jobs of `protocol` in a journal, read through a read-only connection: it takes no
    write lock, so it never waits for (or delays) builds writing the journal. leave_no_files: when
    no build has the journal open (no PATH-wal file), read it as an immutable file, so that SQLite
    does not leave the -wal and -shm files a read-only connection creates (a dry run writes nothing)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"journal {path} does not exist")
    idle = leave_no_files and not Path(str(path) + "-wal").exists()
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if idle else "")
    conn = sqlite3.connect(uri, uri=True, timeout=60)
    try:
        _check_journal(conn, path, protocol)
        return _done_jobs(conn, protocol.hash)
    except sqlite3.OperationalError as e:  # e.g. an empty file: no tables at all
        raise ConfigError(f"journal {path} cannot be read: {e}") from None
    finally:
        conn.close()


class Journal:
    """The crash-safe record of finished jobs: an SQLite database in WAL mode. A job is done once its
    row is committed (one transaction per job); rows are keyed by (kind, cell_hash, protocol_hash,
    seed), so a job is never recorded twice. A journal holds the jobs of one protocol only. Keep it
    on a local disk of the driver: SQLite's WAL mode does not work on network file systems."""

    def __init__(self, path, protocol: Protocol):
        self.path = Path(path)
        self.protocol = protocol
        self.protocol_hash = protocol.hash
        existed = self.path.exists()
        if existed and self.path.is_dir():
            raise ConfigError(f"journal {self.path} is a folder")
        if not existed:
            self._create_file()
        try:
            self.conn = self._connect(self.path)
        except sqlite3.Error as exc:
            raise journal_error(exc, self.path) from None
        try:
            if existed:
                self._check_existing()
            self._create()
        except sqlite3.Error as exc:
            self.conn.close()
            if not existed:
                _remove_journal_files(self.path)
            raise journal_error(exc, self.path) from None
        except BaseException:
            self.conn.close()
            if not existed:
                _remove_journal_files(self.path)
            raise

    def _create_file(self) -> None:
        """Create the (empty) journal file, so that a refusal of the file system names its real reason
        (SQLite only says 'unable to open database file')."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            pass
        except OSError as exc:
            raise storage_error(exc, self.path, "cannot create the journal") from None

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
        return conn

    def _check_existing(self) -> None:
        """Refuse (without writing anything) a file that is not our journal, or one of another protocol."""
        _check_journal(self.conn, self.path, self.protocol)

    def _create(self) -> None:
        c = self.conn
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=FULL")
        with self.transaction():
            c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            c.execute("""CREATE TABLE IF NOT EXISTS jobs (
                kind TEXT NOT NULL, cell_hash TEXT NOT NULL, protocol_hash TEXT NOT NULL, seed INTEGER NOT NULL,
                result TEXT NOT NULL, where_ran TEXT, run_id TEXT, finished REAL,
                PRIMARY KEY (kind, cell_hash, protocol_hash, seed))""")
            c.execute("""CREATE TABLE IF NOT EXISTS claims (
                kind TEXT NOT NULL, cell_hash TEXT NOT NULL, protocol_hash TEXT NOT NULL, seed INTEGER NOT NULL,
                run_id TEXT NOT NULL, claimed REAL, PRIMARY KEY (kind, cell_hash, protocol_hash, seed))""")
            c.execute("""CREATE TABLE IF NOT EXISTS runs (
                run_id TEXT PRIMARY KEY, pid INTEGER, host TEXT, started REAL, heartbeat REAL, finished REAL,
                out TEXT, executor TEXT, command TEXT, jobs_run INTEGER DEFAULT 0, jobs_failed INTEGER DEFAULT 0)""")
            c.execute("""CREATE TABLE IF NOT EXISTS failures (
                kind TEXT, cell_hash TEXT, protocol_hash TEXT, seed INTEGER, run_id TEXT, error TEXT, at REAL)""")
            meta = {"format": JOURNAL_FORMAT, "version": str(JOURNAL_VERSION), "protocol_hash": self.protocol_hash,
                    "protocol_json": self.protocol.to_json(), "protocol_name": self.protocol.name,
                    "created": str(time.time())}
            c.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", meta.items())

    def transaction(self, immediate: bool = False):
        """A transaction context; immediate takes the write lock at once (claims, records)."""
        return _Transaction(self.conn, immediate, self.path)

    def close(self) -> None:
        self.conn.close()

    # -- dataset fingerprint
    def check_fingerprint(self, fingerprint: str) -> None:
        """Record the dataset fingerprint, or refuse one that differs from the recorded one."""
        with self.transaction():
            row = self.conn.execute("SELECT value FROM meta WHERE key='dataset_fingerprint'").fetchone()
            if row is None:
                self.conn.execute("INSERT INTO meta (key, value) VALUES ('dataset_fingerprint', ?)", (fingerprint,))
            elif row[0] != fingerprint:
                raise ProtocolMismatchError(
                    f"journal {self.path} was built on {self.protocol.dataset} data with fingerprint {row[0]}, "
                    f"but the data now has fingerprint {fingerprint}: the dataset files changed")

    # -- runs
    def start_run(self, out, executor: str, command: str) -> str:
        run_id = uuid.uuid4().hex[:12]
        now = time.time()
        with self.transaction():
            self.conn.execute("INSERT INTO runs (run_id, pid, host, started, heartbeat, out, executor, command) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                              (run_id, os.getpid(), socket.gethostname(), now, now, str(out), executor, command))
        return run_id

    def finish_run(self, run_id: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE runs SET finished=? WHERE run_id=?", (time.time(), run_id))
            self.conn.execute("DELETE FROM claims WHERE run_id=?", (run_id,))

    def runs(self, out=None) -> list[dict]:
        """The build invocations recorded in the journal (for one output file when out is given)."""
        rows = self.conn.execute("SELECT run_id, pid, host, started, finished, out, executor, command, jobs_run, "
                                 "jobs_failed FROM runs ORDER BY started").fetchall()
        keys = ("run_id", "pid", "host", "started", "finished", "out", "executor", "command", "jobs_run", "jobs_failed")
        runs = [dict(zip(keys, r)) for r in rows]
        return [r for r in runs if out is None or r["out"] == str(out)]

    def _run_alive(self, run_id: str) -> bool:
        row = self.conn.execute("SELECT pid, host, heartbeat, finished FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None or row[3] is not None:
            return False
        pid, host, heartbeat, _ = row
        local = host == socket.gethostname()
        if time.time() - heartbeat > STALE_AFTER_S:
            # silent too long: dead or hung, unless it is a build on this host that is only paused
            # (Ctrl-Z): it will resume and record the job it holds
            return local and pid != os.getpid() and _pid_stopped(pid)
        if not local:
            return True
        return pid != os.getpid() and _pid_alive(pid)  # our own pid in another run: a reused pid, dead

    # -- jobs
    def _key(self, job: Job) -> tuple:
        return (job.kind, job.cell_hash, self.protocol_hash, int(job.seed))

    def done_jobs(self) -> set:
        """Every job of this protocol recorded as finished."""
        return _done_jobs(self.conn, self.protocol_hash)

    def claim(self, jobs, run_id: str) -> tuple[list, list, list]:
        """Claim jobs for a run before running them. Returns (claimed, already done, busy: claimed by
        another build that is still alive). A claim of a dead build (killed) is taken over."""
        claimed, done, busy = [], [], []
        with self.transaction(immediate=True):
            for job in jobs:
                key = self._key(job)
                if self.conn.execute("SELECT 1 FROM jobs WHERE kind=? AND cell_hash=? AND protocol_hash=? AND seed=?",
                                     key).fetchone():
                    done.append(job)
                    continue
                owner = self.conn.execute("SELECT run_id FROM claims WHERE kind=? AND cell_hash=? AND protocol_hash=? "
                                          "AND seed=?", key).fetchone()
                if owner and owner[0] != run_id and self._run_alive(owner[0]):
                    busy.append(job)
                    continue
                self.conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?)", (*key, run_id, time.time()))
                claimed.append(job)
        return claimed, done, busy

    def record(self, job: Job, result: dict, run_id: str) -> bool:
        """Commit one finished job (one transaction). False if the job was already recorded."""
        key = self._key(job)
        if result.get("protocol_hash") != self.protocol_hash or result.get("cell_hash") != job.cell_hash:
            raise ProtocolMismatchError(f"a worker returned a result of protocol {result.get('protocol_hash')} "
                                        f"for cell {result.get('cell_hash')}; expected {self.protocol_hash} {job.cell_hash}")
        with self.transaction(immediate=True):
            cur = self.conn.execute("INSERT OR IGNORE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                    (*key, json.dumps(result), str(result.get("where", "")), run_id, time.time()))
            self.conn.execute("DELETE FROM claims WHERE kind=? AND cell_hash=? AND protocol_hash=? AND seed=?", key)
            self.conn.execute("UPDATE runs SET jobs_run = jobs_run + 1, heartbeat=? WHERE run_id=?", (time.time(), run_id))
        return cur.rowcount == 1

    def record_failure(self, job: Job, error: str, run_id: str) -> None:
        with self.transaction(immediate=True):
            self.conn.execute("INSERT INTO failures VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (*self._key(job), run_id, error, time.time()))
            self.conn.execute("DELETE FROM claims WHERE kind=? AND cell_hash=? AND protocol_hash=? AND seed=?",
                              self._key(job))
            self.conn.execute("UPDATE runs SET jobs_failed = jobs_failed + 1 WHERE run_id=?", (run_id,))

    def results(self, jobs) -> dict:
        """{job: result dict} for the finished jobs among `jobs`; JournalError for a damaged row."""
        return self.results_after(jobs)[0]

    def results_after(self, jobs, row: int = 0) -> tuple[dict, int, int]:
        """The results of the jobs among `jobs` recorded after journal row `row` (0: every row), so that
        a build reads each row once however often it writes its table. Returns ({job: result dict},
        the last row read (`row` when none is new), how many rows were read). Rows are only ever added
        (INSERT OR IGNORE, no update, no delete), and SQLite numbers them in commit order, so the
        rows after `row` are exactly the jobs finished since. JournalError for a damaged row."""
        wanted = jobs if isinstance(jobs, (set, frozenset)) else set(jobs)
        out, last, n = {}, row, 0
        rows = self.conn.execute("SELECT rowid, kind, cell_hash, seed, result FROM jobs WHERE protocol_hash=? "
                                 "AND rowid>? ORDER BY rowid", (self.protocol_hash, row))
        for rowid, kind, cell_hash, seed, result in rows:
            last, n = rowid, n + 1
            job = Job(kind, cell_hash, int(seed))
            if job in wanted:
                out[job] = _checked_result(job, result, self.path)
        return out, last, n


_RESULT_KEYS = {"score": ("hd", "sahd", "sahd_eq9", "firing_rate", "wall_time", "n_params"),
                "train": ("valid_acc", "test_acc", "train_time", "firing_rate", "sops", "macs", "energy_pj",
                          "epochs_run", "diverged", "n_params", "valid_acc_curve", "train_acc", "train_loss",
                          "epoch_time")}


def _checked_result(job: Job, text, path) -> dict:
    """A journal row's result, parsed and checked for the keys a table needs."""
    what = f"journal {path} is damaged: the result of {job.kind} {job.cell_hash} seed {job.seed}"
    try:
        result = json.loads(text)
    except (TypeError, ValueError):
        raise JournalError(f"{what} is not JSON") from None
    if not isinstance(result, dict):
        raise JournalError(f"{what} is not a JSON object")
    missing = [k for k in _RESULT_KEYS.get(job.kind, ()) if k not in result]
    if missing:
        raise JournalError(f"{what} lacks {', '.join(missing)}")
    return result


def _remove_journal_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(str(path) + suffix)
        except OSError:
            pass


class _Transaction:
    """BEGIN [IMMEDIATE] ... COMMIT, or ROLLBACK on an exception. An SQLite error (a full disk, an I/O
    error) leaves as a StorageError or JournalError carrying SQLite's own message: after such an
    error SQLite may have rolled back already, and a second ROLLBACK would only say 'no transaction
    is active'."""

    def __init__(self, conn, immediate: bool = False, path=None):
        self.conn, self.immediate, self.path = conn, immediate, path

    def __enter__(self):
        try:
            self.conn.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")
        except sqlite3.Error as exc:
            raise journal_error(exc, self.path) from None
        return self.conn

    def __exit__(self, exc_type, exc, _tb):
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return False
            except sqlite3.Error as commit_error:
                exc_type, exc = type(commit_error), commit_error
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the error that brought us here is the one to report
        if isinstance(exc, sqlite3.Error):
            raise journal_error(exc, self.path) from None
        return False


class _Heartbeat(threading.Thread):
    """Keeps a run's heartbeat fresh so that other builds sharing the journal see it alive."""

    def __init__(self, path: Path, run_id: str):
        super().__init__(daemon=True)
        self.path, self.run_id = path, run_id
        self.stop_event = threading.Event()

    def run(self):
        conn = sqlite3.connect(str(self.path), timeout=60)
        try:
            while not self.stop_event.wait(HEARTBEAT_S):
                try:
                    with conn:
                        conn.execute("UPDATE runs SET heartbeat=? WHERE run_id=?", (time.time(), self.run_id))
                except sqlite3.Error:
                    pass
        finally:
            conn.close()

    def stop(self):
        self.stop_event.set()


# ----------------------------------------------------------------------------- the build
@dataclass
class BuildSummary:
    """What a build did. Times in seconds."""
    out: Path
    journal: Path
    n_cells: int
    n_trained: int
    n_seeds: int
    jobs_total: int
    jobs_run: int
    jobs_reused: int
    jobs_by_others: int
    jobs_failed: int
    elapsed: float
    complete: bool
    failures: list = field(default_factory=list)

    def line(self) -> str:
        rate = self.jobs_run / self.elapsed if self.elapsed > 0 else 0.0
        text = (f"{'built' if self.complete else 'INCOMPLETE'} {self.out}: {self.n_cells} cells "
                f"({self.n_trained} trained x {self.n_seeds} seeds); {self.jobs_total} jobs: {self.jobs_run} run now, "
                f"{self.jobs_reused} from the journal")
        if self.jobs_by_others:
            text += f", {self.jobs_by_others} by another build"
        if self.jobs_failed:
            text += f", {self.jobs_failed} FAILED (rerun to retry)"
        return text + f"; {self.elapsed:.1f} s ({rate:.2f} jobs/s); journal {self.journal}"


def _same_selection(meta: dict, spec: BuildSpec) -> bool:
    """Whether a table's metadata describes the build `spec` (the same cells, seeds and journal): a
    rerun of that build, which may write over it."""
    recorded = (meta.get("build") or {}).get("journal")
    if not recorded:
        return False
    table_folder = spec.out.parent
    if not any(same_file(candidate, spec.journal_path)
               for candidate in (Path(recorded), table_folder / Path(recorded).name)):
        return False
    return (json.dumps(meta.get("selection"), sort_keys=True) == json.dumps(spec.selection(), sort_keys=True)
            and list(meta.get("seeds", [])) == list(spec.training_seeds)
            and list(meta.get("score_seeds", [])) == list(spec.score_seeds))


def check_output(spec: BuildSpec, force: bool = False, extend: bool = False) -> str:
    """What a build may do with its output file. 'new': there is none; 'resume': it is this build's
    own table (same journal, cells and seeds); 'replace' (force) or 'extend' (extend) as asked.
    Anything else is refused: a file that is not a table, a table of another protocol or space, or
    another build's table without --force / --extend."""
    from ..table.reader import Bench
    out = spec.out
    if force and extend:
        raise ConfigError("give --force (replace the table) or --extend (add to it), not both")
    if not out.exists():
        return "new"
    try:
        bench = Bench(out)
    except TableFormatError as exc:
        raise TableFormatError(f"refusing to overwrite {out}: {exc}; choose another --out") from None
    with bench:
        meta = bench.metadata
    if meta["protocol_hash"] != spec.protocol.hash and not force:
        raise ProtocolMismatchError(f"{out} holds a table of protocol {meta['protocol_name']} {meta['protocol_hash']}, "
                                    f"not {spec.protocol.name} {spec.protocol.hash}: choose another --out "
                                    "(or --force to replace it)")
    if meta["space"] != spec.space and not force:
        raise ConfigError(f"{out} holds a table of the {meta['space']} space, not {spec.space}: choose another --out "
                          "(or --force to replace it)")
    if _same_selection(meta, spec):
        return "resume"
    if force:
        return "replace"
    if extend:
        return "extend"
    raise ConfigError(f"{out} already holds another table ({meta['n_cells']} cells, {meta['n_trained']} trained, "
                      f"{meta['n_train_runs']} training runs) that this build did not make: give --force to "
                      f"replace it, --extend to add this build's cells to it, or choose another --out")


def extended_spec(spec: BuildSpec, done_jobs: set) -> BuildSpec:
    """The spec of `spec` added to the table at spec.out: the cells of both, scored with the same
    scoring seeds and trained with the same training seeds (a scores-only build adds scored cells to
    a trained table). Every result of the table must be in the journal (`done_jobs`), else they would
    be lost: JournalError then."""
    old = spec_from_table(spec.out, journal=spec.journal_path)
    both_train = not spec.scores_only and not old.scores_only
    if old.score_seeds != spec.score_seeds or (both_train and old.training_seeds != spec.training_seeds):
        raise ConfigError(f"--extend adds cells with the table's seeds: it has training seeds "
                          f"{', '.join(map(str, old.training_seeds)) or 'none'} and scoring seeds "
                          f"{', '.join(map(str, old.score_seeds))}")
    missing = [j for j in old.jobs() if j not in done_jobs]
    if missing:
        raise JournalError(f"journal {spec.journal_path} lacks {len(missing)} of the {len(old.jobs())} results of "
                           f"{spec.out}: give the --journal that built it")
    trained = set() if spec.scores_only else set(spec.selected_cells())
    trained |= set() if old.scores_only else set(old.selected_cells())
    scored = set(spec.score_cells()) | set(old.score_cells())
    seeds = old.training_seeds if spec.scores_only else spec.training_seeds
    return replace(spec, sample=None, all_cells=False, score_sample=None, score_all=False,
                   scores_only=not trained, seeds=seeds or spec.seeds,
                   cells=tuple(sorted(trained or scored)), scored_cells=tuple(sorted(scored)))


class Build:
    """One build invocation: run the jobs of `spec` not yet in the journal, then write the table.

    checkpoint_jobs / checkpoint_seconds: rewrite the table after that many finished jobs or that
    many seconds, whichever comes first (the final write happens in any case). An existing --out is
    written only if it is this build's own table (a resume), or with force (replace it) or extend
    (add this build's cells to it); an interrupt writes a checkpoint only over a table this build
    made.

    device / workers / jobs_per_gpu: see make_executor (workers None: 1, or GPUs x jobs_per_gpu).
    checkpoint_every: every training job writes a checkpoint every that many epochs (0: none) under
    checkpoint.build_root(journal), so that a job killed with the build resumes where it stopped."""

    def __init__(self, spec: BuildSpec, executor: str = "local", workers: int | None = 1, address=None, device=None,
                 checkpoint_jobs: int = 500, checkpoint_seconds: float = 600.0, max_retries: int = 3,
                 progress: bool = True, command: str | None = None, force: bool = False, extend: bool = False,
                 jobs_per_gpu: int | None = None, checkpoint_every: int = 1):
        self.spec = spec
        self.executor_name, self.workers, self.address, self.device = executor, workers, address, device
        self.jobs_per_gpu, self.checkpoint_every = jobs_per_gpu, checkpoint_every
        self.checkpoint_jobs, self.checkpoint_seconds = checkpoint_jobs, checkpoint_seconds
        self.max_retries, self.progress = max_retries, progress
        self.force, self.extend = force, extend
        self.command = command or "python API: snnbench.build.Build"
        # what the table writes of this build reuse (a checkpoint then costs what changed, not the
        # table's size): the results read so far and the journal row up to which they were read, the
        # cell columns of the table's cells, and one WriteCost per write
        self._known, self._read_up_to, self._wanted = {}, 0, (None, frozenset())
        self._described = (None, None)
        self.writes: list[WriteCost] = []

    def check_settings(self) -> BuildSpec:
        """Validate every option (ConfigError) before anything is created; returns the checked spec."""
        spec = self.spec.validate()
        if whole_number(self.checkpoint_jobs, "--checkpoint-jobs") < 1:
            raise ConfigError(f"--checkpoint-jobs must be at least 1, got {self.checkpoint_jobs}")
        if not (isinstance(self.checkpoint_seconds, (int, float)) and math.isfinite(self.checkpoint_seconds)
                and self.checkpoint_seconds > 0):
            raise ConfigError(f"--checkpoint-seconds must be a finite number above 0, got {self.checkpoint_seconds}")
        if whole_number(self.max_retries, "--max-retries") < 0:
            raise ConfigError(f"--max-retries must be 0 or more, got {self.max_retries}")
        if self.workers is not None and whole_number(self.workers, "--workers") < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if self.jobs_per_gpu is not None and whole_number(self.jobs_per_gpu, "--jobs-per-gpu") < 1:
            raise ConfigError(f"--jobs-per-gpu must be at least 1, got {self.jobs_per_gpu}")
        if whole_number(self.checkpoint_every, "--checkpoint-every") < 0:
            raise ConfigError(f"--checkpoint-every must be 0 or more epochs, got {self.checkpoint_every}")
        if self.executor_name not in ("local", "ray"):
            raise ConfigError(f"unknown executor {self.executor_name!r}: use local or ray")
        if self.address is not None and self.executor_name != "ray":
            raise ConfigError("--address is for --executor ray")
        if self.force and self.extend:
            raise ConfigError("give --force (replace the table) or --extend (add to it), not both")
        if self.executor_name == "local":
            from ..model.devices import check_device, visible_gpus, worker_count, worker_gpus
            check_device(self.device)
            visible = visible_gpus() if self.device != "cpu" else []
            self.workers = worker_count(self.workers, self.device, self.jobs_per_gpu, visible)
            worker_gpus(self.device, self.workers, visible, self.jobs_per_gpu)  # DeviceError now, not in a worker
        elif self.workers is None:
            self.workers = 1
        return spec

    def run(self) -> BuildSummary:
        """Run the build to the end and write the final table; returns its summary."""
        spec = self.check_settings()
        if spec.train_protocol is not None:
            raise ConfigError("a table that keeps training runs of another graph is written from its journals "
                              "(write_table_from_journal), not built")
        with output_lock(spec.out):
            action = check_output(spec, self.force, self.extend)
            from ..model.checkpoint import build_root
            executor = make_executor(self.executor_name, self.workers, self.address, spec.data_dir, self.device,
                                     self.max_retries, self.jobs_per_gpu, build_root(spec.journal_path),
                                     self.checkpoint_every)
            try:
                fingerprint = executor.fingerprint(spec.protocol)  # a missing dataset fails here
                journal = Journal(spec.journal_path, spec.protocol)
                try:
                    journal.check_fingerprint(fingerprint)
                    if action == "extend":
                        spec = extended_spec(spec, journal.done_jobs())
                    self._jobs, self._cells = spec.jobs(), spec.score_cells()
                    # with --force the old table stays until this build's first write replaces it
                    self._own_table = action != "replace"
                    return self._run(spec, self._jobs, journal, executor)
                except sqlite3.Error as exc:
                    raise journal_error(exc, journal.path) from None
                finally:
                    journal.close()
            finally:
                executor.close()

    def plan(self) -> tuple[BuildSpec, set]:
        """What run() would do, found without creating or changing any file (a dry run): the checked
        spec (with extend, the spec of the extended table) and those of its jobs the journal already
        holds. run()'s refusals (an --out of another build, a journal of another protocol) come here too."""
        spec = self.check_settings()
        if spec.train_protocol is not None:
            raise ConfigError("a table that keeps training runs of another graph is written from its journals "
                              "(write_table_from_journal), not built")
        action = check_output(spec, self.force, self.extend)
        journal = spec.journal_path
        done = read_done_jobs(journal, spec.protocol, leave_no_files=True) \
            if journal.is_file() and journal.stat().st_size > 0 else set()
        if action == "extend":
            spec = extended_spec(spec, done)
        return spec, done & set(spec.jobs())

    def _run(self, spec, jobs, journal, executor) -> BuildSummary:
        t_start = time.perf_counter()
        run_id = journal.start_run(spec.out, executor.name, self.command)
        heartbeat = _Heartbeat(journal.path, run_id)
        heartbeat.start()
        done_before = journal.done_jobs() & set(jobs)
        state = _Progress(len(jobs), len(done_before), self.progress)
        self._last_write, self._since_write = time.monotonic(), 0
        self._wrote = False
        try:
            counts = self._drive(spec, [j for j in jobs if j not in done_before], journal, executor, run_id, state)
        except BaseException:
            executor.close()  # first: no worker may start another job while the checkpoint is written
            if self._wrote or self._own_table:
                try:  # interrupted (Ctrl-C) or failed: leave a table of what the journal holds
                    self._write(spec, jobs, journal, complete=False)
                except Exception:
                    pass
            raise
        finally:
            state.close()
            heartbeat.stop()
        journal.finish_run(run_id)
        complete = self._write(spec, jobs, journal, complete=True)
        n_trained = len({j.cell_hash for j in jobs if j.kind == "train"})
        return BuildSummary(spec.out, journal.path, len(self._cells), n_trained, len(spec.training_seeds),
                            len(jobs), counts["run"], len(done_before), counts["others"], counts["failed"],
                            time.perf_counter() - t_start, complete, counts["failures"])

    def _drive(self, spec, todo, journal, executor, run_id, state) -> dict:
        """Claim, submit and record jobs until none is left (waiting for jobs another build runs)."""
        protocol_json = spec.protocol.to_json()
        queue, waiting = list(todo), []
        counts = {"run": 0, "others": 0, "failed": 0, "failures": []}
        last_poll = time.monotonic()
        while queue or waiting or executor.in_flight:
            room = executor.capacity - executor.in_flight
            if room > 0 and queue:
                batch, queue = queue[:room], queue[room:]
                claimed, done, busy = journal.claim(batch, run_id)
                for job in claimed:
                    executor.submit(job, protocol_json)
                counts["others"] += len(done)
                state.update(len(done))
                waiting += busy
                continue
            if executor.in_flight:
                for job, result, error in executor.wait(timeout=1.0):
                    if error is None:
                        # False: another build recorded the job meanwhile (it took over the claim of
                        # this one while it was paused): the journal keeps the first result
                        counts["run" if journal.record(job, result, run_id) else "others"] += 1
                    else:
                        journal.record_failure(job, error, run_id)
                        counts["failed"] += 1
                        counts["failures"].append(f"{job.kind} {job.cell_hash} seed {job.seed}: {error}")
                    state.update(1)
                    self._since_write += 1
                self._maybe_checkpoint(spec, journal)
            elif waiting and time.monotonic() - last_poll > 2.0:
                last_poll = time.monotonic()
                waiting, queue = [], waiting  # claim() sorts them into done / claimable / still busy
            elif waiting:
                time.sleep(0.5)
        return counts

    def _maybe_checkpoint(self, spec, journal) -> None:
        if (self._since_write >= self.checkpoint_jobs
                or time.monotonic() - self._last_write >= self.checkpoint_seconds):
            self._write(spec, self._jobs, journal, complete=False)

    def write_from_journal(self, journal_path=None, dest=None, force: bool = False, train_journal_path=None) -> bool:
        """Write the table of this build from a journal without running any job: the same columns,
        metadata and atomic write as a checkpoint or the end of a build. journal_path: the journal to
        read (default the spec's; pass a snapshot of a live one, see snapshot_journal). dest: where to
        write (default spec.out; the journal's runs are still those of spec.out). train_journal_path:
        the journal the training runs are read from when spec.train_protocol is set (default
        spec.train_journal). Returns whether every job of the build is in the table (written with
        complete = 1). An existing dest is replaced only if it is this build's table, or with force."""
        spec = self.spec.validate()
        dest = Path(dest) if dest is not None else spec.out
        with output_lock(dest):
            check_output(replace(spec, out=dest), force=force)
            jobs = spec.jobs()
            self._cells = spec.score_cells()
            journal = Journal(journal_path if journal_path is not None else spec.journal_path, spec.protocol)
            train_journal = None
            try:
                if spec.train_protocol is not None:
                    train_journal = Journal(train_journal_path or spec.train_journal, spec.train_protocol)
                return self._write(spec, jobs, journal, complete=True, dest=dest, written_by="write_table_from_journal",
                                   train_journal=train_journal)
            except sqlite3.Error as exc:
                raise journal_error(exc, journal.path) from None
            finally:
                journal.close()
                if train_journal is not None:
                    train_journal.close()

    def _write(self, spec, jobs, journal, complete: bool, dest=None, written_by: str = "snnbench build",
               train_journal=None) -> bool:
        """Write the table from the journal (atomically) to dest (default spec.out); with train_journal,
        the training runs come from that one. Returns whether every job is in it.

        A checkpoint (complete False) reads only the journal rows added since the build's previous
        write and reuses the cell columns it computed then; the final write (complete True) reads the
        whole journal again, so that the table is what the journal holds, whatever happened before."""
        from ..table.reader import assemble_columns, table_attrs, write_table
        rows_read = 0
        if train_journal is None:
            results, rows_read = self._results(journal, jobs, everything=complete)
        else:
            results = journal.results([j for j in jobs if j.kind == "score"])
            results.update(train_journal.results([j for j in jobs if j.kind == "train"]))
        all_done = len(results) == len(jobs)
        scores = {(j.cell_hash, j.seed): r for j, r in results.items() if j.kind == "score"}
        runs = {(j.cell_hash, j.seed): r for j, r in results.items() if j.kind == "train"}
        cell_columns, described = self._cell_columns()
        columns = assemble_columns(self._cells, scores, runs, spec.training_seeds, spec.score_seeds,
                                   spec.protocol.epochs, cell_columns_of_hashes=cell_columns)
        self.writes.append(WriteCost(complete, rows_read, described))
        where = {}
        for r in results.values():
            where[str(r.get("where", ""))] = where.get(str(r.get("where", "")), 0) + 1
        build = {"executor": self.executor_name, "workers": self.workers, "address": self.address,
                 "journal": str(spec.journal_path), "command": self.command, "jobs_total": len(jobs),
                 "jobs_done": len(results), "where": where, "runs": journal.runs(spec.out),
                 "host": socket.gethostname(), "python": platform.python_version(), "snnbench": __version__,
                 "written_by": written_by}
        if train_journal is not None:
            build["train_journal"] = str(spec.train_journal)
        fingerprint = journal.conn.execute("SELECT value FROM meta WHERE key='dataset_fingerprint'").fetchone()
        attrs = table_attrs(space=spec.space, protocol=spec.protocol, dataset_fingerprint=fingerprint[0] if fingerprint else "",
                            seeds=spec.training_seeds, score_seeds=spec.score_seeds, columns=columns,
                            complete=complete and all_done, selection=spec.selection(), build=build,
                            train_protocol=spec.train_protocol)
        dest = spec.out if dest is None else Path(dest)
        write_table(dest, columns, attrs)
        self._last_write, self._since_write, self._wrote = time.monotonic(), 0, True
        return complete and all_done


    def _results(self, journal, jobs, everything: bool) -> tuple[dict, int]:
        """The finished results among `jobs`, read from the journal: only its rows added since the
        previous call, or every row with `everything`. Returns (results, journal rows read now)."""
        if self._wanted[0] is not jobs:
            self._wanted = (jobs, frozenset(jobs))
            self._known, self._read_up_to = {}, 0
        if everything:
            self._known, self._read_up_to = {}, 0
        new, self._read_up_to, rows_read = journal.results_after(self._wanted[1], self._read_up_to)
        self._known.update(new)
        return dict(self._known), rows_read

    def _cell_columns(self) -> tuple[dict, int]:
        """The cell columns of the table's cells (table.cell_columns), computed at the first write of
        the build and reused by the next. Returns (columns, number of cells described now)."""
        from ..table.reader import cell_columns
        if self._described[0] is not self._cells:
            hashes = sorted(set(self._cells))
            self._described = (self._cells, cell_columns(hashes))
            return self._described[1], len(hashes)
        return self._described[1], 0


@dataclass(frozen=True)
class WriteCost:
    """The work of one table write of a build: whether it was the final write, how many journal rows it
    read, and how many cells it computed the cell columns of (0 when it reused them)."""
    final: bool
    journal_rows_read: int
    cells_described: int


class _Progress:
    """A tqdm bar over jobs (done / total, rate, ETA) on stderr."""

    def __init__(self, total: int, initial: int, enabled: bool):
        from tqdm import tqdm
        self.bar = tqdm(total=total, initial=initial, unit="job", disable=not enabled, dynamic_ncols=True,
                        desc="build", smoothing=0.1)

    def update(self, n: int) -> None:
        if n:
            self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


def build_table(spec: BuildSpec, **options) -> BuildSummary:
    """Run a build (see Build for the options) and return its summary."""
    return Build(spec, **options).run()


def snapshot_journal(source, dest) -> Path:
    """A consistent copy of a journal, taken with SQLite's online backup API, so that a table can be
    written (or a manifest computed) from a journal that live builds are writing: the copy reads the
    source in one step under a read lock and never writes to it. The copy is a single file
    (rollback-journal mode). Returns dest."""
    source, dest = Path(source), Path(dest)
    if not source.is_file():
        raise ConfigError(f"journal {source}: no such file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
    try:
        dst = sqlite3.connect(str(dest))
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"cannot snapshot journal {source}: {exc}") from None
    finally:
        src.close()
    return dest


def spec_from_table(path, journal=None) -> BuildSpec:
    """The BuildSpec of the build that wrote a table, from its metadata: space, protocol, selection,
    training and scoring seeds. Its out is the path the build wrote (as recorded by its runs, else
    `path`); its journal is `journal`, else the recorded journal's file name beside the table if it
    is there, else the recorded journal path."""
    from ..table.reader import Bench
    path = Path(path)
    with Bench(path) as bench:
        meta = bench.metadata
        protocol = bench.protocol
        train_protocol = bench.train_protocol if meta.get("train_protocol_json") else None
    sel, build = meta["selection"], meta["build"]
    train_journal = None
    if train_protocol is not None and build.get("train_journal"):
        beside = path.parent / Path(build["train_journal"]).name
        train_journal = beside if beside.exists() else Path(build["train_journal"])
    runs = build.get("runs") or []
    out = Path(runs[-1]["out"]) if runs and runs[-1].get("out") else path
    if journal is None and build.get("journal"):
        beside = path.parent / Path(build["journal"]).name
        journal = beside if beside.exists() else Path(build["journal"])
    score_sample = sel.get("score_sample")
    seeds = tuple(meta["seeds"]) if not sel.get("scores_only") else (0,)
    cells = sel.get("cells") if sel.get("mode") == "cells" else None
    return BuildSpec(meta["space"], protocol, out, sample=sel.get("sample") if sel.get("mode") == "sample" else None,
                     cells=cells, scored_cells=sel.get("scored_cells"),
                     all_cells=sel.get("mode") == "all", sample_seed=int(sel.get("sample_seed") or 0), seeds=seeds,
                     score_seeds=tuple(meta["score_seeds"]), scores_only=bool(sel.get("scores_only")),
                     score_sample=score_sample if isinstance(score_sample, int) else None,
                     score_all=score_sample == "all", journal=journal, train_protocol=train_protocol,
                     train_journal=train_journal)


def write_table_from_journal(spec: BuildSpec, dest=None, *, journal=None, snapshot: bool = True,
                             executor: str | None = None, workers: int | None = None, command: str | None = None,
                             force: bool = False) -> bool:
    """Write the table of `spec` from its journal (or `journal`) without running jobs, through the
    builder's own atomic writer, to dest (default spec.out). With snapshot (the default) the journal
    is first copied with snapshot_journal into a temporary file, so a journal that builds are writing
    is only read. executor / workers / command go into the table's build metadata (default: those of
    the latest run of spec.out recorded in the journal). force: replace a dest that is not this
    build's table (same journal, cells and seeds). Returns whether every job is in the table."""
    import tempfile
    source = Path(journal) if journal is not None else spec.journal_path
    if not source.is_file():
        raise ConfigError(f"journal {source}: no such file")
    train_source = spec.train_journal if spec.train_protocol is not None else None
    if train_source is not None and not Path(train_source).is_file():
        raise ConfigError(f"journal {train_source}: no such file")
    with tempfile.TemporaryDirectory(prefix="snnbench-journal-") as tmp:
        read_from = snapshot_journal(source, Path(tmp) / source.name) if snapshot else source
        train_from = None
        if train_source is not None:
            train_from = snapshot_journal(train_source, Path(tmp) / ("train-" + Path(train_source).name)) \
                if snapshot else train_source
        if executor is None or command is None:
            con = sqlite3.connect(f"{Path(read_from).resolve().as_uri()}?mode=ro", uri=True)
            try:
                last = con.execute("SELECT executor, command FROM runs WHERE out=? ORDER BY started DESC LIMIT 1",
                                   (str(spec.out),)).fetchone()
            except sqlite3.DatabaseError:
                last = None
            finally:
                con.close()
            executor = executor or (last[0] if last else "local")
            command = command or (last[1] if last else "snnbench.build.write_table_from_journal")
        if workers is None:
            workers = _workers_of(command)
        build = Build(replace(spec, journal=source), executor=executor, workers=workers, command=command,
                      progress=False)
        return build.write_from_journal(read_from, dest, force=force, train_journal_path=train_from)


def _workers_of(command: str) -> int:
    """The --workers N of a recorded snnbench build command line (1 if absent)."""
    words = (command or "").split()
    for i, word in enumerate(words):
        if word == "--workers" and i + 1 < len(words) and words[i + 1].isdigit():
            return int(words[i + 1])
        if word.startswith("--workers=") and word.split("=", 1)[1].isdigit():
            return int(word.split("=", 1)[1])
    return 1


__all__ = ["Build", "BuildSpec", "BuildSummary", "Job", "Journal", "WriteCost", "build_table", "execute_job",
           "make_executor", "read_done_jobs", "snapshot_journal", "spec_from_table", "write_table_from_journal"]
