"""The paper's search and the NAS-algorithm harness, against a real digits fw table."""
import math

import numpy as np
import pytest
from click.testing import CliRunner

from snnbench.search.paper import _draw
from snnbench import search
from snnbench.cli import main
from snnbench.errors import ArchitectureNotInTable, ConfigError, InvalidCellError
from snnbench.space import Cell, sample_cells

BW_CELL = "0302 0030 3003 0000"  # a backward edge 2 -> 0: not in the fw space


# bench, frame, model: tests/search/conftest.py


def _trained(frame):
    return frame[np.isfinite(frame["valid_acc"])]


def _untrained_fw_cell(frame):
    rng = np.random.default_rng(0)
    return next(c for c in sample_cells("fw", 200, rng) if c.hash not in frame.index)


# ----------------------------------------------------------------------------- the paper's search
@pytest.mark.parametrize("algo", ["sahd", "hd"])
def test_paper_search_keeps_the_best_scored_candidate(bench, frame, algo):
    runs = search.paper_search(bench, "fw", algo, n_samples=30, runs=3, restrict_to_table=True)
    trained = _trained(frame)
    for r in runs:
        assert r.source == "table" and r.winner in trained.index
        assert r.score == frame.at[r.winner, algo]
        assert r.valid_acc == frame.at[r.winner, "valid_acc"] and r.test_acc == frame.at[r.winner, "test_acc"]
    summary = search.summarise_paper_search(runs)
    assert summary["runs"] == 3 and summary["sources"] == {"table": 3}


def test_paper_search_is_reproducible_and_random_differs_between_runs(bench):
    first = search.paper_search(bench, "fw", "random", n_samples=10, runs=4, seed=3, restrict_to_table=True)
    again = search.paper_search(bench, "fw", "random", n_samples=10, runs=4, seed=3, restrict_to_table=True)
    assert [r.winner for r in first] == [r.winner for r in again]
    assert len({r.winner for r in first}) > 1


def test_restricted_draws_follow_the_authors_sampler(bench, frame):
    """Conditioned on the table, a cell is drawn in proportion to its probability under sample_cells."""
    trained = [Cell.from_hash(h) for h in _trained(frame).index]
    p = search.sampler_probabilities("fw", trained)
    assert (p > 0).all()
    rng = np.random.default_rng(0)
    drawn = _draw("fw", 20000, rng, {c.hash for c in trained})
    counts = np.array([sum(d.hash == c.hash for d in drawn) for c in trained]) / 20000
    np.testing.assert_allclose(counts, p / p.sum(), atol=0.015)


def test_paper_search_scores_candidates_the_table_lacks(bench, frame):
    runs = search.paper_search(bench, "fw", "sahd", n_samples=3, runs=1, seed=11)
    r = runs[0]
    assert r.n_scored_now >= 1  # with 52 of 7,012 cells scored, some candidate is new
    assert math.isfinite(r.score)
    assert r.source in ("table", "untrained")


def test_untrained_winner_is_predicted_by_the_surrogate_and_marked(bench, frame, model):
    runs = search.paper_search(bench, "fw", "random", n_samples=1, runs=5, seed=1, model=model)
    outside = [r for r in runs if r.winner not in _trained(frame).index]
    assert outside, "five random fw cells should include one the table did not train"
    for r in outside:
        assert r.source == "surrogate" and math.isfinite(r.valid_acc) and math.isnan(r.test_acc)
    without = search.paper_search(bench, "fw", "random", n_samples=1, runs=5, seed=1)
    assert {r.source for r in without if r.winner not in _trained(frame).index} == {"untrained"}


# ----------------------------------------------------------------------------- the harness
def test_evaluate_charges_the_measured_time_of_the_epochs_trained(bench, frame):
    h = _trained(frame).index[0]
    sim = search.SimulatedBenchmark(bench, "fw", seed=0, cost_model="measured")
    record = sim.evaluate(h, epochs=1)
    curve = bench.curves(h)[record.seed]
    assert record.valid_acc == curve["valid_acc"][0]
    assert record.cost_s == pytest.approx(curve["epoch_time"][0]) == record.measured_s
    full = sim.evaluate(h)
    assert full.epochs == bench.protocol.epochs
    assert full.cost_s == pytest.approx(bench.curves(h)[full.seed]["epoch_time"].sum())
    assert sim.clock == pytest.approx(record.cost_s + full.cost_s) == full.time_s


def test_a_cell_outside_the_space_is_refused(bench):
    sim = search.SimulatedBenchmark(bench, "fw")
    with pytest.raises(InvalidCellError, match="not in the fw space"):
        sim.evaluate(BW_CELL)
    assert sim.rejected == 1 and sim.clock == 0 and not sim.history


