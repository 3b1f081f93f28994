"""Per-epoch records in tables: a table built from runs that recorded validation loss and test
accuracy and loss per epoch stores them and reads them back (curves, named budgets, query --curves /
--budget in text and JSON); tables written before those records (the shipped ones, a journal row
without them) read and verify as before."""
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import snnbench
from snnbench.build import Build, BuildSpec, write_table_from_journal
from snnbench.build.spec import spec_from_table
from snnbench.cli import main
from snnbench.errors import ConfigError
from snnbench.protocols import get_protocol
from snnbench.table import verify_table
from snnbench.table.schema import named_budgets

REPO = Path(__file__).resolve().parents[2]
CELL = "267a2331c930c77c"  # 0303 0030 0003 0000
EPOCHS = 3  # budgets: half = 1, full = 3; epoch 2 has no test pass (test_every 0: the budgets only)


def tiny_protocol():
    return get_protocol("digits-cpu", epochs=EPOCHS, width=4, batch_size=64, timesteps=3, test_every=0)


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory) -> Path:
    """A real digits fw table: one cell trained with seeds 0 and 1 for 3 epochs (width 4)."""
    out = tmp_path_factory.mktemp("epoch_records") / "tiny.h5"
    spec = BuildSpec("fw", tiny_protocol(), out, cells=[CELL], seeds=(0, 1), score_seeds=(0,))
    assert Build(spec, progress=False, command="tests/table/test_epoch_records.py").run().complete
    return out


def journal_runs(table: Path) -> dict:
    conn = sqlite3.connect(str(table) + ".journal.sqlite")
    try:
        rows = conn.execute("SELECT seed, result FROM jobs WHERE kind='train'").fetchall()
    finally:
        conn.close()
    return {int(seed): json.loads(result) for seed, result in rows}


def same_with_nan(stored, recorded):
    expected = np.array([np.nan if v is None else v for v in recorded], dtype=np.float64)
    np.testing.assert_allclose(stored, expected, rtol=1e-6, equal_nan=True)


def test_a_new_table_stores_every_per_epoch_curve_of_its_runs(tiny_table):
    assert verify_table(tiny_table) == []
    runs = journal_runs(tiny_table)
    with snnbench.open(tiny_table) as bench:
        assert bench.later_curves == ("valid_loss", "test_acc", "test_loss")
        curves = bench.curves(CELL)
        assert set(curves) == {0, 1}
        for seed, run in runs.items():
            c = curves[seed]
            assert set(c) == {"valid_acc", "train_acc", "train_loss", "epoch_time", "valid_loss", "test_acc", "test_loss"}
            same_with_nan(c["valid_loss"], run["valid_loss_curve"])
            same_with_nan(c["test_acc"], run["test_acc_curve"])
            same_with_nan(c["test_loss"], run["test_loss_curve"])
            # the test split is evaluated at the named budgets only: epochs 1 and 3, not 2
            assert np.isfinite(c["test_acc"]).tolist() == [True, False, True]
            assert c["test_acc"][-1] == pytest.approx(run["test_acc"], rel=1e-6)


def test_named_budgets_give_validation_and_test_accuracy_and_loss_at_their_epoch(tiny_table):
    runs = journal_runs(tiny_table)
    with snnbench.open(tiny_table) as bench:
        assert bench.budgets == named_budgets(EPOCHS) == {"half": 1, "full": EPOCHS}
        half = bench.query(CELL, budget="half")
        assert half["epoch"] == 1 and half["budget"] == "half" and half["epochs"] == 1
        for seed, run in runs.items():
            mine = half["per_seed"][seed]
            assert mine["valid_acc"] == pytest.approx(run["valid_acc_curve"][0], rel=1e-6)
            assert mine["valid_loss"] == pytest.approx(run["valid_loss_curve"][0], rel=1e-6)
            assert mine["test_acc"] == pytest.approx(run["test_acc_curve"][0], rel=1e-6)
            assert mine["test_loss"] == pytest.approx(run["test_loss_curve"][0], rel=1e-6)
        assert half["valid_loss"] == pytest.approx(np.mean([r["valid_loss_curve"][0] for r in runs.values()]))

        full = bench.query(CELL, budget="full", seed=1)
        assert full["budget"] == "full" and full["test_acc"] == runs[1]["test_acc"]
        assert full["test_loss"] == pytest.approx(runs[1]["test_loss"], rel=1e-6)
        by_number = bench.query(CELL, budget=EPOCHS)
        assert by_number.pop("budget") == EPOCHS and by_number.pop("epoch") == EPOCHS
        assert by_number == bench.query(CELL, epoch=EPOCHS)
        # epoch= is what a search sees during a run: no test values before the last epoch
        early = bench.query(CELL, epoch=1, seed=0)
        assert np.isnan(early["test_acc"]) and np.isnan(early["test_loss"])
        assert early["valid_loss"] == pytest.approx(runs[0]["valid_loss_curve"][0], rel=1e-6)
        assert "budget" not in early and "epoch" not in early

        middle = bench.query(CELL, budget="2", seed=0)  # no test pass at epoch 2
        assert middle["valid_loss"] == pytest.approx(runs[0]["valid_loss_curve"][1], rel=1e-6)
        assert np.isnan(middle["test_acc"]) and np.isnan(middle["test_loss"])


