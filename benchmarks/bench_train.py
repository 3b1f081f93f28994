"""Training throughput (images x timesteps per second) of snnbench's trainer against a loop in the
authors' style: a torch DataLoader with per-sample torchvision transforms and a single-step Python
loop over timesteps (every layer called once per timestep).

    python benchmarks/bench_train.py --setting cpu            # digits-cpu protocol on digits
    python benchmarks/bench_train.py --setting cifar --device cuda   # CIFAR-size synthetic data, C = 128
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--setting", choices=["cpu", "cifar"], default="cpu")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
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
