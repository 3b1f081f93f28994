"""Where jobs compute: checking the device a command asks for, spreading the worker processes of a
pool over the visible GPUs, binding a Ray task to the GPU Ray gave it, and describing the device and
software a job ran on (recorded with every result).

A GPU is named the way CUDA_VISIBLE_DEVICES names it (an index such as '1', or a UUID). A pool worker
or a Ray task that is bound to one GPU sees only that GPU, as cuda:0; the GPU's own id is what its
records keep (`device_index`). Nothing here initialises CUDA: binding only sets the environment
variable before torch first touches the GPU, and the pure functions (assign, worker_count,
worker_gpus, ray_gpu_share) take the visible GPUs as an argument, so they are tested with faked lists."""
from __future__ import annotations

import functools
import os

from ..errors import DeviceError

CUDA_VISIBLE = "CUDA_VISIBLE_DEVICES"

# The device this process's jobs compute on when it was bound to one GPU (a pool worker, a Ray task):
# 'cuda:N', N the GPU's position in CUDA_VISIBLE_DEVICES. None: not bound.
_bound_device: str | None = None


# ----------------------------------------------------------------------------- what is visible
def _listed_gpus() -> list[str] | None:
    """The entries of CUDA_VISIBLE_DEVICES, or None when it is not set (every GPU is visible)."""
    text = os.environ.get(CUDA_VISIBLE)
    if text is None:
        return None
    return [entry.strip() for entry in text.split(",") if entry.strip()]


def gpu_count() -> int:
    """How many CUDA GPUs torch can use in this process (0 without CUDA or with none visible)."""
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def visible_gpus() -> list[str]:
    """The GPUs this process may use, each as the CUDA_VISIBLE_DEVICES entry that names it ('0', '1',
    or a UUID), in torch's order: cuda:i is visible_gpus()[i]. [] without CUDA."""
    count = gpu_count()
    listed = _listed_gpus()
    if listed is None:
        return [str(i) for i in range(count)]
    return listed[:count]


def _parse(device) -> tuple[str, int | None]:
    """'cpu' -> ('cpu', None); 'cuda' -> ('cuda', None); 'cuda:K' -> ('cuda', K); DeviceError otherwise."""
    text = str(device).strip()
    kind, colon, index = text.partition(":")
    if kind == "cpu" and not colon:
        return "cpu", None
    if kind == "cuda" and not colon:
        return "cuda", None
    if kind == "cuda" and index.isdigit():
        return "cuda", int(index)
    raise DeviceError(f"`device` {text[:40]!r} is not a device: use cpu, cuda (every visible GPU) or cuda:K (one GPU)")


def check_device(device, n_gpus: int | None = None) -> None:
    """Refuse a device that is not here, with DeviceError of one line: cuda or cuda:K without a visible
    GPU, cuda:K with K past the last one, anything but cpu / cuda / cuda:K. None (the default device:
    cuda when there is a GPU, else cpu) always passes. n_gpus: how many GPUs are visible (default:
    torch's count in this process)."""
    if device is None:
        return
    kind, index = _parse(device)
    if kind == "cpu":
        return
    count = gpu_count() if n_gpus is None else n_gpus
    if count == 0:
        raise DeviceError(f"`device` {device}: no CUDA GPU is visible here ({_why_no_gpu()}); use `device` cpu")
    if index is not None and index >= count:
        raise DeviceError(f"`device` {device}: {count} GPU(s) visible here, cuda:0 to cuda:{count - 1}")


def _why_no_gpu() -> str:
    if _listed_gpus() == []:
        return f"{CUDA_VISIBLE} is empty"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if torch.version.cuda is None:
        return f"torch {torch.__version__} was built without CUDA"
    return f"torch {torch.__version__} with CUDA {torch.version.cuda} finds no GPU"


def default_device() -> str:
    """The device a job uses when none is asked for: cuda when a GPU is visible, else cpu."""
    return "cuda" if gpu_count() > 0 else "cpu"


