"""Rank statistics: Kendall's tau-b and Spearman's rho (scipy.stats), Pearson's r, and seeded
percentile-bootstrap intervals over cells, so that a report is reproducible.
"""
from __future__ import annotations

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






