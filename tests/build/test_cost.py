"""The cost of a build before it runs: `snnbench build --dry-run` counts the jobs of the spec (those the
journal holds already apart), measures a few jobs here, prints the estimate, and writes nothing."""
import math
from pathlib import Path

from click.testing import CliRunner

from snnbench.build import Build, BuildSpec
from snnbench.cli import main
from snnbench.cost import Calibration, estimate, job_counts
from snnbench.protocols import get_protocol
from snnbench.train import steps_per_epoch

from small_fw import SMALL_FW_TABLE, copy_table, small_fw_spec

DIGITS_TRAIN, DIGITS_VALID, DIGITS_TEST = 1077, 360, 360


def files_in(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_dry_run_prints_the_jobs_of_the_spec_and_an_estimate_and_writes_nothing(tmp_path):
    out = tmp_path / "runs" / "t.h5"
    args = ["build", "--space", "fw", "--dataset", "digits", "--sample", "3", "--seeds", "0,1", "--score-sample", "8",
            "--epochs", "1", "--workers", "2", "--device", "cpu", "--out", str(out), "--dry-run"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    spec = BuildSpec("fw", get_protocol("digits-cpu", epochs=1), out, sample=3, seeds=(0, 1), score_sample=8)
    kinds = [j.kind for j in spec.jobs()]
    assert (kinds.count("score"), kinds.count("train")) == (8, 6)
    assert "jobs: 14 = 8 score + 6 training; in the journal already: 0 score + 0 training; " \
           "left to run: 8 score + 6 training" in result.output
    estimate_line = next(line for line in result.output.splitlines() if line.startswith("estimate: "))
    assert "CPU-hours" in estimate_line and "with 2 workers" in estimate_line
    assert list(tmp_path.iterdir()) == []  # no table, journal, lock or folder


def test_a_dry_run_counts_the_jobs_the_journal_holds_and_leaves_it_untouched(small_fw_table, tmp_path):
    table = copy_table(small_fw_table, tmp_path)
    before = files_in(tmp_path)
    c = SMALL_FW_TABLE
    spec = small_fw_spec(table, seeds=(0, 1, 2))
    planned, done = Build(spec, force=True).plan()  # seed 2 is new: another table, hence force
    counts = job_counts(planned, done)
    assert (counts.score, counts.train) == (c["score_sample"], c["sample"] * 3)
    assert (counts.done_score, counts.done_train) == (c["score_sample"], c["sample"] * 2)
    assert (counts.left_score, counts.left_train) == (0, c["sample"])
    cost = estimate(planned, done, workers=3, device="cpu")
    assert math.isfinite(cost.device_hours) and cost.device_hours > 0 and cost.score_hours == 0
    assert cost.calibration.train_cell in planned.selected_cells() and not cost.calibration.score_cells
    assert files_in(tmp_path) == before  # no -wal or -shm file either


def test_the_estimate_follows_the_cost_model():
    protocol = get_protocol("digits-cpu", epochs=4)
    spec = BuildSpec("fw", protocol, "t.h5", sample=3, seeds=(0, 1), score_sample=10)
    measured = Calibration(score_s=0.5, step_s=0.25, eval_batch_s=0.125, device="cpu", threads=1)
    cost = estimate(spec, workers=4, calibration=measured)
    steps = steps_per_epoch(DIGITS_TRAIN, protocol.batch_size)
    # the test split after every epoch (test_every unset): 4 passes of 2 batches
    assert (cost.steps_per_epoch, cost.valid_batches, cost.test_batches, cost.test_passes) == (steps, 2, 2, 4)
    train_job = 4 * (steps * 0.25 + 2 * 0.125) + 4 * 2 * 0.125
    assert cost.train_job_s == train_job
    assert math.isclose(cost.device_hours * 3600, 10 * 0.5 + 6 * train_job)
    assert math.isclose(cost.wall_hours * 4, cost.device_hours)
    done = set(spec.jobs()[:10])  # every score job already done
    assert math.isclose(estimate(spec, done, workers=4, calibration=measured).device_hours * 3600, 6 * train_job)
    # test_every=0: the test split at the half-way and last epochs only
    budgets = estimate(BuildSpec("fw", protocol.with_(test_every=0), "t.h5", sample=3, seeds=(0, 1), score_sample=10),
                       workers=4, calibration=measured)
    assert budgets.test_passes == 2 and budgets.train_job_s == 4 * (steps * 0.25 + 2 * 0.125) + 2 * 2 * 0.125


def test_a_measured_estimate_of_a_digits_build_is_positive_and_finite():
    spec = BuildSpec("bw", get_protocol("digits-cpu", epochs=1), "t.h5", sample=2, seeds=(0,), score_sample=5)
    cost = estimate(spec, device="cpu")
    c = cost.calibration
    assert c.device == "cpu" and len(c.score_cells) == 3 and c.train_cell in spec.selected_cells()
    for seconds in (c.score_s, c.step_s, c.eval_batch_s, cost.train_job_s):
        assert math.isfinite(seconds) and seconds > 0
    assert 0 < cost.wall_hours == cost.device_hours < 1
    text = "\n".join(cost.lines())
    assert "training job = 1 epochs x (34 steps x" in text and "CPU-hours" in text
