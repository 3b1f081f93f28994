"""What a build will cost, before it runs (`snnbench build ... --dry-run`): its jobs, and their time
measured on this machine by a short calibration (docs/paper-scale-build.md).

The model, in seconds:

    training job = epochs x (steps_per_epoch x step_s + valid_batches x eval_batch_s)
                   + test_passes x test_batches x eval_batch_s
    device time  = score jobs left x score_s + training jobs left x training job
    wall time    = device time / workers

test_passes: the epochs that evaluate the test split (train.epochs_with_test: every epoch by default,
the named budgets only under test_every=0).

step_s is one training step (forward, BPTT backward and SGD update of one batch of the protocol's
batch size), eval_batch_s one evaluation batch of EVAL_BATCH images, score_s one score job; all three
are measured here, on the build's device, with the threads a worker of the build would use.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace

EVAL_BATCH = 256  # images per forward pass when train.evaluate measures an accuracy (its default)


@dataclass(frozen=True)
class JobCounts:
    """The jobs of a build: score and training jobs in all, and how many of each the journal holds."""
    score: int
    train: int
    done_score: int
    done_train: int

    @property
    def left_score(self) -> int:
        return self.score - self.done_score

    @property
    def left_train(self) -> int:
        return self.train - self.done_train

    def line(self) -> str:
        return (f"jobs: {self.score + self.train:,} = {self.score:,} score + {self.train:,} training; "
                f"in the journal already: {self.done_score:,} score + {self.done_train:,} training; "
                f"left to run: {self.left_score:,} score + {self.left_train:,} training")


def job_counts(spec, done=frozenset()) -> JobCounts:
    """Count the jobs of a BuildSpec, and those of them among `done` (finished jobs of the journal)."""
    jobs = spec.jobs()
    finished = [j for j in jobs if j in done]
    return JobCounts(sum(j.kind == "score" for j in jobs), sum(j.kind == "train" for j in jobs),
                     sum(j.kind == "score" for j in finished), sum(j.kind == "train" for j in finished))


@dataclass(frozen=True)
class Calibration:
    """Seconds measured on this machine for one protocol: score_s per score job (the mean over
    score_cells), step_s per training step and eval_batch_s per evaluation batch of EVAL_BATCH images
    (of the cell train_cell; nan when nothing was measured), on `device` with `threads` torch threads."""
    score_s: float
    step_s: float
    eval_batch_s: float
    device: str
    threads: int
    score_cells: tuple = ()
    train_cell: str | None = None
    train_steps: int = 0

    def line(self) -> str:
        parts = [f"calibration on {self.device} ({self.threads} thread{'s' if self.threads != 1 else ''})"]
        if self.score_cells:
            parts.append(f"score job {self.score_s:.3g} s (mean of {len(self.score_cells)} cells)")
        if self.train_cell:
            parts.append(f"training step {self.step_s:.3g} s (mean of {self.train_steps} steps of cell "
                         f"{self.train_cell}), evaluation batch {self.eval_batch_s:.3g} s")
        return "; ".join(parts)


@dataclass(frozen=True)
class CostEstimate:
    """The cost of the jobs left in a build under a Calibration. Times in seconds; device_hours is the
    sum over jobs (CPU-hours on a CPU, GPU-hours on a GPU), wall_hours that sum spread over workers."""
    counts: JobCounts
    calibration: Calibration
    workers: int
    epochs: int
    steps_per_epoch: int
    valid_batches: int
    test_batches: int
    test_passes: int = 1

    @property
    def train_job_s(self) -> float:
        c = self.calibration
        if not self.counts.left_train:
            return 0.0
        epoch = self.steps_per_epoch * c.step_s + self.valid_batches * c.eval_batch_s
        return self.epochs * epoch + self.test_passes * self.test_batches * c.eval_batch_s

    @property
    def score_hours(self) -> float:
        return self.counts.left_score * self.calibration.score_s / 3600 if self.counts.left_score else 0.0

    @property
    def train_hours(self) -> float:
        return self.counts.left_train * self.train_job_s / 3600

    @property
    def device_hours(self) -> float:
        return self.score_hours + self.train_hours

    @property
    def wall_hours(self) -> float:
        return self.device_hours / self.workers

    def lines(self) -> list[str]:
        """The calibration, the training job's time by the model and the estimate, one line each."""
        unit = "GPU" if self.calibration.device.startswith("cuda") else "CPU"
        out = [self.calibration.line()]
        if self.counts.left_train:
            c = self.calibration
            out.append(f"training job = {self.epochs} epochs x ({self.steps_per_epoch} steps x {c.step_s:.3g} s + "
                       f"{self.valid_batches} validation batches x {c.eval_batch_s:.3g} s) + {self.test_passes} test "
                       f"passes x {self.test_batches} batches x {c.eval_batch_s:.3g} s = {self.train_job_s:,.1f} s")
        out.append(f"estimate: {self.score_hours:,.2f} h scoring + {self.train_hours:,.2f} h training = "
                   f"{self.device_hours:,.2f} {unit}-hours; {duration_text(self.wall_hours)} of wall time with "
                   f"{self.workers} worker{'s' if self.workers != 1 else ''}")
        return out