def test_an_untrained_cell_needs_a_surrogate_and_is_then_marked_predicted(bench, frame, model):
    cell = _untrained_fw_cell(frame)
    with pytest.raises(ArchitectureNotInTable):
        search.SimulatedBenchmark(bench, "fw").evaluate(cell)
    sim = search.SimulatedBenchmark(bench, "fw", model=model)
    record = sim.evaluate(cell)
    assert record.predicted and record.seed is None and math.isnan(record.test_acc)
    assert record.cost_s == pytest.approx(sim.median_epoch_time() * bench.protocol.epochs)
    with pytest.raises(ConfigError):
        sim.evaluate(cell, epochs=1)  # the surrogate knows final accuracies only


def test_the_budget_stops_evaluation(bench, frame):
    h = _trained(frame).index[0]
    sim = search.SimulatedBenchmark(bench, "fw", budget_s=1e-3)
    sim.evaluate(h)
    with pytest.raises(search.BudgetExhausted):
        sim.evaluate(h)


@pytest.mark.parametrize("name", list(search.ALGORITHMS))
def test_every_builtin_algorithm_runs_within_the_budget_and_inside_the_space(bench, frame, name):
    budget_s = 8 * float(np.nanmedian(_trained(frame)["train_time"]))  # about eight full trainings
    result = search.run_algorithm(name, bench, "fw", budget_s, runs=2, seed=0)
    trained = set(_trained(frame).index)
    for sim in result.runs:
        assert sim.rejected == 0
        assert sim.history, f"{name} evaluated nothing"
        assert all(Cell.from_hash(r.hash).space == "fw" and r.hash in trained for r in sim.history)
        assert all(r.time_s <= budget_s for r in sim.history[:-1])  # only the last run may overrun
        log = sim.log()
        assert (np.diff(log["best_valid_acc"]) >= 0).all()
        assert (log["regret"] >= 0).all()
    regret = result.regret(np.linspace(0, budget_s, 5))
    assert regret.shape == (2, 5)
    assert math.isfinite(result.final()["best_test_acc"])


def test_the_predictor_guided_search_with_a_surrogate_queries_only_the_space(bench, model):
    result = search.run_algorithm("predictor", bench, "fw", budget_s=100.0, runs=1, model=model)
    sim = result.runs[0]
    assert sim.history and sim.rejected == 0
    assert all(Cell.from_hash(r.hash).space == "fw" for r in sim.history)


def test_a_users_algorithm_is_a_class_with_run(bench):
    class BestOfFirstFive:
        """Evaluate five random cells at one epoch, then train the best one fully."""
        name = "best of five"

        def run(self, bench, rng):
            cheap = [bench.evaluate(bench.random_cell(rng), epochs=1) for _ in range(5)]
            bench.evaluate(max(cheap, key=lambda r: r.valid_acc).hash)

    result = search.run_algorithm(BestOfFirstFive(), bench, "fw", budget_s=1e6, runs=2)
    assert result.algo == "best of five"
    assert [len(sim.history) for sim in result.runs] == [6, 6]
    assert [r.epochs for r in result.runs[0].history][-1] == bench.protocol.epochs


# ----------------------------------------------------------------------------- commands
def test_search_command_reports_mean_and_std_over_runs(small_fw_table):
    result = CliRunner().invoke(main, ["search", "--algo", "sahd,random", "--space", "fw", "--samples", "20",
                                       "--runs", "3", "--restrict-to-table", str(small_fw_table)])
    assert result.exit_code == 0, result.output
    summaries = [l for l in result.output.splitlines() if "over 3 runs of 20 samples" in l]
    assert len(summaries) == 2 and summaries[0].startswith("sahd")


def test_run_algo_command_plots_regret_for_several_algorithms(small_fw_table, tmp_path):
    out = tmp_path / "regret.png"
    result = CliRunner().invoke(main, ["run-algo", "--algo", "rs,re,zc-sahd", "--space", "fw", "--budget-hours",
                                       "0.01", "--runs", "2", str(small_fw_table), "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert "regularised evolution" in result.output and "zero-cost pick (sahd)" in result.output
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args", [
    ["search", "--algo", "re"],                                 # a harness algorithm without a budget
    ["search", "--algo", "bogus", "--budget-hours", "1"],
    ["run-algo", "--algo", "rs", "--budget-hours", "1", "--space", "bw", "--runs", "0"],
])
def test_bad_search_input_is_one_line_and_exit_2(small_fw_table, args):
    result = CliRunner().invoke(main, args + [str(small_fw_table)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
