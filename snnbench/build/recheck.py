"""Rerunning recorded jobs of a journal on this machine and comparing the results with the recorded
ones, field by field: do jobs reproduce across machines and torch builds?"""
from __future__ import annotations

import platform

from ..journal import read_meta, recorded_results

FIELDS = {"score": ("hd", "sahd", "sahd_eq9", "n_params", "firing_rate"),
          "train": ("valid_acc", "test_acc", "train_acc", "train_loss", "valid_acc_curve", "n_params", "firing_rate")}


def _flat(value) -> list:
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def compare(kind: str, recorded: dict, rerun: dict) -> dict:
    """{field: {"identical": bool, "max_abs_diff": float}} over the fields of FIELDS[kind] both results hold."""
    out = {}
    for name in FIELDS[kind]:
        if name not in recorded or name not in rerun:
            continue
        a, b = _flat(recorded[name]), _flat(rerun[name])
        diff = max((abs(x - y) for x, y in zip(a, b)), default=0.0) if len(a) == len(b) else float("inf")
        out[name] = {"identical": a == b, "max_abs_diff": diff}
    return out


def recheck_journal(path, where_prefix: str = "", n_score: int = 40, n_train: int = 1, progress=None) -> dict:
    """Rerun on this machine's CPU the first n_score score jobs and n_train training jobs (by cell hash)
    that ran where `where` starts with where_prefix, and compare each with its record. progress: called
    with each job's report as it is made. Returns {"here", "python", "torch", "threads", "jobs": [...],
    "summary": {kind: {"jobs", "identical"}}}."""
    import torch

    from ..model.jobs import run_job, where
    protocol_json = read_meta(path)["protocol_json"]
    report = {"here": where("cpu"), "python": platform.python_version(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "jobs": []}
    for kind, n in (("score", n_score), ("train", n_train)):
        for job in recorded_results(path, kind, where_prefix, n):
            rerun = run_job(kind, job["cell_hash"], protocol_json, job["seed"], device="cpu")
            fields = compare(kind, job["result"], rerun)
            entry = {"kind": kind, "cell_hash": job["cell_hash"], "seed": job["seed"], "recorded_where": job["where"],
                     "identical": all(f["identical"] for f in fields.values()), "fields": fields}
            report["jobs"].append(entry)
            if progress is not None:
                progress(entry)
    summary = {}
    for job in report["jobs"]:
        s = summary.setdefault(job["kind"], {"jobs": 0, "identical": 0})
        s["jobs"] += 1
        s["identical"] += job["identical"]
    report["summary"] = summary
    return report
