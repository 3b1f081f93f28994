"""Surrogate-gradient BPTT training of one cell under a Protocol, with the spike statistics of the
trained network measured on the test split (firing rates, synaptic operations, energy).

The training step has three optional settings, recorded in the protocol (and in its hash when set):
  autocast 'bf16'  the forward pass and the loss of training and evaluation run under torch.autocast
                   in bfloat16: convolutions and linear layers in bfloat16, LIF membranes, BatchNorm
                   statistics and the loss in float32.
  compile          the training forward pass is torch.compile'd (mode default, static shapes;
                   training_forward); evaluation runs the network as it is. Needs a compiler (C++ on
                   the CPU, Triton on a GPU); every architecture compiles anew before its first step
                   (minutes for a small network on a loaded CPU), and the graph breaks at the LIF
                   layers, so what it gains is for a GPU measurement to show.
  device_augment   the crop/flip draws come from a generator on the data's device, seeded from the
                   run seed (AUGMENT_SEED + seed), instead of from the CPU generator that also shuffles.
With all three off, a run is what it was before they existed, bit for bit on the CPU."""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import Dataset, load_for_protocol, random_crop_flip
from ..errors import ConfigError
from ..protocols import Protocol
from .snn import SNASNet, SpikingConv, build_network, count_parameters, reset_state

# 45 nm CMOS energy per operation (Horowitz, ISSCC 2014, as used across the SNN literature):
# an accumulate (one synaptic operation) 0.9 pJ, a multiply-accumulate 4.6 pJ.
ENERGY_AC_PJ = 0.9
ENERGY_MAC_PJ = 4.6

SHUFFLE_SEED = 10_000  # the generator that shuffles (and, without device_augment, augments): SHUFFLE_SEED + seed
AUGMENT_SEED = 20_000  # the device generator of the augmentation draws (device_augment): AUGMENT_SEED + seed


@dataclass
class TrainRecord:
    """One training run. Accuracies in %, losses mean cross-entropy, times in seconds; firing rates in
    spikes per neuron per timestep; sops / macs per test image; energy in pJ per test image.

    Per epoch: train_loss, train_acc (over the epoch's steps), valid_acc_curve, valid_loss_curve,
    epoch_time (training and validation of the epoch), and test_acc_curve / test_loss_curve, which hold
    None (JSON null) but at the epochs the test split is evaluated (epochs_with_test: every epoch by
    default; with Protocol.test_every, every k-th and the named budgets, the half-way epoch and the
    last, or the budgets only). Test evaluations are not part of epoch_time nor train_time:
    a search never pays for them."""
    cell_hash: str
    protocol_hash: str
    seed: int
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    valid_acc_curve: list = field(default_factory=list)
    epoch_time: list = field(default_factory=list)
    valid_loss_curve: list = field(default_factory=list)
    test_acc_curve: list = field(default_factory=list)
    test_loss_curve: list = field(default_factory=list)
    valid_acc: float = float("nan")
    test_acc: float = float("nan")
    test_loss: float = float("nan")
    train_time: float = 0.0
    n_params: int = 0
    firing_rates: dict = field(default_factory=dict)
    firing_rate: float = float("nan")
    sops: float = float("nan")
    macs: float = float("nan")
    energy_pj: float = float("nan")
    diverged: bool = False
    epochs_run: int = 0
    device: str = "cpu"
    threads: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def learning_rate(step: int, total: int, warmup: int, base: float, min_ratio: float) -> float:
    """Linear warm-up over `warmup` steps, then cosine from base to base*min_ratio at the last step."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup - 1, 1)
    low = base * min_ratio
    return low + 0.5 * (base - low) * (1 + math.cos(math.pi * min(progress, 1.0)))


def conv_synaptic_ops(spikes: torch.Tensor, conv: nn.Conv2d) -> float:
    """Accumulates a conv performs on binary input spikes [N, C_in, H, W]: every spike adds its weight
    into each output it reaches, so the count is C_out times, over output positions, the number of
    spiking inputs in the receptive field (borders included exactly)."""
    k, s, p = conv.kernel_size, conv.stride, conv.padding
    # Counts are whole numbers up to C_in * k * k per position: never under autocast, whose bfloat16
    # rounds integers above 256 (evaluation calls this from hooks inside the forward pass).
    with torch.autocast(device_type=spikes.device.type, enabled=False):
        spikes = spikes.float()
        ones = torch.ones(1, 1, *k, device=spikes.device, dtype=spikes.dtype)
        per_position = F.conv2d(spikes.sum(1, keepdim=True), ones, stride=s, padding=p)
        return float(per_position.sum()) * conv.out_channels


def _sop_counters(net: SNASNet) -> dict:
    """For every LIF layer, a function of its spikes [T', B, ...] giving the accumulates they cause."""
    counters = {}
    for module in net.modules():
        if isinstance(module, SpikingConv):
            counters[module.lif] = lambda s, conv=module.conv: conv_synaptic_ops(s.flatten(0, 1), conv)
    counters[net.lif1] = lambda s: conv_synaptic_ops(s.flatten(0, 1), net.conv2)
    # lif2 feeds fc1 through a 2x2 average: each spike adds a (pre-scaled) weight to every fc1 unit.
    counters[net.lif2] = lambda s: float(s.sum()) * net.fc1.out_features
    counters[net.lif3] = lambda s: float(s.sum()) * net.fc2.out_features
    return counters


def stem_macs(net: SNASNet) -> float:
    """Multiply-accumulates of the non-spiking layers per image: the stem conv on the real-valued
    image, computed once per image (direct encoding)."""
    conv = net.stem[0]
    side = net.profile.image_size // net.profile.stem_stride
    return float(conv.out_channels * side * side * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1])


