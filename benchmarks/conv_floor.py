"""How fast can a CPU training step get while it keeps its convolutions? (issue 15's CPU 2x)

A training step's dense layers (every nn.Conv2d and nn.Linear call of the network, forward and
backward) are replayed alone: the calls of a real step are recorded with forward hooks (their inputs,
weights, strides, padding, and whether the input needs a gradient), then run again as F.conv2d /
F.linear on leaf tensors with a random output gradient, with autograd as in the step. Timed against
the first trainer's step (snnbench.reference: reference_network + reference_train_epoch) and today's
(snnbench.train.train_epoch), all three alternating in one process on the same batches.

first / dense is the most any trainer that keeps these layers as they are (oneDNN, float32, the same
shapes) can gain over the first trainer: it is what remains if everything else (LIF, BatchNorm,
pools, additions, the optimiser, autograd and Python) cost nothing. The issue's 2x needs
first / today >= 2, so today's non-dense time would have to fall to first / 2 - dense.

    PYTHONPATH=. python benchmarks/conv_floor.py --protocol digits-cpu [--steps 20] [--reps 3]
    PYTHONPATH=. python benchmarks/conv_floor.py --protocol fmnist-cpu     # needs the Fashion-MNIST files
"""
from __future__ import annotations

import copy
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from snnbench.model.reference import reference_network, reference_train_epoch
from snnbench.model.snn import build_network
from snnbench.model.train import train_epoch
from snnbench.protocols import get_protocol
from snnbench.space import Cell
from time_shares import CELLS, timing_arguments, timing_data


def record_dense_calls(net: nn.Module, images: torch.Tensor) -> list:
    """(kind, input, weight, bias, stride, padding, input needs grad) of every conv / linear call of
    one training forward pass, in call order."""
    calls, handles = [], []

    def hook(mod, inp, _out):
        x = inp[0]
        if isinstance(mod, nn.Conv2d):
            calls.append(("conv", x.detach().clone(), mod.weight.detach().clone(), None, mod.stride, mod.padding,
                          x.requires_grad))
        else:
            bias = None if mod.bias is None else mod.bias.detach().clone()
            calls.append(("linear", x.detach().clone(), mod.weight.detach().clone(), bias, None, None,
                          x.requires_grad))

    for mod in net.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            handles.append(mod.register_forward_hook(hook))
    try:
        net.train()
        net(images)
    finally:
        for h in handles:
            h.remove()
    return calls


def replay(calls, steps: int) -> None:
    """Forward and backward of the recorded calls, `steps` times."""
    prepared = []
    for kind, x, w, b, stride, padding, needs in calls:
        x = x.clone().requires_grad_(needs)
        w = w.clone().requires_grad_(True)
        b = None if b is None else b.clone().requires_grad_(True)
        with torch.no_grad():
            out = F.conv2d(x, w, None, stride, padding) if kind == "conv" else F.linear(x, w, b)
        prepared.append((kind, x, w, b, stride, padding, torch.randn_like(out)))
    for _ in range(steps):
        for kind, x, w, b, stride, padding, grad in prepared:
            out = F.conv2d(x, w, None, stride, padding) if kind == "conv" else F.linear(x, w, b)
            out.backward(grad)
            x.grad = w.grad = None
            if b is not None:
                b.grad = None


def main() -> None:
    a = timing_arguments(__doc__.splitlines()[0], 20, "training steps per timed epoch").parse_args()
    protocol = get_protocol(a.protocol)
    part, line = timing_data(protocol, a.steps, a.reps)
    print(line)
    print(f"{'cell':22s} {'first ms':>9s} {'today ms':>9s} {'dense ms':>9s} {'first/today':>12s} "
          f"{'first/dense':>12s} {'dense share of today':>21s} {'today non-dense -> for 2x':>26s}")
    for name in a.cells.split(","):
        label = CELLS.get(name, name)
        cell = Cell.from_text(label)
        net = build_network(cell, protocol.network_profile(), 0)
        first = reference_network(net)
        opts = [torch.optim.SGD(m.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                                weight_decay=protocol.weight_decay) for m in (net, first)]
        calls = record_dense_calls(copy.deepcopy(net), part.normalize(part.train.images[:protocol.batch_size]))
        gens = [torch.Generator().manual_seed(0) for _ in range(2)]
        sums = {"first": 0.0, "today": 0.0, "dense": 0.0}
        for rep in range(a.reps + 1):  # the first round warms up (allocations, kernels) and is not counted
            t = time.process_time()
            reference_train_epoch(first, part, protocol, opts[1], 0, 10_000, gens[1])
            t_first = time.process_time() - t
            t = time.process_time()
            train_epoch(net, part, protocol, opts[0], 0, 10_000, gens[0])
            t_today = time.process_time() - t
            t = time.process_time()
            replay(calls, a.steps)
            t_dense = time.process_time() - t
            if rep:
                sums["first"] += t_first
                sums["today"] += t_today
                sums["dense"] += t_dense
        ms = {k: v / a.reps / a.steps * 1e3 for k, v in sums.items()}
        goal = ms["first"] / 2 - ms["dense"]
        print(f"{label:22s} {ms['first']:9.2f} {ms['today']:9.2f} {ms['dense']:9.2f} "
              f"{ms['first'] / ms['today']:11.2f}x {ms['first'] / ms['dense']:11.2f}x "
              f"{ms['dense'] / ms['today']:21.2f} {ms['today'] - ms['dense']:11.2f} -> {goal:6.2f} ms "
              f"({goal / (ms['today'] - ms['dense']):.2f}x)", flush=True)


if __name__ == "__main__":
    main()
