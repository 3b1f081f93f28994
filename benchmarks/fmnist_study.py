"""The Fashion-MNIST protocol study (issue 13): which CPU protocol makes cells rank?

For each variant (a protocol with fields overridden), train the same uniformly drawn fw and bw cells
with two seeds each and report what decides whether labels rank cells:

    spread     sd across cells of the cell mean (validation accuracy, %)
    seed sd    within-cell sd, sqrt(mean over cells of (a - b)^2 / 2)
    tau        Kendall tau between the two seeds' validation accuracies, with a bootstrap 95% interval
    tau top    the same over the better half of the cells (by their mean)
    sample se  validation-set sampling error sqrt(p (1 - p) / n_valid) at the mean accuracy
    cpu s/run  CPU-seconds of one training run (process time of the worker, one thread)

    python benchmarks/fmnist_study.py run --variant v16 --set input_size=16 --set train_size=10000 \
        --cells 16 --out benchmarks/fmnist_study.jsonl [--workers 2] [--seeds 0,1]
    python benchmarks/fmnist_study.py report benchmarks/fmnist_study.jsonl [--markdown]

Cells are drawn uniformly from each space (a draw from the bw space may be a forward-only cell, as
in the tables' samples); rows are grouped by the space a cell was drawn from. Every finished run is appended to --out (JSON lines, with the variant's protocol JSON), so a rerun
skips what is done and the report can always be redone from the file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr


def parse_overrides(items) -> dict:
    """["epochs=8", "lr=0.05", "augmentation=none"] -> {"epochs": 8, "lr": 0.05, ...}."""
    out = {}
    for item in items or []:
        key, _, text = item.partition("=")
        value: object = text
        for cast in (int, float):
            try:
                value = cast(text)
                break
            except ValueError:
                continue
        out[key] = value
    return out


def _train(args) -> dict:
    cell_hash, protocol_json, seed, variant, space = args
    import torch
    torch.set_num_threads(1)
    from snnbench.model.jobs import run_job
    start = time.process_time()
    record = run_job("train", cell_hash, protocol_json, seed, device="cpu")
    record.update(variant=variant, cpu_s=time.process_time() - start, protocol_json=protocol_json, drawn_from=space)
    return record


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(args) -> None:
    from snnbench.protocols import Protocol, get_protocol
    from snnbench.space import uniform_sample_hashes
    protocol = get_protocol(args.protocol, **parse_overrides(args.set))
    drawn = {space: uniform_sample_hashes(space, args.cells, args.cell_seed) for space in ("fw", "bw")}
    # fw and bw cells alternate, so that a study stopped half way has as many pairs of each
    cells = [(h, space) for pair in zip(drawn["fw"], drawn["bw"]) for h, space in zip(pair, ("fw", "bw"))]
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    done = {(r["cell_hash"], r["seed"]) for r in read_rows(out) if r["variant"] == args.variant}
    # the identity (hash), not the JSON text: fields added later at their defaults leave it alone.
    # test_every only says when the test set is evaluated (training and validation are the same), so
    # runs that differ in it alone are one variant; the study's early runs tested at the budgets only,
    # as test_every=0 does now (give it to keep the cost column comparable).
    identity = protocol.with_(test_every=None).hash
    for r in read_rows(out):
        if r["variant"] == args.variant and \
                Protocol.from_json(r["protocol_json"]).with_(test_every=None).hash != identity:
            sys.exit(f"variant {args.variant} in {out} was run with another protocol; choose a new name")
    # cell by cell, both seeds together: a study stopped half way has complete pairs to report
    todo = [(h, protocol.to_json(), s, args.variant, space) for h, space in cells for s in seeds if (h, s) not in done]
    print(f"{args.variant}: {len(todo)} runs to do, {len(done)} done ({protocol.hash})", file=sys.stderr)
    from snnbench.files import append_records

    def show(record):
        print(f"{args.variant} {record['cell_hash']} seed {record['seed']}: valid {record['valid_acc']:.2f} "
              f"{record['cpu_s']:.0f} cpu-s", file=sys.stderr)

    append_records(out, todo, _train, workers=args.workers, on_record=show)


def summarize_variant(rows: list[dict], n_valid: int) -> dict:
    """The study's numbers for one variant and space (rows: its runs)."""
    from snnbench.analysis import bootstrap_interval, kendall_tau, seeds_for_reliability
    by_cell: dict = {}
    for r in rows:
        by_cell.setdefault(r["cell_hash"], {})[r["seed"]] = r["valid_acc"] if not r["diverged"] else 10.0
    pairs = np.array([[v[s] for s in sorted(v)[:2]] for v in by_cell.values() if len(v) >= 2], dtype=float)
    cell_means = np.array([np.mean(list(v.values())) for v in by_cell.values()])
    out = {"cells": len(by_cell), "runs": len(rows), "cpu_s": float(np.mean([r["cpu_s"] for r in rows])),
           "diverged": int(sum(r["diverged"] for r in rows)), "mean": float(cell_means.mean()),
           "spread": float(cell_means.std(ddof=1)) if len(cell_means) > 1 else float("nan")}
    if len(pairs) < 4:
        return out
    means = pairs.mean(1)
    p = means.mean() / 100
    out.update(mean=float(means.mean()), spread=float(means.std(ddof=1)),
               seed_sd=float(np.sqrt(np.mean((pairs[:, 0] - pairs[:, 1]) ** 2) / 2)),
               sample_se=float(100 * np.sqrt(p * (1 - p) / n_valid)))
    out["tau"] = kendall_tau(pairs[:, 0], pairs[:, 1])
    out["tau_lo"], out["tau_hi"] = bootstrap_interval(pairs[:, 0], pairs[:, 1], kendall_tau, 1000, 0.95, 0)
    top = pairs[means >= np.median(means)]
    out["tau_top"] = kendall_tau(top[:, 0], top[:, 1])
    out["tau_top_lo"], out["tau_top_hi"] = bootstrap_interval(top[:, 0], top[:, 1], kendall_tau, 1000, 0.95, 0)
    out["spread_top"] = float(top.mean(1).std(ddof=1))
    out["seed_sd_top"] = float(np.sqrt(np.mean((top[:, 0] - top[:, 1]) ** 2) / 2))
    # reliability of one run: Pearson r between the seeds; of a mean over k seeds by Spearman-Brown,
    # k r / (1 + (k - 1) r); seeds_08: the fewest seeds whose mean reaches 0.8
    for key, seeds_key, part in (("r", "seeds_08", pairs), ("r_top", "seeds_08_top", top)):
        out[key] = float(pearsonr(part[:, 0], part[:, 1])[0])
        out[seeds_key] = seeds_for_reliability(out[key], 0.8)
    return out