def precision(autocast: str, device) -> contextlib.AbstractContextManager:
    """The context a forward pass and its loss run in under a protocol's autocast setting: 'bf16',
    torch.autocast to bfloat16 on the device's type; 'off', nothing (float32)."""
    if autocast == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    if autocast != "off":
        raise ConfigError(f"autocast must be 'off' or 'bf16', got {autocast!r}")
    return contextlib.nullcontext()


@torch.no_grad()
def evaluate(net: SNASNet, dataset: Dataset, split: str = "valid", batch_size: int = 256,
             spike_stats: bool = False, autocast: str = "off") -> dict:
    """Accuracy (%) and mean cross-entropy loss on a split in eval mode; with spike_stats, also firing
    rates, SOPs, MACs and energy. autocast: 'off' or 'bf16' (Protocol.autocast)."""
    data = getattr(dataset, split)
    net.eval()
    correct, n = 0, len(data)
    loss_sum = torch.zeros((), dtype=torch.float64, device=data.labels.device)
    spikes, units, sops = {}, {}, [0.0]
    handles = []
    if spike_stats:
        counters = _sop_counters(net)
        for name, lif in net.lif_layers():
            def hook(mod, _inp, out, name=name):
                spikes[name] = spikes.get(name, 0.0) + float(out.sum())
                units[name] = units.get(name, 0) + out.numel()
                sops[0] += counters[mod](out)
            handles.append(lif.register_forward_hook(hook))
    try:
        for start in range(0, n, batch_size):
            images = dataset.normalize(data.images[start:start + batch_size])
            reset_state(net)
            with precision(autocast, images.device):
                logits = net(images)
            labels = data.labels[start:start + batch_size]
            correct += int((logits.argmax(1) == labels).sum())
            loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").double()
    finally:
        for h in handles:
            h.remove()
    result = {"acc": 100.0 * correct / n, "loss": float(loss_sum) / n}
    if spike_stats:
        macs = stem_macs(net)
        result.update(firing_rates={k: spikes[k] / units[k] for k in spikes},
                      firing_rate=sum(spikes.values()) / sum(units.values()),
                      sops=sops[0] / n, macs=macs,
                      energy_pj=sops[0] / n * ENERGY_AC_PJ + macs * ENERGY_MAC_PJ)
    return result


