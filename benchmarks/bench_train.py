"""Training throughput (images x timesteps per second) of snnbench's trainer and its step settings
against two loops in the authors' style, at the paper's CIFAR-100 setting or the CPU protocol.

Loops (--variants, comma-separated):
  authors-net        a network written like the SNASNet authors' code (model_snn.py,
                     searchcells/search_cell_snn.py): every layer called once per timestep, spikingjelly's
                     single-step LIFNode, one plain nn.BatchNorm2d per layer shared by all timesteps, every
                     edge module of a cell once per timestep (backward edges feed the next timestep, op 0
                     edges multiply by zero as their ScaleLayer does), a DataLoader with per-sample
                     torchvision transforms on PIL images (4 workers on a GPU, pinned memory), the loss and
                     the accuracy read back after every step, cuDNN deterministic. Same cell graph and
                     parameter count as snnbench's network, started from its weights (checked: fc1's output
                     and the logits equal snnbench's, in training mode, before timing).
  authors            the first authors'-style loop: snnbench's own modules called once per timestep.
  snnbench           snnbench.train's epoch loop (train_epoch) as a build runs it, on an epoch of
                     exactly --steps batches; snnbench+bf16, +compile, +devaug (combinable, e.g.
                     snnbench+bf16+devaug) set the protocol's autocast='bf16', compile, device_augment;
                     +cl is no protocol setting but a probe of a candidate speed-up: the network's
                     weights in channels-last memory format (so are its convolutions' outputs).

From the repository root, with this tree's snnbench first on the path (PYTHONPATH=.):

    python benchmarks/bench_train.py --setting cpu --steps 3                    # digits-cpu, smoke check
    python benchmarks/bench_train.py --setting cifar --device cuda --json runs/train.jsonl
    python benchmarks/bench_train.py --setting cifar --width 8 --steps 2 --variants authors-net,snnbench  # CPU
    python benchmarks/bench_train.py --setting fmnist --variants snnbench,snnbench+cl   # fmnist-cpu (needs the data)

--start-at UNIX_TIME holds the timed steps until then (after the warm-up), so that several processes
packed on one GPU time the same window.

And, on the CPU, the trainer against the first one (snnbench.reference: spikingjelly's LIFNode,
the first BatchNorm, the loop that reads results after every step), epoch by epoch in one process,
alternating, with the check that both end with identical weights and results:

    python benchmarks/bench_train.py --against-reference [--protocols digits-cpu,fmnist-cpu] [--epochs 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import socket
import time
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from snnbench.data import Dataset, ImageSplit, load_digits, load_for_protocol, random_crop_flip
from snnbench.protocols import get_protocol
from snnbench.snn import (LIF_TAU, LIF_THRESHOLD, per_step, build_network, count_parameters, reset_state,
                          sj_neuron, sj_surrogate)
from snnbench.space import Cell

CELLS = {"bw": "0302 0030 3003 0000", "fw": "0303 0030 0003 0000"}  # the README's bw cell, and a fw cell
DEFAULT_VARIANTS = "authors-net,snnbench,snnbench+bf16,snnbench+compile,snnbench+devaug"
SETTINGS = {"cpu": "digits-cpu", "fmnist": "fmnist-cpu", "cifar": "paper-cifar100"}


def synthetic_cifar(n=2048, classes=100):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, classes, (n,), generator=g)
    split = ImageSplit(x, y)
    return Dataset("synthetic-cifar", split, split, split, classes, (0.5,) * 3, (0.25,) * 3, crop_pad=4)


# ----------------------------------------------------------------------------- the first authors'-style loop
def forward_single_step(net, images):
    """The authors' style: the whole network called once per timestep, cells included."""
    stem = net.stem(images)
    outs = []
    prev1 = prev2 = None
    for t in range(net.profile.timesteps):
        x = stem.unsqueeze(0)
        n1 = net.cell1.node_values(x, prev1, t) if net.cell1.has_backward else net.cell1.node_values(x, None, t)
        prev1 = n1
        x = net.lif1(net.bn1(n1[3], t))
        x = per_step(lambda z: F.avg_pool2d(z, 2), net.bn2(per_step(net.conv2, x), t))
        n2 = net.cell2.node_values(x, prev2, t) if net.cell2.has_backward else net.cell2.node_values(x, None, t)
        prev2 = n2
        x = net.lif2(net.bn3(n2[3], t))
        x = per_step(lambda z: F.avg_pool2d(z, 2), x).flatten(2)
        x = net.lif3(net.fc1(net.dropout(x)))
        outs.append(F.avg_pool1d(net.fc2(x), net.profile.vote))
    return torch.cat(outs).mean(0)


