"""Where a build's jobs run: an Executor runs jobs and hands back their results; the driver alone
records them. InProcessExecutor (one at a time, here), ProcessPoolExecutor (single-thread worker
processes that end with the driver) and RayExecutor (Ray tasks, one GPU or a share of one each)."""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import threading
import time

from .. import testing
from ..errors import ConfigError
from ..journal import Job
from ..protocols import Protocol


class WorkerStopping(Exception):
    """A worker process asked to stop (Ctrl-C reached it) refuses to start another job."""


_stop_requested = threading.Event()


def execute_job(kind: str, cell_hash: str, protocol_json: str, seed: int, data_dir=None, device=None,
                checkpoint_root=None, checkpoint_every: int = 0) -> dict:
    """What every executor runs for one job (in a worker): jobs.run_job plus the audit/test hooks. A
    worker bound to one GPU (devices.bind_worker, bind_ray_gpu) runs a cuda job on that GPU."""
    from ..model.jobs import run_job
    if _stop_requested.is_set():
        raise WorkerStopping("this worker was interrupted")
    testing.log_job_start(kind, cell_hash, seed)
    testing.kill_once()
    testing.drop_an_interrupt()
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


class Executor:
    """Where a build's jobs run. The driver submits jobs (at most `capacity` in flight), waits for
    finished ones and records them; an executor never writes the journal. Subclasses set `name`
    (recorded in the table) and implement submit, in_flight and wait; close ends its workers."""
    name = "local"
    capacity = 1
    data_dir = None
    checkpoint_root = None

    def fingerprint(self, protocol: Protocol) -> str:
        """The fingerprint of the data the protocol trains on, as the workers see it."""
        return dataset_fingerprint(protocol.to_json(), self.data_dir)

    @property
    def in_flight(self) -> int:
        """Jobs submitted and not yet handed back by wait."""
        raise NotImplementedError

    def submit(self, job: Job, protocol_json: str) -> None:
        """Start (or queue) one job."""
        raise NotImplementedError

    def wait(self, timeout: float) -> list:
        """Finished jobs, waiting up to `timeout` seconds for one: [(job, result dict or None, error
        text or None)]."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the workers (a job in flight is lost: the journal never saw it) and remove the
        checkpoint folder when no checkpoint is left in it."""
        from ..model.checkpoint import remove_empty_root
        remove_empty_root(self.checkpoint_root)


class InProcessExecutor(Executor):
    """Runs each job in the calling process, one at a time (uses the GPU when there is one)."""
    name = "local"

    def __init__(self, data_dir=None, device=None, checkpoint_root=None, checkpoint_every: int = 0):
        self.data_dir, self.device = data_dir, device
        self.checkpoint_root, self.checkpoint_every = checkpoint_root, checkpoint_every
        self.capacity = 1
        self._queue = []

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

class ProcessPoolExecutor(Executor):
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
        self._futures.clear()
        self._stop_pool()
        super().close()


class RayExecutor(Executor):
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
            raise ConfigError("`executor` ray needs Ray: pip install 'snnbench[ray]'") from None
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
        super().close()


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
        raise ConfigError("`address` is for `executor` ray")
    check_device(device)
    visible = visible_gpus() if device != "cpu" else []
    workers = worker_count(workers, device, jobs_per_gpu, visible)
    if workers < 1:
        raise ConfigError(f"`workers` must be at least 1, got {workers}")
    plan = worker_gpus(device, workers, visible, jobs_per_gpu)
    if workers == 1:
        return InProcessExecutor(data_dir, device, checkpoint_root, checkpoint_every)
    return ProcessPoolExecutor(workers, data_dir, device, max_retries, plan, checkpoint_root, checkpoint_every)
