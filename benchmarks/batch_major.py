"""A candidate CPU training step for issue 15's 2x, measured and not adopted: every change that
needs a new protocol version at once.

- batch-major layout: the network's [T, B, ...] tensors are stored [B, T, ...], so that the
  per-timestep BatchNorm's fold of timesteps into channels is a view, not two copies per call;
- the BatchNorm of that layout in C (batch_major_bn.c; statistics in double, its own float order),
  without the repeated weights and the dispatch of torch's folded batch_norm;
- convolution backward passes as two forward convolutions (input gradient: the flipped kernel;
  weight gradient: the input and the output gradient with batch and channels swapped), which some
  small shapes run faster than oneDNN's backward kernels;
- backward cells: only the nodes on a cycle in the time loop (benchmarks/cycle_loop.py);
- SGD with foreach updates.

Before timing, the C BatchNorm is checked against a per-timestep loop over F.batch_norm in float64
(outputs, gradients, running statistics; per-timestep and shared statistics) and the batch-major
network's evaluation logits against today's from the same weights. Then CPU-seconds per training
epoch (process time, one thread) of the first trainer (snnbench.reference), today's trainer and the
candidate, alternating epoch by epoch in one process from the same start. --changes picks the
changes (default bn,cycle,foreach; conv, the backward as forward convolutions, made the step slower).

    PYTHONPATH=. python benchmarks/batch_major.py --protocol digits-cpu [--epochs 3] [--changes bn,cycle,foreach,conv]
    PYTHONPATH=. python benchmarks/batch_major.py --protocol fmnist-cpu --epochs 2   # needs the Fashion-MNIST files
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

import cycle_loop
from snnbench.model import snn
from snnbench.model.lif_kernel import load
from snnbench.protocols import get_protocol
from snnbench.reference import reference_network, reference_train_epoch
from snnbench.data import load_for_protocol
from snnbench.train import steps_per_epoch, train_epoch

CELLS = {"fw": "0303 0030 0003 0000", "bw": "0302 0030 3003 0000"}  # as benchmarks/bench_train.py
CHANGES = ("bn", "cycle", "foreach", "conv")
DEFAULT_CHANGES = "bn,cycle,foreach"  # conv made the step slower on both digits cells (RESULTS.md)
_P, _L, _D = ctypes.c_void_p, ctypes.c_long, ctypes.c_double


def bn_library():
    lib = load(Path(__file__).with_name("batch_major_bn.c"))
    if lib is None:
        raise SystemExit("batch_major.py needs a C compiler (cc, gcc or clang) for its BatchNorm")
    lib.snnbench_bn_train_forward.restype = ctypes.c_int
    lib.snnbench_bn_train_forward.argtypes = [_P] * 8 + [_L] * 4 + [_D] * 2 + [ctypes.c_int]
    lib.snnbench_bn_eval_forward.restype = None
    lib.snnbench_bn_eval_forward.argtypes = [_P] * 8 + [_L] * 4 + [_D, ctypes.c_int]
    lib.snnbench_bn_train_backward.restype = ctypes.c_int
    lib.snnbench_bn_train_backward.argtypes = [_P] * 8 + [_L] * 4
    return lib


LIB = None


def _p(tensor):
    return None if tensor is None else tensor.data_ptr()


class BatchMajorBatchNorm(torch.autograd.Function):
    """x [B, T', C, H, W]: each (t, c) normalised with its own statistics, weight and bias [C] shared
    by the timesteps; running statistics [T', C] (per_timestep) or [C] (shared, updated once per
    timestep in order), updated in place in training."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps, per_timestep):
        x = x.contiguous()
        batch, steps, channels = x.shape[:3]
        size = x[0, 0, 0].numel()
        y = torch.empty_like(x)
        w, b = weight.detach().contiguous(), bias.detach().contiguous()
        first, second = x.new_empty((steps, channels)), x.new_empty((steps, channels))
        if training:
            if LIB.snnbench_bn_train_forward(_p(x), _p(y), _p(w), _p(b), _p(first), _p(second), _p(running_mean),
                                             _p(running_var), batch, steps, channels, size, momentum, eps,
                                             int(per_timestep)):
                raise MemoryError("batch_major_bn: no memory for the sums")
            ctx.save_for_backward(x, w, first, second)  # mean, invstd
        else:
            LIB.snnbench_bn_eval_forward(_p(x), _p(y), _p(w), _p(b), _p(running_mean), _p(running_var), _p(first),
                                         _p(second), batch, steps, channels, size, eps, int(per_timestep))
        ctx.training = training
        return y

    @staticmethod
    def backward(ctx, grad_y):
        if not ctx.training:
            raise RuntimeError("batch_major.py differentiates BatchNorm in training mode only")
        x, w, mean, invstd = ctx.saved_tensors
        grad_y = grad_y.contiguous()
        batch, steps, channels = x.shape[:3]
        grad_x = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        grad_w, grad_b = w.new_empty(channels), w.new_empty(channels)
        if LIB.snnbench_bn_train_backward(_p(x), _p(grad_y), _p(w), _p(mean), _p(invstd), _p(grad_x), _p(grad_w),
                                          _p(grad_b), batch, steps, channels, x[0, 0, 0].numel()):
            raise MemoryError("batch_major_bn: no memory for the sums")
        return grad_x, grad_w, grad_b, None, None, None, None, None, None


class ForwardConvBackward(torch.autograd.Function):
    """conv2d (stride 1, 'same' padding, no bias) whose backward runs two forward convolutions."""

    @staticmethod
    def forward(ctx, x, weight, padding):
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        return F.conv2d(x, weight, padding=padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        p = ctx.padding
        grad_x = F.conv2d(grad, weight.transpose(0, 1).flip(2, 3), padding=p) if ctx.needs_input_grad[0] else None
        grad_w = F.conv2d(x.transpose(0, 1), grad.transpose(0, 1), padding=p).transpose(0, 1).contiguous()
        return grad_x, grad_w, None


class Candidate:
    """Switches the network's module functions between today's and the candidate's (on: candidate)."""

    def __init__(self, changes):
        self.changes, self.on = set(changes), False
        self.today = {"per_step": snn.per_step, "bn": snn.TimeBatchNorm2d.forward,
                      "steps": snn.SNASNet.forward_steps, "cell": snn.SpikingCell._authors_forward,
                      "join": cycle_loop.join_steps}
        cand = self
        snn.per_step = lambda fn, x: cand.per_step(fn, x) if cand.on else cand.today["per_step"](fn, x)
        snn.TimeBatchNorm2d.forward = lambda mod, x, t0=0: (cand.batch_norm(mod, x, t0) if cand.on
                                                            else cand.today["bn"](mod, x, t0))
        snn.SNASNet.forward_steps = lambda net, images: (cand.forward_steps(net, images) if cand.on
                                                         else cand.today["steps"](net, images))
        snn.SpikingCell._authors_forward = lambda cell, x: (
            cycle_loop.cycle_loop_forward(cell, x) if cand.on and "cycle" in cand.changes
            else cand.today["cell"](cell, x))
        cycle_loop.join_steps = lambda parts: (torch.cat([p.transpose(0, 1) for p in parts], 1).transpose(0, 1)
                                               if cand.on else cand.today["join"](parts))

    @contextlib.contextmanager
    def active(self, on: bool):
        self.on = on
        try:
            yield
        finally:
            self.on = False

    @staticmethod
    def _batch_major(x):
        xb = x.transpose(0, 1)
        return xb if xb.is_contiguous() else xb.contiguous()

    def per_step(self, fn, x):
        xb = self._batch_major(x)
        flat = xb.flatten(0, 1)
        if "conv" in self.changes and isinstance(fn, nn.Conv2d) and fn.stride == (1, 1) and fn.bias is None:
            out = ForwardConvBackward.apply(flat, fn.weight, fn.padding[0])
        else:
            out = fn(flat)
        return out.view(xb.shape[0], xb.shape[1], *out.shape[1:]).transpose(0, 1)

    def batch_norm(self, mod, x, t0):
        steps, batch = x.shape[0], x.shape[1]
        xb = self._batch_major(x)
        rows = slice(t0, t0 + steps) if mod.per_timestep else slice(None)
        if "bn" in self.changes:
            out = BatchMajorBatchNorm.apply(xb, mod.weight, mod.bias, mod.running_mean[rows], mod.running_var[rows],
                                            mod.training, mod.momentum, mod.eps, mod.per_timestep)
            return out.transpose(0, 1)
        if not mod.per_timestep:
            raise SystemExit("without the bn change, only per-timestep BatchNorm statistics (the CPU protocols')")
        folded = xb.view(batch, steps * mod.channels, *x.shape[3:])
        weight, bias = (mod.weight, mod.bias) if steps == 1 else (mod.weight.repeat(steps), mod.bias.repeat(steps))
        out = F.batch_norm(folded, mod.running_mean[rows].view(-1), mod.running_var[rows].view(-1), weight, bias,
                           mod.training, mod.momentum, mod.eps)
        return out.view(batch, steps, *x.shape[2:]).transpose(0, 1)

    def forward_steps(self, net, images):
        """SNASNet.forward_steps with the stem's output repeated over time in batch-major memory."""
        stem = net.stem(images)
        x = stem.unsqueeze(1).expand(stem.shape[0], net.profile.timesteps, *stem.shape[1:]).contiguous().transpose(0, 1)
        x = net.cell1(x)
        x = net.lif1(net.bn1(x))
        x = net.bn2(snn.per_step(net.conv2, x))
        x = snn.per_step(lambda z: F.avg_pool2d(z, 2), x)
        x = net.cell2(x)
        x = net.lif2(net.bn3(x))
        x = snn.per_step(lambda z: F.avg_pool2d(z, 2), x).flatten(2)
        x = net.lif3(net.fc1(net.dropout(x)))
        return F.avg_pool1d(net.fc2(x), net.profile.vote)


def check_batch_norm() -> float:
    """Largest difference (relative to each value's largest magnitude) between the C BatchNorm and a
    per-timestep loop over F.batch_norm in float64: outputs, input/weight/bias gradients, running
    statistics, evaluation outputs; per-timestep and shared statistics."""
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for per_timestep in (True, False):
        B, T, C = 16, 5, 6
        x = torch.randn(B, T, C, 5, 5, generator=gen).requires_grad_()
        w = (torch.rand(C, generator=gen) + 0.5).requires_grad_()
        b = torch.randn(C, generator=gen).requires_grad_()
        shape = (T, C) if per_timestep else (C,)
        rm, rv = torch.randn(shape, generator=gen), torch.rand(shape, generator=gen) + 0.5
        ref_rm, ref_rv = rm.double(), rv.double()
        y = BatchMajorBatchNorm.apply(x, w, b, rm, rv, True, 0.1, 1e-5, per_timestep)
        g = torch.randn(y.shape, generator=gen)
        got = [y, *torch.autograd.grad(y, (x, w, b), g)]
        xd, wd, bd = (t.detach().double().requires_grad_() for t in (x, w, b))
        rows = [F.batch_norm(xd[:, t], ref_rm[t] if per_timestep else ref_rm, ref_rv[t] if per_timestep else ref_rv,
                             wd, bd, True, 0.1, 1e-5) for t in range(T)]
        ref = torch.stack(rows, 1)
        want = [ref, *torch.autograd.grad(ref, (xd, wd, bd), g.double())]
        with torch.no_grad():
            got += [rm, rv, BatchMajorBatchNorm.apply(x, w, b, rm, rv, False, 0.1, 1e-5, per_timestep)]
            want += [ref_rm, ref_rv, torch.stack([F.batch_norm(xd[:, t], ref_rm[t] if per_timestep else ref_rm,
                                                               ref_rv[t] if per_timestep else ref_rv, wd, bd, False,
                                                               0.1, 1e-5) for t in range(T)], 1)]
        for a, r in zip(got, want):
            worst = max(worst, float((a.detach().double() - r.detach()).abs().max() / r.detach().abs().max()))
    return worst


def logit_difference(today_net, cand_net, dataset, candidate) -> float:
    """Largest difference between the candidate's evaluation logits and today's from the same weights
    (256 validation images; BatchNorm in evaluation mode rounds its affine map its own way)."""
    images = dataset.normalize(dataset.valid.images[:256])
    logits = []
    for net, on in ((today_net, False), (cand_net, True)):
        net.eval()
        snn.reset_state(net)
        with torch.no_grad(), candidate.active(on):
            logits.append(net(images))
        snn.reset_state(net)
    return float((logits[0] - logits[1]).abs().max())


def main():
    global LIB
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", default="digits-cpu")
    ap.add_argument("--cells", default="fw,bw")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--changes", default=DEFAULT_CHANGES, help=f"comma-separated, of: {', '.join(CHANGES)}")
    a = ap.parse_args()
    torch.set_num_threads(1)
    LIB = bn_library()
    changes = [c for c in a.changes.split(",") if c]
    if any(c not in CHANGES for c in changes):
        raise SystemExit(f"--changes: choose from {', '.join(CHANGES)}")
    protocol = get_protocol(a.protocol)
    dataset = load_for_protocol(protocol)
    total = protocol.epochs * steps_per_epoch(len(dataset.train), protocol.batch_size)
    candidate = Candidate(changes)
    print(f"# {a.protocol}, candidate: {', '.join(changes)}; CPU-seconds per training epoch (process time), "
          f"threads={torch.get_num_threads()} OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')} "
          f"cpu={platform.processor() or platform.machine()} load={os.getloadavg()[0]:.1f}")
    print(f"# C BatchNorm vs a per-timestep float64 loop: largest relative difference {check_batch_norm():.1e}")
    for space in a.cells.split(","):
        today = snn.build_network(CELLS[space], protocol.network_profile(), seed=0)
        nets = {"first": reference_network(today), "today": today, "candidate": copy.deepcopy(today)}
        differ = logit_difference(nets["today"], nets["candidate"], dataset, candidate)
        loops = {"first": reference_train_epoch, "today": train_epoch, "candidate": train_epoch}
        runs = {key: dict(cpu=0.0, step=0, out=[], gen=torch.Generator().manual_seed(0),
                          opt=torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                                              weight_decay=protocol.weight_decay,
                                              foreach=key == "candidate" and "foreach" in changes))
                for key, net in nets.items()}
        for epoch in range(a.epochs):
            for key, run in runs.items():
                torch.manual_seed(epoch)  # dropout masks: the same draws for every loop
                with candidate.active(key == "candidate"):
                    t0 = time.process_time()
                    out = loops[key](nets[key], dataset, protocol, run["opt"], run["step"], total, run["gen"])
                    run["cpu"] += time.process_time() - t0
                run["step"] = out[2]
                run["out"].append(tuple(round(v, 4) for v in out[:2]))
        s = {key: run["cpu"] / a.epochs for key, run in runs.items()}
        print(f"{space} {CELLS[space]}: first {s['first']:.2f} s/epoch, today {s['today']:.2f} "
              f"({s['first'] / s['today']:.2f}x), candidate {s['candidate']:.2f} ({s['first'] / s['candidate']:.2f}x; "
              f"{s['today'] / s['candidate']:.2f}x today's); eval logits from the same weights differ by "
              f"{differ:.1e}")
        for key, run in runs.items():
            print(f"    {key:9s} (loss, train acc) per epoch: {run['out']}")


if __name__ == "__main__":
    main()