@pytest.mark.parametrize("budget", ["quarter", 0, EPOCHS + 1, "1.5"])
def test_a_budget_that_is_no_name_nor_epoch_of_the_protocol_is_refused(tiny_table, budget):
    with snnbench.open(tiny_table) as bench, pytest.raises(ConfigError, match="budget|epoch"):
        bench.query(CELL, budget=budget)


def test_query_prints_the_curves_and_a_budget(tiny_table):
    result = CliRunner().invoke(main, ["query", CELL, "--table", str(tiny_table), "--curves", "--budget", "half"])
    assert result.exit_code == 0, result.output
    assert "values after epoch 1 (budget half)" in result.output
    assert "loss        valid" in result.output
    header = [line for line in result.output.splitlines() if line.strip().startswith("epoch")]
    assert len(header) == 2 and "valid loss" in header[0] and "test %" in header[0]
    rows = [line.split() for line in result.output.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["1", "2", "3"] * 2 and rows[1][5] == "-"  # no test pass at epoch 2


def test_query_json_holds_the_curves_and_the_budget(tiny_table):
    runs = journal_runs(tiny_table)
    result = CliRunner().invoke(main, ["query", CELL, "--table", str(tiny_table), "--curves", "--json",
                                       "--budget", "full", "--seed", "0"])
    assert result.exit_code == 0, result.output
    rec = json.loads(result.output)
    assert rec["budget"] == "full" and rec["epoch"] == EPOCHS and rec["seed"] == 0
    assert set(rec["curves"]) == {"0"}
    curves = rec["curves"]["0"]
    assert curves["test_acc"][1] is None  # NaN as null
    np.testing.assert_allclose(curves["valid_loss"], runs[0]["valid_loss_curve"], rtol=1e-6)
    assert rec["test_loss"] == pytest.approx(runs[0]["test_loss"], rel=1e-6)


def test_epoch_and_budget_together_is_one_line_and_exit_2(tiny_table):
    result = CliRunner().invoke(main, ["query", CELL, "--table", str(tiny_table), "--epoch", "1", "--budget", "half"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "--budget" in result.stderr


def test_a_run_recorded_before_the_later_curves_reads_as_nan_and_the_table_verifies(tiny_table, tmp_path):
    """A journal row of a run made before the fields existed (written anew here without them) beside
    a row with them: the table stores NaN for that run and stays sound."""
    journal = tmp_path / "tiny.h5.journal.sqlite"
    shutil.copy(str(tiny_table) + ".journal.sqlite", journal)
    conn = sqlite3.connect(str(journal))
    try:
        (result,) = conn.execute("SELECT result FROM jobs WHERE kind='train' AND seed=1").fetchone()
        old = {k: v for k, v in json.loads(result).items()
               if k not in ("valid_loss_curve", "test_acc_curve", "test_loss_curve", "test_loss")}
        conn.execute("UPDATE jobs SET result=? WHERE kind='train' AND seed=1", (json.dumps(old),))
        conn.commit()
    finally:
        conn.close()
    out = tmp_path / "tiny.h5"
    spec = spec_from_table(tiny_table, journal=journal)
    assert write_table_from_journal(spec, out, journal=journal, force=True)
    assert verify_table(out) == []
    with snnbench.open(out) as bench:
        curves = bench.curves(CELL)
        assert np.all(np.isnan(curves[1]["valid_loss"])) and np.all(np.isfinite(curves[0]["valid_loss"]))
        rec = bench.query(CELL, budget="half")
        assert np.isnan(rec["per_seed"][1]["valid_loss"]) and np.isfinite(rec["valid_loss"])


def test_the_shipped_tables_written_before_the_later_curves_read_and_verify_as_before():
    table = REPO / "tables" / "digits-fw.h5"
    assert verify_table(table, quick=True) == []
    with snnbench.open(table) as bench:
        assert bench.later_curves == ()
        cell = bench.cells(trained_only=True)[0]
        curves = bench.curves(cell)
        assert all(set(c) == {"valid_acc", "train_acc", "train_loss", "epoch_time"} for c in curves.values())
        rec = bench.query(cell, budget="half")
        assert rec["epoch"] == bench.budgets["half"] and "valid_loss" not in rec
        assert np.isnan(rec["test_acc"]) and np.isfinite(rec["valid_acc"])
        assert "valid_loss" not in bench.query(cell)
    result = CliRunner().invoke(main, ["query", "378f9e446064fa8f", "--curves", "--dataset", "digits"])
    assert result.exit_code == 0 and "valid loss" not in result.output and "train loss" in result.output


def test_a_shipped_table_opens_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with snnbench.open("digits-fw") as bench:
        assert bench.query("0123 0021 0002 0000")["trained"]
