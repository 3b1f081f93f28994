"""Splitting a space's scoring over processes and machines (`score --shard`, `--skip-journal`),
recording the scores in a build journal (`snnbench journal import-scores`), rerunning recorded jobs
to check them (`snnbench journal recheck`), the compressed journal snapshot the repository carries
(`snnbench journal pack|unpack`), merging journals and a journal's statistics."""
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest



def _cli(*args):
    return subprocess.run([sys.executable, "-m", "snnbench.cli", *args], capture_output=True, text=True)


def import_scores(journal, jsonl, where=None) -> int:
    from snnbench.build.scorer import read_score_records
    from snnbench.journal import import_score_records
    return import_score_records(journal, read_score_records(jsonl), str(jsonl), where)


def _hashes(path) -> list:
    return [json.loads(line)["cell_hash"] for line in Path(path).read_text().splitlines()]


@pytest.fixture(scope="module")
def scored_journal(tmp_path_factory):
    """A digits-cpu journal holding the scores of the first 4 fw cells, imported from a `score` run
    and recorded as run on 'elsewhere:cpu'."""
    from snnbench.build import Journal
    from snnbench.protocols import get_protocol
    tmp = tmp_path_factory.mktemp("scored_journal")
    first = tmp / "first.jsonl"
    assert _cli("score", "--space", "fw", "--limit", "4", "--protocol", "digits-cpu", "--out", str(first)).returncode == 0
    journal = tmp / "j.sqlite"
    Journal(journal, get_protocol("digits-cpu")).close()
    assert import_scores(str(journal), str(first), where="elsewhere:cpu") == 4
    return journal, first


def test_imported_scores_are_relabelled_and_never_imported_twice(scored_journal):
    journal, first = scored_journal
    con = sqlite3.connect(journal)
    rows = con.execute("SELECT cell_hash, where_ran, result FROM jobs WHERE kind='score'").fetchall()
    assert sorted(h for h, _, _ in rows) == sorted(_hashes(first))
    assert {w for _, w, _ in rows} == {"elsewhere:cpu"}
    assert all(json.loads(r)["where_recorded"].endswith(":cpu") for _, _, r in rows)
    assert import_scores(str(journal), str(first)) == 0


def test_skip_journal_and_shards_split_the_space_without_overlap(scored_journal, tmp_path):
    from snnbench.scorer import in_shard
    from snnbench.space import iter_cells
    journal, first = scored_journal
    order = [h for h, _ in iter_cells("fw")]
    rest = tmp_path / "rest.jsonl"
    r = _cli("score", "--space", "fw", "--limit", "3", "--protocol", "digits-cpu", "--skip-journal", str(journal),
             "--out", str(rest))
    assert r.returncode == 0, r.stderr
    assert _hashes(rest) == order[4:7]  # the journal's four are skipped, the order is kept
    shard = tmp_path / "shard.jsonl"
    r = _cli("score", "--space", "fw", "--limit", "3", "--protocol", "digits-cpu", "--shard", "2/3",
             "--skip-journal", str(journal), "--out", str(shard))
    assert r.returncode == 0, r.stderr
    got = _hashes(shard)
    assert got == [h for h in order if in_shard(h, (2, 3)) and h not in set(_hashes(first))][:3]
    # the shards of N partition the space
    for n in (1, 7, 64):
        owners = [sum(in_shard(h, (k, n)) for k in range(n)) for h in order]
        assert set(owners) == {1}


@pytest.mark.parametrize("extra, message", [
    (["--shard", "3/3"], "0 <= K < N"),
    (["--shard", "two/3"], "K/N"),
    (["--skip-journal", "no-such-journal.sqlite"], "does not exist"),
    (["--skip-journal", "SMALL"], "protocol"),
])
def test_bad_shard_or_journal_is_one_line_and_exit_2(extra, message, small_fw_table, tmp_path):
    extra = [str(Path(str(small_fw_table) + ".journal.sqlite")) if e == "SMALL" else e for e in extra]
    out = tmp_path / "x.jsonl"
    r = _cli("score", "--space", "fw", "--limit", "1", "--protocol", "digits-cpu", *extra, "--out", str(out))
    assert r.returncode == 2 and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not out.exists()