def duration_text(hours: float) -> str:
    """A duration for people: days from 48 h, hours from 1 h, else minutes."""
    if hours >= 48:
        return f"{hours / 24:,.1f} days"
    if hours >= 1:
        return f"{hours:,.1f} h"
    return f"{hours * 60:,.1f} min"


def estimate(spec, done=frozenset(), workers: int = 1, device: str | None = None,
             calibration: Calibration | None = None, threads: int | None = None) -> CostEstimate:
    """Estimate what running the jobs of `spec` (a BuildSpec) not in `done` will cost.

    done: the finished jobs of the journal (build.read_done_jobs); workers: jobs running at once;
    device: where the jobs will run (None: CUDA when there is one); calibration: the measured times
    (None: calibrate now, a few seconds on digits: 1 + 3 score jobs and 1 + 3 training steps);
    threads: torch threads per job while calibrating (None: 1 when workers > 1, as the build's worker
    processes use, else torch's current setting). Returns a CostEstimate (module docstring: the model)."""
    from ..model.data import load_for_protocol
    from ..model.train import epochs_with_test, steps_per_epoch
    if calibration is None:
        if threads is None and workers > 1:
            threads = 1
        calibration = calibrate(spec, done, device, threads)
    dataset = load_for_protocol(spec.protocol, spec.data_dir)
    return CostEstimate(job_counts(spec, done), calibration, int(workers), spec.protocol.epochs,
                        steps_per_epoch(len(dataset.train), spec.protocol.batch_size),
                        math.ceil(len(dataset.valid) / EVAL_BATCH), math.ceil(len(dataset.test) / EVAL_BATCH),
                        len(epochs_with_test(spec.protocol)))


def calibrate(spec, done=frozenset(), device: str | None = None, threads: int | None = None,
              score_jobs: int = 3, train_steps: int = 3) -> Calibration:
    """Measure score_s, step_s and eval_batch_s of a build's jobs here: `score_jobs` score jobs of cells
    spread over the build's score cells, and `train_steps` training steps of its typical training cell
    (the median number of edges), each after one untimed warm-up. Kinds of job with nothing left to
    run are not measured (nan). Nothing is written anywhere."""
    import torch
    from ..model.jobs import default_device
    device = device or default_device()
    left = [j for j in spec.jobs() if j not in done]
    score_cells = sorted({j.cell_hash for j in left if j.kind == "score"})
    train_cells = sorted({j.cell_hash for j in left if j.kind == "train"})
    with _torch_threads(threads):
        score_s, scored = _time_score_jobs(spec, score_cells, device, score_jobs)
        step_s = eval_s = math.nan
        typical = _typical_cell(train_cells) if train_cells else None
        if typical is not None:
            step_s, eval_s = _time_training(spec, typical, device, train_steps)
        return Calibration(score_s, step_s, eval_s, str(device), torch.get_num_threads(), tuple(scored),
                           typical, train_steps if typical else 0)


