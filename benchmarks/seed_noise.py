"""Seed noise among the best cells of a shipped table: are its top cells really different?

The shipped tables train each cell with 2 seeds. This takes the N best cells of a table (by the mean
of its recorded seeds, validation accuracy) and trains them again with more seeds under the table's
own protocol, then asks:

- winner's curse: how far the top cells' recorded mean falls on fresh seeds;
- do the fresh seeds rank the top cells like the recorded ones (Kendall tau)?
- one-way ANOVA over all seeds: the sd of the true cell means among these cells (between-cell
  component) against the seed sd, its F test, and how many seeds a table needs for its mean to rank
  them with reliability 0.5 and 0.8.

Results go to a JSON-lines file, one line per finished run; rerunning skips what is there.

The same question for a table one is building is asked with library commands instead: `snnbench
table better TABLE --fraction F` chooses the best cells, `snnbench build ... --extend --extra-seeds
2,3 --extra-cells FILE` adds their runs to the table through its journal, and `snnbench correlate`
reports the better half's reliability from those seeds (analysis.seed_reliability). This script
stays for the study of the shipped digits tables, whose added runs live in its JSONL files.

    python benchmarks/seed_noise.py tables/digits-fw.h5 --top 20 --seeds 2,3,4,5 --workers 2 \\
        --out benchmarks/seed_noise-fw.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from scipy import stats

import snnbench
from snnbench.analysis import kendall_tau


def top_cells(table, n: int) -> tuple[list, dict, str]:
    """The n cells with every recorded seed and the highest mean validation accuracy, and
    {hash: {seed: (valid_acc, test_acc)}} of their recorded runs, and the table's protocol (JSON)."""
    with snnbench.open(table) as bench:
        df = bench.to_dataframe()
        seeds = list(bench.seeds)
        df = df[df["n_seeds"] == len(seeds)].sort_values("valid_acc", ascending=False).head(n)
        recorded = {h: {s: (float(r[f"valid_acc_s{s}"]), float(r[f"test_acc_s{s}"])) for s in seeds}
                    for h, r in zip(df["hash"], df.to_dict("records"))}
        return list(df["hash"]), recorded, bench.metadata["protocol_json"]


def read_results(path: Path) -> dict:
    """{(hash, seed): result line} of a results file (a missing file is empty)."""
    out = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[(r["cell_hash"], int(r["seed"]))] = r
    return out


def _train(job: tuple) -> dict:
    """One training run (cell hash, seed, protocol JSON) on one CPU thread; the fields the study keeps."""
    import torch
    from snnbench.model.jobs import run_job
    torch.set_num_threads(1)
    cell_hash, seed, protocol_json = job
    result = run_job("train", cell_hash, protocol_json, seed, device="cpu")
    return {k: result[k] for k in ("cell_hash", "seed", "valid_acc", "test_acc", "wall_time", "where", "threads",
                                   "torch", "protocol_hash")}


def train_missing(cells, seeds, protocol_json: str, out: Path, workers: int) -> None:
    """Train the runs `out` lacks, appending each record as it finishes (files.append_records, the
    scorer's resumable loop)."""
    from snnbench.files import append_records
    done = read_results(out)
    todo = [(h, s, protocol_json) for s in seeds for h in cells if (h, s) not in done]
    print(f"{len(done)} runs in {out}, {len(todo)} to train with {workers} single-thread workers")
    t0, finished = time.time(), [0]

    def show(record):
        finished[0] += 1
        print(f"  {finished[0]}/{len(todo)} {record['cell_hash']} seed {record['seed']}: valid "
              f"{record['valid_acc']:.2f} % ({record['wall_time']:.0f} s; {time.time() - t0:.0f} s in all)", flush=True)

    if todo:
        append_records(out, todo, _train, workers=workers, on_record=show)


def anova(values: np.ndarray) -> dict:
    """One-way random-effects ANOVA of a cells x seeds array (no missing values)."""
    n, k = values.shape
    means = values.mean(axis=1)
    within = values.var(axis=1, ddof=1).mean()          # seed variance, pooled over cells
    between = means.var(ddof=1)                          # variance of the k-seed means across cells
    f = between * k / within
    component = max(0.0, between - within / k)          # variance of the true cell means
    return {"cells": n, "seeds": k, "seed_sd": float(np.sqrt(within)), "mean_sd": float(np.sqrt(between)),
            "cell_sd": float(np.sqrt(component)), "F": float(f),
            "p": float(stats.f.sf(f, n - 1, n * (k - 1))),
            # a k-seed mean has reliability var_cell / (var_cell + within / k): the k for 0.5 and 0.8
            "seeds_for_0.5": float(within / component) if component > 0 else float("inf"),
            "seeds_for_0.8": float(4 * within / component) if component > 0 else float("inf")}


def report(table, cells, recorded, results, new_seeds) -> None:
    old_seeds = sorted(next(iter(recorded.values())))
    complete = [h for h in cells if all((h, s) in results for s in new_seeds)]
    print(f"\n{Path(table).name}: top {len(cells)} cells by the mean of seeds {old_seeds}; "
          f"{len(complete)} with every new seed {list(new_seeds)}")
    if len(complete) < 3:
        return
    for metric, i in (("valid_acc", 0), ("test_acc", 1)):
        old = np.array([[recorded[h][s][i] for s in old_seeds] for h in complete])
        new = np.array([[results[(h, s)][metric] for s in new_seeds] for h in complete])
        a = anova(np.hstack([old, new]))
        a_new = anova(new)
        print(f"  {metric}: recorded mean {old.mean():.2f} %, fresh-seed mean {new.mean():.2f} % "
              f"(winner's curse {old.mean() - new.mean():+.2f} points); range of cell means on fresh seeds "
              f"{new.mean(axis=1).min():.2f}-{new.mean(axis=1).max():.2f} %")
        print(f"    tau(recorded mean, fresh mean) {kendall_tau(old.mean(axis=1), new.mean(axis=1)):+.3f} "
              f"over {len(complete)} cells")
        # the recorded seeds chose these cells, so an ANOVA that includes them understates the
        # differences between cells (and overstates the seed noise); the fresh seeds are unbiased
        for name, r in ((f"fresh {a_new['seeds']} seeds", a_new),
                        (f"all {a['seeds']} seeds (biased: the recorded seeds chose the cells)", a)):
            print(f"    ANOVA on {name}: seed sd {r['seed_sd']:.2f}, sd of cell means {r['mean_sd']:.2f}, "
                  f"true cell sd {r['cell_sd']:.2f}; F {r['F']:.2f} (p {r['p']:.3g}); seeds for reliability "
                  f"0.5: {r['seeds_for_0.5']:.1f}, 0.8: {r['seeds_for_0.8']:.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--seeds", default="2,3,4,5", help="fresh training seeds (not the table's)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", required=True, help="JSON-lines results file (appended; resumable)")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    cells, recorded, protocol_json = top_cells(args.table, args.top)
    if set(seeds) & set(next(iter(recorded.values()))):
        ap.error("--seeds must not repeat the table's seeds")
    out = Path(args.out)
    print(f"{platform.node()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY')}")
    if not args.report_only:
        train_missing(cells, seeds, protocol_json, out, args.workers)
    report(args.table, cells, recorded, read_results(out), seeds)


if __name__ == "__main__":
    main()