def test_recheck_reruns_recorded_scores_bit_identically(scored_journal, tmp_path):
    journal, _ = scored_journal
    report = tmp_path / "report.json"
    r = _cli("journal", "recheck", str(journal), "--host", "elsewhere", "--score", "2", "--train", "0",
             "--out", str(report))
    assert r.returncode == 0, r.stderr
    rep = json.loads(report.read_text())
    assert rep["summary"] == {"score": {"jobs": 2, "identical": 2}}
    assert all(f["max_abs_diff"] == 0.0 for job in rep["jobs"] for f in job["fields"].values())


def test_recheck_compare_finds_a_changed_curve():
    from snnbench.build.recheck import compare
    recorded = {"valid_acc": 90.0, "valid_acc_curve": [50.0, 90.0], "n_params": 10}
    same = compare("train", recorded, dict(recorded))
    assert all(f["identical"] for f in same.values())
    moved = compare("train", recorded, {**recorded, "valid_acc_curve": [50.0, 90.5]})
    assert not moved["valid_acc_curve"]["identical"] and moved["valid_acc_curve"]["max_abs_diff"] == 0.5
    assert moved["valid_acc"]["identical"]


def test_journal_snapshot_packs_and_unpacks_without_overwriting(scored_journal, tmp_path):
    from snnbench.journal import pack_journal, unpack_journal
    source, _ = scored_journal
    packed = pack_journal(source, tmp_path / "j.sqlite.xz")
    target = tmp_path / "restored.sqlite"
    assert unpack_journal(packed, target) is True
    rows = lambda p: sorted(sqlite3.connect(p).execute("SELECT kind, cell_hash, seed, result, where_ran FROM jobs"))
    assert rows(target) == rows(source) and len(rows(target)) == 4
    target.write_bytes(b"a journal being worked on")
    assert unpack_journal(packed, target) is False
    assert target.read_bytes() == b"a journal being worked on"


