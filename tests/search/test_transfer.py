"""The paper's transfer (its Table 3): search on one table, evaluate the winners on another
(`snnbench transfer`, snnbench.transfer). Two small real digits fw tables stand in for two datasets:
the same cells trained under two protocols (different widths and timesteps), the target lacking some
of the source's cells, one of them scored there but never trained."""
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import snnbench
from snnbench import analysis, search
from snnbench.build import Build, BuildSpec
from snnbench.cli import main
from snnbench.errors import ConfigError
from snnbench.protocols import get_protocol
from snnbench.space import uniform_sample_hashes
from snnbench.transfer import transfer_search, validation_ranks

# Six fw cells: the source trains the first five; the target trains three of them and a sixth,
# scores the fourth without training it, and does not hold the fifth.
CELLS = sorted(uniform_sample_hashes("fw", 6, 5))
SOURCE_CELLS, EXTRA = CELLS[:5], CELLS[5]
TARGET_TRAINED, SCORED_ONLY, ABSENT = (*SOURCE_CELLS[:3], EXTRA), SOURCE_CELLS[3], SOURCE_CELLS[4]


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def source_table(tmp_path_factory):
    """Five fw cells trained with seeds 0 and 1 for one epoch at width 4, T = 2 (`snnbench build --cells`)."""
    folder = tmp_path_factory.mktemp("transfer_source")
    listing = folder / "cells.txt"
    listing.write_text("\n".join(SOURCE_CELLS) + "\n")
    out = folder / "source.h5"
    result = run_cli("build", "--space", "fw", "--dataset", "digits", "--cells", listing, "--seeds", "0,1",
                     "--epochs", "1", "--width", "4", "--timesteps", "2", "--device", "cpu", "--quiet", "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def target_table(tmp_path_factory):
    """Another protocol (width 6, T = 3, seed 0): TARGET_TRAINED trained, SCORED_ONLY scored only."""
    out = tmp_path_factory.mktemp("transfer_target") / "target.h5"
    protocol = get_protocol("digits-cpu", epochs=1, width=6, timesteps=3)
    spec = BuildSpec("fw", protocol, out, cells=TARGET_TRAINED, scored_cells=(SCORED_ONLY,), seeds=(0,))
    assert Build(spec, workers=1, progress=False, command="tests/test_transfer.py").run().complete
    return out


@pytest.fixture(scope="module")
def frames(source_table, target_table):
    with snnbench.open(source_table) as a, snnbench.open(target_table) as b:
        return a.to_dataframe().set_index("hash", drop=False), b.to_dataframe().set_index("hash", drop=False)


@pytest.fixture(scope="module")
def report(frames):
    return transfer_search(frames[0], frames[1], runs=20, n_samples=3, seed=4)


def test_the_tables_hold_what_the_tests_rely_on(frames):
    source, target = frames
    assert sorted(analysis.trained_rows(source)["hash"]) == SOURCE_CELLS
    assert sorted(analysis.trained_rows(target)["hash"]) == sorted(TARGET_TRAINED)
    assert SCORED_ONLY in target.index and ABSENT not in target.index
    assert source["epochs"].max() == 1 and target["n_seeds"].max() == 1


def test_every_winner_has_its_accuracies_on_both_tables_and_its_rank_in_the_target(frames, report):
    source, target = frames
    trained_valid = analysis.trained_rows(target)["valid_acc"].to_numpy(float)
    picks = report["picks"]
    assert len(picks) == 3 * 20 + 2 + 1 + 1  # three searches, best sahd and hd, oracle, the target's best
    for p in picks.to_dict("records"):
        if p["method"] != "target best":
            assert p["source_valid_acc"] == source.at[p["hash"], "valid_acc"]
            assert p["source_test_acc"] == source.at[p["hash"], "test_acc"]
        if p["hash"] in TARGET_TRAINED:
            assert p["in_target"] == "trained"
            valid = target.at[p["hash"], "valid_acc"]
            assert p["target_valid_acc"] == valid and p["target_test_acc"] == target.at[p["hash"], "test_acc"]
            assert p["target_rank"] == 1 + int((trained_valid > valid).sum())  # 1 = best
        else:
            assert p["in_target"] == ("untrained" if p["hash"] == SCORED_ONLY else "absent")
            assert math.isnan(p["target_valid_acc"]) and math.isnan(p["target_test_acc"]) and p["target_rank"] is None
    assert report["target_trained"] == len(TARGET_TRAINED) and report["common"] == 3
    assert report["source_trained"] == len(SOURCE_CELLS)


def test_the_ranks_are_the_targets_own_order_by_mean_validation_accuracy(frames):
    target = analysis.trained_rows(frames[1])
    ranks = validation_ranks(frames[1])
    assert sorted(ranks.index) == sorted(TARGET_TRAINED)  # the scored-only cell has no rank
    for h, valid in target["valid_acc"].items():
        assert ranks[h] == 1 + int((target["valid_acc"] > valid).sum())
    assert ranks.min() == 1


def test_winners_missing_from_the_target_are_reported_as_untrained_or_absent(report):
    """Random search draws every source cell within 20 runs (its draws depend on the seed alone)."""
    states = dict(zip(report["picks"]["hash"], report["picks"]["in_target"]))
    assert states[SCORED_ONLY] == "untrained" and states[ABSENT] == "absent"
    summary = report["summary"].set_index("method")
    searched = report["picks"][report["picks"]["method"] == "random search"]
    trained = searched[searched["in_target"] == "trained"]
    assert summary.loc["random search", "n_trained_in_target"] == len(trained) < 20
    assert summary.loc["random search", "target_rank"] == pytest.approx(trained["target_rank"].astype(float).mean())
    assert summary.loc["random search", "target_valid_acc"] == pytest.approx(trained["target_valid_acc"].mean())
    assert summary.loc["random search", "source_valid_acc"] == pytest.approx(searched["source_valid_acc"].mean())


def test_the_picks_are_the_source_searches_and_the_sources_best_cells(frames, report):
    source, target = frames
    picks = report["picks"]
    for algo in ("sahd", "hd", "random"):
        runs = search.paper_search(source, "fw", algo, n_samples=3, runs=20, seed=4, compute_missing=False,
                                   restrict_to_table=True)
        assert picks[picks["method"] == f"{algo} search"]["hash"].tolist() == [r.winner for r in runs]
    trained = analysis.trained_rows(source)
    single = report["summary"].set_index("method")["hash"]
    assert single["best sahd"] == trained["sahd"].idxmax() and single["best hd"] == trained["hd"].idxmax()
    assert single["oracle"] == trained["valid_acc"].idxmax()
    assert single["target best"] == analysis.trained_rows(target)["valid_acc"].idxmax()
    best = picks[picks["method"] == "target best"].iloc[0]
    assert best["target_rank"] == 1 and best["in_target"] == "trained"


def test_transfer_onto_itself_ranks_the_oracle_first(frames):
    same = transfer_search(frames[0], frames[0], runs=2, n_samples=2)
    summary = same["summary"].set_index("method")
    assert summary.loc["oracle", "target_rank"] == 1 and summary.loc["oracle", "hash"] == summary.loc["target best", "hash"]
    assert same["common"] == same["source_trained"] == same["target_trained"] == len(SOURCE_CELLS)


def test_a_source_without_trained_cells_is_a_config_error(frames):
    untrained = frames[0].assign(valid_acc=np.nan)
    with pytest.raises(ConfigError, match="no trained cell of the fw space"):
        transfer_search(untrained, frames[1])
    with pytest.raises(ConfigError, match="target table has no trained cell"):
        transfer_search(frames[1], untrained)


def test_transfer_command_prints_the_table_and_json(source_table, target_table, report):
    text = run_cli("transfer", source_table, target_table, "--runs", 20, "--samples", 3, "--seed", 4)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].startswith("search on a = source.h5 (digits, digits-cpu ")
    assert lines[1].startswith("evaluated on b = target.h5 (digits, digits-cpu ")
    rows = {line[:14].strip(): line for line in lines[5:]}
    assert list(rows) == ["sahd search", "hd search", "random search", "best sahd", "best hd", "oracle", "target best"]
    picks = report["picks"].set_index("method")
    for method in ("best sahd", "best hd"):
        assert rows[method].split()[-1] == picks.loc[method, "hash"]
        assert rows[method].split()[-2] == picks.loc[method, "in_target"]
    assert rows["target best"].split()[-2:] == ["trained", picks.loc["target best", "hash"]]
    result = run_cli("transfer", source_table, target_table, "--runs", 20, "--samples", 3, "--seed", 4, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["source"].startswith("source.h5 (digits") and out["target"].startswith("target.h5 (digits")
    assert out["space"] == "fw" and out["runs"] == 20 and out["common"] == 3
    assert [p["hash"] for p in out["picks"]] == report["picks"]["hash"].tolist()
    assert [p["target_rank"] for p in out["picks"]] == report["picks"]["target_rank"].tolist()
    absent = next(p for p in out["picks"] if p["hash"] == ABSENT)
    assert absent["target_valid_acc"] is None and absent["target_rank"] is None


def test_transfer_command_refuses_bad_input_in_one_line(source_table, target_table, tmp_path):
    for args, fragment in ((("--algo", "re"), "unknown --algo"), (("--runs", "0"), "--runs")):
        result = run_cli("transfer", source_table, target_table, *args)
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
        assert fragment in result.stderr
    missing = run_cli("transfer", source_table, tmp_path / "none.h5")
    assert missing.exit_code == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_across_reports_validation_and_test_accuracy_with_their_noise_ceilings(source_table, target_table):
    """`snnbench correlate --across`: both accuracies, each with the tables' seed-vs-seed ceilings."""
    result = run_cli("correlate", "--across", source_table, target_table, "--boot", 20, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n_common"] == 3 and [r["target"] for r in out["rows"]] == ["valid_acc", "test_acc"]
    assert {r["target"] for r in out["ceiling_a"]} == {"valid_acc_s1"}
    assert {r["target"] for r in out["ceiling_a_test"]} == {"test_acc_s1"}
    assert out["ceiling_b"] == [] and out["ceiling_b_test"] == []  # one seed: no ceiling
    text = run_cli("correlate", "--across", source_table, target_table, "--boot", 0).stdout
    assert "noise ceiling of a on these cells (test_acc, seed vs seed tau)" in text
    assert "noise ceiling of b on these cells (test_acc, seed vs seed tau): - (one seed)" in text
