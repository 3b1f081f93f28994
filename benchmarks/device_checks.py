"""The checks of benchmarks/device_issue15.sh that are not a benchmark of their own; each prints one
JSON line.

    python benchmarks/device_checks.py env                       versions, GPU, the LIF implementation
    python benchmarks/device_checks.py score-rate JOURNAL [--workers N] [--started UNIX_TIME]
                                                                  scoring jobs in a build journal: cells/s
    python benchmarks/device_checks.py pack FILE...               aggregate of packed bench_train runs
    python benchmarks/device_checks.py ray-bind --data-dir DIR [--device cuda]
                                                                  which device Ray GPU tasks compute on
    python benchmarks/device_checks.py resume --data-dir DIR [--device cuda]
                                                                  a bf16 + device_augment run stopped after
                                                                  epoch 1 and resumed, against a whole one
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time


def cmd_env(_a) -> dict:
    import torch
    from importlib import metadata
    info = {"check": "env", "host": platform.node(), "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "cpus": os.cpu_count(), "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None}
    for name in ("spikingjelly", "ray", "h5py", "torchvision", "triton"):
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info[name] = None
    try:
        from snnbench.devices import lif_implementation
        info["lif_implementation"] = lif_implementation("cuda" if torch.cuda.is_available() else "cpu")
    except Exception as exc:  # the check reports, never stops the run
        info["lif_implementation"] = f"{type(exc).__name__}: {exc}"[:200]
    return info


def cmd_score_rate(a) -> dict:
    """Cells scored per second from a build journal: over the whole command (its wall time, given),
    and in steady state (between the first and the last job's finish time)."""
    if not os.path.exists(a.journal):
        return {"check": "score-rate", "workers": a.workers, "error": f"no journal {a.journal}: the build failed early (log.txt)"}
    from snnbench.journal import recorded_results
    jobs = sorted(recorded_results(a.journal, "score"), key=lambda job: job["finished"])
    done = [job["finished"] for job in jobs]
    results = [job["result"] for job in jobs]
    wall = None if a.started is None else round(time.time() - a.started, 2)
    out = {"check": "score-rate", "workers": a.workers, "scored": len(done), "wall_s": wall}
    if wall:
        out["cells_per_s_overall"] = round(len(done) / wall, 2)
    if len(done) >= 2 and done[-1] > done[0]:
        out["cells_per_s_steady"] = round((len(done) - 1) / (done[-1] - done[0]), 2)
    if results:
        out["job_wall_s_mean"] = round(sum(r.get("wall_time", 0.0) for r in results) / len(results), 4)
        for key in ("forward_s", "kernel_s"):
            if key in results[0]:
                out[f"{key}_mean"] = round(sum(r[key] for r in results) / len(results), 4)
        out["where"] = sorted({r.get("where", "?") for r in results})
        out["device_index"] = sorted({str(r.get("device_index")) for r in results})
    return out


def cmd_pack(a) -> dict:
    """Sum of the throughputs of bench_train runs that timed the same window on one GPU."""
    rows = []
    for path in a.files:
        if os.path.exists(path):
            with open(path) as f:
                rows += [json.loads(line) for line in f if line.strip()]
    return {"check": "pack", "processes": len(rows), "img_T_per_s_each": [r["img_T_per_s"] for r in rows],
            "img_T_per_s_total": round(sum(r["img_T_per_s"] for r in rows), 1),
            "variants": sorted({r["variant"] for r in rows}), "cells": sorted({r["cell"] for r in rows}),
            "windows_s": [round(r["s_per_step"] * r["steps"], 2) for r in rows]}


# ----------------------------------------------------------------------------- Ray
RAY_TASK = r'''
import json, os, sys, types
# What a Ray worker process looks like to a task: Ray sets CUDA_VISIBLE_DEVICES to the GPU ids it
# assigned (empty for a task without GPUs) before the task's code runs, and ray.get_gpu_ids()
# returns those ids. Only that much of Ray is stood in for; the task is snnbench's own.
ids = json.loads(sys.argv[1])
os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(ids)
sys.modules["ray"] = types.SimpleNamespace(get_gpu_ids=lambda: list(ids))
from snnbench.build import execute_ray_job
from snnbench.protocols import get_protocol
protocol = get_protocol("paper-cifar100", width=16, score_batch=64)
r = execute_ray_job("score", sys.argv[2], protocol.to_json(), 0, sys.argv[3], sys.argv[4])
print(json.dumps({k: r.get(k) for k in ("where", "device_index", "device_name", "lif_implementation")}))
'''


def _fake_ray_tasks(data_dir, device) -> list:
    """Tasks as Ray runs them (one fresh process each, as max_calls=1 gives): GPU '0' in full, four
    sharing GPU '0' at once (num_gpus 0.25 each), and one CPU task."""
    cell = "ecb7cd2184de4ce5"
    plans = [(["0"], device)] + [(["0"], device)] * 4 + [([], "cpu")]
    procs = [subprocess.Popen([sys.executable, "-c", RAY_TASK, json.dumps(ids), cell, data_dir, dev],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for ids, dev in plans]
    rows = []
    for (ids, dev), p in zip(plans, procs):
        out, err = p.communicate(timeout=240)
        row = {"gpu_ids": ids, "asked": dev, "rc": p.returncode}
        if p.returncode == 0:
            row.update(json.loads(out.strip().splitlines()[-1]))
        else:
            row["error"] = (err.strip().splitlines() or ["?"])[-1][:200]
        rows.append(row)
    return rows


def _real_ray_build(data_dir, device) -> dict:
    """A scores-only build through the Ray executor on a local Ray (this machine's GPUs)."""
    import tempfile
    out = os.path.join(tempfile.mkdtemp(), "ray.h5")
    cmd = [sys.executable, "-m", "snnbench.cli", "build", "--space", "bw", "--dataset", "cifar100", "--data-dir", data_dir,
           "--scores-only", "--sample", "6", "--width", "16", "--executor", "ray", "--device", device, "--quiet",
           "--out", out]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    journal = out + ".journal.sqlite"
    rows = []
    if os.path.exists(journal):
        from snnbench.journal import recorded_results
        rows = [job["result"] for job in recorded_results(journal)]
    return {"rc": run.returncode, "tail": run.stdout.strip().splitlines()[-1:] + run.stderr.strip().splitlines()[-2:],
            "tasks": [{k: r.get(k) for k in ("where", "device_index", "device_name")} for r in rows]}


def cmd_ray_bind(a) -> dict:
    try:
        import ray  # noqa: F401
        real = not a.fake
    except ImportError:
        real = False
    out = {"check": "ray-bind", "ray": "real" if real else "fake (Ray's binding stood in for)"}
    if real:
        out["build"] = _real_ray_build(a.data_dir, a.device)
    out["tasks"] = _fake_ray_tasks(a.data_dir, a.device)
    gpu_tasks = [t for t in out["tasks"] if t["gpu_ids"]]
    out["gpu_tasks_on_their_gpu"] = sum(t.get("device_index") == 0 and t.get("device_name") not in (None, "cpu")
                                        for t in gpu_tasks)
    out["gpu_tasks"] = len(gpu_tasks)
    return out


def cmd_resume(a) -> dict:
    """A training run under bf16 autocast and device-side augmentation (its generator on the GPU),
    stopped after epoch 1 and resumed from its checkpoint, against the same run uninterrupted. On the
    CPU the records are equal bit for bit; on a GPU kernels may differ in rounding from run to run."""
    import tempfile

    from snnbench.data import load_dataset
    from snnbench.protocols import get_protocol
    from snnbench.train import train_cell

    class Stop(Exception):
        pass

    def stop_after_first(record):
        if record.epochs_run == 1:
            raise Stop
    protocol = get_protocol("paper-cifar100", width=a.width, epochs=2, autocast=a.autocast, device_augment=True)
    data = load_dataset("cifar100", a.data_dir)
    cell = "0302 0030 3003 0000"
    whole = train_cell(cell, protocol, 0, data, device=a.device)
    folder = tempfile.mkdtemp()
    try:
        train_cell(cell, protocol, 0, data, device=a.device, checkpoint_dir=folder, on_epoch=stop_after_first)
    except Stop:
        pass
    resumed = train_cell(cell, protocol, 0, data, device=a.device, checkpoint_dir=folder)
    keys = ("train_loss", "train_acc", "valid_acc_curve", "test_acc", "firing_rate")
    return {"check": "resume", "device": whole.device, "protocol_hash": protocol.hash,
            "same_record": all(getattr(whole, k) == getattr(resumed, k) for k in keys),
            "whole": {k: getattr(whole, k) for k in keys}, "resumed": {k: getattr(resumed, k) for k in keys},
            "epoch_time_s": whole.epoch_time}


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("env")
    s = sub.add_parser("score-rate")
    s.add_argument("journal")
    s.add_argument("--workers", type=int, default=None)
    s.add_argument("--started", type=float, default=None, help="UNIX time the build command started")
    p = sub.add_parser("pack")
    p.add_argument("files", nargs="+")
    r = sub.add_parser("ray-bind")
    r.add_argument("--data-dir", required=True)
    r.add_argument("--device", default="cuda")
    r.add_argument("--fake", action="store_true", help="only the stand-in, even where Ray is installed")
    f = sub.add_parser("resume")
    f.add_argument("--data-dir", required=True)
    f.add_argument("--device", default="cuda")
    f.add_argument("--width", type=int, default=16)
    f.add_argument("--autocast", default="bf16", help="off on a CPU without bfloat16 units (slow there)")
    a = ap.parse_args()
    commands = {"env": cmd_env, "score-rate": cmd_score_rate, "pack": cmd_pack, "ray-bind": cmd_ray_bind,
                "resume": cmd_resume}
    print(json.dumps(commands[a.cmd](a)), flush=True)


if __name__ == "__main__":
    main()
