"""Measure how well a training protocol separates cells: train random cells with several seeds and
compare the spread across cells with the spread across seeds.

    python benchmarks/protocol_sweep.py --protocol digits-cpu --space fw --cells 20 --seeds 0 \
        --extra-seed-cells 4 --workers 2 --out runs/sweep-fw.jsonl [--set epochs=20 --set lr=0.05]
    python benchmarks/protocol_sweep.py --summarize runs/sweep-fw.jsonl

Cells are drawn uniformly from the unique cells of the space (seed --cell-seed). Every finished run
is appended to --out (JSONL), so a rerun skips what is done. Prints a table of spreads."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np


def _parse_set(items):
    out = {}
    for item in items or []:
        key, value = item.split("=", 1)
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        out[key] = value
    return out


def _work(args):
    cell_hash, protocol_json, seed, device, tag = args
    import torch
    torch.set_num_threads(1)
    from snnbench.model.jobs import run_job
    rec = run_job("train", cell_hash, protocol_json, seed, device=device)
    rec["tag"] = tag
    return rec


def summarize(path, tag=None):
    rows = [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]
    tags = sorted({r.get("tag", "") for r in rows}) if tag is None else [tag]
    from snnbench.space import Cell
    print(f"{'tag':28s} {'space':5s} {'cells':>5s} {'mean':>6s} {'arch sd':>7s} {'min':>6s} {'max':>6s} "
          f"{'seed sd':>7s} {'|d| seeds':>9s} {'n2':>3s} {'div':>3s} {'s/run':>6s}")
    for t in tags:
        for space in ("fw", "bw"):
            sel = [r for r in rows if r.get("tag", "") == t and Cell.from_hash(r["cell_hash"]).space == space]
            if not sel:
                continue
            by_cell = {}
            for r in sel:
                by_cell.setdefault(r["cell_hash"], {})[r["seed"]] = r
            first = np.array([min(v.items())[1]["valid_acc"] for v in by_cell.values()], dtype=float)
            pairs = [(v[sorted(v)[0]]["valid_acc"], v[sorted(v)[1]]["valid_acc"])
                     for v in by_cell.values() if len(v) >= 2]
            within = [np.std([x["valid_acc"] for x in v.values()], ddof=1) for v in by_cell.values() if len(v) >= 2]
            div = sum(r["diverged"] for r in sel)
            first = np.nan_to_num(first, nan=10.0)
            print(f"{t:28s} {space:5s} {len(by_cell):5d} {first.mean():6.2f} {first.std(ddof=1):7.2f} "
                  f"{first.min():6.2f} {first.max():6.2f} "
                  f"{(np.sqrt(np.mean(np.square(within))) if within else float('nan')):7.2f} "
                  f"{(np.mean([abs(a - b) for a, b in pairs]) if pairs else float('nan')):9.2f} {len(pairs):3d} {div:3d} "
                  f"{np.mean([r['train_time'] for r in sel]):6.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", default="digits-cpu")
    ap.add_argument("--set", action="append", help="protocol field override, e.g. epochs=20")
    ap.add_argument("--space", default="fw", help="fw, bw or fw,bw")
    ap.add_argument("--cells", type=int, default=20)
    ap.add_argument("--cell-seed", type=int, default=1)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--extra-seed-cells", type=int, default=4, help="cells also trained with seed 1")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--out")
    ap.add_argument("--summarize")
    a = ap.parse_args()
    if a.summarize:
        summarize(a.summarize)
        return
    from snnbench.protocols import get_protocol
    from snnbench.space import uniform_sample_hashes
    overrides = _parse_set(a.set)
    protocol = get_protocol(a.protocol, **overrides)
    tag = a.tag or (a.protocol + "".join(f",{k}={v}" for k, v in sorted(overrides.items())))
    cells = [h for space in a.space.split(",") for h in uniform_sample_hashes(space, a.cells, a.cell_seed)]
    seeds = [int(s) for s in a.seeds.split(",")]
    jobs = [(h, s) for s in seeds for h in cells] + [(h, 1) for h in cells[:a.extra_seed_cells] if 1 not in seeds]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        for l in out.read_text().splitlines():
            if l.strip():
                r = json.loads(l)
                if r.get("tag") == tag:
                    done.add((r["cell_hash"], r["seed"]))
    todo = [(h, protocol.to_json(), s, a.device, tag) for h, s in jobs if (h, s) not in done]
    print(f"{tag}: {len(todo)} runs to do, {len(done)} done", file=sys.stderr)
    from snnbench.files import append_records

    def show(r):
        print(f"{r['cell_hash']} seed {r['seed']}: valid {r['valid_acc']:.2f} test {r['test_acc']:.2f} "
              f"{r['train_time']:.0f}s", file=sys.stderr)

    append_records(out, todo, _work, workers=a.workers, on_record=show)  # spawned workers: CUDA-safe
    summarize(out, tag)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
