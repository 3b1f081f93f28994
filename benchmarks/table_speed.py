"""Speed and memory of reading a table: open, one query, a batch of lookups, to_dataframe.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive python benchmarks/table_speed.py --shipped
    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive python benchmarks/table_speed.py [--cells 100000] [--trained 2000]

--shipped measures the shipped tables (tables/digits-fw.h5, tables/digits-bw.h5 and the shipped view
over both, what snnbench.open() returns), each in a fresh process: one query, 100,000 lookups through
query_many, `h in bench`, and a cold `snnbench query <bw hash>` (with the space index cache empty
and warm). Targets (issue 16): one query < 1 ms, 100,000 lookups through query_many < 1 s.

Without --shipped it writes a synthetic bw table (real cells, real schema, random values: the reader's speed does not
depend on the values) with every cell scored and --trained cells trained for 3 seeds x 200 epochs,
then measures the reader in a fresh process. Targets (issue 5): open < 0.2 s, one query < 1 ms,
100,000 lookups < 1 s, memory after opening well under 100 MB. Results are printed as a table;
record them in benchmarks/RESULTS.md with the machine they ran on."""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def write_synthetic(path: Path, n_cells: int, n_trained: int, epochs: int = 200) -> None:
    from snnbench.protocols import get_protocol
    from snnbench.space import space_hashes
    from snnbench.table import assemble_columns, table_attrs, write_table
    rng = np.random.default_rng(0)
    hashes = sorted(space_hashes("bw"))[:n_cells]
    layers = {f"cell{c}.edge_ops.{i}_{j}.lif": 0.1 for c in (1, 2) for i in range(4) for j in range(4) if i != j}
    layers.update(lif1=0.1, lif2=0.1, lif3=0.1)
    scores = {(h, 0): {"hd": rng.normal(200, 30), "sahd": rng.normal(-50, 10), "sahd_eq9": rng.normal(300, 10),
                       "firing_rate": 0.1, "wall_time": 0.2, "n_params": 40000, "firing_rates": layers,
                       "where": "node1:gpu"} for h in hashes}
    trained = rng.choice(hashes, size=n_trained, replace=False)
    runs = {}
    for h in trained:
        for s in (0, 1, 2):
            curve = list(np.sort(rng.uniform(10, 90, epochs)))
            runs[(h, s)] = {"valid_acc": curve[-1], "test_acc": curve[-1] - 1, "train_time": 7000.0,
                            "firing_rate": 0.1, "sops": 1e6, "macs": 1e5, "energy_pj": 1e6, "epochs_run": epochs,
                            "diverged": False, "valid_acc_curve": curve, "train_acc": curve, "train_loss": curve,
                            "epoch_time": [35.0] * epochs, "n_params": 40000, "firing_rates": layers,
                            "where": "node2:gpu"}
    protocol = get_protocol("paper-cifar100", epochs=epochs)
    columns = assemble_columns(hashes, scores, runs, (0, 1, 2), (0,), epochs)
    attrs = table_attrs(space="bw", protocol=protocol, dataset_fingerprint="0" * 16, seeds=(0, 1, 2),
                        score_seeds=(0,), columns=columns, complete=True, selection={"mode": "synthetic"},
                        build={"executor": "benchmarks/table_speed.py"})
    write_table(path, columns, attrs)


def time_single_queries(bench):
    """(cells, trained cells, the generator, seconds of the first query, seconds of each of 399
    more): 400 single queries, half of trained cells, half of any cells, drawn with seed 1."""
    cells = bench.cells()
    trained = bench.cells(trained_only=True)
    rng = np.random.default_rng(1)
    probe = list(rng.choice(trained, 200)) + list(rng.choice(cells, 200))
    t0 = time.perf_counter()
    bench.query(probe[0])
    t_first = time.perf_counter() - t0
    times = []
    for h in probe[1:]:
        t0 = time.perf_counter()
        bench.query(h)
        times.append(time.perf_counter() - t0)
    return cells, trained, rng, t_first, times


