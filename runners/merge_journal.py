"""Merge the finished jobs of another copy of a journal (e.g. one that ran on a lent machine) into a
build journal. Jobs already present are kept as they are; the other copy's runs are recorded too.

    python runners/merge_journal.py tables/digits.journal.sqlite /path/to/other.journal.sqlite
"""
import sqlite3
import sys


def merge(target: str, other: str) -> int:
    con = sqlite3.connect(target, timeout=60)
    con.execute("PRAGMA journal_mode=WAL")
    mine = dict(con.execute("SELECT key, value FROM meta"))
    theirs = dict(sqlite3.connect(other).execute("SELECT key, value FROM meta"))
    if mine.get("protocol_hash") != theirs.get("protocol_hash"):
        raise SystemExit(f"protocol mismatch: {mine.get('protocol_hash')} vs {theirs.get('protocol_hash')}")
    con.execute("ATTACH DATABASE ? AS other", (other,))
    with con:
        before = con.execute("SELECT count(*) FROM jobs").fetchone()[0]
        con.execute("INSERT OR IGNORE INTO jobs SELECT * FROM other.jobs")
        con.execute("INSERT OR IGNORE INTO runs SELECT * FROM other.runs")
        added = con.execute("SELECT count(*) FROM jobs").fetchone()[0] - before
    con.execute("DETACH DATABASE other")
    return added


if __name__ == "__main__":
    print(f"merged {merge(sys.argv[1], sys.argv[2])} new jobs")
