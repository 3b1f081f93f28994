"""The build on a real local Ray instance: a worker killed in the middle of a task is replaced, the
task runs again, and the journal ends with every job exactly once."""
import json
import sqlite3
from collections import Counter

import pytest

ray = pytest.importorskip("ray")

import snnbench  # noqa: E402
from snnbench.build import KILL_ONCE_ENV, JOB_LOG_ENV, Build, BuildSpec  # noqa: E402
from snnbench.protocols import get_protocol  # noqa: E402
from snnbench.table import verify_table  # noqa: E402


@pytest.fixture
def local_ray(tmp_path, monkeypatch):
    """ray.init with 2 CPUs; workers inherit the fault-injection variables set before it starts."""
    monkeypatch.setenv(KILL_ONCE_ENV, str(tmp_path / "worker-killed"))
    monkeypatch.setenv(JOB_LOG_ENV, str(tmp_path / "jobs.log"))
    monkeypatch.setenv("RAY_DEDUP_LOGS", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield tmp_path
    finally:
        ray.shutdown()


def test_ray_worker_killed_mid_task_is_retried_and_nothing_is_lost_or_duplicated(local_ray):
    tmp_path = local_ray
    out = tmp_path / "ray.h5"
    spec = BuildSpec("fw", get_protocol("digits-cpu", epochs=1, width=8), out, sample=1, seeds=(0,), score_sample=3)
    expected = {(j.kind, j.cell_hash, j.seed) for j in spec.jobs()}
    assert len(expected) == 4

    summary = Build(spec, executor="ray", progress=False).run()

    assert (tmp_path / "worker-killed").exists()  # a worker did die in the middle of a task
    assert summary.complete and summary.jobs_failed == 0 and summary.jobs_run == 4
    starts = Counter(tuple(line.split()[:3]) for line in (tmp_path / "jobs.log").read_text().splitlines())
    assert sum(starts.values()) == 5 and sorted(starts.values()) == [1, 1, 1, 2]  # the killed task ran again
    conn = sqlite3.connect(str(out) + ".journal.sqlite")
    rows = conn.execute("SELECT kind, cell_hash, seed, result FROM jobs").fetchall()
    conn.close()
    assert len(rows) == 4 and {(k, h, s) for k, h, s, _ in rows} == expected
    assert {(k, h, str(s)) for k, h, s, _ in rows} == set(starts)
    assert verify_table(out) == []
    with snnbench.open(out) as bench:
        assert len(bench) == 3 and bench.cells(trained_only=True) == spec.selected_cells()
        assert bench.metadata["build"]["executor"] == "ray"
        for kind, h, seed, result in rows:
            if kind == "train":
                assert bench.query(h, seed=seed)["valid_acc"] == json.loads(result)["valid_acc"]
            else:
                assert bench.query(h)["hd"] == json.loads(result)["hd"]
