"""The harness's rules (issue 16): the incumbent, its ties, the regret definitions, predicted runs
counted and labelled, a space the table does not hold, the no-progress guard, the deterministic cost."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from snnbench import search
from snnbench.cli import main
from snnbench.errors import NoProgressError, SpaceMismatchError
from snnbench.search.harness import EvalRecord, _Incumbent
from snnbench.space import Cell, sample_cells


# bench, frame, model: tests/search/conftest.py


def _trained(frame):
    return frame[np.isfinite(frame["valid_acc"])]


def _record(h, valid, epochs=2, predicted=False):
    return EvalRecord(h, "", epochs, valid, float("nan"), 1.0, 1.0, 0, predicted)


# ----------------------------------------------------------------------------- a hand-made table
def _hand_made_table():
    """Four trained fw cells with two seeds each: A has the best mean validation accuracy but a poor
    test accuracy; B the best test accuracy; C a lucky seed (its best single seed beats A's mean)."""
    cells = [c for c in sample_cells("fw", 40, np.random.default_rng(1))]
    cells = list({c.hash: c for c in cells}.values())[:4]
    rows = []
    #            valid s0, valid s1, test
    values = [(99.0, 99.0, 95.0), (98.0, 98.0, 97.0), (99.5, 96.5, 96.0), (90.0, 90.0, 90.0)]
    for cell, (v0, v1, test) in zip(cells, values):
        rows.append({"hash": cell.hash, "text": cell.canonical_text, "space": "fw", "valid_acc": (v0 + v1) / 2,
                     "valid_acc_s0": v0, "valid_acc_s1": v1, "test_acc": test, "test_acc_s0": test,
                     "test_acc_s1": test, "train_time": 10.0, "epochs": 1, "sahd": 0.0})
    return pd.DataFrame(rows), [c.hash for c in cells]


def test_regret_is_measured_against_mean_accuracies_with_the_perfect_validation_floor():
    table, (a, b, c, d) = _hand_made_table()
    sim = search.SimulatedBenchmark(table, "fw", seed=0)
    assert sim.best_valid_mean == 99.0 and sim.oracle_test_acc == 97.0
    assert sim.oracle_by_valid_regret == pytest.approx(2.0)  # the best-valid cell A has test 95
    sim.evaluate(c)  # whichever seed answered, C's mean validation is 98 and its test 96
    row = sim.log().iloc[-1]
    assert row["best_hash"] == c and row["best_valid_mean"] == 98.0
    assert row["valid_regret"] == pytest.approx(1.0) and row["test_regret"] == pytest.approx(1.0)
    assert row["regret"] == row["test_regret"] and row["best_valid_rank"] == 2 and row["best_test_rank"] == 2
    assert "4 trained cells of the fw space" == sim.effective_space


def test_the_incumbent_is_the_best_observed_mean_and_ties_go_to_more_evaluations_then_the_smaller_hash():
    small, large = "00000000000000aa", "00000000000000ff"
    incumbent = _Incumbent("seen")
    incumbent.add(_record(large, 98.0))
    record, score = incumbent.add(_record(small, 98.0))
    assert record.hash == small and score == 98.0  # a tie: the smaller hash, although seen second
    record, _ = incumbent.add(_record(large, 98.0))
    assert record.hash == large  # now observed twice at 98.0: more evidence wins the tie
    record, score = incumbent.add(_record(large, 96.0))
    assert record.hash == small and score == 98.0  # the incumbent's own mean fell to 97.33: it loses its place


def test_the_incumbent_ignores_a_lower_fidelity_observation_of_a_cell_trained_longer():
    incumbent = _Incumbent("seen")
    incumbent.add(_record("00000000000000aa", 97.0, epochs=2))
    record, score = incumbent.add(_record("00000000000000aa", 99.9, epochs=1))
    assert score == 97.0


def test_the_tie_rule_does_not_depend_on_the_order_of_evaluation():
    records = [_record(f"{i:016x}", v) for i, v in enumerate([97.0, 99.0, 98.0, 99.0, 99.0])]
    winners = set()
    for order in (np.random.default_rng(seed).permutation(len(records)) for seed in range(10)):
        incumbent = _Incumbent("seen")
        for i in order:
            best = incumbent.add(records[i])
        winners.add(best[0].hash)
    assert winners == {f"{1:016x}"}


# ----------------------------------------------------------------------------- predicted runs
def _untrained_fw_cells(frame, n):
    rng = np.random.default_rng(0)
    return [c for c in sample_cells("fw", 400, rng) if c.hash not in frame.index][:n]


class _EvaluateThese:
    """Evaluate the given cells in order, then stop."""
    name = "fixed list"

    def __init__(self, cells):
        self.cells = cells

    def run(self, bench, rng):
        for cell in self.cells:
            bench.evaluate(cell)


def test_a_run_ending_on_a_predicted_cell_is_counted_and_labelled_not_averaged(bench, frame, model):
    untrained = _untrained_fw_cells(frame, 1)[0]
    best_trained = _trained(frame)["valid_acc"].idxmax()

    class PredictedLast(_EvaluateThese):
        def run(self, bench, rng):
            bench.evaluate(best_trained)
            record = bench.evaluate(untrained)
            assert record.predicted

    sim = search.SimulatedBenchmark(bench, "fw", model=model, noisy=False)
    sim.evaluate(best_trained)
    sim.evaluate(untrained)
    row = sim.log().iloc[-1]
    if row["best_hash"] == untrained.hash:  # the surrogate predicted better than the best measured cell
        assert row["best_predicted"] and math.isnan(row["test_regret"]) and math.isnan(row["best_test_acc"])
        assert math.isfinite(row["test_regret_predicted"]) and math.isfinite(row["best_test_acc_predicted"])
    measured = search.SimulatedBenchmark(bench, "fw", model=model, noisy=False, incumbent="measured")
    measured.evaluate(best_trained)
    measured.evaluate(untrained)
    assert measured.log().iloc[-1]["best_hash"] == best_trained  # NAS-Bench-301's best measured incumbent

    # a surrogate that predicts 100 % for every cell: the run must end on the predicted cell
    class Perfect:
        target, params, score_features = "valid_acc", model.params, model.score_features

        def predict_cells(self, cells, scores=None):
            return np.full(len(cells), 100.0), np.zeros(len(cells))

    result = search.run_algorithm(PredictedLast([]), bench, "fw", budget_s=1e6, runs=3, model=Perfect())
    final = result.final()
    assert final["n_predicted"] == 3 and final["n_measured"] == 0 and final["runs"] == 3
    assert math.isnan(final["test_regret"]) and math.isnan(final["best_test_acc"])  # nothing measured to average
    assert math.isfinite(final["test_regret_predicted"])
    assert "predicted" in result.runs[0].effective_space
    mixed = search.run_algorithm(_EvaluateThese([best_trained]), bench, "fw", budget_s=1e6, runs=2, model=Perfect())
    assert mixed.final()["n_measured"] == 2


def test_the_test_accuracy_of_a_predicted_cell_comes_from_a_test_surrogate(bench, frame, model):
    cell = _untrained_fw_cells(frame, 1)[0]
    sim = search.SimulatedBenchmark(bench, "fw", model=model)
    record = sim.evaluate(cell)
    assert sim.test_model.target == "test_acc"
    assert record.test_acc_predicted == pytest.approx(sim.test_model.predict_cells([cell], scores=sim.frame)[0][0])
    assert math.isnan(record.test_acc) and math.isnan(record.measured_s)


# ----------------------------------------------------------------------------- guards
def test_the_bw_space_of_an_fw_table_is_an_error(bench):
    with pytest.raises(SpaceMismatchError, match="fw space"):
        search.SimulatedBenchmark(bench, "bw")
    with pytest.raises(SpaceMismatchError):
        search.run_algorithm("rs", bench, "bw", budget_s=100.0, runs=1)
    with pytest.raises(SpaceMismatchError):
        search.paper_search(bench, "bw", "sahd", n_samples=5, runs=1, restrict_to_table=True)


def test_the_bw_space_of_an_fw_table_is_one_line_and_exit_2_in_the_cli(small_fw_table):
    result = CliRunner().invoke(main, ["run-algo", "--algo", "rs", "--space", "bw", "--budget-hours", "1",
                                       str(small_fw_table)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--space" in lines[0]


def test_an_algorithm_that_never_evaluates_is_stopped_with_a_clear_error(bench):
    class Dithering:
        name = "dithering"

        def run(self, bench, rng):
            bench.evaluate(bench.random_cell(rng))
            while True:
                bench.random_cell(rng)

    with pytest.raises(NoProgressError, match="dithering called the benchmark 50 times in a row without an evaluation"):
        search.run_algorithm(Dithering(), bench, "fw", budget_s=1e6, runs=1, max_calls_without_evaluation=50)


def test_an_algorithm_that_evaluates_between_calls_is_not_stopped(bench):
    class Busy:
        name = "busy"

        def run(self, bench, rng):
            while True:
                for _ in range(40):
                    bench.neighbours(bench.random_cell(rng))
                bench.evaluate(bench.random_cell(rng))

    result = search.run_algorithm(Busy(), bench, "fw", budget_s=500.0, runs=1, max_calls_without_evaluation=100)
    assert result.runs[0].history


# ----------------------------------------------------------------------------- the cost model
def test_the_cost_model_charges_the_same_cell_the_same_on_every_draw(bench, frame):
    h = _trained(frame).index[0]
    sim = search.SimulatedBenchmark(bench, "fw", seed=0)
    records = [sim.evaluate(h) for _ in range(20)]
    assert len({r.seed for r in records}) == 2  # both seeds answered ...
    assert len({r.cost_s for r in records}) == 1  # ... at one cost
    assert len({r.measured_s for r in records}) == 2  # the raw times stay available, and differ
    curves = bench.curves(h)
    per_seed = [np.median(c["epoch_time"]) for c in curves.values()]
    assert records[0].cost_s == pytest.approx(np.median(per_seed) * bench.protocol.epochs)
    assert sim.evaluate(h, epochs=1).cost_s == pytest.approx(records[0].cost_s / bench.protocol.epochs)


def test_the_cost_noise_reports_how_far_the_seeds_times_differ(bench, frame):
    noise = search.cost_noise(bench)
    assert noise["cells"] == len(_trained(frame))
    assert 1.0 <= noise["seed_ratio_median"] <= noise["seed_ratio_p90"] <= noise["seed_ratio_max"]
    assert noise["model_factor_median"] >= 1.0 and -1 <= noise["seed_tau"] <= 1


# ----------------------------------------------------------------------------- outputs
def test_run_algo_prints_the_effective_space_the_references_and_n_measured(small_fw_table):
    result = CliRunner().invoke(main, ["run-algo", "--algo", "rs,zc-sahd", "--space", "fw", "--budget-hours", "0.01",
                                       "--runs", "2", str(small_fw_table)])
    assert result.exit_code == 0, result.output
    assert "12 trained cells of the fw space" in result.output
    assert "perfect validation search has test regret" in result.output
    assert "cost noise" in result.output and "valid regret" in result.output
    assert result.output.count("   2/2") == 2


def test_search_on_a_sampled_table_restricts_to_the_trained_cells_and_runs_differ(bench, small_fw_table):
    plan = search.search_plan(bench, "fw")
    assert plan.restrict_to_table and plan.n_trained == 12 and plan.n_samples == 2
    result = CliRunner().invoke(main, ["search", "--algo", "sahd,random", "--space", "fw", "--runs", "5",
                                       str(small_fw_table)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith("searching the 12 trained cells of the fw space (of 7012), "
                                                  "2 draws per run")
    assert "valid - " not in result.output and "test - " not in result.output  # every winner measured
    winners = [l.split()[4] for l in result.output.splitlines() if l.startswith("sahd   fw run")]
    assert len(winners) == 5 and len(set(winners)) > 1  # the runs are not one pick repeated


def test_many_draws_among_few_trained_cells_are_called_out(bench):
    plan = search.search_plan(bench, "fw", n_samples=5000, restrict_to_table=True)
    assert "every run picks nearly the same winner" in plan.note


def test_the_paper_search_summary_never_mixes_predicted_winners_with_measured_ones(bench, frame, model):
    runs = (search.paper_search(bench, "fw", "random", n_samples=1, runs=3, restrict_to_table=True)
            + search.paper_search(bench, "fw", "random", n_samples=1, runs=3, seed=1, model=model))
    summary = search.summarise_paper_search(runs)
    measured = [r.valid_acc for r in runs if r.source == "table"]
    predicted = [r.valid_acc for r in runs if r.source == "surrogate"]
    assert measured and predicted, "three random fw cells should include one the table did not train"
    assert summary["n_measured"] == len(measured) and summary["n_predicted"] == len(predicted)
    assert summary["valid_acc"] == pytest.approx(np.mean(measured))
    assert summary["valid_acc_predicted"] == pytest.approx(np.mean(predicted))


def test_run_algo_with_a_surrogate_labels_the_runs_that_ended_on_a_predicted_cell(small_fw_table, model, tmp_path):
    path = model.save(tmp_path / "model.json")
    result = CliRunner().invoke(main, ["run-algo", "--algo", "rs", "--space", "fw", "--budget-hours", "0.05",
                                       "--runs", "3", "--model", str(path), str(small_fw_table)])
    assert result.exit_code == 0, result.output
    assert "the rest predicted by the surrogate" in result.output.splitlines()[0]
    row = next(l for l in result.output.splitlines() if l.startswith("random search"))
    n_measured = int(row.split()[3].split("/")[0])
    if n_measured < 3:  # 12 trained cells among 7012: most runs end on a predicted cell
        assert f"{3 - n_measured} of 3 runs ended on a PREDICTED cell" in result.output


def test_run_algo_searches_the_tables_own_space_unless_told():
    from pathlib import Path
    bw_table = Path(__file__).resolve().parents[2] / "tables" / "digits-bw.h5"
    result = CliRunner().invoke(main, ["run-algo", "--algo", "rs", "--budget-hours", "0.02", "--runs", "1",
                                       "--json", str(bw_table)])
    assert result.exit_code == 0, result.output
    assert ", bw space:" in json.loads(result.output)[0]["setting"]
    told = CliRunner().invoke(main, ["run-algo", "--algo", "rs", "--budget-hours", "0.02", "--runs", "1",
                                     "--space", "fw", "--json", str(bw_table)])
    assert told.exit_code == 0 and ", fw space:" in json.loads(told.output)[0]["setting"]
