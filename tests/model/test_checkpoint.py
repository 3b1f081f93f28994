"""Resumable training runs: a run stopped after a checkpoint (an exception, SIGKILL of its process)
continues from it and ends with exactly the record of an uninterrupted run (on the CPU, all but the
wall times); a finished run leaves no checkpoint; a checkpoint of another run is refused."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from snnbench.build import Build, BuildSpec
from snnbench.checkpoint import CHECKPOINT_FILE, build_root, job_folder
from snnbench.data import load_digits
from snnbench.errors import CheckpointError
from snnbench.protocols import get_protocol
from snnbench.space import Cell
from snnbench.train import train_cell

REPO = Path(__file__).resolve().parents[2]
BW_CELL = "0302 0030 3003 0000"   # a backward edge: the recurrence runs over time
TINY = dict(epochs=3, width=4, batch_size=64, timesteps=3)
WALL_TIMES = ("epoch_time", "train_time")


def without_wall_times(record) -> dict:
    d = record if isinstance(record, dict) else record.to_dict()
    return {k: v for k, v in d.items() if k not in WALL_TIMES}


class StopAfter(Exception):
    pass


def stop_after(epochs: int):
    def on_epoch(record):
        if record.epochs_run == epochs:
            raise StopAfter
    return on_epoch


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def tiny_uninterrupted(digits):
    return train_cell(Cell.from_text(BW_CELL), get_protocol("digits-cpu", **TINY), seed=5, dataset=digits)


def test_a_run_stopped_after_its_first_checkpoint_resumes_to_the_uninterrupted_record(tmp_path, digits,
                                                                                     tiny_uninterrupted):
    protocol, folder = get_protocol("digits-cpu", **TINY), tmp_path / "run"
    with pytest.raises(StopAfter):
        train_cell(Cell.from_text(BW_CELL), protocol, seed=5, dataset=digits, checkpoint_dir=folder,
                   checkpoint_every=1, on_epoch=stop_after(1))
    saved = torch.load(folder / CHECKPOINT_FILE, weights_only=True)
    assert saved["record"]["epochs_run"] == 1

    epochs_seen = []
    resumed = train_cell(Cell.from_text(BW_CELL), protocol, seed=5, dataset=digits, checkpoint_dir=folder,
                         on_epoch=lambda r: epochs_seen.append(r.epochs_run))

    assert epochs_seen == [2, 3]  # epoch 1 came from the checkpoint, not from training again
    assert resumed.epoch_time[0] == saved["record"]["epoch_time"][0]
    assert without_wall_times(resumed) == without_wall_times(tiny_uninterrupted)
    assert not folder.exists()  # a finished run removes its checkpoint


def test_checkpoints_every_second_epoch_resume_from_the_second(tmp_path, digits, tiny_uninterrupted):
    protocol, folder = get_protocol("digits-cpu", **TINY), tmp_path / "run"
    with pytest.raises(StopAfter):
        train_cell(Cell.from_text(BW_CELL), protocol, seed=5, dataset=digits, checkpoint_dir=folder,
                   checkpoint_every=2, on_epoch=stop_after(2))
    assert torch.load(folder / CHECKPOINT_FILE, weights_only=True)["record"]["epochs_run"] == 2
    resumed = train_cell(Cell.from_text(BW_CELL), protocol, seed=5, dataset=digits, checkpoint_dir=folder,
                         checkpoint_every=2)
    assert without_wall_times(resumed) == without_wall_times(tiny_uninterrupted)
    assert not folder.exists()


def test_a_checkpoint_of_another_seed_or_cell_is_refused_and_kept(tmp_path, digits):
    protocol, folder = get_protocol("digits-cpu", **TINY), tmp_path / "run"
    with pytest.raises(StopAfter):
        train_cell(Cell.from_text(BW_CELL), protocol, seed=5, dataset=digits, checkpoint_dir=folder,
                   on_epoch=stop_after(1))
    with pytest.raises(CheckpointError, match="seed 5, not to this run"):
        train_cell(Cell.from_text(BW_CELL), protocol, seed=6, dataset=digits, checkpoint_dir=folder)
    with pytest.raises(CheckpointError, match="not to this run"):
        train_cell(Cell.from_text("0303 0030 0003 0000"), protocol, seed=5, dataset=digits, checkpoint_dir=folder)
    with pytest.raises(CheckpointError, match="not to this run"):
        train_cell(Cell.from_text(BW_CELL), protocol.with_(epochs=4), seed=5, dataset=digits, checkpoint_dir=folder)
    assert (folder / CHECKPOINT_FILE).is_file()


def test_a_damaged_checkpoint_is_one_clear_error(tmp_path, digits):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read.*delete it"):
        train_cell(Cell.from_text(BW_CELL), get_protocol("digits-cpu", **TINY), seed=5, dataset=digits,
                   checkpoint_dir=folder)


KILLED_RUN = """
import sys
from snnbench.protocols import get_protocol
from snnbench.space import Cell
from snnbench.train import train_cell
train_cell(Cell.from_text(sys.argv[1]), get_protocol("digits-cpu", epochs=3, batch_size=64, timesteps=3),
           seed=2, checkpoint_dir=sys.argv[2], checkpoint_every=1)