class PerSampleDataset(torch.utils.data.Dataset):
    def __init__(self, ds: Dataset, augment: bool):
        import torchvision.transforms.v2 as T
        self.x, self.y = ds.train.images, ds.train.labels
        steps = [T.RandomCrop(ds.image_size, padding=ds.crop_pad), T.RandomHorizontalFlip()] if augment else []
        self.tf = T.Compose(steps + [T.ToDtype(torch.float32, scale=True), T.Normalize(ds.mean, ds.std)])

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.tf(self.x[i]), self.y[i]


# ----------------------------------------------------------------------------- a network like the authors' code
def authors_lif() -> nn.Module:
    """The spec's LIF as the authors' code makes it: spikingjelly's LIFNode, one timestep per call."""
    return sj_neuron.LIFNode(tau=LIF_TAU, decay_input=True, v_threshold=LIF_THRESHOLD, v_reset=0.0,
                             surrogate_function=sj_surrogate.ATan(), detach_reset=True, step_mode="s")


class ZeroEdge(nn.Module):
    """Op 0 (no edge), as the authors' ScaleLayer runs it: the input times zero."""

    def forward(self, x):
        return x * 0.0


def authors_edge(code: int, channels: int) -> nn.Module:
    """The module of op code 0..4 with plain BatchNorm2d; its sub-modules are named as in snnbench's
    SpikingConv (lif, conv, bn), so that snnbench's weights load into it."""
    if code == 0:
        return ZeroEdge()
    if code == 1:
        return nn.Identity()
    if code in (2, 3):
        k = 1 if code == 2 else 3
        return nn.Sequential(OrderedDict(lif=authors_lif(), conv=nn.Conv2d(channels, channels, k, padding=k // 2, bias=False),
                                         bn=nn.BatchNorm2d(channels)))
    return nn.AvgPool2d(3, stride=1, padding=1)


class AuthorsCell(nn.Module):
    """One timestep of a cell, as the authors' Neuronal_Cell (forward edges only) or
    Neuronal_Cell_backward: v_0 = x + m_0, x_1 = e01(v_0), v_1 = x_1 + m_1, x_2 = e02(v_0) + e12(v_1),
    v_2 = x_2 + m_2, x_3 = e03(v_0) + e13(v_1) + e23(v_2); then m_0 = b10(v_1) + b20(v_2) + b30(x_3),
    m_1 = b21(v_2) + b31(x_3), m_2 = b32(x_3) for the next timestep (m = 0 at the first)."""

    def __init__(self, matrix, channels: int):
        super().__init__()
        m = [[int(v) for v in row] for row in matrix]
        self.backward_cell = any(m[i][j] for i in range(4) for j in range(i))
        pairs = [(i, j) for j in range(1, 4) for i in range(j)]
        if self.backward_cell:
            pairs += [(i, j) for j in range(3) for i in range(j + 1, 4)]
        self.edge_ops = nn.ModuleDict({f"{i}_{j}": authors_edge(m[i][j], channels) for i, j in pairs})
        self.memory = None

    def reset(self):
        self.memory = None

    def forward(self, x):
        e = self.edge_ops
        if not self.backward_cell:
            x1 = e["0_1"](x)
            x2 = e["0_2"](x) + e["1_2"](x1)
            return e["0_3"](x) + e["1_3"](x1) + e["2_3"](x2)
        m0, m1, m2 = self.memory if self.memory is not None else (0.0, 0.0, 0.0)
        v0 = x + m0
        v1 = e["0_1"](v0) + m1
        v2 = e["0_2"](v0) + e["1_2"](v1) + m2
        x3 = e["0_3"](v0) + e["1_3"](v1) + e["2_3"](v2)
        self.memory = (e["1_0"](v1) + e["2_0"](v2) + e["3_0"](x3), e["2_1"](v2) + e["3_1"](x3), e["3_2"](x3))
        return x3


class AuthorsSNASNet(nn.Module):
    """The macro skeleton as the authors' SNASNet runs it: the stem once, then every layer once per
    timestep, the class votes summed over timesteps. Module names follow snnbench.snn.SNASNet."""

    def __init__(self, cell, profile):
        super().__init__()
        matrix, C, p = Cell.parse(cell).canonical_matrix, profile.width, profile
        self.timesteps, self.vote = p.timesteps, p.vote
        self.stem = nn.Sequential(nn.Conv2d(p.in_channels, C, 3, stride=p.stem_stride, padding=1, bias=False),
                                  nn.BatchNorm2d(C))
        self.cell1 = AuthorsCell(matrix, C)
        self.bn1, self.lif1 = nn.BatchNorm2d(C), authors_lif()
        self.conv2, self.bn2 = nn.Conv2d(C, 2 * C, 3, padding=1, bias=False), nn.BatchNorm2d(2 * C)
        self.cell2 = AuthorsCell(matrix, 2 * C)
        self.bn3, self.lif2 = nn.BatchNorm2d(2 * C), authors_lif()
        from spikingjelly.activation_based.layer import Dropout
        self.dropout = Dropout(0.5, step_mode="s")  # one mask per sample for all timesteps, as the authors'
        self.fc1 = nn.Linear(2 * C * p.feature_size ** 2, p.hidden, bias=False)
        self.lif3 = authors_lif()
        self.fc2 = nn.Linear(p.hidden, p.num_classes * p.vote)

    def forward(self, images):
        self.cell1.reset(), self.cell2.reset()
        static = self.stem(images)
        votes = 0.0
        for _ in range(self.timesteps):
            x = self.cell1(static)
            x = F.avg_pool2d(self.bn2(self.conv2(self.lif1(self.bn1(x)))), 2)
            x = self.cell2(x)
            x = F.avg_pool2d(self.lif2(self.bn3(x)), 2).flatten(1)
            x = self.fc2(self.lif3(self.fc1(self.dropout(x))))
            votes = votes + F.avg_pool1d(x.unsqueeze(1), self.vote).squeeze(1)
        return votes / self.timesteps


def authors_network(snn_net, cell) -> AuthorsSNASNet:
    """An AuthorsSNASNet holding snn_net's weights (BatchNorm running statistics too when they are
    shared over timesteps; per-timestep ones are left at their start, which they share)."""
    net = AuthorsSNASNet(cell, snn_net.profile)
    state = {k: v for k, v in snn_net.state_dict().items()
             if not (k.endswith(("running_mean", "running_var")) and v.dim() == 2)}
    missing, unexpected = net.load_state_dict(state, strict=False)
    left = [k for k in missing if not k.endswith(("num_batches_tracked", "running_mean", "running_var"))]
    if left or unexpected:
        raise RuntimeError(f"the networks differ: missing {left[:4]}, unexpected {unexpected[:4]}")
    return net


@torch.no_grad()
def check_same_network(snn_net, authors_net, images) -> dict:
    """Parameter counts of both, and how far apart they compute on `images` in training mode (batch
    statistics; dropout off): fc1's output at every timestep (real-valued: it depends on every layer
    before; the logits may all be 0 at the start) and the logits. Runs on copies: the networks'
    running statistics stay as they were."""
    import copy
    a, b = copy.deepcopy(snn_net).train(), copy.deepcopy(authors_net).train()
    a.dropout.p = b.dropout.p = 0.0
    currents = {"a": [], "b": []}
    a.fc1.register_forward_hook(lambda m, i, out: currents["a"].append(out.clone()) and None)
    b.fc1.register_forward_hook(lambda m, i, out: currents["b"].append(out.clone()) and None)
    reset_state(a), reset_state(b)
    logits_a, logits_b = a(images), b(images)
    fc1_a, fc1_b = currents["a"][0], torch.stack(currents["b"])  # [T, B, H] both
    return {"params_snnbench": count_parameters(snn_net), "params_authors": count_parameters(authors_net),
            "fc1_max_diff": float((fc1_a - fc1_b).abs().max()), "fc1_max": float(fc1_a.abs().max()),
            "logits_max_diff": float((logits_a - logits_b).abs().max())}


class AuthorsData(torch.utils.data.Dataset):
    """The train split as torchvision's CIFAR datasets serve it to the authors' loader: one PIL image
    per sample through RandomCrop / RandomHorizontalFlip / ToTensor / Normalize."""

    def __init__(self, ds: Dataset, augment: bool):
        import torchvision.transforms as T
        self.images = ds.train.images.permute(0, 2, 3, 1).numpy()  # HWC, as CIFAR's pickles become
        self.labels = ds.train.labels.tolist()
        steps = [T.RandomCrop(ds.image_size, padding=ds.crop_pad), T.RandomHorizontalFlip()] if augment else []
        self.transform = T.Compose(steps + [T.ToTensor(), T.Normalize(ds.mean, ds.std)])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image
        img = self.images[i]
        img = Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img)
        return self.transform(img), self.labels[i]


