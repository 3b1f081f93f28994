"""Event-driven convolutions on spikes against oneDNN's dense ones (issue 15's CPU 2x; a measured
candidate, not used by snnbench).

The convolutions of a spiking edge take binary spikes, and the trained tables fire at about 0.12
spikes per neuron and timestep (median over layers and cells: fmnist-fw 0.12, fmnist-bw 0.12,
digits-fw 0.15), so a convolution that adds the weights of each spike costs about a tenth of the
dense one's multiply-adds. benchmarks/event_conv.c is such a forward pass (bit masks of the spiking
channels per position, eight-float vector additions), compiled here with -O3 -march=native as a best
case. Timed against F.conv2d on the shapes of the CPU protocols' steps (B*T = 160 images) with random
spikes at the given rates, process time, one thread; checked against F.conv2d first (largest absolute
difference: another float order).

    python benchmarks/event_conv.py [--rates 0.12,0.25] [--reps 50]
"""
from __future__ import annotations

import argparse
import ctypes
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

# (images, in channels, out channels, side, kernel): fmnist-cpu's cell-1 edge, conv2 and cell-2 edge
# (width 16, 8x8), its 1x1 edge, and digits-cpu's cell-1 edge (width 8)
SHAPES = [(160, 16, 16, 8, 3), (160, 16, 32, 8, 3), (160, 32, 32, 4, 3), (160, 16, 16, 8, 1), (160, 8, 8, 8, 3)]


def library():
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        raise SystemExit("event_conv.py needs a C compiler")
    out = Path(tempfile.mkdtemp()) / "event_conv.so"
    subprocess.run([cc, "-O3", "-march=native", "-fno-fast-math", "-ffp-contract=off", "-shared", "-fPIC",
                    str(Path(__file__).with_name("event_conv.c")), "-o", str(out)], check=True)
    lib = ctypes.CDLL(str(out))
    lib.event_conv_forward.restype = ctypes.c_int
    lib.event_conv_forward.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_long] * 6 + [ctypes.c_void_p]
    return lib


def event_conv(lib, x, weight):
    n, cin, h, w = x.shape
    cout, k = weight.shape[0], weight.shape[2]
    moved = weight.permute(1, 2, 3, 0).contiguous()
    out = torch.empty(n, cout, h, w)
    mask = torch.empty(h * w, dtype=torch.int32)
    if lib.event_conv_forward(x.data_ptr(), moved.data_ptr(), out.data_ptr(), n, cin, cout, h, w, k, mask.data_ptr()):
        raise ValueError(f"no event convolution for {cin} -> {cout} channels")
    return out


def best_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(3):
        start = time.process_time()
        for _ in range(reps):
            fn()
        times.append((time.process_time() - start) / reps * 1e3)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="0.12,0.25", help="spike rates, comma-separated")
    ap.add_argument("--reps", type=int, default=50)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    lib = library()
    print(f"# threads=1 torch={torch.__version__} machine={platform.machine()} cores={os.cpu_count()} "
          f"load={os.getloadavg()[0]:.1f} OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')}")
    print(f"{'images, in, out, side, kernel':32s} {'rate':>5s} {'dense ms':>9s} {'event ms':>9s} {'speed-up':>9s} "
          f"{'max |diff|':>11s}")
    for rate in (float(r) for r in a.rates.split(",")):
        for shape in SHAPES:
            n, cin, cout, side, k = shape
            x = (torch.rand(n, cin, side, side) < rate).float()
            weight = torch.randn(cout, cin, k, k) * 0.1
            diff = (F.conv2d(x, weight, padding=k // 2) - event_conv(lib, x, weight)).abs().max().item()
            dense = best_ms(lambda: F.conv2d(x, weight, padding=k // 2), a.reps)
            event = best_ms(lambda: event_conv(lib, x, weight), a.reps)
            print(f"{str(shape):32s} {rate:5.2f} {dense:9.3f} {event:9.3f} {dense / event:8.2f}x {diff:11.1e}", flush=True)


if __name__ == "__main__":
    main()
