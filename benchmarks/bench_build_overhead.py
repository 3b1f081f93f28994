"""What a build costs beyond scoring: `snnbench build --score-all` against `snnbench score --all`.

Both commands score the same cells, one job per cell, in one single-thread process; the build also
records every job in its SQLite journal and rewrites its HDF5 table at checkpoints and at the end.
To see the checkpoint cost of a full-size table without scoring the whole space, the build starts
from a copy of the shipped scoring journal (every bw cell of digits-cpu under the authors' graph,
tables/digits-authors.journal.sqlite.xz) with the first K cells of the space (canonical order, the
cells `snnbench score --limit K` scores) taken out: it scores those K cells into a table of every
cell of the space, with a checkpoint every --checkpoint-jobs jobs as in the full build.

Four runs, each a fresh process (imports included): score K cells; build with K cells left; each
command again with nothing left (its fixed cost: startup, the cell list, the final table). A job's
cost is (wall - fixed) / K; the full-space ratio adds up fixed + N x per-job cost for both.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive python benchmarks/bench_build_overhead.py --cells 1000
    python benchmarks/bench_build_overhead.py --source /tmp/old-snnbench   # the same, for another tree
"""
from __future__ import annotations

import argparse
import lzma
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED_JOURNAL = REPO / "tables" / "digits-authors.journal.sqlite.xz"


def unpacked_journal(work: Path) -> Path:
    """The shipped scoring journal, decompressed once into the work folder."""
    path = work / "authors.journal.sqlite"
    if not path.exists():
        with lzma.open(SHIPPED_JOURNAL) as src, open(path.with_suffix(".part"), "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        path.with_suffix(".part").rename(path)
    return path


def first_cells(source: Path, space: str, k: int) -> tuple[int, list[str]]:
    """The number of cells of a space, and the hashes of its first k cells in canonical order (those
    `score --limit k` takes)."""
    code = (f"from itertools import islice\nfrom snnbench.space import iter_cells, summarize_space\n"
            f"print(summarize_space({space!r}).n_unique)\n"
            f"for h, _ in islice(iter_cells({space!r}), {k}): print(h)")
    out = subprocess.run([sys.executable, "-c", code], cwd=source, check=True, capture_output=True, text=True)
    n, *hashes = out.stdout.split()
    return int(n), hashes


def journal_without(full: Path, dest: Path, hashes: list[str]) -> Path:
    """A copy of the journal with the score jobs of `hashes` removed (the jobs the build will run)."""
    shutil.copyfile(full, dest)
    conn = sqlite3.connect(dest)
    try:
        conn.executemany("DELETE FROM jobs WHERE kind='score' AND cell_hash=?", [(h,) for h in hashes])
        conn.commit()
    finally:
        conn.close()
    return dest


def timed(command: list[str], source: Path) -> float:
    """Wall seconds of one command run as `python -m snnbench.cli ...` from the source tree."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "snnbench.cli", *command], cwd=source,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"snnbench {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return wall


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = f"{names[0]} x {len(names)}" if names else cpu
    except OSError:
        pass
    threads = ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY"))
    return f"{platform.node()}, {cpu}, Python {platform.python_version()}; {threads}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", default="bw", choices=["fw", "bw"])
    parser.add_argument("--cells", type=int, default=1000, help="K: cells scored by each command")
    parser.add_argument("--checkpoint-jobs", type=int, default=500, help="the build's --checkpoint-jobs")
    parser.add_argument("--source", type=Path, default=REPO, help="the snnbench source tree to run")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-build-overhead-"))
    work.mkdir(parents=True, exist_ok=True)
    source = args.source.resolve()
    full = unpacked_journal(work)
    n_space, hashes = first_cells(source, args.space, args.cells)
    journal = journal_without(full, work / "build.journal.sqlite", hashes)
    scores, table = work / "scores.jsonl", work / "table.h5"
    for path in (scores, table):
        path.unlink(missing_ok=True)
    score = ["score", "--space", args.space, "--dataset", "digits", "--limit", str(args.cells), "--device", "cpu",
             "--out", str(scores)]
    build = ["build", "--space", args.space, "--dataset", "digits", "--sample", "1", "--scores-only", "--score-all",
             "--workers", "1", "--device", "cpu", "--checkpoint-jobs", str(args.checkpoint_jobs), "--quiet",
             "--journal", str(journal), "--out", str(table)]
    # untimed: bring the imports and the dataset into the page cache, so that neither command pays it
    subprocess.run([sys.executable, "-c", "import snnbench.jobs as j; j._dataset('digits', None)"], cwd=source,
                   check=True)
    load = os.getloadavg()[0]
    walls = {"score": timed(score, source), "build": timed(build, source)}
    walls["score, nothing left"] = timed(score, source)
    walls["build, nothing left"] = timed(build, source)
    load_after = os.getloadavg()[0]
    k = args.cells
    per_job = {kind: (walls[kind] - walls[f"{kind}, nothing left"]) / k for kind in ("score", "build")}
    print(f"machine: {machine()}; load average {load:.2f} before, {load_after:.2f} after")
    print(f"source: {source}; {args.space} space, {n_space} cells; K = {k}; build --checkpoint-jobs "
          f"{args.checkpoint_jobs}\n")
    print("| run | jobs | wall (s) | per job (s) |\n|---|---|---|---|")
    for kind in ("score", "build"):
        print(f"| {kind} | {k} | {walls[kind]:.1f} | {per_job[kind]:.4f} |")
        print(f"| {kind}, nothing left (fixed cost) | 0 | {walls[f'{kind}, nothing left']:.1f} | |")
    print(f"\nbuild / score, these {k} cells: {walls['build'] / walls['score']:.3f}")
    whole = {kind: walls[f"{kind}, nothing left"] + n_space * per_job[kind] for kind in ("score", "build")}
    print(f"build / score, the whole space ({n_space} jobs, fixed + N x per job): "
          f"{whole['build'] / whole['score']:.3f} ({whole['build'] / 3600:.2f} h vs {whole['score'] / 3600:.2f} h)")


if __name__ == "__main__":
    main()
