"""Time zero-cost scoring per cell: snnbench's scorer against a naive scorer of the same HD and SAHD.

The naive scorer does what the authors' search code does: in every LIF hook call it builds the
float codes, takes two matrix products per kernel (x x^T and (1-x)(1-x)^T, for HD and again for SAHD)
and copies each kernel to the host as a numpy array to accumulate it there.
snnbench takes one (batched, exact) Gram product per call for both kernels and keeps the sums on
the device. Forward time (network incl. hook overhead) and kernel time are reported separately.

    python benchmarks/bench_scores.py --setting paper --cells 2 --device cpu
    python benchmarks/bench_scores.py --setting cpu --cells 10
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from snnbench.scores import SAHD_ALPHA, SAHD_GUARD, score_cell
from snnbench.snn import build_network, get_profile, reset_state
from snnbench.space import uniform_sample_hashes, Cell

SETTINGS = {
    # the paper's: CIFAR-size input, width 128 (the CIFAR100 network), batch 256, T = 5, repeat 2
    "paper": dict(profile="cifar100", width=128, batch=256, repeat=2),
    # the CPU profile of the digits tables: 8x8 input, width 16, batch 64, T = 5, repeat 2
    "cpu": dict(profile="digits", width=16, batch=64, repeat=2),
}


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def naive_score(cell, profile, batches, seed, device):
    net = build_network(cell, profile, seed).to(device).train()
    timers = {"kernel": 0.0}
    results = {"hd": [], "sahd": []}
    t_all = time.perf_counter()
    for images in batches:
        reset_state(net)
        acc = {"hd": 0.0, "sahd": 0.0, "calls": 0}

        def hook(_m, _i, out):
            t0 = time.perf_counter()
            for t in range(out.shape[0]):
                x = (out[t].reshape(out.shape[1], -1) > 0).float()
                n = x.shape[1]
                k1 = x @ x.t()
                k2 = (1.0 - x) @ (1.0 - x).t()
                acc["hd"] = acc["hd"] + k1.cpu().numpy() + k2.cpu().numpy()
                k1 = x @ x.t()
                k2 = (1.0 - x) @ (1.0 - x).t()
                dist = n - (k1 + k2)
                r = x.mean(1, keepdim=True)
                expected = n * (r * (1 - r.t()) + (1 - r) * r.t()) + SAHD_GUARD
                acc["sahd"] = acc["sahd"] + (n - SAHD_ALPHA * dist / expected).cpu().numpy()
                acc["calls"] += 1
            _sync(device)
            timers["kernel"] += time.perf_counter() - t0

        handles = [m.register_forward_hook(hook) for _, m in net.lif_layers()]
        net(images.to(device))
        for h in handles:
            h.remove()
        t0 = time.perf_counter()
        for k in ("hd", "sahd"):
            results[k].append(np.linalg.slogdet(acc[k].astype(np.float64) / acc["calls"])[1])
        timers["kernel"] += time.perf_counter() - t0
    _sync(device)
    total = time.perf_counter() - t_all
    return {"hd": float(np.mean(results["hd"])), "sahd": float(np.mean(results["sahd"])),
            "forward_s": total - timers["kernel"], "kernel_s": timers["kernel"], "total_s": total}


def fast_score(cell, profile, batches, seed, device):
    _sync(device)
    t0 = time.perf_counter()
    r = score_cell(cell, profile, batches, seed, device)
    _sync(device)
    total = time.perf_counter() - t0
    return {"hd": r.hd, "sahd": r.sahd, "forward_s": total - r.kernel_s, "kernel_s": r.kernel_s, "total_s": total}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--setting", choices=sorted(SETTINGS), default="cpu")
    ap.add_argument("--cells", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--space", default="bw")
    a = ap.parse_args()
    s = SETTINGS[a.setting]
    profile = get_profile(s["profile"], width=s["width"])
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(s["batch"], profile.in_channels, profile.image_size, profile.image_size, generator=g)
               .to(a.device) for _ in range(s["repeat"])]
    cells = [Cell.from_hash(h) for h in uniform_sample_hashes(a.space, a.cells, 7)]
    dev = torch.cuda.get_device_name(0) if torch.device(a.device).type == "cuda" else platform.processor() or "cpu"
    print(f"# setting={a.setting} profile={profile.name} C={profile.width} B={s['batch']} T={profile.timesteps} "
          f"repeat={s['repeat']} device={dev} threads={torch.get_num_threads()} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')}")
    fast_score(cells[0], profile, batches, 0, a.device)  # warm-up
    rows = []
    print(f"{'cell':18s} {'impl':6s} {'forward s':>9s} {'kernel s':>9s} {'total s':>8s} {'HD':>10s} {'SAHD':>10s}")
    for cell in cells:
        for name, fn in (("naive", naive_score), ("fast", fast_score)):
            r = fn(cell, profile, batches, 0, a.device)
            rows.append((name, r))
            print(f"{cell.hash:18s} {name:6s} {r['forward_s']:9.3f} {r['kernel_s']:9.3f} {r['total_s']:8.3f} "
                  f"{r['hd']:10.3f} {r['sahd']:10.3f}", flush=True)
    agg = {n: {k: sum(r[k] for m, r in rows if m == n) for k in ("forward_s", "kernel_s", "total_s")}
           for n in ("naive", "fast")}
    print(f"per cell (mean of {len(cells)}): naive kernel {agg['naive']['kernel_s'] / len(cells):.3f} s, "
          f"fast kernel {agg['fast']['kernel_s'] / len(cells):.3f} s -> kernel speed-up "
          f"{agg['naive']['kernel_s'] / agg['fast']['kernel_s']:.1f}x; total naive "
          f"{agg['naive']['total_s'] / len(cells):.3f} s, fast {agg['fast']['total_s'] / len(cells):.3f} s -> "
          f"{agg['naive']['total_s'] / agg['fast']['total_s']:.2f}x")


if __name__ == "__main__":
    main()
