"""Device placement: a GPU asked for and not there is one line and exit 2 (never a CPU run); pool
workers are spread over the visible GPUs round-robin, each bound to its GPU before torch touches
CUDA; a Ray task computes on the GPU Ray gave it; every result records what it ran on."""
import json
import os
import sqlite3
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from snnbench import devices
from snnbench.model import lif_kernel
from snnbench.build import JOB_LOG_ENV, Build, BuildSpec, ProcessPoolExecutor
from snnbench.cli import main
from snnbench.errors import ConfigError, DeviceError, SnnbenchError
from snnbench.protocols import get_protocol
from snnbench.space import Cell
from snnbench.train import train_cell

REPO = Path(__file__).resolve().parents[2]
no_gpu_here = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


# ----------------------------------------------------------------------------- pure placement
def test_workers_go_round_robin_over_the_visible_gpus():
    assert devices.assign(5, ["0", "1"]) == ["0", "1", "0", "1", "0"]
    assert devices.assign(3, ["0", "1", "2", "3"]) == ["0", "1", "2"]
    assert devices.assign(4, ["GPU-a", "GPU-b"], per_gpu=2) == ["GPU-a", "GPU-b", "GPU-a", "GPU-b"]


def test_jobs_per_gpu_caps_the_workers_of_one_gpu_and_sets_their_default_number():
    with pytest.raises(DeviceError, match="more than `jobs_per_gpu` 2"):
        devices.assign(5, ["0", "1"], per_gpu=2)
    assert devices.worker_count(None, "cuda", 3, ["0", "1"]) == 6
    assert devices.worker_count(None, None, 2, ["0", "1", "2"]) == 6   # default device: the GPUs
    assert devices.worker_count(None, "cuda:1", 3, ["0", "1"]) == 3    # one GPU
    assert devices.worker_count(4, "cuda", 3, ["0", "1"]) == 4
    assert devices.worker_count(None, "cpu", None, []) == 1
    with pytest.raises(DeviceError, match="`jobs_per_gpu` is for a GPU device"):
        devices.worker_count(None, "cpu", 2, ["0"])
    with pytest.raises(DeviceError, match="`jobs_per_gpu` is for a GPU device"):
        devices.worker_count(None, None, 2, [])


def test_the_gpu_of_each_worker_follows_the_device_asked_for():
    assert devices.worker_gpus("cuda", 3, ["0", "1"]) == ["0", "1", "0"]
    assert devices.worker_gpus(None, 2, ["2", "5"]) == ["2", "5"]       # default: every visible GPU
    assert devices.worker_gpus("cuda:1", 3, ["2", "5"]) == ["5", "5", "5"]
    assert devices.worker_gpus("cpu", 2, ["0", "1"]) == [None, None]
    assert devices.worker_gpus(None, 2, []) == [None, None]             # no GPU: the CPU
    with pytest.raises(DeviceError, match="cuda:2: 2 GPU"):
        devices.worker_gpus("cuda:2", 1, ["0", "1"])
    with pytest.raises(DeviceError, match="no CUDA GPU is visible"):
        devices.worker_gpus("cuda", 2, [])


def test_a_gpu_that_is_not_there_is_a_device_error_never_the_cpu():
    assert issubclass(DeviceError, ConfigError) and issubclass(DeviceError, SnnbenchError)
    devices.check_device("cpu", n_gpus=0)
    devices.check_device(None, n_gpus=0)
    devices.check_device("cuda:1", n_gpus=2)
    for device in ("cuda", "cuda:0"):
        with pytest.raises(DeviceError, match="no CUDA GPU is visible here"):
            devices.check_device(device, n_gpus=0)
    with pytest.raises(DeviceError, match="cuda:2: 2 GPU.*cuda:0 to cuda:1"):
        devices.check_device("cuda:2", n_gpus=2)
    for bad in ("gpu", "cuda:x", "cpu:0", "mps", ""):
        with pytest.raises(DeviceError, match="is not a device"):
            devices.check_device(bad, n_gpus=2)


def test_the_recorded_gpu_id_is_the_one_cuda_visible_devices_names(monkeypatch):
    monkeypatch.delenv(devices.CUDA_VISIBLE, raising=False)
    assert devices.gpu_id("cuda:1") == 1 and devices.gpu_id("cpu") is None
    monkeypatch.setenv(devices.CUDA_VISIBLE, "2,3")
    assert devices.gpu_id("cuda:0") == 2 and devices.gpu_id("cuda:1") == 3
    monkeypatch.setenv(devices.CUDA_VISIBLE, "GPU-5d1c")
    assert devices.gpu_id("cuda:0") == "GPU-5d1c"