def measure(path: str) -> dict:
    """Run in a fresh process: every number is from a cold start of the reader (imports excluded)."""
    import snnbench
    from snnbench.table import Bench  # noqa: F401  (imports are not part of opening)
    import pandas  # noqa: F401
    base = rss_mb()
    t0 = time.perf_counter()
    bench = snnbench.open(path)
    t_open = time.perf_counter() - t0
    mem_open = rss_mb() - base
    cells, trained, rng, t_first, times = time_single_queries(bench)
    lookups = np.array(rng.choice(cells, 100_000))
    t0 = time.perf_counter()
    rows = bench.index(lookups)
    t_batch = time.perf_counter() - t0
    assert (rows >= 0).all()
    t0 = time.perf_counter()
    df = bench.to_dataframe()
    t_df = time.perf_counter() - t0
    return {"cells": len(bench), "trained": len(trained), "open_s": t_open, "open_mb": mem_open,
            "first_query_ms": t_first * 1e3, "query_median_ms": float(np.median(times)) * 1e3,
            "query_p99_ms": float(np.percentile(times, 99)) * 1e3, "lookups_100k_s": t_batch,
            "to_dataframe_s": t_df, "rss_after_all_mb": rss_mb() - base, "df_rows": len(df)}


def measure_shipped(name: str) -> dict:
    """Run in a fresh process on a shipped table (name) or the shipped view (''): every number from
    a cold start of the reader, imports excluded. Code without query_many (older snnbench) is timed
    on 2,000 query() calls and scaled to 100,000."""
    import snnbench
    from snnbench.table import Bench  # noqa: F401
    import pandas  # noqa: F401
    base = rss_mb()
    cpu0, t0 = time.process_time(), time.perf_counter()
    bench = snnbench.open(name or None)
    t_open = time.perf_counter() - t0
    cells, trained, rng, t_first, times = time_single_queries(bench)
    lookups = [str(h) for h in rng.choice(cells, 100_000)]
    if hasattr(bench, "query_many"):
        t0 = time.perf_counter()
        frame = bench.query_many(lookups[:10])
        t_many_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        frame = bench.query_many(lookups)
        t_many = time.perf_counter() - t0
        assert len(frame) == len(lookups)
        how = "query_many"
    else:
        t0 = time.perf_counter()
        for h in lookups[:2000]:
            bench.query(h)
        t_many, t_many_first, how = (time.perf_counter() - t0) * 50, float("nan"), "2,000 query() x 50"
    inside = []
    for h in probe:
        t0 = time.perf_counter()
        _ = h in bench
        inside.append(time.perf_counter() - t0)
    return {"table": name or "shipped view", "cells": len(bench), "trained": len(trained), "open_s": t_open,
            "first_query_ms": t_first * 1e3, "query_median_ms": float(np.median(times)) * 1e3,
            "query_p99_ms": float(np.percentile(times, 99)) * 1e3, "many_first_s": t_many_first,
            "many_100k_s": t_many, "many_how": how, "in_median_us": float(np.median(inside)) * 1e6,
            "cpu_s": time.process_time() - cpu0, "rss_mb": rss_mb() - base}


def cold_cli_query(arch_hash: str, cache: str | None) -> tuple:
    """(wall s, CPU s of the child, peak RSS MB) of `snnbench query HASH` in a fresh process; cache:
    the space index cache folder ($SNNBENCH_CACHE_DIR; an empty one is a first run)."""
    import os
    env = dict(os.environ, **({"SNNBENCH_CACHE_DIR": cache} if cache else {}))
    child = ("import resource, runpy, sys, time\n"
             f"sys.argv = ['snnbench', 'query', {arch_hash!r}]\n"
             "try:\n    runpy.run_module('snnbench', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "r = resource.getrusage(resource.RUSAGE_SELF)\n"
             "print('RUSAGE', r.ru_utime + r.ru_stime, r.ru_maxrss / 1e3)\n")
    import snnbench
    source = Path(snnbench.__file__).resolve().parents[1]  # `python -c` imports from its folder first
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", child], env=env, check=True, capture_output=True, text=True,
                         cwd=source)
    wall = time.perf_counter() - t0
    cpu, peak = out.stdout.strip().splitlines()[-1].split()[1:]
    return wall, float(cpu), float(peak)


