"""The C version of the CPU LIF (lif_kernel.c): compiled on first use with the system's C compiler
into a cache folder, loaded with ctypes. Its results are those of snn._LIFSequence's tensor
expressions bit for bit; where no compiler is found (or SNNBENCH_LIF_KERNEL=torch), the network runs
those expressions instead, with the same results, only slower. Which one ran is recorded with every
job (devices.lif_implementation).

The library is built with -O2 and no instruction set beyond the compiler's default for the machine
type (a cache folder shared by machines of one type never holds code one of them cannot run), without
fast-math and with -ffp-contract=off, so that every float operation rounds on its own as torch's do.
Its file name holds a hash of the source, the flags and the compiler's file (path, size, time), so a
change of any rebuilds it; loading a built library starts no process.
Cache folder: the space index's (space.index.cache_dir: $SNNBENCH_CACHE_DIR, else
$XDG_CACHE_HOME/snnbench, else ~/.cache/snnbench)."""
from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

from ..space.index import cache_dir

SOURCE = Path(__file__).with_name("lif_kernel.c")
FLAGS = ("-O2", "-shared", "-fPIC", "-fno-fast-math", "-ffp-contract=off", "-std=c99")
ENV_SWITCH = "SNNBENCH_LIF_KERNEL"  # 'torch': never use the C kernel
C_LIF = "snnbench-c-cpu"  # what devices.lif_implementation reports where the C kernel runs

_PTR = ctypes.c_void_p  # float32 arrays, passed as tensor.data_ptr()


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        found = shutil.which(name) if name else None
        if found:
            return found
    return None


def _build(compiler: str, source: Path) -> Path:
    """The compiled library for this source, flags and compiler (built now if the cache lacks it;
    written under a temporary name and renamed, so processes building at once never load half a file)."""
    real = os.path.realpath(compiler)
    made = os.stat(real)  # the compiler's file: a new compiler, a new key
    key = hashlib.sha256(source.read_bytes() + " ".join(FLAGS).encode() + platform.machine().encode()
                         + f"{real} {made.st_size} {made.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_dir() / f"{source.stem}-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, suffix=".so.partial")
    os.close(fd)
    try:
        subprocess.run([compiler, *FLAGS, "-o", partial, str(source), "-lm"], check=True, capture_output=True,
                       timeout=120)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target


@functools.lru_cache(maxsize=None)
def load(source: Path):
    """A C source compiled with FLAGS (and libm) and loaded (ctypes.CDLL), or None (no compiler, or
    the build failed). benchmarks/batch_major.py loads its BatchNorm kernel through it too."""
    compiler = _compiler()
    if compiler is None:
        return None
    try:
        return ctypes.CDLL(str(_build(compiler, source)))
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=1)
def library():
    """The loaded kernel library, or None (switched off, no compiler, or the build failed)."""
    if os.environ.get(ENV_SWITCH, "").lower() == "torch":
        return None
    lib = load(SOURCE)
    if lib is None:
        return None
    lib.snnbench_lif_forward.restype = None
    lib.snnbench_lif_forward.argtypes = [_PTR] * 5 + [ctypes.c_long] * 3 + [ctypes.c_float] * 2
    lib.snnbench_lif_backward.restype = ctypes.c_int
    lib.snnbench_lif_backward.argtypes = [_PTR] * 6 + [ctypes.c_long] * 3 + [ctypes.c_float] * 3
    return lib


def available() -> bool:
    return library() is not None


def _ptr(tensor: torch.Tensor | None):
    return None if tensor is None else tensor.data_ptr()


def layout(x_seq: torch.Tensor, like: torch.Tensor):
    """(outer, inner) of the memory the network's LIF inputs come in, as lif_kernel.c takes it:
    [T, ...] contiguous (outer 1) or [T, B, ...] stored batch-major (outer B, as TimeBatchNorm2d's
    output is); None for any other layout (the tensor expressions run then). like:
    torch.empty_like(x_seq), whose strides the outputs get, as the tensor expressions give theirs
    (the layers after the LIF reduce in an order that depends on them)."""
    if like.is_contiguous():
        return 1, x_seq[0].numel()
    if x_seq.dim() >= 2 and like.transpose(0, 1).is_contiguous():
        return x_seq.shape[1], x_seq[0, 0].numel()
    return None


def forward(x_seq: torch.Tensor, v: torch.Tensor, tau: float, threshold: float):
    """(spikes, shifted, v_last, shape) of _LIFSequence.forward for float32 CPU tensors, shape the
    layout backward takes; None where the kernel does not take x_seq's layout (layout)."""
    spikes = torch.empty_like(x_seq)
    shape = layout(x_seq, spikes)
    if shape is None:
        return None
    shifted = torch.empty_like(x_seq)
    if x_seq.stride() != spikes.stride():
        x_seq = x_seq.contiguous()  # not dense (a broadcast or a slice): its values, contiguous like spikes
    v = v.contiguous()
    v_out = torch.empty_like(v)
    library().snnbench_lif_forward(_ptr(x_seq), _ptr(v), _ptr(spikes), _ptr(shifted), _ptr(v_out),
                                   shape[0], x_seq.shape[0], shape[1], tau, threshold)
    return spikes, shifted, v_out, shape


def backward(spikes, shifted, grad_spikes, grad_v, tau: float, alpha: float, shape: tuple):
    """(grad_x, grad_v_in or None) of _LIFSequence.backward; grad_spikes / grad_v may be None."""
    outer, inner = shape
    if grad_spikes is not None and grad_spikes.stride() != spikes.stride():
        grad_spikes = torch.empty_like(spikes).copy_(grad_spikes)
    grad_v = None if grad_v is None else grad_v.contiguous()
    grad_x = torch.empty_like(shifted)
    carry = torch.empty((outer * inner,), dtype=shifted.dtype).view(shifted.shape[1:])
    reached = library().snnbench_lif_backward(_ptr(spikes), _ptr(shifted), _ptr(grad_spikes), _ptr(grad_v),
                                              _ptr(grad_x), _ptr(carry), outer, shifted.shape[0], inner,
                                              tau, math.pi / 2 * alpha, alpha / 2)
    return grad_x, carry if reached else None
