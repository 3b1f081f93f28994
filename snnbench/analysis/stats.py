"""Rank statistics: Kendall's tau-b and Spearman's rho (scipy.stats), Pearson's r, the reliability of
a cell's accuracy across training seeds (ICC(1), Spearman-Brown), and seeded percentile-bootstrap
intervals over cells, so that a report is reproducible.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.stats

from ..errors import ConfigError


# ----------------------------------------------------------------------------- rank statistics
def average_ranks(values) -> np.ndarray:
    """Ranks 1..n of a 1-d array, tied values sharing the mean of the ranks they span."""
    return scipy.stats.rankdata(np.asarray(values, dtype=float), method="average")


def _undefined_as_nan(statistic: float) -> float:
    return float(statistic) if np.isfinite(statistic) else float("nan")


def kendall_tau(x, y) -> float:
    """Kendall's tau-b of two equal-length 1-d arrays (ties corrected on both sides;
    scipy.stats.kendalltau), NaN if either side is constant or fewer than 2 pairs are given."""
    x, y = _paired(x, y)
    if len(x) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant side: scipy warns and answers NaN
        return _undefined_as_nan(scipy.stats.kendalltau(x, y, variant="b").statistic)


def spearman_rho(x, y) -> float:
    """Spearman's rho (scipy.stats.spearmanr: Pearson's correlation of the average ranks); NaN if
    either side is constant or fewer than 2 pairs are given."""
    x, y = _paired(x, y)
    if len(x) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _undefined_as_nan(scipy.stats.spearmanr(x, y).statistic)


def count_inversions(sequence) -> int:
    """Pairs i < j with sequence[i] > sequence[j] (strictly), by a bottom-up merge sort in numpy.

    At each level, sorted blocks of width w are paired; every element of a right block counts the
    elements of its left block that exceed it. Offsetting each value by its block's index times a
    bound turns all per-block searches into one global searchsorted."""
    values = np.asarray(sequence)
    a = np.searchsorted(np.sort(values), values, side="left")  # ranks 0..n-1, ties share the lowest
    n = len(a)
    bound = n + 1
    total, width = 0, 1
    position = np.arange(n)
    while width < n:
        block = position // (2 * width)
        in_right = (position // width) % 2 == 1
        keys = block * bound + a  # `a` is sorted within each block of `width`
        left_keys = keys[~in_right]
        right_block, right_value = block[in_right], a[in_right]
        left_end = np.searchsorted(left_keys, (right_block + 1) * bound, side="left")
        not_greater = np.searchsorted(left_keys, right_block * bound + right_value, side="right")
        total += int((left_end - not_greater).sum())
        a = np.sort(keys) - block * bound  # merge: each block of 2*width is now sorted
        width *= 2
    return total


def pearson_r(x, y) -> float:
    """Pearson's correlation coefficient; NaN if either side is constant."""
    x, y = _paired(x, y)
    dx, dy = x - x.mean(), y - y.mean()
    denom = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float((dx * dy).sum() / denom) if denom > 0 else float("nan")


def icc_one_way(values) -> float:
    """The reliability of one measurement when each row (a cell) is measured k times by exchangeable
    raters (training seeds): the one-way random-effects intraclass correlation ICC(1),
    (MSB - MSW) / (MSB + (k - 1) MSW), from the between-cell and within-cell mean squares of a
    [cells, k] array without NaN. It is the expected correlation between two seeds' values of the same
    cells (for two seeds close to Pearson's r between them); NaN with fewer than 2 cells or seeds or no
    variance at all. May be negative when the seeds disagree more than chance."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[0] < 2 or v.shape[1] < 2:
        return float("nan")
    if not np.isfinite(v).all():
        raise ConfigError("icc_one_way takes cells measured by every seed (no NaN)")
    n, k = v.shape
    row_means = v.mean(axis=1)
    msb = k * float(((row_means - v.mean()) ** 2).sum()) / (n - 1)
    msw = float(((v - row_means[:, None]) ** 2).sum()) / (n * (k - 1))
    denom = msb + (k - 1) * msw
    return (msb - msw) / denom if denom > 0 else float("nan")


def spearman_brown(r: float, k: float) -> float:
    """The reliability of a mean over k measurements when one measurement's is r: k r / (1 + (k - 1) r).
    0 when r <= 0 (an estimate at or below zero finds no true variance; a mean of any number of runs
    has none either: the formula itself would turn negative or blow up past r = -1/(k-1))."""
    if not np.isfinite(r):
        return float("nan")
    return float(k * r / (1 + (k - 1) * r)) if r > 0 else 0.0


def seeds_for_reliability(r: float, target: float = 0.8) -> float:
    """The fewest seeds whose mean reaches reliability `target` when one run's reliability is r
    (Spearman-Brown solved for k); inf when r <= 0 (no number of seeds will), NaN when r is."""
    if not np.isfinite(r):
        return float("nan")
    if r <= 0:
        return math.inf
    if not 0 < target < 1:
        raise ConfigError(f"the target reliability must be in (0, 1), got {target}")
    return float(max(1, math.ceil(target * (1 - r) / (r * (1 - target)) - 1e-9)))


def _paired(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ConfigError(f"correlated arrays must have the same length, got {len(x)} and {len(y)}")
    return x, y


# ----------------------------------------------------------------------------- bootstrap
def bootstrap_interval(x, y, statistic, n_boot: int = 1000, confidence: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of statistic(x, y) over resamples of the pairs (cells), seeded.
    Resamples on which the statistic is undefined (a constant side) are dropped."""
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):  # also refuses nan
        raise ConfigError(f"confidence must be a number in (0, 1), got {confidence}")
    x, y = _paired(x, y)
    if len(x) < 3 or n_boot < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(x), size=(n_boot, len(x)))
    values = np.array([statistic(x[i], y[i]) for i in draws])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def correlate(x, y, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict:
    """tau-b and rho of x against y with their bootstrap intervals, over the pairs where both are finite.
    Returns n, tau, tau_lo, tau_hi, rho, rho_lo, rho_hi."""
    x, y = _paired(x, y)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out = {"n": int(len(x)), "tau": kendall_tau(x, y), "rho": spearman_rho(x, y)}
    out["tau_lo"], out["tau_hi"] = bootstrap_interval(x, y, kendall_tau, n_boot, confidence, seed)
    out["rho_lo"], out["rho_hi"] = bootstrap_interval(x, y, spearman_rho, n_boot, confidence, seed)
    return out






