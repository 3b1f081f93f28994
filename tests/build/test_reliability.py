"""Nothing lost, nothing silently wrong (issue 17): one test (or more) per defect of the reliability
review, on real files and real processes.

 1 build --out onto a table it did not make       6 environment failures and damaged inputs
 2 verify reads and checks everything             7 bounded reads of an existing score --out
 3 -inf scores in the surrogate                   8 no output may be one of the inputs
 4 workers die with their driver, Ctrl-C is fast  9 a paused build keeps its claims
 5 two builds with one --out                     10 nonsense options refused
                                                  11 leftovers, closed tables, python -m, long lines

The bad-input table over the whole CLI is tests/test_cli_fuzz.py."""
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import snnbench
from snnbench.build import Build, BuildSpec, Journal, Job
from snnbench.cli import main
from snnbench.errors import ConfigError, SnnbenchError, StorageError, TableFormatError
from snnbench.protocols import get_protocol
from snnbench.table import verify_table

from small_fw import copy_table

REPO = Path(__file__).resolve().parents[2]
FW_TABLE = REPO / "tables" / "digits-fw.h5"
BW_TABLE = REPO / "tables" / "digits-bw.h5"
TINY = dict(epochs=1, width=4)  # the cheapest protocol: a job takes a second or two
TINY_OPTIONS = ["--epochs", "1", "--width", "4"]


def tiny_protocol():
    return get_protocol("digits-cpu", **TINY)


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, *fragments):
    """Exit 2 with exactly one line `error: ...` on stderr, no traceback, containing every fragment."""
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        f"raised {result.exception!r}")
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def snapshot(folder) -> dict:
    """{relative path: bytes} of every file under folder."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def environment(**extra):
    return dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="passive", **extra)


def build_command(out, *extra):
    return [sys.executable, "-m", "snnbench", "build", "--space", "fw", "--dataset", "digits", *TINY_OPTIONS,
            "--quiet", "--out", str(out), *extra]


def job_starts(log) -> list:
    """[(kind, cell_hash, seed, pid, time)] of every job start in a SNNBENCH_JOB_LOG file."""
    if not Path(log).exists():
        return []
    rows = [line.split() for line in Path(log).read_text().splitlines()]
    return [(k, h, int(s), int(p), float(t)) for k, h, s, p, t in rows]


def wait_for(condition, what, proc=None, timeout=180.0):
    t0 = time.monotonic()
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the build exited ({proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def children_of(pid: int) -> set:
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            kids.add(int(stat.parent.name))
    return kids


def damage_chunk(path, dataset: str) -> None:
    """Flip one byte in the middle of the first compressed chunk of a dataset (h5py's chunk index)."""
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(0)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        byte = fh.read(1)[0]
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes([byte ^ 0xFF]))


