"""The built-in NAS algorithms against the shipped tables at equal simulated cost (issue 16).

Each algorithm runs --runs times for --hours simulated hours on each table's own space, with the
harness's defaults (cost model: the median epoch time over seeds; incumbent: the best validation
accuracy the algorithm observed, explicit ties). Prints a markdown table: evaluations per run, how
many runs ended on a measured incumbent, validation and test regret (points, mean +- sd over runs,
with the standard error of the mean), and the test regret of a perfect validation search.

    python benchmarks/search_regret.py --hours 3 --runs 20 tables/digits-fw.h5 tables/digits-bw.h5
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np

import snnbench
from snnbench.search import ALGORITHMS, run_algorithm
from snnbench.search.harness import cost_noise, last_within_budget as _end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+")
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--algos", default=",".join(ALGORITHMS))
    args = parser.parse_args()
    print(f"machine: {platform.node()} ({platform.processor() or platform.machine()}), "
          f"{args.runs} runs, {args.hours:g} simulated hours\n")
    print("| table | space searched | algorithm | evals/run | measured | valid regret | test regret "
          "| found best-valid cell | wall s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    floors = []
    for path in args.tables:
        with snnbench.open(path) as bench:
            for algo in args.algos.split(","):
                start = time.time()
                result = run_algorithm(algo, bench, bench.space, args.hours * 3600, runs=args.runs, seed=0)
                f = result.final()
                hits = sum(_end(b) is not None and float(_end(b)["valid_regret"]) == 0 for b in result.runs)
                print(f"| {bench.path.name} | {f['effective_space']} | {f['algo']} | {f['evaluations']:.0f} "
                      f"| {f['n_measured']}/{f['runs']} | {_cell(f, 'valid_regret')} | {_cell(f, 'test_regret')} "
                      f"| {hits}/{f['runs']} | {time.time() - start:.0f} |", flush=True)
            noise = cost_noise(bench)
            floors.append(f"{bench.path.name}: best mean valid {f['reference_valid_acc']:.2f} %, best mean test "
                          f"{f['reference_test_acc']:.2f} %, perfect validation search: test regret "
                          f"{f['oracle_by_valid_regret']:.2f}; cost noise: seeds' times differ by a median factor "
                          f"{noise['seed_ratio_median']:.2f} (p90 {noise['seed_ratio_p90']:.2f}, max "
                          f"{noise['seed_ratio_max']:.1f}, tau {noise['seed_tau']:.2f}); a seed lies within a "
                          f"factor {noise['model_factor_median']:.2f} (median; p90 {noise['model_factor_p90']:.2f}) "
                          "of the cost model")
    print()
    for line in floors:
        print(line)


def _cell(final: dict, key: str) -> str:
    n = final["n_measured"]
    sem = final[f"{key}_std"] / np.sqrt(max(n - 1, 1))
    return f"{final[key]:.2f} +- {final[f'{key}_std']:.2f} (se {sem:.2f})"


if __name__ == "__main__":
    main()