print("FINISHED")
"""


def test_a_run_killed_with_sigkill_resumes_from_its_checkpoint_to_the_same_record(tmp_path):
    folder = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    worker = subprocess.Popen([sys.executable, "-c", KILLED_RUN, BW_CELL, str(folder)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (folder / CHECKPOINT_FILE).exists():
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.kill()
        out, _ = worker.communicate()
    assert worker.returncode == -signal.SIGKILL and b"FINISHED" not in out
    saved = torch.load(folder / CHECKPOINT_FILE, weights_only=True)
    assert 1 <= saved["record"]["epochs_run"] < 3

    protocol = get_protocol("digits-cpu", epochs=3, batch_size=64, timesteps=3)
    resumed = train_cell(Cell.from_text(BW_CELL), protocol, seed=2, checkpoint_dir=folder)
    uninterrupted = train_cell(Cell.from_text(BW_CELL), protocol, seed=2)

    done = saved["record"]["epochs_run"]
    assert resumed.epoch_time[:done] == saved["record"]["epoch_time"]  # it did resume, not start over
    assert without_wall_times(resumed) == without_wall_times(uninterrupted)
    assert not folder.exists()


def test_a_build_resumes_a_training_job_from_the_checkpoint_beside_its_journal(tmp_path, digits):
    protocol = get_protocol("digits-cpu", **TINY)
    out = tmp_path / "t.h5"
    spec = BuildSpec("bw", protocol, out, cells=[BW_CELL], seeds=(1,), score_seeds=(0,))
    cell = Cell.from_text(BW_CELL)
    folder = job_folder(build_root(spec.journal_path), cell.hash, protocol.hash, 1)
    assert folder.parent == tmp_path / "t.h5.journal.checkpoints"
    with pytest.raises(StopAfter):  # the job as a killed build left it: a checkpoint after epoch 1
        train_cell(cell, protocol, seed=1, dataset=digits, checkpoint_dir=folder, on_epoch=stop_after(1))
    saved = torch.load(folder / CHECKPOINT_FILE, weights_only=True)

    summary = Build(spec, progress=False).run()

    assert summary.complete and summary.jobs_failed == 0
    import sqlite3
    import json
    conn = sqlite3.connect(spec.journal_path)
    (result,) = [json.loads(r) for (r,) in conn.execute("SELECT result FROM jobs WHERE kind='train'")]
    conn.close()
    assert result["epoch_time"][0] == saved["record"]["epoch_time"][0]
    uninterrupted = train_cell(cell, protocol, seed=1, dataset=digits).to_dict()
    assert {k: result[k] for k in without_wall_times(uninterrupted)} == without_wall_times(uninterrupted)
    assert not build_root(spec.journal_path).exists()  # every job finished: no checkpoint folder left