# ----------------------------------------------------------------------------- timing
def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device, fn):
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def _hold_until(start_at):
    if start_at:
        time.sleep(max(0.0, start_at - time.time()))


def time_authors_net(cell, protocol, ds, device, steps, warmup, workers, start_at=None):
    """(seconds of the timed steps, seconds of the warm-up steps, architecture check)."""
    torch.manual_seed(0)
    snn_net = build_network(cell, protocol.network_profile(), 0).to(device)
    net = authors_network(snn_net, cell).to(device).train()
    check = check_same_network(snn_net, net, ds.normalize(ds.train.images[:16]).to(device))
    del snn_net
    cuda = torch.device(device).type == "cuda"
    loader = torch.utils.data.DataLoader(AuthorsData(ds, protocol.augmentation == "crop_flip"),
                                         batch_size=protocol.batch_size, shuffle=True, drop_last=True,
                                         pin_memory=cuda, num_workers=workers)
    opt = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                          weight_decay=protocol.weight_decay)
    batches = iter(loader)
    deterministic, benchmark = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False  # as the authors set them

    def run(n):
        nonlocal batches
        for _ in range(n):
            try:
                x, y = next(batches)
            except StopIteration:  # a new epoch, as their loop starts one
                batches = iter(loader)
                x, y = next(batches)
            x, y = x.to(device), y.to(device)
            out = net(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            (out.argmax(1) == y).float().mean().mul(100).item()  # their top-1 meter, read every step
            loss.item()
            reset_state(net)
    try:
        first = _timed(device, lambda: run(warmup))
        _hold_until(start_at)
        return _timed(device, lambda: run(steps)), first, check
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = deterministic, benchmark


def time_authors_loop(cell, protocol, ds, device, steps, warmup, start_at=None):
    """The first authors'-style loop (snnbench's modules, once per timestep; data on the CPU)."""
    torch.manual_seed(0)
    net = build_network(cell, protocol.network_profile(), 0).to(device).train()
    opt = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=0.9, weight_decay=5e-4)
    augment = protocol.augmentation == "crop_flip"
    loader = torch.utils.data.DataLoader(PerSampleDataset(ds, augment), batch_size=protocol.batch_size,
                                         shuffle=True, drop_last=True)
    batches = iter(loader)

    def run(n):
        nonlocal batches
        for _ in range(n):
            try:
                x, y = next(batches)
            except StopIteration:
                batches = iter(loader)
                x, y = next(batches)
            x, y = x.to(device), y.to(device)
            reset_state(net)
            loss = F.cross_entropy(forward_single_step(net, x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    first = _timed(device, lambda: run(warmup))
    _hold_until(start_at)
    return _timed(device, lambda: run(steps)), first, None


def snnbench_variant(base, variant):
    """(protocol, channels_last) of a variant 'snnbench[+bf16][+compile][+devaug][+cl]': the protocol
    with the step settings it names, and whether +cl asks for channels-last weights (time_snnbench)."""
    parts = variant.split("+")
    unknown = set(parts[1:]) - {"bf16", "compile", "devaug", "cl"}
    if parts[0] != "snnbench" or unknown:
        raise SystemExit(f"unknown variant {variant!r}: snnbench with any of +bf16, +compile, +devaug, +cl")
    protocol = base.with_(autocast="bf16" if "bf16" in parts else "off", compile="compile" in parts,
                          device_augment="devaug" in parts).validate()
    return protocol, "cl" in parts


def time_snnbench(cell, protocol, ds, device, steps, warmup, start_at=None, channels_last=False):
    """snnbench.train's epoch loop on epochs of exactly `warmup`, then `steps`, full batches;
    channels_last: the network's weights in channels-last format (a probe, no protocol setting)."""
    from snnbench.train import AUGMENT_SEED, train_epoch, training_forward
    torch.manual_seed(0)
    net = build_network(cell, protocol.network_profile(), 0).to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    forward = training_forward(net, protocol)
    opt = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                          weight_decay=protocol.weight_decay)
    on_device = ds.to(device)
    shuffle = torch.Generator().manual_seed(0)
    augment = torch.Generator(device=device).manual_seed(AUGMENT_SEED) if protocol.device_augment else None
    total = warmup + steps

    def epoch(n):
        n_images = n * protocol.batch_size
        part = dataclasses.replace(on_device, train=ImageSplit(on_device.train.images[:n_images],
                                                               on_device.train.labels[:n_images]))
        if train_epoch(net, part, protocol, opt, 0, total, shuffle, augment, forward) is None:
            print("# diverged (NaN loss): the time still counts", flush=True)
    first = _timed(device, lambda: epoch(warmup))
    _hold_until(start_at)
    return _timed(device, lambda: epoch(steps)), first, None


def time_variant(variant, cell, protocol, ds, device, steps, warmup, workers, start_at=None):
    if variant == "authors-net":
        return time_authors_net(cell, protocol, ds, device, steps, warmup, workers, start_at)
    if variant == "authors":
        return time_authors_loop(cell, protocol, ds, device, steps, warmup, start_at)
    variant_protocol, channels_last = snnbench_variant(protocol, variant)
    return time_snnbench(cell, variant_protocol, ds, device, steps, warmup, start_at, channels_last)


def setting_data(setting, width, steps, warmup):
    """(protocol, dataset) of a setting: digits-cpu on digits, fmnist-cpu on Fashion-MNIST (its files
    must be there), or paper-cifar100 on synthetic CIFAR-size data with enough images for every step
    to take a new batch."""
    overrides = {"width": width} if width else {}
    protocol = get_protocol(SETTINGS[setting], **overrides)
    if setting == "cpu":
        return protocol, load_digits()
    if setting == "fmnist":
        return protocol, load_for_protocol(protocol)
    return protocol, synthetic_cifar(max(2048, (steps + warmup + 1) * protocol.batch_size))


def machine(device) -> str:
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine() or "cpu"


def against_reference(protocol_names, epochs):
    """CPU-seconds per epoch of the trainer and of the first trainer, same start, alternating."""
    from snnbench.reference import reference_network, reference_train_epoch
    from snnbench.train import train_epoch, steps_per_epoch
    print(f"# trainer vs first trainer, CPU-seconds per epoch (process time), threads={torch.get_num_threads()} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')} cpu={platform.processor() or 'cpu'}")
    print(f"{'protocol':12s} {'cell':22s} {'first s/ep':>10s} {'fast s/ep':>10s} {'speed-up':>8s} identical")
    for name in protocol_names:
        protocol = get_protocol(name)
        dataset = load_for_protocol(protocol)
        total = protocol.epochs * steps_per_epoch(len(dataset.train), protocol.batch_size)
        for text in (CELLS["fw"], CELLS["bw"]):
            fast = build_network(text, protocol.network_profile(), 0)
            nets = {"first": reference_network(fast), "fast": fast}
            loops = {"first": reference_train_epoch, "fast": train_epoch}
            state = {}
            for key, net in nets.items():
                torch.manual_seed(0)
                state[key] = dict(opt=torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                                                      weight_decay=protocol.weight_decay),
                                  gen=torch.Generator().manual_seed(0), rng=torch.get_rng_state(), cpu=0.0,
                                  step=0, out=[])
            for _ in range(epochs):
                for key in ("first", "fast"):
                    st = state[key]
                    torch.set_rng_state(st["rng"])
                    t0 = time.process_time()
                    out = loops[key](nets[key], dataset, protocol, st["opt"], st["step"], total, st["gen"])
                    st["cpu"] += time.process_time() - t0
                    st["rng"], st["step"] = torch.get_rng_state(), out[2]
                    st["out"].append(out)
            same = state["fast"]["out"] == state["first"]["out"] and all(
                torch.equal(a, b) for a, b in zip(nets["fast"].state_dict().values(), nets["first"].state_dict().values()))
            first, fast_s = state["first"]["cpu"] / epochs, state["fast"]["cpu"] / epochs
            print(f"{name:12s} {text:22s} {first:10.2f} {fast_s:10.2f} {first / fast_s:7.2f}x {'yes' if same else 'NO'}",
                  flush=True)