def train_epoch(net, dataset, protocol, optimizer, step0, total_steps, generator, augment_generator=None,
                forward=None):
    """One epoch of SGD; (mean loss, accuracy %, next step), or None when the loss became NaN/inf.

    generator shuffles (on the CPU); augment_generator draws the crop/flip augmentation (default: the
    same generator). forward: what computes the logits of the network (default: net itself; a
    torch.compile'd net under Protocol.compile).

    Nothing inside the loop waits for a result: loss and correct predictions accumulate on the
    device (the loss in float64, in the order a Python float sum would take) and divergence is
    checked once, at the end of the epoch (a diverged run's weights are NaN from there on)."""
    augment_generator = generator if augment_generator is None else augment_generator
    forward = net if forward is None else forward
    net.train()
    data = dataset.train
    order = torch.randperm(len(data), generator=generator).to(data.labels.device)
    device = data.labels.device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    finite = torch.ones((), dtype=torch.bool, device=device)
    seen, step = 0, step0
    warmup = protocol.warmup_epochs * (total_steps // protocol.epochs)
    for start in range(0, len(data) - 1, protocol.batch_size):
        idx = order[start:start + protocol.batch_size]
        if len(idx) < 2:  # BatchNorm needs two samples
            break
        images = data.images[idx]
        if protocol.augmentation == "crop_flip":
            images = random_crop_flip(images, dataset.crop_pad, True, augment_generator)
        labels = data.labels[idx]
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, total_steps, warmup, protocol.lr, protocol.lr_min_ratio)
        reset_state(net)
        with precision(protocol.autocast, device):
            logits = forward(dataset.normalize(images))
            loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if protocol.grad_clip > 0:
            nn.utils.clip_grad_norm_(net.parameters(), protocol.grad_clip)
        optimizer.step()
        loss = loss.detach()
        finite &= torch.isfinite(loss)
        loss_sum += loss.double() * len(idx)
        correct += (logits.detach().argmax(1) == labels).sum()
        seen += len(idx)
        step += 1
    if not bool(finite):
        return None
    return float(loss_sum) / seen, 100.0 * int(correct) / seen, step


def training_forward(net: SNASNet, protocol: Protocol):
    """What computes the logits in training: the network itself, or under protocol.compile the
    network torch.compile'd (mode default, static shapes: a run sees two batch sizes at most, the
    full one and an epoch's last, and symbolic shapes fail on this network's time loops)."""
    return torch.compile(net, dynamic=False) if protocol.compile else net


