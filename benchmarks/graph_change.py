"""Issue 19: what the authors' graph changes in the digits-bw table.

Reads the old table (scores and accuracies under the first graph, 'skip-idle') and the scores of the
same cells under the authors' graph (a table, or the JSONL files of `snnbench score --space bw`), and
prints: how many cells' SAHD and HD changed and by how much, Kendall tau between old and new scores
(all cells, fw cells, bw cells), and tau of old and new scores against the old table's accuracy over
the trained cells (with bootstrap intervals and the seed-vs-seed ceiling).

    python benchmarks/graph_change.py tables/digits-bw-skip-idle.h5 runs/bw-authors-scores/*.jsonl
"""
import argparse
import sys

import numpy as np
import pandas as pd

from snnbench import analysis
from snnbench.scorer import read_score_records
from snnbench.table import open_table


def new_scores(sources) -> pd.DataFrame:
    """hash -> hd, sahd of the new graph, from tables or scoring JSONL files."""
    frames = []
    for src in sources:
        if src.endswith(".h5"):
            with open_table(src) as t:
                frames.append(t.to_dataframe()[["hash", "hd", "sahd"]])
        else:
            recs = list(read_score_records(src))
            frames.append(pd.DataFrame({"hash": [r["cell_hash"] for r in recs], "hd": [r["hd"] for r in recs],
                                        "sahd": [r["sahd"] for r in recs]}))
    return pd.concat(frames).drop_duplicates("hash")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old_table")
    ap.add_argument("new", nargs="+", help="tables or JSONL score files of the authors' graph")
    ap.add_argument("--boot", type=int, default=1000)
    a = ap.parse_args()
    with open_table(a.old_table) as t:
        old = t.to_dataframe()
    both = old.merge(new_scores(a.new), on="hash", suffixes=("_old", "_new"))
    print(f"cells with both scores: {len(both)} ({(both.space == 'fw').sum()} fw, {(both.space == 'bw').sum()} bw)")
    print("\n| cells | score | n | changed | median abs change (nats) | max abs change | tau old vs new |")
    print("|---|---|---|---|---|---|---|")
    for group, rows in (("fw", both[both.space == "fw"]), ("bw", both[both.space == "bw"]), ("all", both)):
        for score in ("sahd", "hd"):
            x, y = rows[f"{score}_old"].to_numpy(float), rows[f"{score}_new"].to_numpy(float)
            same = (x == y) | (np.isneginf(x) & np.isneginf(y))
            change = np.abs(y - x)[np.isfinite(x) & np.isfinite(y) & ~same]
            med = f"{np.median(change):.3f}" if len(change) else "-"
            big = f"{change.max():.3f}" if len(change) else "-"
            print(f"| {group} | {score} | {len(rows)} | {int((~same).sum())} | {med} | {big} | "
                  f"{analysis.kendall_tau(x, y):.4f} |")
    trained = analysis.trained_rows(both)
    print(f"\nScores against the old table's accuracy (mean over seeds), {len(trained)} trained cells:")
    print("| cells | target | score | tau old graph | tau authors' graph |")
    print("|---|---|---|---|---|")
    for group, rows in (("bw cells", trained[trained.space == "bw"]), ("all", trained)):
        for target in ("valid_acc", "test_acc"):
            for score in ("sahd", "hd"):
                cells = [analysis.correlate(rows[f"{score}_{g}"], rows[target], a.boot) for g in ("old", "new")]
                text = [f"{c['tau']:+.3f} [{c['tau_lo']:+.3f}, {c['tau_hi']:+.3f}]" for c in cells]
                print(f"| {group} ({len(rows)}) | {target} | {score} | {text[0]} | {text[1]} |")
    ceiling = analysis.noise_ceiling(old, "valid_acc", a.boot)
    row = ceiling[ceiling.space == "all"].head(1).to_dict("records")
    if row:
        print(f"\nseed-vs-seed ceiling (valid_acc, all trained cells): {row[0]['tau']:+.3f} "
              f"[{row[0]['tau_lo']:+.3f}, {row[0]['tau_hi']:+.3f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
