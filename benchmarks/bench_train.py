"""Training throughput (images x timesteps per second) of snnbench's trainer against a loop in the
authors' style: a torch DataLoader with per-sample torchvision transforms and a single-step Python
loop over timesteps (every layer called once per timestep).

    python benchmarks/bench_train.py --setting cpu            # digits-cpu protocol on digits
    python benchmarks/bench_train.py --setting cifar --device cuda   # CIFAR-size synthetic data, C = 128

And, on the CPU, the trainer against the first one (snnbench.reference: spikingjelly's LIFNode,
the first BatchNorm, the loop that reads results after every step), epoch by epoch in one process,
alternating, with the check that both end with identical weights and results:

    python benchmarks/bench_train.py --against-reference [--protocols digits-cpu,fmnist-cpu] [--epochs 2]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch
import torch.nn.functional as F

from snnbench.data import Dataset, ImageSplit, load_digits, random_crop_flip
from snnbench.protocols import get_protocol
from snnbench.snn import _per_step, build_network, reset_state
from snnbench.space import Cell

CELLS = ("0302 0030 3003 0000", "0303 0030 0003 0000")  # the README's bw cell, and a fw cell


def synthetic_cifar(n=2048, classes=100):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, classes, (n,), generator=g)
    split = ImageSplit(x, y)
    return Dataset("synthetic-cifar", split, split, split, classes, (0.5,) * 3, (0.25,) * 3, crop_pad=4)


def forward_single_step(net, images):
    """The authors' style: the whole network called once per timestep, cells included."""
    stem = net.stem(images)
    outs = []
    prev1 = prev2 = None
    for t in range(net.profile.timesteps):
        x = stem.unsqueeze(0)
        n1 = net.cell1._node_values(x, prev1, t) if net.cell1.has_backward else net.cell1._node_values(x, None, t)
        prev1 = n1
        x = net.lif1(net.bn1(n1[3], t))
        x = _per_step(lambda z: F.avg_pool2d(z, 2), net.bn2(_per_step(net.conv2, x), t))
        n2 = net.cell2._node_values(x, prev2, t) if net.cell2.has_backward else net.cell2._node_values(x, None, t)
        prev2 = n2
        x = net.lif2(net.bn3(n2[3], t))
        x = _per_step(lambda z: F.avg_pool2d(z, 2), x).flatten(2)
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


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def run(style, cell, protocol, ds, device, steps):
    torch.manual_seed(0)
    net = build_network(cell, protocol.network_profile(), 0).to(device).train()
    opt = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=0.9, weight_decay=5e-4)
    augment = protocol.augmentation == "crop_flip"
    if style == "authors":
        loader = iter(torch.utils.data.DataLoader(PerSampleDataset(ds, augment), batch_size=protocol.batch_size,
                                                  shuffle=True, drop_last=True))
    else:
        dev_ds = ds.to(device)
        g = torch.Generator().manual_seed(0)
    done, t0 = 0, None
    for i in range(steps + 2):
        if i == 2:
            _sync(device)
            t0 = time.perf_counter()
        if style == "authors":
            x, y = next(loader)
            x, y = x.to(device), y.to(device)
            reset_state(net)
            out = forward_single_step(net, x)
        else:
            idx = torch.randint(0, len(dev_ds.train), (protocol.batch_size,), generator=g).to(device)
            x = dev_ds.train.images[idx]
            if augment:
                x = random_crop_flip(x, ds.crop_pad, True, g)
            y = dev_ds.train.labels[idx]
            reset_state(net)
            out = net(dev_ds.normalize(x))
        loss = F.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 2:
            done += x.shape[0]
    _sync(device)
    dt = time.perf_counter() - t0
    return done * protocol.timesteps / dt, dt / steps


def against_reference(protocol_names, epochs):
    """CPU-seconds per epoch of the trainer and of the first trainer, same start, alternating."""
    from snnbench.data import load_for_protocol
    from snnbench.reference import reference_network, reference_train_epoch
    from snnbench.train import _train_epoch, steps_per_epoch
    print(f"# trainer vs first trainer, CPU-seconds per epoch (process time), threads={torch.get_num_threads()} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')} cpu={platform.processor() or 'cpu'}")
    print(f"{'protocol':12s} {'cell':22s} {'first s/ep':>10s} {'fast s/ep':>10s} {'speed-up':>8s} identical")
    for name in protocol_names:
        protocol = get_protocol(name)
        dataset = load_for_protocol(protocol)
        total = protocol.epochs * steps_per_epoch(len(dataset.train), protocol.batch_size)
        for text in CELLS[::-1]:
            fast = build_network(text, protocol.network_profile(), 0)
            nets = {"first": reference_network(fast), "fast": fast}
            loops = {"first": reference_train_epoch, "fast": _train_epoch}
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--against-reference", action="store_true")
    ap.add_argument("--protocols", default="digits-cpu,fmnist-cpu")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--setting", choices=["cpu", "cifar"], default="cpu")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    if a.against_reference:
        against_reference(a.protocols.split(","), a.epochs)
        return
    if a.setting == "cpu":
        protocol, ds = get_protocol("digits-cpu"), load_digits()
    else:
        protocol, ds = get_protocol("paper-cifar100"), synthetic_cifar()
    dev = torch.cuda.get_device_name(0) if torch.device(a.device).type == "cuda" else platform.processor() or "cpu"
    print(f"# setting={a.setting} protocol={protocol.name} C={protocol.width} B={protocol.batch_size} "
          f"T={protocol.timesteps} device={dev} threads={torch.get_num_threads()} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')}")
    print(f"{'cell':22s} {'loop':8s} {'img*T/s':>9s} {'s/step':>8s}")
    for text in CELLS:
        res = {}
        for style in ("authors", "snnbench"):
            res[style] = run(style, Cell.from_text(text), protocol, ds, a.device, a.steps)
            print(f"{text:22s} {style:8s} {res[style][0]:9.1f} {res[style][1]:8.3f}", flush=True)
        print(f"{'':22s} speed-up {res['snnbench'][0] / res['authors'][0]:.2f}x")


if __name__ == "__main__":
    main()
