"""`snnbench train CELL --append-to TABLE`: one run added to a table through its journal, the table
written anew from it and still sound under `snnbench verify`; the refusals are one line and exit 2."""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import snnbench
from snnbench.build import Build, BuildSpec, Job, Journal, rewrite_table
from snnbench.build.append import append_spec
from snnbench.build.spec import spec_from_table
from snnbench.cli import main
from snnbench.errors import ConfigError, JournalError, ProtocolMismatchError
from snnbench.protocols import get_protocol
from snnbench.table import verify_table

TRAINED = "267a2331c930c77c"  # 0303 0030 0003 0000, trained by the table's build
NEW = "378f9e446064fa8f"      # 0123 0021 0002 0000, a fw cell the build did not select


def tiny_protocol():
    return get_protocol("digits-cpu", epochs=2, width=4, batch_size=64, timesteps=3)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A real digits fw table: one cell, seed 0, 2 epochs of width 4; its journal beside it."""
    out = tmp_path_factory.mktemp("append") / "tiny.h5"
    spec = BuildSpec("fw", tiny_protocol(), out, cells=[TRAINED], seeds=(0,), score_seeds=(0,))
    assert Build(spec, progress=False, command="tests/build/test_append.py").run().complete
    return out


@pytest.fixture
def table(built, tmp_path) -> Path:
    """A copy of the built table and its journal, for one test to change: written anew from the
    copied journal, so that the journal it records is the copy."""
    out = tmp_path / built.name
    shutil.copy(built, out)
    shutil.copy(str(built) + ".journal.sqlite", str(out) + ".journal.sqlite")
    assert rewrite_table(out, journal=str(out) + ".journal.sqlite", force=True)
    assert spec_from_table(out).journal_path == Path(str(out) + ".journal.sqlite")
    return out


def train(*args):
    return CliRunner().invoke(main, ["train", *args])


def test_appending_a_new_cell_adds_it_through_the_journal_and_the_table_verifies(table):
    result = train(NEW, "--seed", "0", "--append-to", str(table), "--json")
    assert result.exit_code == 0, result.output
    assert "epoch" not in result.stderr  # no progress bar when stderr is not a terminal
    record = json.loads(result.stdout)
    assert record["cell_hash"] == NEW and record["appended_to"] == str(table) and record["epochs_run"] == 2
    assert verify_table(table) == []
    check = CliRunner().invoke(main, ["verify", str(table)])
    assert check.exit_code == 0 and check.output.startswith("OK")
    with snnbench.open(table) as bench:
        assert bench.cells(trained_only=True) == sorted([TRAINED, NEW])
        rec = bench.query(NEW, seed=0)
        assert rec["valid_acc"] == record["valid_acc"] and rec["test_acc"] == record["test_acc"]
        assert bench.metadata["complete"] == 1
        assert bench.metadata["selection"]["appended_runs"] == [[NEW, 0]]
    with _journal(table) as journal:
        done = journal.done_jobs()
    assert Job("train", NEW, 0) in done and Job("score", NEW, 0) in done


def test_info_counts_the_explicit_cell_list_and_the_metadata_keeps_it(built):
    shown = CliRunner().invoke(main, ["info", str(built)])
    assert shown.exit_code == 0, shown.output
    assert '"cells": "1 listed"' in shown.output and TRAINED not in shown.output.split("selection")[1].split("\n")[0]
    with snnbench.open(built) as bench:
        assert bench.metadata["selection"]["cells"] == [TRAINED]


class _journal:
    """The table's journal, opened for reading its jobs and closed after."""

    def __init__(self, table):
        self.journal = Journal(str(table) + ".journal.sqlite", tiny_protocol())

    def __enter__(self):
        return self.journal

    def __exit__(self, *exc):
        self.journal.close()


