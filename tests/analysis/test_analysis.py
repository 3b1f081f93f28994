"""Rank statistics against scipy, the correlation report and the figures on a real digits table."""
import json

import numpy as np
import pytest
import scipy.stats
from click.testing import CliRunner

import snnbench
from snnbench import analysis
from snnbench.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _fixed_pairs():
    """Fixed data with and without ties, both signs of association, and small sizes."""
    rng = np.random.default_rng(20221023)
    cases = [([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]),
             ([1, 1, 2, 2, 3], [3, 3, 1, 2, 2]),
             ([0.5, 0.5], [1.0, 2.0]),
             ([3, 1, 2], [1, 2, 3])]
    for n in (7, 30, 257):
        x = rng.normal(size=n)
        cases.append((x, x + rng.normal(size=n)))                       # continuous
        cases.append((rng.integers(0, 4, n), rng.integers(0, 5, n)))   # heavy ties on both sides
        cases.append((np.round(x, 1), -np.round(x, 1) + rng.integers(0, 2, n)))  # ties, negative
    return cases


@pytest.mark.parametrize("x, y", _fixed_pairs())
def test_kendall_tau_b_equals_scipy_with_and_without_ties(x, y):
    expected = scipy.stats.kendalltau(x, y).statistic
    assert analysis.kendall_tau(x, y) == pytest.approx(expected, abs=1e-12, nan_ok=True)


@pytest.mark.filterwarnings("ignore:An input array is constant")  # scipy's, on the constant case
@pytest.mark.parametrize("x, y", _fixed_pairs())
def test_spearman_rho_equals_scipy_with_and_without_ties(x, y):
    expected = scipy.stats.spearmanr(x, y).statistic
    assert analysis.spearman_rho(x, y) == pytest.approx(expected, abs=1e-12, nan_ok=True)


def test_average_ranks_equal_scipy_rankdata():
    x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0]
    np.testing.assert_array_equal(analysis.average_ranks(x), scipy.stats.rankdata(x))


def test_inversions_are_counted_like_the_definition():
    rng = np.random.default_rng(1)
    for n in (0, 1, 2, 5, 33, 100):
        a = rng.integers(0, 7, n)
        brute = sum(int(a[i] > a[j]) for i in range(n) for j in range(i + 1, n))
        assert analysis.count_inversions(a) == brute


def test_constant_side_gives_nan_not_an_error():
    assert np.isnan(analysis.kendall_tau([1, 1, 1], [1, 2, 3]))
    assert np.isnan(analysis.spearman_rho([1, 2, 3], [7, 7, 7]))


def test_bootstrap_interval_is_reproducible_and_brackets_the_estimate():
    rng = np.random.default_rng(3)
    x = rng.normal(size=80)
    y = x + rng.normal(size=80)
    first = analysis.correlate(x, y, n_boot=300, seed=5)
    again = analysis.correlate(x, y, n_boot=300, seed=5)
    assert first == again
    assert first["tau_lo"] < first["tau"] < first["tau_hi"]
    assert first["rho_lo"] < first["rho"] < first["rho_hi"]


def test_pairs_with_a_missing_value_are_left_out():
    stats = analysis.correlate([1, 2, np.nan, 4, 5], [2, 1, 3, np.nan, 6], n_boot=0)
    assert stats["n"] == 3
    assert stats["tau"] == pytest.approx(scipy.stats.kendalltau([1, 2, 5], [2, 1, 6]).statistic)


# ----------------------------------------------------------------------------- on a real table
@pytest.fixture(scope="module")
def small_frame(small_fw_table):
    with snnbench.open(small_fw_table) as bench:
        return bench.to_dataframe()


def test_report_correlates_every_stored_score_with_both_accuracies(small_frame):
    report = analysis.correlation_report(small_frame, n_boot=50)
    scores = report["scores"]
    n_trained = int(np.isfinite(small_frame["valid_acc"]).sum())
    assert report["n_trained"] == n_trained
    assert set(scores["score"]) == set(analysis.SCORE_COLUMNS)
    assert set(scores["target"]) == {"valid_acc", "test_acc"}
    assert set(scores["space"]) == {"fw", "all"}  # a fw table has no bw cells
    assert (scores["n"] == n_trained).all()
    trained = small_frame[np.isfinite(small_frame["valid_acc"])]
    sahd = scores[(scores.space == "all") & (scores.score == "sahd") & (scores.target == "valid_acc")].iloc[0]
    assert sahd.tau == pytest.approx(scipy.stats.kendalltau(trained["sahd"], trained["valid_acc"]).statistic)


def test_noise_ceiling_compares_the_two_training_seeds(small_frame):
    ceiling = analysis.noise_ceiling(small_frame, "valid_acc", n_boot=50)
    row = ceiling[ceiling.space == "all"].iloc[0]
    assert (row.score, row.target) == ("valid_acc_s0", "valid_acc_s1")
    both = small_frame[np.isfinite(small_frame["valid_acc_s0"]) & np.isfinite(small_frame["valid_acc_s1"])]
    assert row.n == len(both)
    assert row.tau == pytest.approx(scipy.stats.kendalltau(both["valid_acc_s0"], both["valid_acc_s1"]).statistic)
    assert row.tau_lo <= row.tau <= row.tau_hi