def test_skip_journal_reads_while_a_build_holds_the_write_lock(scored_journal):
    from snnbench.protocols import get_protocol
    from snnbench.scorer import scored_in_journal
    journal, first = scored_journal
    writer = sqlite3.connect(journal, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("BEGIN IMMEDIATE")  # a build recording a job
    try:
        assert scored_in_journal(journal, get_protocol("digits-cpu"), 0) == set(_hashes(first))
        assert scored_in_journal(journal, get_protocol("digits-cpu"), 1) == set()
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_journal_pack_and_unpack_commands_restore_the_journal_beside_the_snapshot(scored_journal, tmp_path):
    source, _ = scored_journal
    work = tmp_path / "work.sqlite"
    work.write_bytes(source.read_bytes())
    r = _cli("journal", "pack", str(work))
    assert r.returncode == 0, r.stderr
    work.unlink()
    r = _cli("journal", "unpack", str(work) + ".xz")
    assert r.returncode == 0 and r.stdout.startswith("unpacked"), r.stderr
    assert len(sqlite3.connect(work).execute("SELECT * FROM jobs").fetchall()) == 4
    again = _cli("journal", "unpack", str(work) + ".xz")
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_merge_adds_only_the_jobs_the_journal_lacks_and_refuses_another_protocol(scored_journal, tmp_path):
    from snnbench.build import Journal
    from snnbench.journal import merge_journals
    from snnbench.protocols import get_protocol
    source, first = scored_journal
    target = tmp_path / "target.sqlite"
    Journal(target, get_protocol("digits-cpu")).close()
    r = _cli("journal", "merge", str(target), str(source))
    assert r.returncode == 0 and r.stdout.strip() == "merged 4 new jobs", r.stderr
    assert merge_journals(target, source) == 0
    assert sorted(h for (h,) in sqlite3.connect(target).execute("SELECT cell_hash FROM jobs")) == sorted(_hashes(first))
    other = tmp_path / "other.sqlite"
    Journal(other, get_protocol("digits-cpu", epochs=3)).close()
    r = _cli("journal", "merge", str(other), str(source))
    assert r.returncode == 2 and "protocol" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_import_scores_command_refuses_another_protocols_scores(scored_journal, tmp_path):
    from snnbench.build import Journal
    from snnbench.protocols import get_protocol
    _, first = scored_journal
    other = tmp_path / "other.sqlite"
    Journal(other, get_protocol("digits-cpu", epochs=3)).close()
    r = _cli("journal", "import-scores", str(other), str(first))
    assert r.returncode == 2 and "protocol" in r.stderr
    assert sqlite3.connect(other).execute("SELECT count(*) FROM jobs").fetchone()[0] == 0


def test_journal_stats_counts_jobs_by_kind_and_machine(scored_journal):
    journal, _ = scored_journal
    r = _cli("journal", "stats", str(journal), "--json")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["jobs"] == {"score": 4} and stats["where"] == {"elsewhere:cpu": 4} and stats["failures"] == 0


def test_table_rewrite_writes_the_same_table_from_its_journal_with_the_label(small_fw_table, tmp_path):
    import snnbench
    from small_fw import copy_table
    table = copy_table(small_fw_table, tmp_path, "digits_fw.h5")
    r = _cli("table", "rewrite", str(table), "--label", "runners/digits.sh fw table")
    assert r.returncode == 0 and "complete" in r.stdout, r.stderr
    with snnbench.open(small_fw_table) as before, snnbench.open(table) as after:
        assert after.metadata["build"]["label"] == "runners/digits.sh fw table"
        assert after.to_dataframe().equals(before.to_dataframe())
    assert _cli("verify", str(table)).returncode == 0


def test_a_copy_without_some_jobs_lacks_exactly_those_and_leaves_the_source(scored_journal, tmp_path):
    from snnbench.journal import copy_without_jobs, journal_stats
    source, first = scored_journal
    gone = _hashes(first)[:2]
    copy = copy_without_jobs(source, tmp_path / "copy.sqlite", "score", gone)
    left = {h for (h,) in sqlite3.connect(copy).execute("SELECT cell_hash FROM jobs")}
    assert left == set(_hashes(first)) - set(gone)
    assert journal_stats(source)["jobs"] == {"score": 4}


def test_journal_stats_tells_running_builds_from_killed_ones(scored_journal, tmp_path):
    """A build that records nothing more because it was killed is 'stopped', one still alive 'running'
    (real processes: one holds a run open, the other is SIGKILLed while holding one)."""
    import os
    import shutil
    import signal
    journal = tmp_path / "j.sqlite"
    shutil.copy(scored_journal[0], journal)
    holder = ("import sys, time\nfrom snnbench.build import Journal\nfrom snnbench.protocols import get_protocol\n"
              "j = Journal(sys.argv[1], get_protocol('digits-cpu'))\nj.start_run('x.h5', 'local', 'test')\n"
              "print('started', flush=True)\ntime.sleep(600)\n")
    procs = [subprocess.Popen([sys.executable, "-c", holder, str(journal)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    try:
        for p in procs:
            line = p.stdout.readline().strip()
            assert line == "started", p.stderr.read() if p.poll() is not None or not line else line
        os.kill(procs[1].pid, signal.SIGKILL)
        procs[1].wait(timeout=30)
        r = _cli("journal", "stats", str(journal), "--json")
        assert r.returncode == 0, r.stderr
        stats = json.loads(r.stdout)
        assert (stats["runs_running"], stats["runs_stopped"]) == (1, 1)
        assert "1 running, 1 stopped without finishing" in _cli("journal", "stats", str(journal)).stdout
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=30)


def test_builds_opening_one_journal_at_the_same_moment_all_open_it(scored_journal, tmp_path):
    """Six processes open one journal together, record the dataset fingerprint and start a run (what
    every build does first): none may fail with 'database is locked' (a transaction that reads and then
    writes must take the write lock first, or SQLite refuses it at once when another writer got in)."""
    import shutil
    import time
    journal = tmp_path / "j.sqlite"
    shutil.copy(scored_journal[0], journal)
    opener = ("import sys, time\nfrom snnbench.build import Journal\nfrom snnbench.protocols import get_protocol\n"
              "time.sleep(float(sys.argv[2]) - time.time())\n"
              "j = Journal(sys.argv[1], get_protocol('digits-cpu'))\nj.check_fingerprint('f')\n"
              "j.finish_run(j.start_run('x.h5', 'local', 'test'))\n")
    start = time.time() + 3  # after every interpreter has started
    procs = [subprocess.Popen([sys.executable, "-c", opener, str(journal), str(start)], stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, "\n".join(errors)
    assert sqlite3.connect(journal).execute("SELECT count(*) FROM runs WHERE command='test' AND finished IS NOT NULL").fetchone()[0] == 6