@contextlib.contextmanager
def tmpfs(folder: Path, options: str):
    """A tmpfs mounted on folder (skip the test where this process cannot mount one)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave_bytes: int = 0) -> None:
    """Fill a small file system up to leave_bytes of free space."""
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(folder / "filler", "wb") as fh:
        with contextlib.suppress(OSError):
            fh.write(b"\0" * max(0, free - leave_bytes))


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory) -> Path:
    """A table of one cell, scored and trained with seed 0 under the tiny protocol, with its journal
    beside it. Copy it before changing it."""
    out = tmp_path_factory.mktemp("tiny") / "t.h5"
    spec = BuildSpec("fw", tiny_protocol(), out, sample=1, seeds=(0,))
    assert Build(spec, progress=False).run().complete
    return out


# ============================================================================= 1. build --out
def test_build_refuses_to_write_over_a_table_it_did_not_make(tmp_path):
    table = copy_table(FW_TABLE, tmp_path)
    before = snapshot(tmp_path)
    # the shipped table's own protocol (digits-cpu, the authors' graph): only the selection differs
    result = cli("build", "--space", "fw", "--dataset", "digits", "--sample", "1", "--seeds",
                 "0", "--scores-only", "--quiet", "--out", table)
    line = assert_one_line_error(result, str(table), "--force", "--extend")
    assert "7012 cells" in line
    assert snapshot(tmp_path) == before  # the table untouched, no journal created


def test_rerunning_a_build_resumes_its_own_table(tiny_table, tmp_path):
    table = copy_table(tiny_table, tmp_path)
    spec = BuildSpec("fw", tiny_protocol(), table, sample=1, seeds=(0,))
    summary = Build(spec, progress=False).run()
    assert summary.complete and summary.jobs_run == 0 and summary.jobs_reused == 2


def test_force_replaces_a_table_and_extend_adds_to_it(tiny_table, tmp_path):
    table = copy_table(tiny_table, tmp_path)
    with snnbench.open(table) as bench:
        first = set(bench.cells())
    other = BuildSpec("fw", tiny_protocol(), table, sample=1, sample_seed=1, scores_only=True)
    with pytest.raises(ConfigError, match="`force`"):
        Build(other, progress=False).run()
    extended = Build(other, extend=True, progress=False).run()
    with snnbench.open(table) as bench:
        assert set(bench.cells()) > first and len(bench) == 2 and bench.metadata["n_train_runs"] == 1
        assert bench.metadata["complete"] == 1 and verify_table(table) == []
    assert extended.complete
    Build(other, force=True, progress=False).run()
    with snnbench.open(table) as bench:
        assert len(bench) == 1 and set(bench.cells()).isdisjoint(first) and bench.metadata["n_train_runs"] == 0


def _forced_build(table) -> list:
    """A small digits build (2 cells, seed 0) run with --force over `table`, as a command line."""
    return [sys.executable, "-m", "snnbench", "build", "--space", "fw", "--dataset", "digits", "--graph",
            "skip-idle", "--sample", "2", "--seeds", "0", "--quiet", "--force", "--out", str(table)]


def test_an_interrupted_forced_build_leaves_the_old_table_alone(tmp_path):
    table = copy_table(FW_TABLE, tmp_path, journal=False)
    before = table.read_bytes()
    log = tmp_path / "jobs.log"
    command = _forced_build(table)
    proc = subprocess.Popen(command, cwd=REPO, env=environment(SNNBENCH_JOB_LOG=str(log)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(lambda: job_starts(log), "the first job", proc)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert table.read_bytes() == before  # the interrupt wrote no checkpoint over a table it did not make


def test_an_interrupt_that_python_drops_still_stops_the_build(tmp_path):
    # Ctrl-C while a finaliser runs: Python prints the KeyboardInterrupt and goes on. The build must
    # stop anyway (before its next job, without writing over the table), not run to the end.
    table = copy_table(FW_TABLE, tmp_path, journal=False)
    before = table.read_bytes()
    log = tmp_path / "jobs.log"
    command = _forced_build(table)
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=environment(SNNBENCH_JOB_LOG=str(log),
                                          SNNBENCH_FAULT_DROPPED_INTERRUPT=str(tmp_path / "dropped")))
    assert "Exception ignored" in proc.stderr and "KeyboardInterrupt" in proc.stderr  # Python dropped it
    assert proc.returncode != 0
    assert len(job_starts(log)) == 1  # no job after the interrupt
    assert table.read_bytes() == before


# ============================================================================= 2. verify
@pytest.mark.parametrize("dataset", ["train/test_acc", "cells/n_params", "train/curves/train_loss",
                                     "scores/layer_firing_rate", "train/layer_firing_rate", "scores/hd"])
def test_verify_finds_a_damaged_chunk_in_any_dataset(tmp_path, dataset):
    table = copy_table(FW_TABLE, tmp_path, journal=False)
    damage_chunk(table, dataset)
    result = cli("verify", table)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert dataset in result.stderr and "damaged" in result.stderr


def test_verify_quick_keeps_the_fast_check(tmp_path):
    table = copy_table(FW_TABLE, tmp_path, journal=False)
    damage_chunk(table, "train/test_acc")
    assert cli("verify", "--quick", table).exit_code == 0
    assert cli("verify", table).exit_code == 1


def _set_attr(path, **attrs):
    with h5py.File(path, "r+") as f:
        for key, value in attrs.items():
            f.attrs[key] = value


def test_duplicate_seeds_and_an_unknown_space_fail_verify_and_are_not_served(tmp_path):
    dup = copy_table(FW_TABLE, tmp_path, "dup.h5", journal=False)
    _set_attr(dup, seeds=np.array([0, 0]))
    problems = verify_table(dup)
    assert any("seeds" in p and "duplicate" in p for p in problems), problems
    with pytest.raises(TableFormatError, match="seeds"):
        snnbench.open(dup).query("378f9e446064fa8f")
    zz = copy_table(FW_TABLE, tmp_path, "zz.h5", journal=False)
    _set_attr(zz, space="zz")
    assert any("space" in p for p in verify_table(zz))


def test_verify_checks_every_curve_against_epochs_run(tmp_path):
    table = copy_table(FW_TABLE, tmp_path, journal=False)
    with h5py.File(table, "r+") as f:
        loss = f["train/curves/train_loss"]
        row = loss[3]
        row[1, 4] = np.nan
        loss[3] = row
    problems = verify_table(table)
    assert any("train_loss" in p for p in problems), problems


def test_verify_checks_hashes_against_the_stored_matrices(tmp_path):
    table = copy_table(FW_TABLE, tmp_path, journal=False)
    with h5py.File(table, "r+") as f:
        matrix = f["cells/matrix"]
        m = matrix[10]
        m[0, 1] = (m[0, 1] % 4) + 1
        matrix[10] = m
    problems = verify_table(table)
    assert any("matri" in p for p in problems), problems


def test_a_full_verify_of_the_shipped_tables_passes_in_seconds():
    for path in (FW_TABLE, BW_TABLE):
        t0 = time.perf_counter()
        assert verify_table(path) == []
        elapsed = time.perf_counter() - t0
        print(f"full verify of {path.name}: {elapsed:.1f} s")
        assert elapsed < 60


# ============================================================================= 3. -inf scores
def test_surrogate_with_hd_features_fits_and_predicts_cells_whose_score_is_minus_inf():
    from snnbench.surrogate import Surrogate, SurrogateParams
    with snnbench.open(FW_TABLE) as bench:
        frame, protocol = bench.to_dataframe(), bench.protocol
    trained = frame[frame["trained"]]
    singular = trained[np.isneginf(trained["hd"])]
    assert len(singular) >= 1  # the shipped fw table has one
    model = Surrogate(SurrogateParams(n_members=1, n_estimators=5), score_features=("hd",))
    model.fit_table(frame, protocol)
    mean, std = model.predict_cells(list(singular["hash"]), scores=frame.set_index("hash"))
    assert np.all(np.isfinite(mean))


# ============================================================================= 4. workers
def _start_worker_build(tmp_path, *extra):
    out, log = tmp_path / "w.h5", tmp_path / "jobs.log"
    proc = subprocess.Popen(build_command(out, "--workers", "2", *extra), cwd=REPO,
                            env=environment(SNNBENCH_JOB_LOG=str(log)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    return proc, log


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_workers_end_within_seconds_when_their_driver_is_killed(tmp_path, how):
    proc, log = _start_worker_build(tmp_path, "--sample", "3", "--seeds", "0,1")
    wait_for(lambda: any(p != proc.pid for *_, p, _ in job_starts(log)), "a job in a worker", proc)
    workers = children_of(proc.pid)
    assert {p for *_, p, _ in job_starts(log)} <= workers
    os.kill(proc.pid, how)
    proc.wait(timeout=30)
    t0 = time.monotonic()
    while any(alive(p) for p in workers) and time.monotonic() - t0 < 10:
        time.sleep(0.1)
    left = [p for p in workers if alive(p)]
    for p in left:  # do not leave them running on a shared machine
        os.kill(p, signal.SIGKILL)
    assert not left, f"workers still alive 10 s after the driver died: {left}"


def test_ctrl_c_stops_a_multi_worker_build_in_seconds_without_starting_jobs(tmp_path):
    proc, log = _start_worker_build(tmp_path, "--sample", "4", "--seeds", "0,1")
    wait_for(lambda: any(k == "train" for k, *_ in job_starts(log)), "a training job", proc)
    workers = children_of(proc.pid)
    t_signal = time.time()
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal signals the whole foreground group
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the build did not stop within 15 s of Ctrl-C")
    elapsed = time.time() - t_signal
    late = [s for s in job_starts(log) if s[4] > t_signal]  # before the fix: one 4 ms after the signal
    time.sleep(1.0)
    assert not [p for p in workers if alive(p)]
    assert not late, f"jobs started after Ctrl-C: {late}"
    assert elapsed < 10 and proc.returncode != 0


# ============================================================================= 5. one --out, two builds
def test_a_second_build_onto_the_same_out_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "same.h5"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from snnbench.files import output_lock\n"
                               "with output_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)",
                               str(out)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = cli("build", "--space", "fw", "--dataset", "digits", "--sample", "1", "--seeds", "0",
                     *TINY_OPTIONS, "--quiet", "--out", out)
        assert_one_line_error(result, "another build", str(out))
        assert not out.exists() and not Path(str(out) + ".journal.sqlite").exists()
    finally:
        holder.kill()
        holder.wait()


def test_two_real_builds_with_one_out_never_collide(tmp_path):
    """The review's recipe: build A paused inside its table write, build B started with the same
    --out. Before: B crashed on A's OUT.tmp (BlockingIOError traceback). Now B is refused in one line
    without touching anything, and runs once A is gone."""
    out, marker = tmp_path / "same.h5", tmp_path / "paused"
    options = ["--sample", "2", "--seeds", "0", "--scores-only", "--checkpoint-jobs", "1"]
    a = subprocess.Popen(build_command(out, *options), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=environment(SNNBENCH_FAULT_PAUSE_WRITE=str(marker)))
    try:
        wait_for(marker.exists, "build A inside its first table write", a)
        journal_before = Path(str(out) + ".journal.sqlite").read_bytes()
        result = cli("build", "--space", "fw", "--dataset", "digits", *TINY_OPTIONS, "--quiet", *options,
                     "--out", out)
        assert_one_line_error(result, "another build", str(out))
        assert Path(str(out) + ".journal.sqlite").read_bytes() == journal_before
    finally:
        a.kill()
        a.wait()
        a.stdout.close()
        a.stderr.close()
    assert cli("build", "--space", "fw", "--dataset", "digits", *TINY_OPTIONS, "--quiet", *options,
               "--out", out).exit_code == 0
    assert verify_table(out) == [] and not Path(str(out) + ".lock").exists()


def test_the_output_lock_is_released_and_removed(tmp_path):
    from snnbench.files import output_lock
    out = tmp_path / "t.h5"
    with output_lock(out):
        with pytest.raises(ConfigError, match="another build"):
            with output_lock(out):
                pass
    with output_lock(out):
        pass
    assert list(tmp_path.iterdir()) == []


# ============================================================================= 6. environment failures
def test_a_read_only_disk_is_one_line_everywhere(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        cases = [
            ["build", "--space", "fw", "--dataset", "digits", "--sample", "1", "--seeds", "0", *TINY_OPTIONS,
             "--quiet", "--out", ro / "b.h5"],
            ["build", "--space", "fw", "--dataset", "digits", "--sample", "1", "--seeds", "0", *TINY_OPTIONS,
             "--quiet", "--out", tmp_path / "b.h5", "--journal", ro / "j.sqlite"],
            ["score", "--space", "fw", "--limit", "1", *["--width", "4"], "--out", ro / "s.jsonl"],
            ["surrogate", "fit", FW_TABLE, "--members", "1", "--estimators", "2", "--out", ro / "m.json"],
            ["correlate", FW_TABLE, "--boot", "0", "--plot", ro / "x.png"],
        ]
        for args in cases:
            assert_one_line_error(cli(*args), "Read-only file system")
    assert not (tmp_path / "b.h5").exists() and not (tmp_path / "b.h5.journal.sqlite").exists()


def test_a_full_disk_reports_the_real_error_and_leaves_no_temporary_files(tiny_table, tmp_path):
    from snnbench.table import write_table
    with tmpfs(tmp_path / "full", "size=2m") as full:
        # the journal: SQLite's own error, not "cannot rollback - no transaction is active"
        fill(full, leave_bytes=8 * 1024)
        result = cli("build", "--space", "fw", "--dataset", "digits", "--sample", "3", "--seeds", "0",
                     "--scores-only", *TINY_OPTIONS, "--quiet", "--out", full / "b.h5")
        line = assert_one_line_error(result)
        assert "cannot rollback" not in line and ("full" in line or "disk I/O" in line or "No space" in line), line
        assert not (full / "b.h5").exists()
        # the table: a failed write leaves the previous file and no .tmp
        (full / "filler").unlink()
        with h5py.File(tiny_table, "r") as f:
            columns = {}
            f.visititems(lambda name, obj: columns.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
            attrs = dict(f.attrs)
        columns["cells/padding"] = np.random.default_rng(0).random(400_000)  # 3.2 MB: more than the disk
        with pytest.raises(StorageError, match="No space left"):
            write_table(full / "big.h5", columns, attrs)
        assert sorted(p.name for p in full.iterdir()) == []
        # the surrogate: no member .tmp left
        fill(full, leave_bytes=4 * 1024)
        result = cli("surrogate", "fit", FW_TABLE, "--members", "2", "--estimators", "50", "--out", full / "m.json")
        assert_one_line_error(result, "No space left")
        assert sorted(p.name for p in full.iterdir()) == ["filler"]


def test_unknown_or_absent_devices_are_refused_before_anything_runs(tmp_path):
    assert_one_line_error(cli("score", "0302 0030 3003 0000", "--device", "bogus"), "bogus")
    result = cli("build", "--space", "fw", "--dataset", "digits", "--sample", "1", "--seeds", "0", *TINY_OPTIONS,
                 "--quiet", "--device", "bogus", "--out", tmp_path / "b.h5")
    assert_one_line_error(result, "bogus")
    assert list(tmp_path.iterdir()) == []
    import torch
    if not torch.cuda.is_available():
        assert_one_line_error(cli("score", "0302 0030 3003 0000", "--device", "cuda"), "cuda")


def test_a_damaged_table_attribute_or_mistyped_metadata_is_a_table_format_error(tmp_path):
    flipped = tmp_path / "flip.h5"
    data = bytearray(FW_TABLE.read_bytes())
    for at in [i for i in range(len(data)) if data.startswith(b'{"augmentation"', i)]:
        data[at] ^= 1  # damaged attributes: protocol_json (and train_protocol_json) no longer JSON
    flipped.write_bytes(bytes(data))
    seeds_str = copy_table(FW_TABLE, tmp_path, "seeds_str.h5", journal=False)
    _set_attr(seeds_str, seeds="0,1")
    hash_int = copy_table(FW_TABLE, tmp_path, "hash_int.h5", journal=False)
    with h5py.File(hash_int, "r+") as f:
        n = len(f["cells/hash"])
        del f["cells/hash"]
        f["cells/hash"] = np.arange(n, dtype=np.int64)
    trainrow = copy_table(FW_TABLE, tmp_path, "trainrow.h5", journal=False)
    with h5py.File(trainrow, "r+") as f:
        rows = f["cells/train_row"][()]
        rows[np.flatnonzero(rows >= 0)[0]] = 99999
        f["cells/train_row"][...] = rows
    verified = cli("verify", flipped)  # readable metadata that is not a protocol: a listed problem, exit 1
    assert verified.exit_code == 1 and "protocol_json is not a protocol" in verified.output
    before = snapshot(tmp_path)
    for table in (flipped, seeds_str, hash_int, trainrow):
        with pytest.raises(TableFormatError):
            with snnbench.open(table) as bench:
                bench.to_dataframe()
        for args in (["query", "378f9e446064fa8f", "--table", table], ["info", table]):
            assert_one_line_error(cli(*args), str(table))
        result = cli("verify", table)
        assert result.exit_code in (1, 2) and "Traceback" not in result.stderr and not isinstance(
            result.exception, (TypeError, AttributeError, ValueError, RuntimeError, IndexError))
    assert snapshot(tmp_path) == before


def test_damaged_journal_rows_are_one_line(tiny_table, tmp_path):
    for damage, expected in (("result='{'", "not JSON"), ("result='{\"kind\": \"score\"}'", "hd")):
        folder = tmp_path / damage[:10].replace("'", "").replace("=", "")
        folder.mkdir()
        table = copy_table(tiny_table, folder)
        journal = Path(str(table) + ".journal.sqlite")
        conn = sqlite3.connect(journal)
        conn.execute(f"UPDATE jobs SET {damage} WHERE kind='score'")
        conn.commit()
        conn.close()
        result = cli("build", "--space", "fw", "--dataset", "digits", "--sample", "1", "--seeds", "0", *TINY_OPTIONS,
                     "--quiet", "--out", table)
        assert_one_line_error(result, str(journal), expected)


def test_the_journal_reports_sqlites_error_not_the_rollback(tmp_path):
    journal = Journal(tmp_path / "j.sqlite", tiny_protocol())
    try:
        journal.conn.execute("CREATE TRIGGER no_runs BEFORE INSERT ON runs BEGIN "
                             "SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END")
        with pytest.raises(SnnbenchError, match="disk I/O error") as caught:
            journal.start_run(tmp_path / "t.h5", "local", "test")
        assert "cannot rollback" not in str(caught.value)
    finally:
        journal.close()


def test_names_too_long_are_one_line(tmp_path):
    long_name = tmp_path / ("x" * 300 + ".h5")
    assert_one_line_error(cli("build", "--space", "fw", "--dataset", "digits", "--sample", "1", "--seeds", "0",
                              *TINY_OPTIONS, "--quiet", "--out", long_name), "too long")
    assert_one_line_error(cli("query", "378f9e446064fa8f", "--table", long_name), "too long")
    assert list(tmp_path.iterdir()) == []


# ============================================================================= 7. score --out
def test_score_out_naming_a_device_or_a_table_is_refused_without_reading_it(tmp_path):
    # 2 GiB of address space beyond what torch maps: the old unbounded read of /dev/full fails fast
    # with a MemoryError instead of eating the shared machine's memory
    limit = ("import resource, sys, snnbench.model.jobs, snnbench.cli; "
             "size = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize(); "
             "resource.setrlimit(resource.RLIMIT_AS, (size + (2 << 30), size + (2 << 30))); ")
    done = subprocess.run([sys.executable, "-c", limit + "snnbench.cli.main(prog_name='snnbench')",
                           "score", "--space", "fw", "--limit", "1", "--out", "/dev/full"],
                          cwd=REPO, env=environment(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr[-2000:]
    table = copy_table(FW_TABLE, tmp_path, journal=False)
    before = table.read_bytes()
    assert_one_line_error(cli("score", "--space", "fw", "--limit", "1", "--out", table), str(table))
    assert table.read_bytes() == before
    scores = tmp_path / "s.jsonl"
    scores.write_text("1\n")
    assert_one_line_error(cli("score", "--space", "fw", "--limit", "1", "--out", scores), str(scores))
    assert scores.read_text() == "1\n"


# ============================================================================= 9. paused builds
def test_a_stopped_build_keeps_its_claims_and_a_second_result_is_discarded(tmp_path):
    protocol = tiny_protocol()
    path = tmp_path / "shared.journal.sqlite"
    paused, other = Journal(path, protocol), Journal(path, protocol)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        os.kill(sleeper.pid, signal.SIGSTOP)  # Ctrl-Z
        job = Job("score", BuildSpec("fw", protocol, "x.h5", sample=1).selected_cells()[0], 0)
        run_a = paused.start_run("a.h5", "local", "test")
        with paused.transaction():  # run_a stands for the stopped process, silent for 10 minutes
            paused.conn.execute("UPDATE runs SET pid=?, heartbeat=? WHERE run_id=?",
                                (sleeper.pid, time.time() - 600, run_a))
        assert paused.claim([job], run_a) == ([job], [], [])
        run_b = other.start_run("b.h5", "local", "test")
        assert other.claim([job], run_b) == ([], [], [job])
        # a result recorded twice (another build took the job over anyway) is kept once
        result = {"protocol_hash": protocol.hash, "cell_hash": job.cell_hash, "where": "a"}
        assert paused.record(job, result, run_a) is True
        assert other.record(job, dict(result, where="b"), run_b) is False
        assert other.conn.execute("SELECT where_ran FROM jobs").fetchall() == [("a",)]
    finally:
        sleeper.kill()
        sleeper.wait()
        paused.close()
        other.close()


# ============================================================================= 10. nonsense options
def test_python_api_refuses_fractional_seeds_and_epochs():
    with snnbench.open(FW_TABLE) as bench:
        for kwargs in ({"seed": 1.9}, {"epoch": 2.7}, {"seed": "a"}, {"epoch": float("nan")},
                       {"epoch": float("inf")}, {"seed": [0]}):
            with pytest.raises(ConfigError):
                bench.query("378f9e446064fa8f", **kwargs)
        assert bench.query("378f9e446064fa8f", seed=1.0)["seed"] == 1
        with pytest.raises(ConfigError):
            bench.sample("a")
        assert list(bench.index(["é"])) == [-1]


def test_sample_larger_than_the_space_is_refused_with_its_size(tmp_path):
    result = cli("build", "--space", "fw", "--dataset", "digits", "--sample", "100000", "--seeds", "0",
                 "--quiet", "--out", tmp_path / "b.h5")
    assert_one_line_error(result, "7012")
    assert list(tmp_path.iterdir()) == []


# ============================================================================= 11. leftovers and hygiene
def test_a_closed_table_says_closed_not_damaged():
    bench = snnbench.open(FW_TABLE)
    bench.close()
    with pytest.raises(SnnbenchError, match="closed") as caught:
        bench.query("378f9e446064fa8f")
    assert "damaged" not in str(caught.value)
    with pytest.raises(SnnbenchError, match="closed"):
        bench.to_dataframe()


def test_python_dash_m_snnbench_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "snnbench", "show", "0302 0030 3003 0000"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "0302 0030 3003 0000" in done.stdout, done.stderr


def test_usage_errors_and_long_arguments_are_one_short_line():
    assert_one_line_error(cli("build"), "--space")
    assert_one_line_error(cli("surrogate", "fit"), "snnbench surrogate fit --help")
    line = assert_one_line_error(cli("show", "0" * 100_000))
    assert len(line) < 300
    with pytest.raises(TableFormatError, match="no table"):
        snnbench.open("")


def test_a_rejected_build_leaves_no_journal(tmp_path):
    for extra in (["--workers", "0"], ["--seeds", str(2 ** 64)], ["--max-retries", "-1"],
                  ["--checkpoint-seconds", "nan"], ["--dataset", "cifar10", "--data-dir", str(tmp_path / "none")]):
        args = ["build", "--space", "fw", "--dataset", "digits", "--sample", "1", "--quiet",
                "--out", tmp_path / "b.h5", *extra]
        assert_one_line_error(cli(*args))
        assert list(tmp_path.iterdir()) == [], extra