def _describe(protocol_json: str) -> str:
    from snnbench.protocols import Protocol
    p = Protocol.from_json(protocol_json)
    return (f"side {p.input_size or 28}, n {p.train_size or 50000}, ep {p.epochs}, C {p.width}, "
            f"B {p.batch_size}, lr {p.lr:g}")


def _drawn_from(record: dict) -> str:
    """The space the cell was drawn from (a uniform draw from the bw space can be a forward-only
    cell); records of the first screening runs lack it: the cell's own space."""
    from snnbench.space import Cell
    return record.get("drawn_from") or Cell.from_hash(record["cell_hash"]).space


def report(args) -> None:
    rows = read_rows(Path(args.results))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    head = ("variant", "settings", "space", "cells", "mean", "spread", "seed sd", "tau [95%]", "spread top",
            "seed sd top", "tau top [95%]", "r (seeds for 0.8)", "r top (seeds for 0.8)", "sample se", "cpu s/run")
    lines = []
    for v in variants:
        sel = [r for r in rows if r["variant"] == v]
        n_valid = int(sel[0].get("n_valid", 10000))
        for space in ("fw", "bw", "all"):
            part = [r for r in sel if space == "all" or _drawn_from(r) == space]
            if not part:
                continue
            s = summarize_variant(part, n_valid)
            if "tau" not in s:
                lines.append((v, _describe(sel[0]["protocol_json"]), space, str(s["cells"]), f"{s['mean']:.1f}",
                              f"{s['spread']:.2f}", *["-"] * 8, f"{s['cpu_s']:.0f}"))
                continue
            lines.append((v, _describe(sel[0]["protocol_json"]), space, str(s["cells"]), f"{s['mean']:.1f}",
                           f"{s['spread']:.2f}", f"{s['seed_sd']:.2f}",
                           f"{s['tau']:.2f} [{s['tau_lo']:.2f}, {s['tau_hi']:.2f}]", f"{s['spread_top']:.2f}",
                           f"{s['seed_sd_top']:.2f}",
                           f"{s['tau_top']:.2f} [{s['tau_top_lo']:.2f}, {s['tau_top_hi']:.2f}]",
                           f"{s['r']:.2f} ({s['seeds_08']:.0f})", f"{s['r_top']:.2f} ({s['seeds_08_top']:.0f})",
                           f"{s['sample_se']:.2f}", f"{s['cpu_s']:.0f}"))
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for line in lines:
            print("| " + " | ".join(line) + " |")
        return
    widths = [max(len(x) for x in col) for col in zip(head, *lines)]
    for line in (head, *lines):
        print("  ".join(x.ljust(w) for x, w in zip(line, widths)))