# ----------------------------------------------------------------------------- a pool over the GPUs
def assign(workers: int, visible_devices, per_gpu: int | None = None) -> list:
    """The device of each of `workers` pool workers, round-robin over the visible devices: worker i
    gets visible_devices[i mod K]. per_gpu caps the workers one device may get (DeviceError when
    workers > K * per_gpu); None: no cap."""
    devices = list(visible_devices)
    if not devices:
        raise DeviceError("no GPU is visible to spread the workers over; use `device` cpu")
    if per_gpu is not None and workers > len(devices) * per_gpu:
        raise DeviceError(f"`workers` {workers} on {len(devices)} GPU(s) puts more than `jobs_per_gpu` {per_gpu} "
                          f"on one GPU: give at most {len(devices) * per_gpu} workers, or more jobs per GPU")
    return [devices[i % len(devices)] for i in range(workers)]


def worker_count(workers: int | None, device, per_gpu: int | None, visible_devices) -> int:
    """How many worker processes a local build runs: `workers` when given; else, with per_gpu (jobs per
    GPU) and a cuda device, the GPUs it uses times per_gpu (one GPU for cuda:K); else 1."""
    if workers is not None:
        return workers
    if per_gpu is None:
        return 1
    kind, index = _parse(device) if device is not None else ("cuda" if visible_devices else "cpu", None)
    if kind != "cuda":
        raise DeviceError(f"`jobs_per_gpu` is for a GPU device, not `device` {device or 'cpu (no GPU visible)'}")
    return per_gpu * (1 if index is not None else len(list(visible_devices)))


def worker_gpus(device, workers: int, visible_devices, per_gpu: int | None = None) -> list:
    """The GPU (CUDA_VISIBLE_DEVICES entry) each of `workers` pool workers binds to, or None for each
    when the device is cpu. device None means the default: cuda when any GPU is visible. 'cuda'
    spreads the workers over every visible GPU (assign); 'cuda:K' puts them all on GPU K."""
    visible = list(visible_devices)
    kind, index = _parse(device) if device is not None else ("cuda" if visible else "cpu", None)
    if kind == "cpu":
        if per_gpu is not None:
            raise DeviceError(f"`jobs_per_gpu` is for a GPU device, not `device` {device or 'cpu (no GPU visible)'}")
        return [None] * workers
    check_device(device or "cuda", len(visible))
    return assign(workers, visible if index is None else [visible[index]], per_gpu)


def bind_worker(gpu: str | None) -> None:
    """In a fresh worker process, before torch touches CUDA: make GPU `gpu` (a CUDA_VISIBLE_DEVICES
    entry) the only one this process sees, as cuda:0, for every job it runs. None: leave it unbound."""
    global _bound_device
    if gpu is None:
        _bound_device = None
        return
    os.environ[CUDA_VISIBLE] = str(gpu)
    _bound_device = "cuda:0"


# ----------------------------------------------------------------------------- Ray
def ray_gpu_share(kind: str, device, cluster_gpus: float, per_gpu: int | None = None) -> float:
    """The GPUs a Ray task of `kind` ('train' or 'score') requests: none for --device cpu or on a
    cluster without GPUs; else 1/per_gpu for training (one GPU by default) and a quarter (or
    1/per_gpu when smaller) for scoring. DeviceError for --device cuda on a cluster without GPUs, and
    for cuda:K (under Ray, Ray picks the GPU)."""
    kind_asked, index = _parse(device) if device is not None else (None, None)
    if kind_asked == "cuda" and index is not None:
        raise DeviceError(f"`device` {device}: under Ray the GPU of each task is Ray's choice; use `device` cuda")
    if kind_asked == "cuda" and cluster_gpus <= 0:
        raise DeviceError(f"`device` {device}: the Ray cluster advertises no GPU (start its nodes with --num-gpus)")
    if kind_asked == "cpu" or cluster_gpus <= 0:
        return 0.0
    share = 1 / (per_gpu or 1)
    return share if kind == "train" else min(0.25, share)


