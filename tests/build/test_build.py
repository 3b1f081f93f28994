"""The build: job selection, the journal, resume after SIGKILL at several points (during a job,
during a checkpoint rewrite of the table, during the final rewrite), protocol checks, shared
journals, and an end-to-end digits table whose every value equals the journal's."""
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import snnbench
from snnbench.build import Build, BuildSpec, Job, Journal
from snnbench.cli import main
from snnbench.protocols import get_protocol
from snnbench.table import temporary_path, verify_table

from small_fw import SMALL_FW_TABLE, small_fw_protocol

REPO = Path(__file__).resolve().parents[2]


def journal_rows(path):
    """{(kind, cell_hash, seed): (result dict, run pid)} read with plain sqlite3."""
    conn = sqlite3.connect(str(path))
    try:
        pid = dict(conn.execute("SELECT run_id, pid FROM runs"))
        rows = conn.execute("SELECT kind, cell_hash, seed, result, run_id FROM jobs").fetchall()
    finally:
        conn.close()
    return {(k, h, int(s)): (json.loads(r), pid[run]) for k, h, s, r, run in rows}


# ----------------------------------------------------------------------------- selection
def test_the_same_command_selects_the_same_cells_and_trained_cells_are_scored():
    protocol = get_protocol("digits-cpu", epochs=1, width=8)
    spec = BuildSpec("fw", protocol, "t.h5", sample=5, seeds="0,1", score_seeds="0,2", score_sample=9)
    again = BuildSpec("fw", protocol, "other.h5", sample=5, seeds=(0, 1), score_seeds=(0, 2), score_sample=9)
    assert spec.jobs() == again.jobs()
    trained = spec.selected_cells()
    assert len(trained) == 5 and set(trained) <= set(spec.score_cells()) and len(spec.score_cells()) == 9
    kinds = Counter(j.kind for j in spec.jobs())
    assert kinds == {"score": 9 * 2, "train": 5 * 2}
    other_seed = BuildSpec("fw", protocol, "t.h5", sample=5, sample_seed=1, seeds="0")
    assert other_seed.selected_cells() != trained
    assert BuildSpec("fw", protocol, "t.h5", sample=5, scores_only=True).jobs() == [
        Job("score", h, 0) for h in trained]


# ----------------------------------------------------------------------------- end to end
def test_end_to_end_digits_build_queries_equal_the_journal(small_fw_table):
    """Every cell of the small digits table, queried back, holds exactly the journal's values."""
    rows = journal_rows(str(small_fw_table) + ".journal.sqlite")
    c = SMALL_FW_TABLE
    assert Counter(k for k, _, _ in rows) == {"score": c["score_sample"], "train": c["sample"] * len(c["seeds"])}
    bench = snnbench.open(small_fw_table)
    assert set(bench.cells()) == {h for _, h, _ in rows}
    for h in bench.cells():
        rec = bench.query(h)
        score = rows[("score", h, 0)][0]
        for key in ("hd", "sahd", "sahd_eq9", "n_params"):
            assert rec[key] == score[key], (h, key)
        assert rec["firing_rate_init"] == score["firing_rate"]
        runs = {s: rows[("train", h, s)][0] for s in c["seeds"] if ("train", h, s) in rows}
        assert rec["trained"] == bool(runs) and set(rec["per_seed"]) == set(runs)
        for s, run in runs.items():
            mine = rec["per_seed"][s]
            for key in ("valid_acc", "test_acc", "train_time", "firing_rate", "sops", "macs", "energy_pj"):
                assert mine[key] == run[key] or (np.isnan(mine[key]) and np.isnan(run[key])), (h, s, key)
            assert mine["epochs"] == run["epochs_run"] == c["epochs"] and mine["diverged"] == run["diverged"]
            curves = bench.curves(h)[s]
            np.testing.assert_allclose(curves["valid_acc"], run["valid_acc_curve"], rtol=1e-6)
            np.testing.assert_allclose(curves["train_loss"], run["train_loss"], rtol=1e-6)
            np.testing.assert_allclose(curves["epoch_time"], run["epoch_time"], rtol=1e-6)
        if runs:
            assert rec["valid_acc"] == pytest.approx(np.nanmean([r["valid_acc"] for r in runs.values()]), rel=1e-12)
            assert rec["test_acc"] == pytest.approx(np.nanmean([r["test_acc"] for r in runs.values()]), rel=1e-12)
    bench.close()