def test_appending_a_new_seed_of_a_trained_cell_adds_a_seed_column(table):
    result = train(TRAINED, "--seed", "3", "--append-to", str(table), "--quiet")
    assert result.exit_code == 0, result.output
    assert "appended    to" in result.output
    assert verify_table(table) == []
    with snnbench.open(table) as bench:
        assert bench.seeds == [0, 3]
        rec = bench.query(TRAINED)
        assert rec["n_seeds"] == 2 and set(rec["per_seed"]) == {0, 3}
        assert bench.metadata["complete"] == 1
    # the table's own build, run again, is its resume: nothing to train, and the appended run is kept
    spec = spec_from_table(table)
    assert spec.seeds == (0,) and spec.appended_runs == ((TRAINED, 3),) and spec.training_seeds == (0, 3)


def test_the_run_a_table_holds_already_is_refused_in_one_line(table):
    result = train(TRAINED, "--seed", "0", "--append-to", str(table))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "already holds cell" in result.stderr and "--seed 0" in result.stderr


def test_a_table_that_is_not_there_is_refused_in_one_line(tmp_path):
    result = train(TRAINED, "--append-to", str(tmp_path / "none.h5"))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "no such table" in result.stderr


def test_another_protocol_or_dataset_is_refused_and_nothing_changes(table):
    before = table.read_bytes()
    other = train(NEW, "--protocol", "digits-cpu", "--append-to", str(table))
    assert other.exit_code == 2 and other.stderr.count("\n") == 1 and "protocol" in other.stderr
    dataset = train(NEW, "--dataset", "fashion-mnist", "--append-to", str(table))
    assert dataset.exit_code == 2 and dataset.stderr.count("\n") == 1 and "fashion-mnist" in dataset.stderr
    with pytest.raises(ProtocolMismatchError, match="digits-cpu"):
        append_spec(table, NEW, 0, get_protocol("digits-cpu"))
    assert table.read_bytes() == before


def test_a_missing_journal_is_refused_in_one_line(table):
    Path(str(table) + ".journal.sqlite").rename(table.parent / "elsewhere.sqlite")
    result = train(NEW, "--append-to", str(table))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "journal" in result.stderr
    with pytest.raises(JournalError, match="missing"):
        append_spec(table, NEW, 0)


def test_a_bw_cell_cannot_join_a_fw_table(table):
    with pytest.raises(ConfigError, match="bw cell"):
        append_spec(table, "0203 0002 0100 0020", 0)


def _train_on_a_terminal(*args) -> str:
    """What `snnbench train` writes to stderr when stderr is a terminal (a pseudo-terminal here)."""
    import os
    import pty
    import subprocess
    import sys
    import fcntl
    import struct
    import termios
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # rows, columns of a terminal
    try:
        proc = subprocess.run([sys.executable, "-m", "snnbench.cli", "train", *args], stdout=subprocess.PIPE,
                              stderr=follower, timeout=600)
        os.close(follower)
        follower = None
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal is closed once everything written was read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower is not None:
            os.close(follower)
        os.close(leader)
    assert proc.returncode == 0, proc.stdout
    return b"".join(chunks).decode(errors="replace")


def test_the_progress_bar_counts_epochs_on_a_terminal_and_quiet_silences_it(table):
    shown = _train_on_a_terminal(NEW, "--seed", "1", "--append-to", str(table))
    assert "2/2" in shown and "epoch" in shown
    assert _train_on_a_terminal(TRAINED, "--seed", "1", "--append-to", str(table), "--quiet") == ""
    assert verify_table(table) == []


def test_the_tables_build_run_again_with_extend_keeps_the_appended_run(table):
    assert train(NEW, "--seed", "0", "--append-to", str(table), "--quiet").exit_code == 0
    again = BuildSpec("fw", tiny_protocol(), table, cells=[TRAINED], seeds=(0,), score_seeds=(0,),
                      journal=str(table) + ".journal.sqlite")
    with pytest.raises(ConfigError, match="extend"):
        Build(again, progress=False).run()
    summary = Build(again, extend=True, progress=False).run()
    assert summary.complete and summary.jobs_run == 0
    assert verify_table(table) == []
    with snnbench.open(table) as bench:
        assert bench.cells(trained_only=True) == sorted([TRAINED, NEW])
        assert bench.metadata["selection"]["appended_runs"] == [[NEW, 0]]