def bind_ray_gpu() -> str | None:
    """Inside a Ray task: bind this process's jobs to the GPU Ray gave the task (Ray has set
    CUDA_VISIBLE_DEVICES to it) and return its torch device, 'cuda:N'; None (and unbound) when the
    task got no GPU. Does not initialise CUDA."""
    global _bound_device
    import ray
    ids = [str(i) for i in ray.get_gpu_ids()]
    if not ids:
        _bound_device = None
        return None
    listed = _listed_gpus() or []
    _bound_device = f"cuda:{listed.index(ids[0]) if ids[0] in listed else 0}"
    return _bound_device


def job_device(requested):
    """The device a job in this process computes on: the GPU the process was bound to when the job asks
    for cuda or for the default device; else what it asks for (None: default_device())."""
    if _bound_device is not None and (requested is None or str(requested).startswith("cuda")):
        return _bound_device
    return requested if requested is not None else default_device()


def gpu_id(device) -> int | str | None:
    """The id of the GPU a torch device names, as CUDA_VISIBLE_DEVICES names it (the index when GPUs are
    listed by index or not listed at all, else the UUID); None for the CPU. Does not initialise CUDA
    when the device carries its index."""
    kind, index = _parse(device)
    if kind == "cpu":
        return None
    if index is None:
        import torch
        index = torch.cuda.current_device()
    listed = _listed_gpus()
    entry = listed[index] if listed is not None and index < len(listed) else str(index)
    return int(entry) if entry.isdigit() else entry


# ----------------------------------------------------------------------------- what a job ran on
@functools.lru_cache(maxsize=1)
def _versions() -> dict:
    from importlib import metadata

    import torch
    try:
        spikingjelly = metadata.version("spikingjelly")
    except metadata.PackageNotFoundError:
        spikingjelly = None
    return {"torch": torch.__version__, "spikingjelly": spikingjelly}


def lif_implementation(device) -> str:
    """Which implementation of the multi-step LIF runs on `device`: on the CPU snnbench's own (snn.LIF,
    spikingjelly's reference LIF bit for bit), in C where its kernel could be built (reported as
    lif_kernel.C_LIF), else in tensor operations (snn.FUSED_LIF); on a GPU spikingjelly's, as
    spikingjelly names it ('cuda' or 'triton'; spikingjelly 2.x chooses per device)."""
    import torch
    from spikingjelly.activation_based import functional

    from . import lif_kernel
    from .snn import FUSED_LIF
    if torch.device(device).type == "cpu":
        # snn.LIF: spikingjelly's reference LIF, bit for bit, as one autograd node
        return lif_kernel.C_LIF if lif_kernel.available() else FUSED_LIF
    query = getattr(functional, "neuron_implementation", None)
    if query is None:
        from .snn import make_lif
        return str(getattr(make_lif(), "backend", "torch"))
    try:
        return str(query("lif", torch.device(device))["implementation"])
    except (RuntimeError, ValueError) as exc:
        return f"unknown ({str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__})"


@functools.lru_cache(maxsize=8)
def _describe(device: str, visible: str | None) -> dict:
    import torch
    kind, _ = _parse(device)
    on_gpu = kind == "cuda"
    return {"device_index": gpu_id(device),
            "device_name": torch.cuda.get_device_name(torch.device(device)) if on_gpu else "cpu",
            "cuda": torch.version.cuda if on_gpu else None,
            **_versions(),
            "lif_implementation": lif_implementation(device)}


def describe(device) -> dict:
    """What a job computed on, as recorded with its result: device_index (the GPU's id, see gpu_id;
    None on the CPU), device_name (the GPU's name, or 'cpu'), torch and cuda (torch.version.cuda;
    None on the CPU) versions, spikingjelly's version and lif_implementation."""
    return dict(_describe(str(device), os.environ.get(CUDA_VISIBLE)))
