"""Record the scores of a `snnbench score --space S --all --out FILE.jsonl` run as finished score
jobs of a build journal, so that `snnbench build ... --score-all` does not score those cells again.

Both run the same function (snnbench.jobs.run_job('score', ...)) with the same protocol and seed;
lines of another protocol are refused, jobs already in the journal are kept as they are.

    python runners/import_scores.py tables/digits.journal.sqlite runs/fw-scores.jsonl [--where HOST:DEVICE]

--where relabels where the jobs ran, for lines written on a machine whose host name says nothing
(a lent machine that calls itself like ours); the label recorded by the scorer is kept as where_recorded.
"""
import argparse
import json
import sqlite3
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from snnbench.scorer import read_score_records  # noqa: E402


def import_scores(journal: str, jsonl: str, where: str | None = None) -> int:
    con = sqlite3.connect(journal, timeout=60)
    protocol_hash = dict(con.execute("SELECT key, value FROM meta"))["protocol_hash"]
    run_id = f"import-{uuid.uuid4().hex[:12]}"
    rows, hosts = [], {}
    for r in read_score_records(jsonl):
        if r["kind"] != "score" or r["protocol_hash"] != protocol_hash:
            raise SystemExit(f"{jsonl}: a line of protocol {r['protocol_hash']}, the journal holds {protocol_hash}")
        if where:
            r["where_recorded"], r["where"] = r["where"], where
        hosts[r["where"]] = hosts.get(r["where"], 0) + 1
        rows.append(("score", r["cell_hash"], protocol_hash, int(r["seed"]), json.dumps(r), r["where"], run_id,
                     time.time()))
    with con:
        before = con.execute("SELECT count(*) FROM jobs").fetchone()[0]
        con.executemany("INSERT OR IGNORE INTO jobs (kind, cell_hash, protocol_hash, seed, result, where_ran, run_id, "
                        "finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        added = con.execute("SELECT count(*) FROM jobs").fetchone()[0] - before
        con.execute("INSERT INTO runs (run_id, pid, host, started, heartbeat, finished, out, executor, command, jobs_run) "
                    "VALUES (?, 0, ?, ?, ?, ?, ?, 'snnbench score', ?, ?)",
                    (run_id, ",".join(sorted(hosts)), time.time(), time.time(), time.time(), jsonl,
                     f"snnbench score (imported from {jsonl})", added))
    return added


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("journal")
    ap.add_argument("jsonl")
    ap.add_argument("--where", default=None, help="record the jobs as run on HOST:DEVICE")
    args = ap.parse_args()
    print(f"imported {import_scores(args.journal, args.jsonl, args.where)} score jobs")