def test_a_second_build_sharing_the_journal_reuses_every_finished_job(small_fw_table, tmp_path):
    journal = tmp_path / "shared.journal.sqlite"
    shutil.copy(str(small_fw_table) + ".journal.sqlite", journal)
    c = SMALL_FW_TABLE
    spec = BuildSpec("fw", small_fw_protocol(), tmp_path / "again.h5", sample=c["sample"],
                     seeds=c["seeds"], journal=journal)
    summary = Build(spec, progress=False).run()
    assert summary.complete and summary.jobs_run == 0 and summary.jobs_reused == 12 + 24
    with snnbench.open(tmp_path / "again.h5") as again, snnbench.open(small_fw_table) as first:
        assert again.cells() == first.cells(trained_only=True)
        for h in again.cells():
            assert again.query(h) == first.query(h)


def test_resuming_with_another_protocol_is_one_line_and_touches_nothing(tmp_path):
    journal = tmp_path / "t.h5.journal.sqlite"
    Journal(journal, get_protocol("digits-cpu", epochs=1, width=8)).close()
    before = journal.read_bytes()
    result = CliRunner().invoke(main, ["build", "--space", "fw", "--dataset", "digits", "--sample", "2", "--epochs",
                                       "2", "--width", "8", "--quiet", "--out", str(tmp_path / "t.h5")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "protocol" in result.stderr and "epochs 1 vs 2" in result.stderr
    assert journal.read_bytes() == before and not (tmp_path / "t.h5").exists()


def test_a_journal_path_that_is_not_a_journal_is_refused_untouched(tmp_path):
    notes = tmp_path / "notes.sqlite"
    notes.write_text("not a database\n")
    before = notes.read_bytes()
    result = CliRunner().invoke(main, ["build", "--space", "fw", "--dataset", "digits", "--sample", "2", "--quiet",
                                       "--journal", str(notes), "--out", str(tmp_path / "t.h5")])
    assert result.exit_code == 2 and "not an snnbench journal" in result.stderr
    assert notes.read_bytes() == before


# ----------------------------------------------------------------------------- SIGKILL and resume
KILL_SPEC = dict(sample=2, seeds=(0,), score_sample=6)


def _command(out, *extra):
    return [sys.executable, "-m", "snnbench.cli", "build", "--space", "fw", "--dataset", "digits",
            "--sample", str(KILL_SPEC["sample"]), "--seeds", "0", "--score-sample", str(KILL_SPEC["score_sample"]),
            "--epochs", "1", "--width", "8", "--quiet", "--out", str(out), *extra]


def _start(out, log, *extra, env=None):
    environment = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="passive", SNNBENCH_JOB_LOG=str(log),
                       **(env or {}))
    return subprocess.Popen(_command(out, *extra), cwd=REPO, env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_until(proc, condition, what, timeout=240):
    t0 = time.monotonic()
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"build exited ({proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _sigkill(proc):
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    proc.stdout.close()
    proc.stderr.close()


def _started(log):
    """[(kind, cell_hash, seed, pid)] of every job start in the job log."""
    if not log.exists():
        return []
    return [(k, h, int(s), int(p)) for k, h, s, p, _ in (line.split() for line in log.read_text().splitlines())]


def _table_runs(out):
    with snnbench.open(out) as bench:
        return bench.metadata["n_score_runs"], bench.metadata["n_train_runs"], bench.metadata["complete"]


def test_sigkill_during_jobs_and_table_rewrites_then_rerun_runs_each_job_once(tmp_path):
    out, log = tmp_path / "kill.h5", tmp_path / "jobs.log"
    journal = Path(str(out) + ".journal.sqlite")
    expected = {(j.kind, j.cell_hash, j.seed) for j in BuildSpec(
        "fw", get_protocol("digits-cpu", epochs=1, width=8), out, **KILL_SPEC).jobs()}
    assert len(expected) == 8
    pids = []

    # 1. killed in the middle of the second checkpoint rewrite (after 4 jobs): the first checkpoint
    #    (2 jobs) stays the table, the half-written temporary file is never renamed over it.
    marker = tmp_path / "pause-1"
    proc = _start(out, log, "--checkpoint-jobs", "2",
                  env={"SNNBENCH_FAULT_PAUSE_WRITE": str(marker), "SNNBENCH_FAULT_PAUSE_WRITE_AT": "2"})
    pids.append(proc.pid)
    _wait_until(proc, marker.exists, "the second table write")
    assert temporary_path(out).exists()
    _sigkill(proc)
    assert len(journal_rows(journal)) == 4
    assert verify_table(out) == [] and _table_runs(out) == (2, 0, 0)

    # 2. killed while a training job runs (a checkpoint after every job before it).
    proc = _start(out, log, "--checkpoint-jobs", "1")
    pids.append(proc.pid)
    _wait_until(proc, lambda: any(k == "train" and p == proc.pid for k, _, _, p in _started(log)), "a training job")
    _sigkill(proc)
    assert len(journal_rows(journal)) == 6
    assert verify_table(out) == [] and _table_runs(out) == (6, 0, 0)

    # 3. killed during the final rewrite, every job already in the journal.
    marker = tmp_path / "pause-final"
    proc = _start(out, log, "--checkpoint-jobs", "100", env={"SNNBENCH_FAULT_PAUSE_WRITE": str(marker)})
    pids.append(proc.pid)
    _wait_until(proc, marker.exists, "the final table write")
    assert temporary_path(out).exists()
    _sigkill(proc)
    assert set(journal_rows(journal)) == expected
    assert verify_table(out) == [] and _table_runs(out) == (6, 0, 0)

    # 4. the rerun runs nothing, writes the complete table, leaves no temporary file.
    done = subprocess.run(_command(out), cwd=REPO, env=dict(os.environ, SNNBENCH_JOB_LOG=str(log)),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "8 jobs: 0 run now, 8 from the journal" in done.stdout
    assert verify_table(out) == [] and _table_runs(out) == (6, 2, 1)
    assert not temporary_path(out).exists()

    rows = journal_rows(journal)
    assert set(rows) == expected and len(rows) == 8
    starts = _started(log)
    assert {p for *_, p in starts} <= set(pids)  # the rerun started no job
    # a job runs once, plus once for every run killed while it was in flight (not yet committed)
    lost = Counter((k, h, s) for k, h, s, p in starts if rows[(k, h, s)][1] != p)
    runs_per_job = Counter((k, h, s) for k, h, s, _ in starts)
    assert all(runs_per_job[job] == 1 + lost[job] for job in expected)
    assert sum(lost.values()) == 1 and next(iter(lost))[0] == "train"  # only kill 2 hit a job in flight
    for job, (_, pid) in rows.items():  # no job committed before a kill ran again after it
        assert [p for k, h, s, p in starts if (k, h, s) == job][-1] == pid


def test_a_job_claimed_by_a_live_build_is_busy_and_one_of_a_killed_build_is_taken_over(tmp_path):
    """Two builds sharing a journal never run the same job: claims of a running build are respected,
    claims of a build that died (kill -9) are taken over at once."""
    protocol = get_protocol("digits-cpu", epochs=1, width=8)
    path = tmp_path / "shared.journal.sqlite"
    first, second = Journal(path, protocol), Journal(path, protocol)
    jobs = [Job("score", h, 0) for h in BuildSpec("fw", protocol, "x.h5", sample=3).selected_cells()]
    run_a = first.start_run("fw.h5", "local", "test")
    run_b = second.start_run("bw.h5", "local", "test")
    with first.transaction():  # run_a stands for a build in another live process
        first.conn.execute("UPDATE runs SET pid=? WHERE run_id=?", (os.getppid(), run_a))
    assert first.claim(jobs[:2], run_a) == (jobs[:2], [], [])
    assert second.claim(jobs, run_b) == ([jobs[2]], [], jobs[:2])
    first.record(jobs[0], {"protocol_hash": protocol.hash, "cell_hash": jobs[0].cell_hash, "where": "test"}, run_a)
    assert second.claim(jobs[:2], run_b) == ([], [jobs[0]], [jobs[1]])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with first.transaction():  # run_a's process is gone: as after a kill -9
        first.conn.execute("UPDATE runs SET pid=? WHERE run_id=?", (int(dead.stdout), run_a))
    assert second.claim(jobs[:2], run_b) == ([jobs[1]], [jobs[0]], [])
    first.close()
    second.close()


# ----------------------------------------------------------------------------- progress on stderr
class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_a_bar_on_a_terminal_and_status_lines_in_a_log(monkeypatch):
    from snnbench.build import driver
    log = io.StringIO()
    progress = driver._Progress(total=10, initial=2, enabled=True, stream=log)
    progress.update(3)  # within PROGRESS_LINE_EVERY_S of the first line: nothing
    monkeypatch.setattr(driver, "PROGRESS_LINE_EVERY_S", 0.0)
    progress.update(1)
    progress.update(4)
    progress.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 4
    assert lines[0].endswith("build: 2/10 jobs (20.0%)")
    assert "build: 6/10 jobs (60.0%), " in lines[1] and "jobs/h" in lines[1] and "min left at this rate" in lines[1]
    assert "build: 10/10 jobs (100.0%)" in lines[2] and "build: 10/10 jobs (100.0%)" in lines[3]
    terminal = _Terminal()
    bar = driver._Progress(total=10, initial=0, enabled=True, stream=terminal)
    bar.update(5)
    bar.close()
    assert "\r" in terminal.getvalue() and "5/10" in terminal.getvalue() and "jobs (" not in terminal.getvalue()
    quiet = io.StringIO()
    off = driver._Progress(total=10, initial=0, enabled=False, stream=quiet)
    off.update(10)
    off.close()
    assert quiet.getvalue() == ""


def test_progress_counts_the_jobs_other_builds_sharing_the_journal_finish(monkeypatch):
    # two processes on one journal: each used to count only its own jobs until it reached the other's,
    # so a log said 7,865/8,062 and 3.8 h left where the journal held 7,959 (about 1 h left)
    from snnbench.build import driver
    in_journal = {"n": 2}
    log = io.StringIO()
    monkeypatch.setattr(driver, "PROGRESS_LINE_EVERY_S", 0.0)
    progress = driver._Progress(total=20, initial=2, enabled=True, stream=log, count_done=lambda: in_journal["n"])
    in_journal["n"] = 2 + 1 + 5  # this build's job and five the other build recorded
    progress.update(1)
    assert "build: 8/20 jobs (40.0%)" in log.getvalue().splitlines()[-1]
    progress.update(5)  # this build now meets the other's five (claim() finds them done): not twice
    assert "build: 8/20 jobs (40.0%)" in log.getvalue().splitlines()[-1]
    in_journal["n"] = 8
    progress.update(2)  # two failures: no result in the journal, counted by update() alone
    assert "build: 10/20 jobs (50.0%)" in log.getvalue().splitlines()[-1]
    in_journal["n"] = 99  # never past the total
    progress.update(1)
    assert "build: 20/20 jobs (100.0%)" in log.getvalue().splitlines()[-1]
    terminal = _Terminal()
    in_journal["n"] = 7
    bar = driver._Progress(total=10, initial=0, enabled=True, stream=terminal, count_done=lambda: in_journal["n"])
    bar.update(1)
    assert bar.done == 7 and bar.bar.n == 7
    bar.close()


def test_build_json_prints_the_summary_with_each_table_writes_seconds(tmp_path):
    from click.testing import CliRunner
    from snnbench.cli import main
    out = tmp_path / "two.h5"
    r = CliRunner().invoke(main, ["build", "--space", "fw", "--dataset", "digits", "--sample", "2", "--scores-only",
                                  "--width", "4", "--timesteps", "2", "--quiet", "--json", "--out", str(out)])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["complete"] and summary["jobs_run"] == 2 and summary["out"] == str(out)
    assert len(summary["write_seconds"]) >= 1 and all(s > 0 for s in summary["write_seconds"])