def test_ray_tasks_request_a_gpu_share_only_for_a_gpu_device():
    assert devices.ray_gpu_share("train", None, 2) == 1 and devices.ray_gpu_share("score", None, 2) == 0.25
    assert devices.ray_gpu_share("train", "cuda", 2, per_gpu=4) == 0.25
    assert devices.ray_gpu_share("score", "cuda", 2, per_gpu=8) == 0.125
    assert devices.ray_gpu_share("train", "cpu", 2) == 0      # a CPU build holds no GPU
    assert devices.ray_gpu_share("train", None, 0) == 0       # a cluster without GPUs: the CPU
    with pytest.raises(DeviceError, match="advertises no GPU"):
        devices.ray_gpu_share("train", "cuda", 0)
    with pytest.raises(DeviceError, match="use `device` cuda"):
        devices.ray_gpu_share("train", "cuda:1", 2)


# ----------------------------------------------------------------------------- library and CLI
@no_gpu_here
def test_train_cell_on_a_missing_gpu_raises_device_error():
    with pytest.raises(DeviceError, match="`device` cuda: no CUDA GPU"):
        train_cell(Cell.from_text("0303 0030 0003 0000"), get_protocol("digits-cpu", epochs=1), device="cuda")


def _snnbench(*args, env=None):
    full_env = dict(os.environ, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="", **(env or {}))
    return subprocess.run([sys.executable, "-m", "snnbench", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_build_with_device_cuda_and_no_visible_gpu_is_one_line_and_exit_2(tmp_path):
    out = tmp_path / "t.h5"
    r = _snnbench("build", "--space", "fw", "--dataset", "digits", "--sample", "1", "--seeds", "0",
                  "--device", "cuda", "--quiet", "--out", str(out))
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == ["error: --device cuda: no CUDA GPU is visible here "
                                     "(CUDA_VISIBLE_DEVICES is empty); use --device cpu"]
    assert not out.exists() and not Path(str(out) + ".journal.sqlite").exists()


def test_score_on_a_gpu_index_that_is_not_there_is_one_line_and_exit_2():
    r = _snnbench("score", "0302 0030 3003 0000", "--device", "cuda:3")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert r.stderr.startswith("error: --device cuda:3: no CUDA GPU is visible here")


@no_gpu_here
@pytest.mark.parametrize("args", [
    ["build", "--space", "fw", "--dataset", "digits", "--sample", "1", "--jobs-per-gpu", "2", "--out", "{tmp}/t.h5"],
    ["build", "--space", "fw", "--dataset", "digits", "--sample", "1", "--workers", "2", "--device", "cuda:0",
     "--out", "{tmp}/t.h5"],
    ["search", "{tmp}/none.h5", "--device", "cuda"],
])
def test_every_command_that_takes_a_gpu_refuses_a_missing_one(tmp_path, args):
    r = CliRunner().invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert r.exit_code == 2 and r.stderr.startswith("error: --") and len(r.stderr.splitlines()) == 1
    assert "GPU" in r.stderr and not (tmp_path / "t.h5").exists()


# ----------------------------------------------------------------------------- pool workers
def report_binding_after(seconds: float) -> dict:
    """Run in a pool worker: where a cuda job of this worker computes, held long enough that every
    worker of the pool takes one call."""
    time.sleep(seconds)
    device = devices.job_device("cuda")
    return {"pid": os.getpid(), "device": device, "gpu_id": devices.gpu_id(device),
            "visible": os.environ.get(devices.CUDA_VISIBLE), "cuda_initialised": torch.cuda.is_initialized()}


def test_each_pool_worker_binds_to_its_own_gpu_before_torch_touches_cuda():
    executor = ProcessPoolExecutor(2, device="cuda", gpu_plan=devices.worker_gpus("cuda", 2, ["3", "7"]))
    try:
        futures = [executor._pool.submit(report_binding_after, 3.0) for _ in range(2)]
        reports = [f.result(timeout=120) for f in futures]
    finally:
        executor.close()
    assert len({r["pid"] for r in reports}) == 2
    assert sorted((r["visible"], r["gpu_id"]) for r in reports) == [("3", 3), ("7", 7)]
    assert all(r["device"] == "cuda:0" and not r["cuda_initialised"] for r in reports)


def test_every_result_records_the_device_and_software_it_ran_on(tmp_path):
    spec = BuildSpec("fw", get_protocol("digits-cpu"), tmp_path / "t.h5", sample=2, scores_only=True)
    summary = Build(spec, workers=2, device="cpu", progress=False).run()  # in a pool of two workers
    assert summary.complete
    conn = sqlite3.connect(spec.journal_path)
    results = [json.loads(r) for (r,) in conn.execute("SELECT result FROM jobs")]
    conn.close()
    assert len(results) == 2
    for r in results:
        assert r["device_index"] is None and r["device_name"] == "cpu" and r["cuda"] is None
        assert r["torch"] == torch.__version__ and r["spikingjelly"] == metadata.version("spikingjelly")
        assert r["lif_implementation"] == ("snnbench-c-cpu" if lif_kernel.available() else "snnbench-fused-cpu")
        assert r["where"].endswith(":cpu")


# ----------------------------------------------------------------------------- Ray
@pytest.fixture(scope="module")
def ray_with_two_fake_gpus(tmp_path_factory):
    """A local Ray that advertises two GPUs this machine may not have: tasks that ask for one get a
    GPU id and CUDA_VISIBLE_DEVICES, and must not touch CUDA."""
    ray = pytest.importorskip("ray")
    log = tmp_path_factory.mktemp("ray") / "jobs.log"
    previous = os.environ.get(JOB_LOG_ENV)
    os.environ[JOB_LOG_ENV] = str(log)  # the workers inherit it
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray, log
    finally:
        ray.shutdown()
        if previous is None:
            os.environ.pop(JOB_LOG_ENV, None)
        else:
            os.environ[JOB_LOG_ENV] = previous


def test_a_ray_task_computes_on_the_gpu_ray_gave_it_without_initialising_cuda(ray_with_two_fake_gpus):
    ray, _ = ray_with_two_fake_gpus

    def bind_and_report():
        import torch as task_torch
        from snnbench import devices as task_devices
        device = task_devices.bind_ray_gpu()
        time.sleep(2.0)  # both tasks hold their GPU at once
        return {"ray_ids": ray.get_gpu_ids(), "device": device, "gpu_id": task_devices.gpu_id(device),
                "visible": os.environ.get("CUDA_VISIBLE_DEVICES"), "job_device": task_devices.job_device(None),
                "cuda_initialised": task_torch.cuda.is_initialized()}

    task = ray.remote(num_gpus=1)(bind_and_report)
    reports = ray.get([task.remote(), task.remote()])
    assert sorted(r["gpu_id"] for r in reports) == [0, 1]
    for r in reports:
        assert r["ray_ids"] == [r["gpu_id"]] and r["visible"] == str(r["gpu_id"])
        assert r["device"] == r["job_device"] == "cuda:0" and not r["cuda_initialised"]


def test_a_ray_gpu_task_runs_in_a_fresh_process_and_never_falls_back_to_the_cpu(ray_with_two_fake_gpus):
    from snnbench.build import Job, RayExecutor
    ray, log = ray_with_two_fake_gpus
    executor = RayExecutor(device=None)
    assert executor._options("train")["num_gpus"] == 1 and executor._options("score")["num_gpus"] == 0.25
    assert RayExecutor(device="cpu")._options("train")["num_gpus"] == 0
    protocol_json = get_protocol("digits-cpu", epochs=1).to_json()
    cell = Cell.from_text("0303 0030 0003 0000").hash
    errors = []
    for seed in (0, 1):  # one after the other: a reused worker would take the second
        executor.submit(Job("score", cell, seed), protocol_json)
        while executor.in_flight:
            errors += [error for _, _, error in executor.wait(timeout=60)]
    pids = [line.split()[3] for line in log.read_text().splitlines() if line.startswith("score")]
    assert len(pids) == 2 and pids[0] != pids[1]
    # the fake GPU is not there: the task says so instead of scoring on the CPU
    assert len(errors) == 2 and all(e.startswith("DeviceError: `device` cuda:0: no CUDA GPU") for e in errors)


def test_a_cpu_build_on_a_cluster_with_gpus_runs_and_records_the_cpu(ray_with_two_fake_gpus, tmp_path):
    spec = BuildSpec("fw", get_protocol("digits-cpu", epochs=2, width=4, batch_size=64, timesteps=3),
                     tmp_path / "ray.h5", sample=1, seeds=(0,), score_sample=1)
    summary = Build(spec, executor="ray", device="cpu", progress=False).run()
    assert summary.complete and summary.jobs_failed == 0
    conn = sqlite3.connect(spec.journal_path)
    results = [json.loads(r) for (r,) in conn.execute("SELECT result FROM jobs")]
    conn.close()
    assert {r["kind"] for r in results} == {"score", "train"}
    assert all(r["device_name"] == "cpu" and r["device_index"] is None and r["cuda"] is None for r in results)
    assert not (tmp_path / "ray.h5.journal.checkpoints").exists()