def test_spread_across_cells_and_seeds_by_hand():
    import pandas as pd
    nan = float("nan")
    frame = pd.DataFrame({"space": ["fw", "fw", "bw", "bw"],
                          "valid_acc_s0": [90.0, 94.0, 80.0, 86.0], "valid_acc_s1": [92.0, nan, 84.0, 86.0]})
    spread = analysis.seed_spread(frame).set_index("space")
    fw, bw, both = spread.loc["fw"], spread.loc["bw"], spread.loc["all"]
    assert (fw.n_cells, fw["mean"], fw["min"], fw["max"], fw.n_pairs) == (2, 92.0, 90.0, 94.0, 1)
    assert fw.arch_sd == pytest.approx(np.std([90, 94], ddof=1))
    assert fw.seed_sd == pytest.approx(np.std([90, 92], ddof=1)) and fw.mean_abs_diff == 2.0
    # bw: per-cell sd sqrt(8) and 0, root mean square 2
    assert bw.seed_sd == pytest.approx(2.0) and bw.mean_abs_diff == 2.0
    assert bw.ratio == pytest.approx(np.std([80, 86], ddof=1) / 2.0)
    assert (both.n_cells, both.n_pairs) == (4, 3)
    # mean over the two seeds: bw cells 82 and 86, noise of a 2-seed mean 2 / sqrt(2)
    assert bw.mean_sd == pytest.approx(np.std([82, 86], ddof=1))
    assert bw.mean_ratio == pytest.approx(np.std([82, 86], ddof=1) / (2.0 / np.sqrt(2)))
    assert set(spread.cells) == {"all"}  # fewer than 4 cells with both seeds: no top-half row


def test_spread_of_the_top_half_separates_bad_cells_from_unranked_good_ones():
    import pandas as pd
    # two bad cells far below, four good ones that differ by less than their seed noise
    s0 = [60.0, 70.0, 97.0, 99.0, 98.0, 96.0]
    s1 = [62.0, 68.0, 99.0, 97.0, 96.0, 98.0]
    spread = analysis.seed_spread(pd.DataFrame({"space": ["fw"] * 6, "valid_acc_s0": s0, "valid_acc_s1": s1}))
    spread = spread[spread.space == "fw"].set_index("cells")
    everything, top = spread.loc["all"], spread.loc["top half"]
    # means 61, 69, 98, 98, 97, 97: median 97, so the four good cells (ties included)
    assert (everything.n_cells, top.n_cells, top.n_pairs) == (6, 4, 4)
    assert top.arch_sd == pytest.approx(np.std([97.0, 99.0, 98.0, 96.0], ddof=1))
    assert top.seed_sd == pytest.approx(np.sqrt(2.0)) and top.mean_abs_diff == 2.0  # every pair 2 apart
    assert top.ratio < 1 < everything.ratio
    assert top.mean_ratio == pytest.approx(np.std([98, 98, 97, 97], ddof=1) / 1.0)


def test_plots_are_written_as_png_files(small_frame, tmp_path):
    paths = analysis.plot_all(small_frame, tmp_path / "figures", n_boot=20)
    assert [p.name for p in paths] == ["scores.png", "attributes.png", "distribution.png"]
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC


def test_correlate_command_prints_the_report_and_the_figures(small_fw_table, tmp_path):
    out = tmp_path / "fig4.png"
    result = CliRunner().invoke(main, ["correlate", str(small_fw_table), "--boot", "30", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert "Kendall tau" in result.output and "noise ceiling" in result.output
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "fig4_attributes.png").exists() and (tmp_path / "fig4_distribution.png").exists()


def test_correlate_command_json_holds_every_score(small_fw_table):
    result = CliRunner().invoke(main, ["correlate", str(small_fw_table), "--boot", "0", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {r["score"] for r in report["scores"]} == set(analysis.SCORE_COLUMNS)


def test_correlate_command_refuses_a_file_that_is_not_a_table_in_one_line(tmp_path):
    bogus = tmp_path / "not_a_table.h5"
    bogus.write_bytes(b"hello")
    result = CliRunner().invoke(main, ["correlate", str(bogus)])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1


# The values snnbench's own numpy tau-b and rho (replaced by scipy.stats) gave on fixed data: the
# recorded correlations do not change with the implementation.
def _fixed_data():
    rng = np.random.default_rng(18)
    return {"continuous": (rng.normal(size=40).round(6), rng.normal(size=40).round(6)),
            "ties": (rng.integers(0, 5, size=60).astype(float), rng.integers(0, 7, size=60).astype(float)),
            "scores": ([-3.5, -np.inf, 1.0, 2.0, 2.0, 7.25, 0.5, 0.5, 9.0, -1.0],
                       [91.2, 88.0, 93.5, 93.5, 90.1, 97.0, 89.9, 92.2, 96.4, 85.0])}


OLD_VALUES = {"continuous": (0.21794871794871795, 0.3118198874296435),
              "ties": (-0.08081882178911706, -0.10560967881139419),
              "scores": (0.643720685820384, 0.7859363967596923)}


@pytest.mark.parametrize("case", sorted(OLD_VALUES))
def test_tau_and_rho_are_the_values_of_the_former_numpy_implementation(case):
    x, y = _fixed_data()[case]
    tau, rho = OLD_VALUES[case]
    assert analysis.kendall_tau(x, y) == pytest.approx(tau, abs=1e-12)
    assert analysis.spearman_rho(x, y) == pytest.approx(rho, abs=1e-12)