def measure(variant, text, protocol, ds, a, workers) -> dict | None:
    """One timed variant on one cell as a result row; None (and a line saying why) when it failed."""
    try:
        seconds, first, check = time_variant(variant, Cell.from_text(text), protocol, ds, a.device, a.steps,
                                             a.warmup, workers, a.start_at)
    except Exception as exc:  # one variant failing (no compiler, a kernel missing) ends only its row
        why = str(exc).splitlines()[0][:150] if str(exc) else ""
        print(f"{text:22s} {variant:22s} FAILED {type(exc).__name__}: {why}", flush=True)
        return None
    rate = a.steps * protocol.batch_size * protocol.timesteps / seconds
    return dict(protocol=protocol.name, width=protocol.width, batch=protocol.batch_size, timesteps=protocol.timesteps,
                cell=text, variant=variant, img_T_per_s=round(rate, 1), s_per_step=seconds / a.steps,
                warmup_s=first, steps=a.steps, warmup=a.warmup, start_at=a.start_at, **(check or {}))


def show(row, base) -> None:
    ratio = f"{row['img_T_per_s'] / base:13.2f}x" if base else f"{'-':>14s}"
    print(f"{row['cell']:22s} {row['variant']:22s} {row['img_T_per_s']:9.1f} {row['s_per_step']:8.4f} "
          f"{row['warmup_s']:9.2f} {ratio}", flush=True)
    if "params_authors" in row:
        print(f"{'':22s} same network: {row['params_snnbench']} = {row['params_authors']} parameters; "
              f"fc1 output max |diff| {row['fc1_max_diff']:.3g} (max {row['fc1_max']:.3g}), "
              f"logits max |diff| {row['logits_max_diff']:.3g}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--against-reference", action="store_true")
    ap.add_argument("--protocols", default="digits-cpu,fmnist-cpu")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--setting", choices=list(SETTINGS), default="cpu")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--variants", default=DEFAULT_VARIANTS, help="comma-separated (module docstring)")
    ap.add_argument("--cells", default="fw,bw", help="comma-separated: fw, bw, or cell texts")
    ap.add_argument("--width", type=int, default=None, help="override the protocol's width C")
    ap.add_argument("--steps", type=int, default=10, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens there)")
    ap.add_argument("--workers", type=int, default=None, help="authors-net DataLoader workers (default: 4 on a GPU, 0 on the CPU)")
    ap.add_argument("--start-at", type=float, default=None, help="UNIX time the timed steps wait for")
    ap.add_argument("--json", default=None, help="append one JSON line per result to this file")
    a = ap.parse_args()
    if a.against_reference:
        against_reference(a.protocols.split(","), a.epochs)
        return
    protocol, ds = setting_data(a.setting, a.width, a.steps, a.warmup)
    workers = a.workers if a.workers is not None else (4 if torch.device(a.device).type == "cuda" else 0)
    where = machine(a.device)
    print(f"# setting={a.setting} protocol={protocol.name} C={protocol.width} B={protocol.batch_size} "
          f"T={protocol.timesteps} device={where} threads={torch.get_num_threads()} torch={torch.__version__} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')} steps={a.steps} warmup={a.warmup}", flush=True)
    print(f"{'cell':22s} {'loop':22s} {'img*T/s':>9s} {'s/step':>8s} {'warm-up s':>9s} {'vs authors-net':>14s}")
    for name in a.cells.split(","):
        base = None  # authors-net's rate for this cell, when it ran
        for variant in a.variants.split(","):
            row = measure(variant, CELLS.get(name, name), protocol, ds, a, workers)
            if row is None:
                continue
            base = row["img_T_per_s"] if variant == "authors-net" else base
            show(row, base)
            if a.json:
                with open(a.json, "a") as f:
                    f.write(json.dumps(dict(row, setting=a.setting, device=where, host=socket.gethostname(),
                                            pid=os.getpid(), torch=torch.__version__)) + "\n")


if __name__ == "__main__":
    main()