@contextmanager
def _torch_threads(threads: int | None):
    import torch
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _time_score_jobs(spec, cells: list, device: str, n: int) -> tuple[float, list]:
    """Mean wall time (s) of score jobs of n cells spread over `cells` (after one untimed job)."""
    from ..model.jobs import run_job
    if not cells:
        return math.nan, []
    chosen = [cells[round(k * (len(cells) - 1) / max(n - 1, 1))] for k in range(min(n, len(cells)))]
    protocol_json, seed = spec.protocol.to_json(), spec.score_seeds[0]
    run_job("score", chosen[0], protocol_json, seed, spec.data_dir, device)  # warm-up: first calls, caches
    times = [run_job("score", h, protocol_json, seed, spec.data_dir, device)["wall_time"] for h in chosen]
    return sum(times) / len(times), chosen


def _typical_cell(cells: list) -> str:
    """The cell with the median number of edges (ties: the smallest hash), a cell of typical cost."""
    import numpy as np
    from ..space import batch_attributes, canonical_texts
    texts = canonical_texts(cells)
    digits = np.frombuffer("".join(texts).replace(" ", "").encode("ascii"), dtype=np.uint8) - ord("0")
    edges = batch_attributes(digits.reshape(-1, 4, 4))["n_edges"]
    order = sorted(range(len(cells)), key=lambda k: (int(edges[k]), cells[k]))
    return cells[order[len(order) // 2]]


def _time_training(spec, cell_hash: str, device: str, steps: int) -> tuple[float, float]:
    """(s per training step, s per evaluation batch) of one cell: train.train_cell run for one epoch on
    the first `steps` batches of the training split (after a one-step warm-up run), its epoch time
    less its evaluation of two images, divided by the steps; then one evaluation batch, timed."""
    import torch
    from ..model.data import ImageSplit, load_for_protocol
    from ..model.snn import build_network
    from ..space import Cell
    from ..model.train import evaluate, train_cell
    # the protocol's data (resampled, subsetted); the timed run trains on its first batches only
    dataset = load_for_protocol(spec.protocol, spec.data_dir)
    protocol = spec.protocol.with_(epochs=1, train_size=None)
    seed = spec.training_seeds[0] if spec.training_seeds else 0
    cell = Cell.from_hash(cell_hash)

    def first(split: ImageSplit, n: int) -> ImageSplit:
        return ImageSplit(split.images[:n], split.labels[:n])

    def small(n_train: int, n_eval: int):
        return replace(dataset, train=first(dataset.train, n_train), valid=first(dataset.valid, n_eval),
                       test=first(dataset.test, n_eval))

    batch = protocol.batch_size
    steps = max(1, min(steps, len(dataset.train) // batch))
    train_cell(cell, protocol, seed, small(batch, 2), device=device)  # warm-up: allocations, kernels
    epoch_s = train_cell(cell, protocol, seed, small(steps * batch, 2), device=device).epoch_time[0]
    net = build_network(cell, protocol.network_profile(), seed).to(device)
    one_batch = small(batch, EVAL_BATCH).to(device)
    evaluate(net, one_batch, "valid")  # warm-up
    t0 = time.perf_counter()
    evaluate(net, one_batch, "valid")
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    eval_s = (time.perf_counter() - t0) * EVAL_BATCH / min(EVAL_BATCH, len(dataset.valid))
    tiny_eval_s = eval_s * 2 / EVAL_BATCH
    return max(epoch_s - tiny_eval_s, 0.0) / steps, eval_s