def main_shipped() -> None:
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, python {platform.python_version()}")
    with open("/proc/loadavg") as f:
        print(f"load average before measuring: {f.read().split()[0]} (2 cores shared; OMP_NUM_THREADS=1)")
    results = []
    for name in ("digits-fw", "digits-bw", ""):
        out = subprocess.run([sys.executable, __file__, "--measure-shipped", name], capture_output=True, text=True,
                             check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"  {'table':14s} {'open':>8s} {'1st query':>10s} {'query med/p99':>16s} {'100k lookups':>13s} "
          f"{'in (median)':>12s}  how")
    for r in results:
        print(f"  {r['table']:14s} {r['open_s'] * 1e3:6.1f}ms {r['first_query_ms']:8.2f}ms "
              f"{r['query_median_ms']:7.3f}/{r['query_p99_ms']:.3f}ms {r['many_100k_s']:11.3f} s "
              f"{r['in_median_us']:9.1f} us  {r['many_how']}")
    import snnbench
    with snnbench.open("digits-bw") as bw:
        arch_hash = bw.cells(trained_only=True)[0]
    with tempfile.TemporaryDirectory() as empty:
        for label, cache in (("empty index cache", empty), ("warm index cache", empty)):
            wall, cpu, peak = cold_cli_query(arch_hash, cache)
            print(f"  snnbench query {arch_hash} (bw cell, shipped view), {label}: {wall:.2f} s wall, "
                  f"{cpu:.2f} CPU-s, peak RSS {peak:.0f} MB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--trained", type=int, default=2000)
    parser.add_argument("--keep", help="write the synthetic table here (reused if it exists)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--measure-shipped", help=argparse.SUPPRESS)
    parser.add_argument("--shipped", action="store_true", help="measure the shipped tables instead")
    args = parser.parse_args()
    if args.measure_shipped is not None:
        print(json.dumps(measure_shipped(args.measure_shipped)))
        return
    if args.shipped:
        main_shipped()
        return
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "synthetic_bw.h5"
        t0 = time.perf_counter()
        if not path.exists():
            write_synthetic(path, args.cells, args.trained)
        t_write = time.perf_counter() - t0
        out = subprocess.run([sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        size = path.stat().st_size / 1e6
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"table: {r['cells']} cells, {r['trained']} trained x 3 seeds x 200 epochs, {size:.1f} MB, written in {t_write:.1f} s")
    with open("/proc/loadavg") as f:
        print(f"load average before measuring: {f.read().split()[0]} (2 cores shared; OMP_NUM_THREADS=1)")
    rows = [("open (metadata + hash index)", f"{r['open_s'] * 1e3:.1f} ms", "< 200 ms"),
            ("memory after open", f"{r['open_mb']:.1f} MB", "<< 100 MB"),
            ("first query", f"{r['first_query_ms']:.2f} ms", ""),
            ("one query, median / p99", f"{r['query_median_ms']:.3f} / {r['query_p99_ms']:.3f} ms", "< 1 ms"),
            ("100,000 lookups (bench.index)", f"{r['lookups_100k_s'] * 1e3:.1f} ms", "< 1 s"),
            ("to_dataframe (all cells)", f"{r['to_dataframe_s']:.2f} s", ""),
            ("memory after all of it", f"{r['rss_after_all_mb']:.1f} MB", "")]
    for name, value, target in rows:
        print(f"  {name:32s} {value:>22s}  {target}")


if __name__ == "__main__":
    main()
