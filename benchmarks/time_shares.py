"""Where a CPU training run's time goes, measured by substitution: each component (the LIF neurons,
the BatchNorm layers of the spiking part, the convolutions) is swapped for a one-operation stand-in
of the same shapes that keeps gradients flowing, and an epoch of training (and a validation pass) is
timed with and without it, alternating in one process. The share of a component is the time that
goes when it goes; 1 / (1 - share) bounds what any faster version of it can give the trainer. One
more configuration, lif-ops, runs the LIF as tensor operations instead of its C kernel (lif_kernel):
its negative "share" is what the kernel saves.

A profiler attributes time per operation but inflates small operations (the LIF's and BatchNorm's
element-wise steps) by its own per-call cost; substitution measures the real cost of a component with
all its dispatches and copies. The stand-ins change the numbers a run computes (spikes, losses), not
the amount of work the other components do: convolutions, pools and linear layers cost the same on
any values. Process time, one thread.

    PYTHONPATH=. python benchmarks/time_shares.py --protocol digits-cpu [--steps 40] [--valid 2048] [--reps 3]
    PYTHONPATH=. python benchmarks/time_shares.py --protocol fmnist-cpu    # needs the Fashion-MNIST files
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import time

import torch
import torch.nn as nn

from snnbench.model import lif_kernel, snn
from snnbench.model.data import ImageSplit, load_for_protocol
from snnbench.model.train import evaluate, train_epoch
from snnbench.protocols import get_protocol
from snnbench.space import Cell

CELLS = {"fw": "0303 0030 0003 0000", "bw": "0302 0030 3003 0000"}  # as benchmarks/bench_train.py


def _lif_stand_in(self, x_seq, *args, **kwargs):
    return x_seq * 0.5


def _bn_stand_in(self, x, t0=0):
    return x * self.weight.view(1, 1, -1, 1, 1)


def _conv_stand_in(self, x):
    stride = self.stride[0]
    if stride > 1:
        x = x[..., ::stride, ::stride]
    mixed = x.mean(1, keepdim=True) * self.weight.sum()
    return mixed.expand(x.shape[0], self.out_channels, *x.shape[2:])


STAND_INS = {"lif": (snn.LIF, "multi_step_forward", _lif_stand_in),
             "bn": (snn.TimeBatchNorm2d, "forward", _bn_stand_in),
             "conv": (nn.Conv2d, "forward", _conv_stand_in)}
CONFIGS = {"real": (), "-lif": ("lif",), "-bn": ("bn",), "-conv": ("conv",), "-all3": ("lif", "bn", "conv"),
           "lif-ops": ("lif-ops",)}  # lif-ops: the LIF in tensor operations instead of its C kernel


@contextlib.contextmanager
def substituted(names):
    saved = []
    try:
        for name in names:
            owner, attr, fn = STAND_INS[name] if name != "lif-ops" else (lif_kernel, "available", lambda: False)
            saved.append((owner, attr, owner.__dict__[attr]))
            setattr(owner, attr, fn)
        yield
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)


def time_config(cell, protocol, part, names) -> tuple[float, float]:
    """(training epoch, validation pass) in CPU seconds with the named components substituted."""
    with substituted(names):
        net = snn.build_network(cell, protocol.network_profile(), 0)
        opt = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                              weight_decay=protocol.weight_decay)
        shuffle = torch.Generator().manual_seed(0)
        start = time.process_time()
        train_epoch(net, part, protocol, opt, 0, 10_000, shuffle)
        trained = time.process_time() - start
        start = time.process_time()
        evaluate(net, part, "valid")
        return trained, time.process_time() - start


def timing_arguments(description: str, steps: int, steps_help: str) -> argparse.ArgumentParser:
    """The options of a CPU timing script (this one, conv_floor.py): --protocol, --cells, --steps, --reps."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--protocol", default="digits-cpu")
    ap.add_argument("--cells", default="fw,bw", help="fw, bw or cell texts, comma-separated")
    ap.add_argument("--steps", type=int, default=steps, help=steps_help)
    ap.add_argument("--reps", type=int, default=3)
    return ap


def timing_data(protocol, steps: int, reps: int, valid: int | None = None):
    """The protocol's dataset cut to `steps` training batches (and `valid` validation images), with
    one thread set for the timing; the line that says what ran where."""
    torch.set_num_threads(1)
    ds = load_for_protocol(protocol)
    n = steps * protocol.batch_size
    cut = {"train": ImageSplit(ds.train.images[:n], ds.train.labels[:n])}
    if valid is not None:
        cut["valid"] = ImageSplit(ds.valid.images[:valid], ds.valid.labels[:valid])
    part = dataclasses.replace(ds, **cut)
    line = (f"# protocol={protocol.name} steps={steps}" + ("" if valid is None else f" valid={len(part.valid)}")
            + f" reps={reps} threads=1 torch={torch.__version__} machine={platform.machine()} cores={os.cpu_count()} "
            f"load={os.getloadavg()[0]:.1f} OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')}")
    return part, line


def main() -> None:
    ap = timing_arguments(__doc__.splitlines()[0], 40, "training steps in the timed epoch")
    ap.add_argument("--valid", type=int, default=2048, help="validation images in the timed pass")
    a = ap.parse_args()
    protocol = get_protocol(a.protocol)
    part, line = timing_data(protocol, a.steps, a.reps, a.valid)
    print(line)
    print(f"{'cell':22s} {'config':7s} {'train s':>8s} {'valid s':>8s} {'train share':>12s} {'valid share':>12s}")
    for name in a.cells.split(","):
        label = CELLS.get(name, name)
        cell = Cell.from_text(label)
        time_config(cell, protocol, part, ())  # warm-up: first calls allocate and load kernels
        sums = {key: [0.0, 0.0] for key in CONFIGS}
        for _ in range(a.reps):
            for key, names in CONFIGS.items():
                t, v = time_config(cell, protocol, part, names)
                sums[key][0] += t
                sums[key][1] += v
        real_t, real_v = sums["real"]
        for key, (t, v) in sums.items():
            shares = "" if key == "real" else f"{1 - t / real_t:12.2f} {1 - v / real_v:12.2f}"
            print(f"{label:22s} {key:7s} {t / a.reps:8.3f} "
                  f"{v / a.reps:8.3f} {shares}", flush=True)


if __name__ == "__main__":
    main()
