"""Table checkpoints during a build cost what changed since the previous write, not the table's size:
a checkpoint reads only the journal rows added since and reuses the cell columns of the build's first
write; the final write reads the whole journal again and writes the same table as a fresh writer."""
import lzma
import shutil
import sqlite3
from itertools import islice
from pathlib import Path

import h5py
import numpy as np
import pytest

from snnbench.build import Build, BuildSpec, Job, Journal, write_table_from_journal
from snnbench.protocols import get_protocol
from snnbench.space import iter_cells

SHIPPED_JOURNAL = Path(__file__).resolve().parents[2] / "tables" / "digits-authors.journal.sqlite.xz"
LEFT = 3  # score jobs left for the build to run


@pytest.fixture(scope="module")
def scored_journal(tmp_path_factory) -> Path:
    """The shipped scoring journal: every bw cell (fw cells included) scored under digits-cpu."""
    path = tmp_path_factory.mktemp("journal") / "authors.journal.sqlite"
    with lzma.open(SHIPPED_JOURNAL) as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return path


def build_the_last_cells(space: str, scored_journal: Path, folder: Path):
    """A scores-only build of every cell of `space` on a copy of the journal from which the first LEFT
    cells' scores were removed, with a checkpoint after every job. Returns (build, spec)."""
    journal = folder / f"{space}.journal.sqlite"
    shutil.copyfile(scored_journal, journal)
    left = [h for h, _ in islice(iter_cells(space), LEFT)]
    conn = sqlite3.connect(journal)
    with conn:
        conn.executemany("DELETE FROM jobs WHERE kind='score' AND cell_hash=?", [(h,) for h in left])
    conn.close()
    spec = BuildSpec(space, get_protocol("digits-cpu"), folder / f"{space}.h5", sample=1, scores_only=True,
                     score_all=True, journal=journal)
    build = Build(spec, device="cpu", checkpoint_jobs=1, progress=False)
    summary = build.run()
    assert summary.complete and summary.jobs_run == LEFT
    return build, spec


@pytest.mark.slow
def test_a_checkpoint_reads_only_the_new_journal_rows_whatever_the_table_size(scored_journal, tmp_path):
    cost = {}
    for space in ("fw", "bw"):  # 7,012 and 102,596 cells, from one journal of 102,633 rows
        build, spec = build_the_last_cells(space, scored_journal, tmp_path)
        first, *checkpoints, final = build.writes
        assert first.cells_described == len(spec.score_cells()) and not first.final
        assert final.final and final.cells_described == 0
        assert final.journal_rows_read == first.journal_rows_read + len(checkpoints)  # the whole journal
        cost[space] = [(c.journal_rows_read, c.cells_described) for c in checkpoints]
    assert cost["fw"] == cost["bw"] == [(1, 0)] * (LEFT - 1)  # one new row each, no cell described again


@pytest.mark.slow
def test_the_final_table_of_a_build_is_the_table_a_fresh_writer_makes(scored_journal, tmp_path):
    """The build's own table (cell columns reused, results read piecewise) equals, dataset by dataset,
    the table write_table_from_journal writes from the same journal in one go."""
    _, spec = build_the_last_cells("fw", scored_journal, tmp_path)
    fresh = tmp_path / "fresh.h5"
    assert write_table_from_journal(spec, fresh)
    with h5py.File(spec.out, "r") as built, h5py.File(fresh, "r") as again:
        names = []
        built.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        assert len(names) > 20
        for name in names:
            a, b = built[name][()], again[name][()]
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
        for key in built.attrs:
            if key not in ("created", "build"):
                assert np.array_equal(built.attrs[key], again.attrs[key]), key


def test_the_rows_after_a_mark_are_exactly_the_jobs_recorded_since(tmp_path):
    protocol = get_protocol("digits-cpu")
    journal = Journal(tmp_path / "j.journal.sqlite", protocol)
    try:
        run = journal.start_run(tmp_path / "t.h5", "local", "test")
        hashes = [h for h, _ in islice(iter_cells("fw"), 6)]
        jobs = [Job("score", h, 0) for h in hashes]

        def record(job, hd):
            journal.record(job, {"protocol_hash": protocol.hash, "cell_hash": job.cell_hash, "hd": hd, "sahd": 0.0,
                                 "sahd_eq9": 0.0, "firing_rate": 0.1, "wall_time": 0.1, "n_params": 1}, run)

        for k, job in enumerate(jobs[:3]):
            record(job, float(k))
        first, mark, n = journal.results_after(set(jobs[:5]))
        assert set(first) == set(jobs[:3]) and n == 3
        assert journal.results_after(set(jobs), mark) == ({}, mark, 0)  # nothing new
        for k, job in enumerate(jobs[3:], start=3):
            record(job, float(k))
        record(jobs[0], 99.0)  # a job recorded again is ignored: the journal keeps the first result
        new, after, n = journal.results_after(set(jobs[:5]), mark)
        assert set(new) == {jobs[3], jobs[4]} and n == 3 and after > mark  # jobs[5] is read, not wanted
        assert first | new == journal.results(jobs[:5])
        assert [r["hd"] for r in journal.results_after(set(jobs))[0].values()] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    finally:
        journal.close()