def budget_epochs(epochs: int) -> dict:
    """The named training budgets of a protocol of `epochs` epochs: 'half' (epochs // 2, at least 1)
    and 'full' (the last epoch), as NATS-Bench names its '12' and '200' epoch budgets."""
    return {"half": max(epochs // 2, 1), "full": epochs}


def epochs_with_test(protocol: Protocol) -> set:
    """The epochs (1-based) after which a run evaluates the test split: every epoch (test_every None,
    the default, as NATS-Bench records), every test_every-th epoch and the named budgets (test_every
    k >= 1), or the named budgets only (test_every 0: a CPU protocol's saving, one test pass costs as
    much as one validation pass)."""
    every = protocol.test_every
    if every is None:
        return set(range(1, protocol.epochs + 1))
    chosen = set(budget_epochs(protocol.epochs).values())
    if every:
        chosen |= set(range(every, protocol.epochs + 1, every))
    return chosen


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    full, rest = divmod(n_train, batch_size)
    return full + (1 if rest >= 2 else 0)


def check_dataset_fits(dataset: Dataset, protocol: Protocol) -> None:
    """ConfigError when a dataset given to train_cell is not the protocol's data: images of another
    size or channel count than its network takes, or a train split of another size than its train_size."""
    profile = protocol.network_profile()
    if (dataset.in_channels, dataset.image_size) != (profile.in_channels, profile.image_size):
        raise ConfigError(f"the dataset has {dataset.in_channels}x{dataset.image_size}x{dataset.image_size} images "
                          f"but protocol {protocol.name} takes {profile.in_channels}x{profile.image_size}x"
                          f"{profile.image_size}: load it with data.load_for_protocol")
    if protocol.train_size is not None and len(dataset.train) != protocol.train_size:
        raise ConfigError(f"the dataset has {len(dataset.train)} training images but protocol {protocol.name} "
                          f"trains on {protocol.train_size}: load it with data.load_for_protocol")


def train_cell(cell, protocol: Protocol, seed: int = 0, dataset: Dataset | None = None,
               device: str | torch.device = "cpu", on_epoch=None, data_dir=None, checkpoint_dir=None,
               checkpoint_every: int = 1) -> TrainRecord:
    """Train a cell from scratch under `protocol` with `seed`; deterministic on CPU for a fixed seed and
    thread count. A run whose loss becomes NaN/inf stops and is returned with diverged=True. Without
    `dataset`, the protocol's data is loaded (data.load_for_protocol, files from `data_dir`).

    device: cpu, cuda or cuda:K (DeviceError when that GPU is not visible). checkpoint_dir: a folder
    for this run's checkpoint (snnbench.checkpoint), written every `checkpoint_every` epochs; a run
    started again with the same folder continues from it and ends with the same record (on the CPU,
    bit for bit but for the wall times); the checkpoint is removed when the run ends. The protocol's
    training-step settings (autocast, compile, device_augment) apply: module docstring."""
    from .checkpoint import TrainingCheckpoint
    from .devices import check_device
    protocol.validate()
    check_device(str(device))
    device = torch.device(device)
    if dataset is None:
        dataset = load_for_protocol(protocol, data_dir)
    check_dataset_fits(dataset, protocol)
    dataset = dataset.to(device)
    net = build_network(cell, protocol.network_profile(), seed).to(device)
    forward = training_forward(net, protocol)
    generator = torch.Generator().manual_seed(SHUFFLE_SEED + int(seed))
    augment_generator = None  # the shuffling generator draws the augmentation too
    if protocol.device_augment:
        augment_generator = torch.Generator(device=device).manual_seed(AUGMENT_SEED + int(seed))
    optimizer = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                                weight_decay=protocol.weight_decay)
    record = TrainRecord(net.cell_hash, protocol.hash, int(seed), n_params=count_parameters(net),
                         device=str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
                         threads=torch.get_num_threads())
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = TrainingCheckpoint(checkpoint_dir, {"cell_hash": net.cell_hash, "protocol_hash": protocol.hash,
                                                         "seed": int(seed)}, checkpoint_every)
    total = protocol.epochs * steps_per_epoch(len(dataset.train), protocol.batch_size)
    step, earlier = 0, 0.0  # earlier: seconds trained before a resumed checkpoint
    resumed = checkpoint.restore(net, optimizer, generator, record, device, augment_generator) if checkpoint else None
    if resumed is not None:
        step, earlier = resumed
    tested = epochs_with_test(protocol)
    t_start, excluded = time.perf_counter(), 0.0  # excluded: seconds spent on the test split
    for epoch in range(record.epochs_run, protocol.epochs):
        t0 = time.perf_counter()
        out = train_epoch(net, dataset, protocol, optimizer, step, total, generator, augment_generator, forward)
        if out is None:
            record.diverged = True
            break
        loss, acc, step = out
        record.train_loss.append(loss)
        record.train_acc.append(acc)
        valid = evaluate(net, dataset, "valid", autocast=protocol.autocast)
        record.valid_acc_curve.append(valid["acc"])
        record.valid_loss_curve.append(valid["loss"])
        record.epoch_time.append(time.perf_counter() - t0)
        record.epochs_run = epoch + 1
        t_test = time.perf_counter()
        last = record.epochs_run == protocol.epochs
        test = evaluate(net, dataset, "test", spike_stats=last, autocast=protocol.autocast) \
            if record.epochs_run in tested else {"acc": None, "loss": None}
        record.test_acc_curve.append(test.pop("acc"))
        record.test_loss_curve.append(test.pop("loss"))
        excluded += time.perf_counter() - t_test
        if checkpoint is not None and checkpoint.due(record.epochs_run, protocol.epochs):
            checkpoint.save(net, optimizer, generator, step, record,
                            earlier + time.perf_counter() - t_start - excluded, device, augment_generator)
        if on_epoch is not None:
            on_epoch(record)
    record.train_time = earlier + time.perf_counter() - t_start - excluded
    if not record.diverged:
        record.valid_acc = record.valid_acc_curve[-1]
        record.test_acc, record.test_loss = record.test_acc_curve[-1], record.test_loss_curve[-1]
        for key, value in test.items():  # the spike statistics of the last epoch's test pass
            setattr(record, key, value)
    if checkpoint is not None:
        checkpoint.remove()
    return record
