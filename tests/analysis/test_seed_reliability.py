"""How reliably a table ranks its cells (analysis.seed_reliability, printed by `snnbench correlate`):
ICC(1) over all cells, and for the better half, which is chosen on the same runs, an estimate from
the extra seeds it got afterwards (build --extra-seeds), checked against simulated cells whose true
accuracy and seed noise are known."""
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from snnbench import analysis


def test_icc_is_the_one_way_anova_ratio():
    v = np.array([[90.0, 92.0], [94.0, 93.0], [80.0, 84.0], [86.0, 86.0]])
    n, k = v.shape
    msb = k * np.var(v.mean(1), ddof=1)
    msw = np.sum((v - v.mean(1, keepdims=True)) ** 2) / (n * (k - 1))
    assert analysis.icc_one_way(v) == pytest.approx((msb - msw) / (msb + (k - 1) * msw))
    assert analysis.icc_one_way(np.column_stack([v[:, 0]] * 3)) == pytest.approx(1.0)  # seeds agree exactly
    assert np.isnan(analysis.icc_one_way(v[:1]))
    # two seeds of many cells: close to Pearson's r between them
    rng = np.random.default_rng(0)
    true = rng.normal(size=5000)
    runs = true[:, None] + rng.normal(size=(5000, 2))
    assert analysis.icc_one_way(runs) == pytest.approx(scipy.stats.pearsonr(runs[:, 0], runs[:, 1])[0], abs=0.02)
    assert analysis.icc_one_way(runs) == pytest.approx(0.5, abs=0.03)  # true variance 1, seed variance 1


def test_spearman_brown_and_the_seeds_a_reliable_mean_needs():
    assert analysis.spearman_brown(0.5, 4) == pytest.approx(0.8)
    assert analysis.seeds_for_reliability(0.5, 0.8) == 4
    assert analysis.seeds_for_reliability(0.62, 0.8) == 3  # 2.45 rounded up
    assert analysis.seeds_for_reliability(0.9, 0.8) == 1
    assert analysis.seeds_for_reliability(-0.1, 0.8) == np.inf
    assert np.isnan(analysis.seeds_for_reliability(float("nan")))
    # no detectable true variance: a mean of any number of runs ranks nothing either (the formula alone
    # would give -0.69 -> 5.35 for three seeds, as a tiny better half once printed)
    assert analysis.spearman_brown(-0.69, 3) == 0.0 and analysis.spearman_brown(0.0, 5) == 0.0
    assert np.isnan(analysis.spearman_brown(float("nan"), 3))


def test_a_better_half_whose_extra_seed_varies_less_than_seed_noise_gets_reliability_0():
    rng = np.random.default_rng(3)
    n = 40
    runs = 78 + rng.normal(size=(n, 3))          # no true differences at all: seed noise alone
    mean01 = runs[:, :2].mean(1)
    chosen = mean01 >= np.median(mean01)
    runs[chosen, 2] = 78 + rng.normal(size=chosen.sum()) * 0.1  # the extra seed: far less spread
    runs[~chosen, 2] = np.nan
    frame = pd.DataFrame({"hash": [f"{i:016x}" for i in range(n)], "space": "fw",
                          "valid_acc": np.nanmean(runs, 1), "test_acc": np.nanmean(runs, 1),
                          **{f"{m}_acc_s{k}": runs[:, k] for k in range(3) for m in ("valid", "test")}})
    frame.attrs["extra_seeds"] = [2]
    better = analysis.seed_reliability(frame, n_boot=0).set_index(["space", "cells"]).loc[("fw", "better half")]
    assert (better.r_one, better.r_mean, better.seeds_for_08) == (0.0, 0.0, np.inf)


def _simulated(n, seed, extra=True):
    """Cells with a long tail of poor ones (accuracy %), noisier the poorer, two seeds each and a third
    for the better half by the 2-seed mean, as `table better` + build --extra-seeds make it."""
    rng = np.random.default_rng(seed)
    true = 98 - rng.gamma(1.2, 1.5, n)
    noise_sd = 0.4 + 0.15 * (98 - true)
    runs = true[:, None] + rng.normal(size=(n, 3)) * noise_sd[:, None]
    mean01 = runs[:, :2].mean(1)
    chosen = mean01 >= np.median(mean01)
    runs[~chosen, 2] = np.nan
    frame = pd.DataFrame({"hash": [f"{i:016x}" for i in range(n)], "space": "fw",
                          **{f"{m}_acc": np.nanmean(runs, 1) for m in ("valid", "test")},
                          **{f"{m}_acc_s{k}": runs[:, k] for k in range(3) for m in ("valid", "test")}})
    if not extra:
        frame = frame.drop(columns=["valid_acc_s2", "test_acc_s2"])
    frame.attrs["extra_seeds"] = [2] if extra else []
    return frame, true, noise_sd, chosen


def _reliability(true, noise_sd):
    return np.var(true, ddof=1) / (np.var(true, ddof=1) + np.mean(noise_sd ** 2))


def test_reliability_of_all_cells_and_of_the_better_half_from_its_extra_seed():
    frame, true, noise_sd, chosen = _simulated(3000, seed=0)
    rows = analysis.seed_reliability(frame, n_boot=0).set_index(["space", "cells"])
    everything, better = rows.loc[("fw", "all")], rows.loc[("fw", "better half")]
    assert (everything.n_cells, everything.seeds, better.n_cells, better.seeds) == (3000, "0,1", 1500, "0,1,2")
    assert everything.r_one == pytest.approx(_reliability(true, noise_sd), abs=0.03)
    # the better half ranks far less reliably than all cells, and the extra seed measures it: the
    # two seeds it was chosen on would say it does not rank at all (selection shrinks their agreement)
    truth = _reliability(true[chosen], noise_sd[chosen])
    assert better.r_one == pytest.approx(truth, abs=0.08) and truth < 0.6 < everything.r_one
    chosen_runs = frame.loc[chosen, ["valid_acc_s0", "valid_acc_s1"]].to_numpy()
    assert analysis.icc_one_way(chosen_runs) < truth - 0.2
    assert better.r_mean == pytest.approx(analysis.spearman_brown(better.r_one, 3))
    assert better.seeds_for_08 == analysis.seeds_for_reliability(better.r_one, 0.8)
    assert better.tau == pytest.approx(scipy.stats.kendalltau(chosen_runs[:, 0], chosen_runs[:, 1])[0], abs=1e-9)


def test_without_an_extra_seed_the_better_half_gets_no_reliability():
    frame, *_ = _simulated(400, seed=1, extra=False)
    rows = analysis.seed_reliability(frame, n_boot=0).set_index(["space", "cells"])
    better = rows.loc[("fw", "better half")]
    assert better.seeds == "0,1" and np.isnan(better.r_one) and np.isnan(better.seeds_for_08)
    text = analysis.format_report(analysis.correlation_report(frame, scores=(), n_boot=0))
    assert "ranking reliability" in text and "better half" in text
