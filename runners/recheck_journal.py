"""Rerun finished jobs of a build journal on this machine and compare the results with the recorded
ones, field by field: do jobs reproduce across machines (and torch builds)?

    python runners/recheck_journal.py tables/digits.journal.sqlite --host vm --score 40 --train 1 --out report.json

Picks the first N score jobs and M training jobs (by cell hash) that ran on a host whose name starts
with --host, reruns each with snnbench.jobs.run_job on the CPU, and reports for every compared field
whether it is bit-identical and the largest absolute difference. Exit status 0 whatever it finds:
the report is the result."""
import argparse
import json
import platform
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FIELDS = {"score": ("hd", "sahd", "sahd_eq9", "n_params", "firing_rate"),
          "train": ("valid_acc", "test_acc", "train_acc", "train_loss", "valid_acc_curve", "n_params", "firing_rate")}


def _flat(value) -> list:
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def compare(kind: str, recorded: dict, rerun: dict) -> dict:
    """{field: {"identical": bool, "max_abs_diff": float}} over the fields both results hold."""
    out = {}
    for field in FIELDS[kind]:
        if field not in recorded or field not in rerun:
            continue
        a, b = _flat(recorded[field]), _flat(rerun[field])
        diff = max((abs(x - y) for x, y in zip(a, b)), default=0.0) if len(a) == len(b) else float("inf")
        out[field] = {"identical": a == b, "max_abs_diff": diff}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("journal")
    ap.add_argument("--host", default="vm", help="recheck jobs that ran on a host whose name starts with this")
    ap.add_argument("--score", type=int, default=40)
    ap.add_argument("--train", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch
    from snnbench.jobs import run_job, where
    con = sqlite3.connect(f"file:{args.journal}?mode=ro", uri=True)
    protocol_json = dict(con.execute("SELECT key, value FROM meta"))["protocol_json"]
    report = {"here": where("cpu"), "python": platform.python_version(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "jobs": []}
    for kind, n in (("score", args.score), ("train", args.train)):
        rows = con.execute("SELECT cell_hash, seed, result, where_ran FROM jobs WHERE kind=? AND where_ran LIKE ? "
                           "ORDER BY cell_hash, seed LIMIT ?", (kind, args.host + "%", n)).fetchall()
        for cell_hash, seed, result, where_ran in rows:
            rerun = run_job(kind, cell_hash, protocol_json, int(seed), device="cpu")
            fields = compare(kind, json.loads(result), rerun)
            report["jobs"].append({"kind": kind, "cell_hash": cell_hash, "seed": int(seed), "recorded_where": where_ran,
                                   "identical": all(f["identical"] for f in fields.values()), "fields": fields})
            print(kind, cell_hash, seed, "identical" if report["jobs"][-1]["identical"] else
                  "DIFFERS " + json.dumps({k: v["max_abs_diff"] for k, v in fields.items() if not v["identical"]}),
                  flush=True)
    summary = {}
    for job in report["jobs"]:
        s = summary.setdefault(job["kind"], {"jobs": 0, "identical": 0})
        s["jobs"] += 1
        s["identical"] += job["identical"]
    report["summary"] = summary
    print(json.dumps({"here": report["here"], "torch": report["torch"], "summary": summary}))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
