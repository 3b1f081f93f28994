"""Zero-cost scores at initialisation: HD (the NASWOT kernel on spikes) and SAHD (spec section 5).

For every call of every LIF layer (one layer at one timestep) with binary codes c_i (N_A entries per
sample i):
    d_H(i, j)  = n_i + n_j - 2 c_i . c_j                          (n_i = spikes of sample i)
    HD kernel  K[i][j] = N_A - d_H(i, j)
    SAHD       K[i][j] = N_A - alpha d_H / (N_A (r_i (1 - r_j) + (1 - r_i) r_j) + 1e-3)   (authors' code)
    SAHD-Eq.9  K[i][j] = N_A - alpha d_H / (r_i (1 - r_j) + (1 - r_i) r_j + 1e-3)         (paper, Eq. 9)
The kernels are summed over calls, divided by their number; score = log|det K|, averaged over
`repeat` mini-batches. One Gram matrix per call gives all kernels; the counts are exact integers
(a float32 product of 0/1 codes is exact below 2^24 entries, and the sums are kept as int64).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ConfigError
from .snn import NetworkProfile, build_network, count_parameters, is_lif, reset_state

SAHD_ALPHA = 0.5
SAHD_GUARD = 1e-3
_EXACT_FLOAT32 = 2 ** 24


def gram_counts(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """codes [S, B, N] (0/1) -> (shared spike counts c_i.c_j as int64 [S, B, B], spikes n_i int64 [S, B])."""
    dtype = torch.float32 if codes.shape[-1] < _EXACT_FLOAT32 else torch.float64
    c = codes.to(dtype)
    gram = torch.bmm(c, c.transpose(1, 2)).round().long()
    return gram, c.sum(-1).round().long()


def hamming_from_gram(gram: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """d_H(i, j) = n_i + n_j - 2 c_i.c_j, exact int64 [S, B, B]."""
    return counts.unsqueeze(-1) + counts.unsqueeze(-2) - 2 * gram


def hd_kernel(codes: torch.Tensor) -> torch.Tensor:
    """HD kernel N_A - d_H of one call; codes [B, N] binary -> int64 [B, B]."""
    gram, counts = gram_counts(codes.unsqueeze(0))
    return codes.shape[-1] - hamming_from_gram(gram, counts)[0]


def sahd_kernel(codes: torch.Tensor, alpha: float = SAHD_ALPHA, form: str = "authors") -> torch.Tensor:
    """SAHD kernel of one call; codes [B, N] binary -> float64 [B, B]. form='authors' (default) or 'eq9'."""
    gram, counts = gram_counts(codes.unsqueeze(0))
    return _sahd_from_counts(hamming_from_gram(gram, counts), counts, codes.shape[-1], alpha, form)[0]


def _sahd_from_counts(dist, counts, n_units, alpha, form):
    """SAHD kernels [S, B, B] from exact Hamming distances and spike counts (the one place the formula
    lives). The authors' normaliser is the expected distance N_A (r_i(1-r_j) + (1-r_i) r_j), written
    as n_i + n_j - 2 n_i n_j / N_A; Eq. 9 leaves out N_A."""
    if form == "authors":
        ni, nj = counts.unsqueeze(-1).double(), counts.unsqueeze(-2).double()
        expected = ni + nj - 2 * ni * nj / n_units
    elif form == "eq9":
        r = counts.double() / n_units
        ri, rj = r.unsqueeze(-1), r.unsqueeze(-2)
        expected = ri * (1 - rj) + (1 - ri) * rj
    else:
        raise ConfigError(f"unknown SAHD form {form!r}: use 'authors' or 'eq9'")
    return n_units - alpha * dist.double() / (expected + SAHD_GUARD)


class KernelAccumulator:
    """Sums the HD and SAHD kernels (and, on request, SAHD-Eq.9) over LIF calls, on the codes' device.

    add(spikes) takes one LIF output [S, B, ...] (S timesteps, each one call). HD is linear in the Gram
    matrix, so only sum_t G_t, sum_t n_t and sum_t N_A are kept (exact int64); SAHD is not, so its kernel
    is formed per call from the same Gram matrix and counts."""

    def __init__(self, alpha: float = SAHD_ALPHA, eq9: bool = False):
        self.alpha, self.eq9 = alpha, eq9
        self.gram_sum = self.count_sum = self.sahd = self.sahd_eq9 = None
        self.units_sum = 0
        self.calls = 0

    def add(self, spikes: torch.Tensor) -> None:
        codes = spikes.detach().flatten(2)
        n_units = codes.shape[-1]
        gram, counts = gram_counts(codes)
        dist = hamming_from_gram(gram, counts)
        sahd = _sahd_from_counts(dist, counts, n_units, self.alpha, "authors").sum(0)
        if self.gram_sum is None:
            self.gram_sum, self.count_sum, self.sahd = gram.sum(0), counts.sum(0), sahd
        else:
            self.gram_sum += gram.sum(0)
            self.count_sum += counts.sum(0)
            self.sahd += sahd
        if self.eq9:
            eq9 = _sahd_from_counts(dist, counts, n_units, self.alpha, "eq9").sum(0)
            self.sahd_eq9 = eq9 if self.sahd_eq9 is None else self.sahd_eq9 + eq9
        self.units_sum += n_units * codes.shape[0]
        self.calls += codes.shape[0]

    def hd_kernel_sum(self) -> torch.Tensor:
        """Sum over calls of N_A - d_H, exact int64 [B, B]."""
        n = self.count_sum
        return self.units_sum - (n.unsqueeze(-1) + n.unsqueeze(-2) - 2 * self.gram_sum)

    def scores(self) -> dict:
        """log|det K| of each mean kernel (nats)."""
        if not self.calls:
            raise ConfigError("no LIF call was recorded")
        kernels = {"hd": self.hd_kernel_sum(), "sahd": self.sahd}
        if self.eq9:
            kernels["sahd_eq9"] = self.sahd_eq9
        return {name: float(torch.linalg.slogdet(k.double() / self.calls)[1]) for name, k in kernels.items()}


@dataclass
class ScoreResult:
    """Scores of one cell at one scoring seed. hd, sahd, sahd_eq9: log|det K| (nats), mean over batches.
    firing_rates: spikes per neuron per timestep of each LIF layer on the scoring batches."""
    cell_hash: str
    hd: float
    sahd: float
    n_params: int
    firing_rates: dict
    firing_rate: float
    per_batch: dict = field(default_factory=dict)
    forward_s: float = 0.0
    kernel_s: float = 0.0
    sahd_eq9: float = float("nan")

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _record_lif(net, accumulator: KernelAccumulator, spike_counts: dict, timers: dict):
    handles = []
    for name, module in net.lif_layers():
        def hook(_mod, _inp, out, name=name):
            t = time.perf_counter()
            accumulator.add(out)
            timers["kernel"] += time.perf_counter() - t
            total, units = spike_counts.get(name, (0, 0))
            spike_counts[name] = (total + out.detach().sum(), units + out.numel())
        handles.append(module.register_forward_hook(hook))
    return handles


@torch.no_grad()
def score_cell(cell, profile: NetworkProfile, batches, seed: int = 0, device: str | torch.device = "cpu",
               eq9: bool = False) -> ScoreResult:
    """HD and SAHD of a freshly initialised network (init seeded by `seed`), in training mode.

    batches: a list of `repeat` image tensors [B, C, H, W] (normalised floats), B >= 2. Neuron state
    and the dropout mask start fresh for every batch; the scores share the same forward passes.
    eq9=True also computes the paper's Eq. 9 form of SAHD (sahd_eq9)."""
    batches = list(batches)
    if not batches or any(b.shape[0] < 2 for b in batches):
        raise ConfigError("scoring needs at least one batch of at least 2 images")
    net = build_network(cell, profile, seed).to(device).train()
    timers = {"kernel": 0.0}
    spike_counts: dict = {}
    per_batch = {"hd": [], "sahd": []} | ({"sahd_eq9": []} if eq9 else {})
    t_start = time.perf_counter()
    for images in batches:
        reset_state(net)
        acc = KernelAccumulator(eq9=eq9)
        handles = _record_lif(net, acc, spike_counts, timers)
        try:
            net(images.to(device))
        finally:
            for h in handles:
                h.remove()
        t = time.perf_counter()
        for name, value in acc.scores().items():
            per_batch[name].append(value)
        timers["kernel"] += time.perf_counter() - t
    total = time.perf_counter() - t_start
    rates = {name: float(s) / max(n, 1) for name, (s, n) in spike_counts.items()}
    overall = sum(float(s) for s, _ in spike_counts.values()) / max(sum(n for _, n in spike_counts.values()), 1)
    means = {k: float(np.mean(v)) for k, v in per_batch.items()}
    return ScoreResult(net.cell_hash, means["hd"], means["sahd"], n_params=count_parameters(net),
                       firing_rates=rates, firing_rate=overall, per_batch=per_batch,
                       forward_s=total - timers["kernel"], kernel_s=timers["kernel"],
                       sahd_eq9=means.get("sahd_eq9", float("nan")))


def scoring_batches(images: torch.Tensor, batch_size: int, repeat: int, seed: int) -> list[torch.Tensor]:
    """`repeat` distinct random mini-batches of `batch_size` images from an image tensor [N, C, H, W]
    (uint8 or float; the choice depends only on N and the seed), seeded, so that every cell scored
    with the same seed sees the same images."""
    if batch_size < 2:
        raise ConfigError(f"the scoring batch must hold at least 2 images, got {batch_size}")
    if repeat < 1:
        raise ConfigError("repeat must be at least 1")
    n = images.shape[0]
    if batch_size * repeat > n:
        raise ConfigError(f"{repeat} batches of {batch_size} need {batch_size * repeat} images, the split has {n}")
    g = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(n, generator=g)
    return [images[order[i * batch_size:(i + 1) * batch_size]] for i in range(repeat)]
