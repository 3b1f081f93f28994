"""What a build costs beyond scoring: `snnbench build --score-all` against `snnbench score --all`.

Both commands score the same cells, one job per cell, in one single-thread process; the build also
records every job in its SQLite journal and rewrites its HDF5 table at checkpoints and at the end.
To see the checkpoint cost of a full-size table without scoring the whole space, the build starts
from a copy of the shipped scoring journal (every bw cell of digits-cpu under the authors' graph,
tables/digits-authors.journal.sqlite.xz) with the first K cells of the space (canonical order, the
cells `snnbench score --limit K` scores) taken out: it scores those K cells into a table of every
cell of the space, with a checkpoint every --checkpoint-jobs jobs as in the full build.

Four runs, each a fresh process timed after a warm-up both share (imports, the dataset, one score
job): score K cells; build with K cells left; each command again with nothing left (its fixed cost:
the cell list, the journal or score file, the final table). Each job
records its own wall time, and the build's table writes are timed, so a run's wall time splits into
jobs, table writes and the rest; on a machine shared with other work the jobs' time moves with the
load, so the full-space ratio takes one job time (the mean over both runs) for both commands:
fixed + N x (job + rest per job), plus N / C checkpoints for the build.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive python benchmarks/bench_build_overhead.py --cells 1000
    python benchmarks/bench_build_overhead.py --source /tmp/old-snnbench   # the same, for another tree
"""
from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import shutil
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
    from snnbench.journal import copy_without_jobs
    return copy_without_jobs(full, dest, "score", hashes)


# Runs one snnbench command in this process after a warm-up that both commands share (imports,
# the dataset, one score job of another cell: what the first job of a run pays besides its own time),
# timing the command; a build's table writes are timed by the build itself (`build --json`:
# write_seconds). The times go to $BENCH_TIMES (JSON).
TIMED_CLI = """
import contextlib, io, json, os, sys, time
from snnbench import cli
from snnbench.model.jobs import run_job
from snnbench.protocols import get_protocol
from snnbench.space import space_hashes
run_job("score", space_hashes("bw")[-1], get_protocol("digits-cpu").to_json(), 0, None, "cpu")
argv = sys.argv[1:] + (["--json"] if sys.argv[1] == "build" else [])
out = io.StringIO()
t0 = time.perf_counter()
try:
    with contextlib.redirect_stdout(out):
        cli.main(argv, prog_name="snnbench", standalone_mode=False)
finally:
    wall = time.perf_counter() - t0
    try:
        writes = json.loads(out.getvalue())["write_seconds"] if sys.argv[1] == "build" else []
    except ValueError:  # the command failed before its summary: its error is the one to see
        writes = []
    with open(os.environ["BENCH_TIMES"], "w") as f:
        json.dump({"wall": wall, "writes": writes}, f)
"""


def timed(command: list[str], source: Path, work: Path) -> tuple[float, list]:
    """Seconds of one snnbench command run from the source tree (after the warm-up), and the seconds
    of each of its table writes."""
    times = work / "times.json"
    times.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-c", TIMED_CLI, *command], cwd=source,
                          env=dict(os.environ, BENCH_TIMES=str(times)), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode != 0 or not times.exists():
        sys.exit(f"snnbench {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    measured = json.loads(times.read_text())
    return measured["wall"], measured["writes"]


def job_seconds_in_scores(path: Path) -> list:
    """The wall_time of every score job in a `snnbench score` JSONL file."""
    return [json.loads(line)["wall_time"] for line in path.read_text().splitlines() if line.strip()]


def job_seconds_in_journal(path: Path, hashes: list[str]) -> list:
    """The wall_time of the score jobs of `hashes` in a build journal."""
    from snnbench.journal import recorded_results
    wanted = set(hashes)
    return [job["result"]["wall_time"] for job in recorded_results(path, "score") if job["cell_hash"] in wanted]


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
    load = os.getloadavg()[0]
    runs = {"score": timed(score, source, work), "build": timed(build, source, work)}
    runs["score, nothing left"] = timed(score, source, work)
    runs["build, nothing left"] = timed(build, source, work)
    load_after = os.getloadavg()[0]
    k, c = args.cells, args.checkpoint_jobs
    jobs = {"score": job_seconds_in_scores(scores), "build": job_seconds_in_journal(journal, hashes)}
    assert len(jobs["score"]) == len(jobs["build"]) == k, "each command must have run the K jobs"
    print(f"machine: {machine()}; load average {load:.2f} before, {load_after:.2f} after")
    print(f"source: {source}; {args.space} space, {n_space} cells; K = {k}; build --checkpoint-jobs {c}\n")
    print("| run | wall (s) | jobs: K x mean (s) | table writes (s) | the rest: driver, startup (s) |")
    print("|---|---|---|---|---|")
    for name, (wall, writes) in runs.items():
        job_s = sum(jobs.get(name, []))
        shown = " + ".join(f"{w:.2f}" for w in writes) or "-"
        mean = f"{k} x {job_s / k:.4f}" if name in jobs else "0"
        print(f"| {name} | {wall:.1f} | {mean} | {shown} | {wall - job_s - sum(writes):.1f} |")
    # the job's own time (the same K cells in both) is taken from both runs alike; what each command
    # adds is its fixed cost (the run with nothing left) plus a per-job rest plus, for the build, one
    # checkpoint per C jobs
    job = (sum(jobs["score"]) + sum(jobs["build"])) / (2 * k)
    fixed = {name: runs[f"{name}, nothing left"][0] for name in ("score", "build")}
    # the build's first checkpoint reads the whole journal (once a build); the later ones what changed
    checkpoints = runs["build"][1][:-1]
    first, later = (checkpoints[0], checkpoints[1:]) if checkpoints else (0.0, [])
    checkpoint = sum(later) / len(later) if later else first
    rest = {"score": runs["score"][0] - sum(jobs["score"]) - fixed["score"],
            "build": runs["build"][0] - sum(jobs["build"]) - sum(checkpoints) - fixed["build"]}
    print(f"\none job {job:.4f} s; checkpoints of the {n_space:,}-cell table: the first {first:.2f} s, a later "
          f"one {checkpoint:.2f} s ({len(later)} measured); per job besides the job: score "
          f"{rest['score'] / k * 1000:.1f} ms, build {rest['build'] / k * 1000:.1f} ms")
    print(f"build / score, these {k} cells: {runs['build'][0] / runs['score'][0]:.3f}")
    whole = {name: fixed[name] + n_space * (job + rest[name] / k) for name in ("score", "build")}
    whole["build"] += first + (n_space // c - 1) * checkpoint
    print(f"build / score, the whole space ({n_space:,} jobs: fixed + N x (job + rest) + N / C checkpoints): "
          f"{whole['build'] / whole['score']:.3f} ({whole['build'] / 3600:.2f} h vs {whole['score'] / 3600:.2f} h)")

if __name__ == "__main__":
    main()