def paired(args) -> None:
    """The variants on the cells that most of them trained (the screening's one-cell pair), the variants
    that trained all of those: per cell the accuracy of each seed, then the mean, the mean seed
    difference |d| and CPU-s per run."""
    rows = read_rows(Path(args.results))
    trained = {}
    for r in rows:
        trained.setdefault(r["variant"], set()).add(r["cell_hash"])
    count = {h: sum(h in c for c in trained.values()) for h in {r["cell_hash"] for r in rows}}
    common = {h for h, n in count.items() if n == max(count.values())}
    variants = [v for v in trained if common <= trained[v]]
    cells = sorted(common, key=lambda h: (_drawn_from(next(r for r in rows if r["cell_hash"] == h)), h))
    head = ("variant", "settings", *[f"{h} ({_drawn_from(next(r for r in rows if r['cell_hash'] == h))}) s0 / s1"
                                     for h in cells], "mean", "|d|", "cpu s/run")
    lines = []
    for v in variants:
        sel = [r for r in rows if r["variant"] == v and r["cell_hash"] in common]
        acc = {(r["cell_hash"], r["seed"]): (10.0 if r["diverged"] else r["valid_acc"]) for r in sel}
        per_cell = [" / ".join(f"{acc[(h, s)]:.2f}" for s in (0, 1) if (h, s) in acc) for h in cells]
        diffs = [abs(acc[(h, 0)] - acc[(h, 1)]) for h in cells if (h, 0) in acc and (h, 1) in acc]
        lines.append((v, _describe(sel[0]["protocol_json"]), *per_cell, f"{np.mean(list(acc.values())):.2f}",
                      f"{np.mean(diffs):.2f}" if diffs else "-", f"{np.mean([r['cpu_s'] for r in sel]):.0f}"))
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for line in lines:
        print("| " + " | ".join(line) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--variant", required=True)
    r.add_argument("--protocol", default="fmnist-cpu")
    r.add_argument("--set", action="append", help="protocol field override, e.g. epochs=8")
    r.add_argument("--cells", type=int, default=16, help="cells per space, drawn uniformly")
    r.add_argument("--cell-seed", type=int, default=13)
    r.add_argument("--seeds", default="0,1")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--out", default="benchmarks/fmnist_study.jsonl")
    p = sub.add_parser("report")
    p.add_argument("results")
    p.add_argument("--markdown", action="store_true")
    q = sub.add_parser("paired", help="every variant on the cells all of them trained")
    q.add_argument("results")
    args = ap.parse_args()
    {"run": run, "report": report, "paired": paired}[args.command](args)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    main()
