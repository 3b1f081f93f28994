"""Running a build: claim the spec's jobs in the journal, run them on an executor, record each
result as it comes back, and write the HDF5 table from the journal atomically, at checkpoints and at
the end. Killing a build loses at most the jobs in flight; running the same command again resumes.
Also: what a build may do with an existing output (resume, replace, extend) and writing a table
from a journal without running jobs.
"""
from __future__ import annotations

import json
import math
import platform
import socket
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..version import __version__
from ..errors import ConfigError, JournalError, ProtocolMismatchError, TableFormatError
from ..files import output_lock, same_file
from ..journal import (Heartbeat, Job, Journal, dataset_fingerprint_of, journal_error, last_run, read_done_jobs,
                       snapshot_journal)
from ..options import whole_number
from ..table.reader import Bench
from ..table.writer import assemble_columns, cell_columns, table_attrs, write_table
from .cost import duration_text
from .executors import make_executor
from .spec import BuildSpec, spec_from_table

# ----------------------------------------------------------------------------- the build
_stop = threading.Event()


def request_stop(*_) -> None:
    """Signal handler of a build's driver (Ctrl-C, SIGTERM): remember the request, then raise
    KeyboardInterrupt. The driver looks at the request between jobs and before it writes the final
    table as well, so a KeyboardInterrupt that Python drops (one raised while a finaliser runs is only
    printed) still stops the build instead of letting it finish and write over a table."""
    _stop.set()
    raise KeyboardInterrupt


def _stop_if_requested() -> None:
    if _stop.is_set():
        raise KeyboardInterrupt


@dataclass
class BuildSummary:
    """What a build did. Times in seconds."""
    out: Path
    journal: Path
    n_cells: int
    n_trained: int
    n_seeds: int
    jobs_total: int
    jobs_run: int
    jobs_reused: int
    jobs_by_others: int
    jobs_failed: int
    elapsed: float
    complete: bool
    failures: list = field(default_factory=list)
    write_seconds: list = field(default_factory=list)  # each table write (checkpoints, then the final one)

    def line(self) -> str:
        rate = self.jobs_run / self.elapsed if self.elapsed > 0 else 0.0
        text = (f"{'built' if self.complete else 'INCOMPLETE'} {self.out}: {self.n_cells} cells "
                f"({self.n_trained} trained x {self.n_seeds} seeds); {self.jobs_total} jobs: {self.jobs_run} run now, "
                f"{self.jobs_reused} from the journal")
        if self.jobs_by_others:
            text += f", {self.jobs_by_others} by another build"
        if self.jobs_failed:
            text += f", {self.jobs_failed} FAILED (rerun to retry)"
        return text + f"; {self.elapsed:.1f} s ({rate:.2f} jobs/s); journal {self.journal}"


def _same_selection(meta: dict, spec: BuildSpec) -> bool:
    """Whether a table's metadata describes the build `spec` (the same cells, seeds and journal): a
    rerun of that build, which may write over it."""
    recorded = (meta.get("build") or {}).get("journal")
    if not recorded:
        return False
    table_folder = spec.out.parent
    if not any(same_file(candidate, spec.journal_path)
               for candidate in (Path(recorded), table_folder / Path(recorded).name)):
        return False
    return (json.dumps(meta.get("selection"), sort_keys=True) == json.dumps(spec.selection(), sort_keys=True)
            and list(meta.get("seeds", [])) == list(spec.training_seeds)
            and list(meta.get("score_seeds", [])) == list(spec.score_seeds))


def check_output(spec: BuildSpec, force: bool = False, extend: bool = False) -> str:
    """What a build may do with its output file. 'new': there is none; 'resume': it is this build's
    own table (same journal, cells and seeds); 'replace' (force) or 'extend' (extend) as asked.
    Anything else is refused: a file that is not a table, a table of another protocol or space, or
    another build's table without --force / --extend."""
    out = spec.out
    if force and extend:
        raise ConfigError("give `force` (replace the table) or `extend` (add to it), not both")
    if not out.exists():
        return "new"
    try:
        bench = Bench(out)
    except TableFormatError as exc:
        raise TableFormatError(f"refusing to overwrite {out}: {exc}; choose another `out`") from None
    with bench:
        meta = bench.metadata
    if meta["protocol_hash"] != spec.protocol.hash and not force:
        raise ProtocolMismatchError(f"{out} holds a table of protocol {meta['protocol_name']} {meta['protocol_hash']}, "
                                    f"not {spec.protocol.name} {spec.protocol.hash}: choose another `out` "
                                    "(or `force` to replace it)")
    if meta["space"] != spec.space and not force:
        raise ConfigError(f"{out} holds a table of the {meta['space']} space, not {spec.space}: choose another `out` "
                          "(or `force` to replace it)")
    if _same_selection(meta, spec):
        return "resume"
    if force:
        return "replace"
    if extend:
        return "extend"
    raise ConfigError(f"{out} already holds another table ({meta['n_cells']} cells, {meta['n_trained']} trained, "
                      f"{meta['n_train_runs']} training runs) that this build did not make: give `force` to "
                      f"replace it, `extend` to add this build's cells to it, or choose another `out`")


def check_table_in_journal(spec: BuildSpec, done_jobs: set) -> None:
    """JournalError unless every result the table at spec.out holds is in the journal (`done_jobs`):
    a build that writes over its table from the journal would otherwise lose them (or replace them
    with reruns)."""
    with Bench(spec.out) as bench:
        stored = {Job(*job) for job in bench.stored_jobs()}
    missing = stored - set(done_jobs)
    if missing:
        raise JournalError(f"journal {spec.journal_path} lacks {len(missing)} of the {len(stored)} results of "
                           f"{spec.out}: give the `journal` that built it")


def extended_spec(spec: BuildSpec, done_jobs: set) -> BuildSpec:
    """The spec of `spec` added to the table at spec.out: the cells of both, scored with the same
    scoring seeds and trained with the same training seeds (a scores-only build adds scored cells to
    a trained table). Every result the table holds must be in the journal (`done_jobs`), else they
    would be lost: JournalError then. Jobs of the table's build that never finished (a partial
    table, e.g. one whose added seed was interrupted) are no loss: they stay in the spec and run."""
    old = spec_from_table(spec.out, journal=spec.journal_path)
    both_train = not spec.scores_only and not old.scores_only
    if old.score_seeds != spec.score_seeds or (both_train and old.seeds != spec.seeds):
        raise ConfigError(f"`extend` adds cells with the table's seeds: it has training seeds "
                          f"{', '.join(map(str, old.training_seeds)) or 'none'} and scoring seeds "
                          f"{', '.join(map(str, old.score_seeds))}")
    check_table_in_journal(spec, done_jobs)
    trained = set() if spec.scores_only else set(spec.selected_cells())
    trained |= set() if old.scores_only else set(old.selected_cells())
    scored = set(spec.score_cells()) | set(old.score_cells())
    seeds = (() if old.scores_only else old.seeds) if spec.scores_only else spec.seeds
    appended = set(spec.appended_runs or ()) | set(old.appended_runs or ())  # runs added one by one stay
    both = replace(spec, sample=None, all_cells=False, score_sample=None, score_all=False,
                   scores_only=not trained, seeds=seeds or spec.seeds,
                   cells=tuple(sorted(trained or scored)), scored_cells=tuple(sorted(scored)),
                   appended_runs=tuple(sorted(appended)) or None)
    return _compact_selection(both, trained, scored, (spec, old))


def _compact_selection(both: BuildSpec, trained: set, scored: set, builds) -> BuildSpec:
    """`both` (the extended spec, its cells listed) as a selection that gives the same trained and
    scored cells without listing them, where one exists: one of `builds` (the new build's spec, the
    table's) as it is, or with the trained cells listed and the scored ones from its score sample (or
    --score-all). A staged build (the same command with a larger --score-sample each time) is then
    recorded as one build of its last stage would be, not as a list of every cell it scored."""
    if not both.scored_cells:
        return both
    same = dict(scores_only=both.scores_only, seeds=both.seeds, appended_runs=both.appended_runs, out=both.out,
                journal=both.journal, train_protocol=both.train_protocol, train_journal=both.train_journal)
    candidates = [replace(b, scored_cells=None, **same) for b in builds if b.scored_cells is None]
    candidates += [replace(both, scored_cells=None, score_sample=None if b.score_all else b.score_sample,
                           score_all=b.score_all) for b in builds if b.score_all or b.score_sample is not None]
    for candidate in candidates:
        if set(candidate.score_cells()) == scored and (both.scores_only or set(candidate.selected_cells()) == trained):
            return candidate
    return both


class Build:
    """One build invocation: run the jobs of `spec` not yet in the journal, then write the table.

    checkpoint_jobs / checkpoint_seconds: rewrite the table after that many finished jobs or that
    many seconds, whichever comes first (the final write happens in any case). An existing --out is
    written only if it is this build's own table (a resume), or with force (replace it) or extend
    (add this build's cells to it); an interrupt writes a checkpoint only over a table this build
    made.

    device / workers / jobs_per_gpu: see make_executor (workers None: 1, or GPUs x jobs_per_gpu).
    checkpoint_every: every training job writes a checkpoint every that many epochs (0: none) under
    checkpoint.build_root(journal), so that a job killed with the build resumes where it stopped.
    label: what ran the build (e.g. its run spec, runners/fmnist.sh), recorded in the table's build
    metadata; a manifest names it as the table's runner."""

    def __init__(self, spec: BuildSpec, executor: str = "local", workers: int | None = 1, address=None, device=None,
                 checkpoint_jobs: int = 500, checkpoint_seconds: float = 600.0, max_retries: int = 3,
                 progress: bool = True, command: str | None = None, force: bool = False, extend: bool = False,
                 jobs_per_gpu: int | None = None, checkpoint_every: int = 1, label: str | None = None):
        self.spec = spec
        self.executor_name, self.workers, self.address, self.device = executor, workers, address, device
        self.jobs_per_gpu, self.checkpoint_every = jobs_per_gpu, checkpoint_every
        self.checkpoint_jobs, self.checkpoint_seconds = checkpoint_jobs, checkpoint_seconds
        self.max_retries, self.progress = max_retries, progress
        self.force, self.extend = force, extend
        self.command = command or "python API: snnbench.build.Build"
        self.label = label
        # what the table writes of this build reuse (a checkpoint then costs what changed, not the
        # table's size): the results read so far and the journal row up to which they were read, the
        # cell columns of the table's cells, and one WriteCost per write
        self._known, self._read_up_to, self._wanted = {}, 0, (None, frozenset())
        self._described = (None, None)
        self.writes: list[WriteCost] = []

    def check_settings(self) -> BuildSpec:
        """Validate every option (ConfigError) before anything is created; returns the checked spec."""
        spec = self.spec.validate()
        if whole_number(self.checkpoint_jobs, "`checkpoint_jobs`") < 1:
            raise ConfigError(f"`checkpoint_jobs` must be at least 1, got {self.checkpoint_jobs}")
        if not (isinstance(self.checkpoint_seconds, (int, float)) and math.isfinite(self.checkpoint_seconds)
                and self.checkpoint_seconds > 0):
            raise ConfigError(f"`checkpoint_seconds` must be a finite number above 0, got {self.checkpoint_seconds}")
        if whole_number(self.max_retries, "`max_retries`") < 0:
            raise ConfigError(f"`max_retries` must be 0 or more, got {self.max_retries}")
        if self.workers is not None and whole_number(self.workers, "`workers`") < 1:
            raise ConfigError(f"`workers` must be at least 1, got {self.workers}")
        if self.jobs_per_gpu is not None and whole_number(self.jobs_per_gpu, "`jobs_per_gpu`") < 1:
            raise ConfigError(f"`jobs_per_gpu` must be at least 1, got {self.jobs_per_gpu}")
        if whole_number(self.checkpoint_every, "`checkpoint_every`") < 0:
            raise ConfigError(f"`checkpoint_every` must be 0 or more epochs, got {self.checkpoint_every}")
        if self.executor_name not in ("local", "ray"):
            raise ConfigError(f"unknown executor {self.executor_name!r}: use local or ray")
        if self.address is not None and self.executor_name != "ray":
            raise ConfigError("`address` is for `executor` ray")
        if self.force and self.extend:
            raise ConfigError("give `force` (replace the table) or `extend` (add to it), not both")
        if self.executor_name == "local":
            from ..model.devices import check_device, visible_gpus, worker_count, worker_gpus
            check_device(self.device)
            visible = visible_gpus() if self.device != "cpu" else []
            self.workers = worker_count(self.workers, self.device, self.jobs_per_gpu, visible)
            worker_gpus(self.device, self.workers, visible, self.jobs_per_gpu)  # DeviceError now, not in a worker
        elif self.workers is None:
            self.workers = 1
        return spec

    def run(self) -> BuildSummary:
        """Run the build to the end and write the final table; returns its summary."""
        spec = self.check_settings()
        if spec.train_protocol is not None:
            raise ConfigError("a table that keeps training runs of another graph is written from its journals "
                              "(write_table_from_journal), not built")
        _stop.clear()  # a request belongs to the build that was running when it came
        with output_lock(spec.out):
            action = check_output(spec, self.force, self.extend)
            from ..model.checkpoint import build_root
            executor = make_executor(self.executor_name, self.workers, self.address, spec.data_dir, self.device,
                                     self.max_retries, self.jobs_per_gpu, build_root(spec.journal_path),
                                     self.checkpoint_every)
            try:
                fingerprint = executor.fingerprint(spec.protocol)  # a missing dataset fails here
                journal = Journal(spec.journal_path, spec.protocol)
                try:
                    journal.check_fingerprint(fingerprint)
                    if action == "extend":
                        spec = extended_spec(spec, journal.done_jobs())
                    elif action == "resume":
                        check_table_in_journal(spec, journal.done_jobs())
                    self._jobs, self._cells = spec.jobs(), spec.score_cells()
                    # with --force the old table stays until this build's first write replaces it
                    self._own_table = action != "replace"
                    return self._run(spec, self._jobs, journal, executor)
                except sqlite3.Error as exc:
                    raise journal_error(exc, journal.path) from None
                finally:
                    journal.close()
            finally:
                executor.close()

    def plan(self) -> tuple[BuildSpec, set]:
        """What run() would do, found without creating or changing any file (a dry run): the checked
        spec (with extend, the spec of the extended table) and those of its jobs the journal already
        holds. run()'s refusals (an --out of another build, a journal of another protocol) come here too."""
        spec = self.check_settings()
        if spec.train_protocol is not None:
            raise ConfigError("a table that keeps training runs of another graph is written from its journals "
                              "(write_table_from_journal), not built")
        action = check_output(spec, self.force, self.extend)
        journal = spec.journal_path
        done = read_done_jobs(journal, spec.protocol, leave_no_files=True) \
            if journal.is_file() and journal.stat().st_size > 0 else set()
        if action == "extend":
            spec = extended_spec(spec, done)
        elif action == "resume":
            check_table_in_journal(spec, done)
        return spec, done & set(spec.jobs())

    def _run(self, spec, jobs, journal, executor) -> BuildSummary:
        t_start = time.perf_counter()
        run_id = journal.start_run(spec.out, executor.name, self.command)
        heartbeat = Heartbeat(journal.path, run_id)
        heartbeat.start()
        job_set = set(jobs)
        done_before = journal.done_jobs() & job_set
        state = _Progress(len(jobs), len(done_before), self.progress,
                          count_done=lambda: len(journal.done_jobs() & job_set))
        self._last_write, self._since_write = time.monotonic(), 0
        self._wrote = False
        try:
            counts = self._drive(spec, [j for j in jobs if j not in done_before], journal, executor, run_id, state)
        except BaseException:
            executor.close()  # first: no worker may start another job while the checkpoint is written
            if self._wrote or self._own_table:
                try:  # interrupted (Ctrl-C) or failed: leave a table of what the journal holds
                    self._write(spec, jobs, journal, complete=False)
                except Exception:
                    pass
            raise
        finally:
            state.close()
            heartbeat.stop()
        journal.finish_run(run_id)
        complete = self._write(spec, jobs, journal, complete=True)
        n_trained = len({j.cell_hash for j in jobs if j.kind == "train"})
        return BuildSummary(spec.out, journal.path, len(self._cells), n_trained, len(spec.training_seeds),
                            len(jobs), counts["run"], len(done_before), counts["others"], counts["failed"],
                            time.perf_counter() - t_start, complete, counts["failures"], [w.seconds for w in self.writes])

    def _drive(self, spec, todo, journal, executor, run_id, state) -> dict:
        """Claim, submit and record jobs until none is left (waiting for jobs another build runs)."""
        protocol_json = spec.protocol.to_json()
        queue, waiting = list(todo), []
        counts = {"run": 0, "others": 0, "failed": 0, "failures": []}
        last_poll = time.monotonic()
        while queue or waiting or executor.in_flight:
            _stop_if_requested()
            room = executor.capacity - executor.in_flight
            if room > 0 and queue:
                batch, queue = queue[:room], queue[room:]
                claimed, done, busy = journal.claim(batch, run_id)
                for job in claimed:
                    executor.submit(job, protocol_json)
                counts["others"] += len(done)
                state.update(len(done))
                waiting += busy
                continue
            if executor.in_flight:
                for job, result, error in executor.wait(timeout=1.0):
                    if error is None:
                        # False: another build recorded the job meanwhile (it took over the claim of
                        # this one while it was paused): the journal keeps the first result
                        counts["run" if journal.record(job, result, run_id) else "others"] += 1
                    else:
                        journal.record_failure(job, error, run_id)
                        counts["failed"] += 1
                        counts["failures"].append(f"{job.kind} {job.cell_hash} seed {job.seed}: {error}")
                    state.update(1)
                    self._since_write += 1
                self._maybe_checkpoint(spec, journal)
            elif waiting and time.monotonic() - last_poll > 2.0:
                last_poll = time.monotonic()
                waiting, queue = [], waiting  # claim() sorts them into done / claimable / still busy
            elif waiting:
                time.sleep(0.5)
        _stop_if_requested()  # a request that came with the last job: no final table
        return counts

    def _maybe_checkpoint(self, spec, journal) -> None:
        if (self._since_write >= self.checkpoint_jobs
                or time.monotonic() - self._last_write >= self.checkpoint_seconds):
            self._write(spec, self._jobs, journal, complete=False)

    def write_from_journal(self, journal_path=None, dest=None, force: bool = False, train_journal_path=None) -> bool:
        """Write the table of this build from a journal without running any job: the same columns,
        metadata and atomic write as a checkpoint or the end of a build. journal_path: the journal to
        read (default the spec's; pass a snapshot of a live one, see snapshot_journal). dest: where to
        write (default spec.out; the journal's runs are still those of spec.out). train_journal_path:
        the journal the training runs are read from when spec.train_protocol is set (default
        spec.train_journal). Returns whether every job of the build is in the table (written with
        complete = 1). An existing dest is replaced only if it is this build's table, or with force."""
        spec = self.spec.validate()
        dest = Path(dest) if dest is not None else spec.out
        with output_lock(dest):
            check_output(replace(spec, out=dest), force=force)
            jobs = spec.jobs()
            self._cells = spec.score_cells()
            journal = Journal(journal_path if journal_path is not None else spec.journal_path, spec.protocol)
            train_journal = None
            try:
                if spec.train_protocol is not None:
                    train_journal = Journal(train_journal_path or spec.train_journal, spec.train_protocol)
                return self._write(spec, jobs, journal, complete=True, dest=dest, written_by="write_table_from_journal",
                                   train_journal=train_journal)
            except sqlite3.Error as exc:
                raise journal_error(exc, journal.path) from None
            finally:
                journal.close()
                if train_journal is not None:
                    train_journal.close()

    def _write(self, spec, jobs, journal, complete: bool, dest=None, written_by: str = "snnbench build",
               train_journal=None) -> bool:
        """Write the table from the journal (atomically) to dest (default spec.out); with train_journal,
        the training runs come from that one. Returns whether every job is in it.

        A checkpoint (complete False) reads only the journal rows added since the build's previous
        write and reuses the cell columns it computed then; the final write (complete True) reads the
        whole journal again, so that the table is what the journal holds, whatever happened before."""
        t0, rows_read = time.perf_counter(), 0
        if train_journal is None:
            results, rows_read = self._results(journal, jobs, everything=complete)
        else:
            results = journal.results([j for j in jobs if j.kind == "score"])
            results.update(train_journal.results([j for j in jobs if j.kind == "train"]))
        all_done = len(results) == len(jobs)
        scores = {(j.cell_hash, j.seed): r for j, r in results.items() if j.kind == "score"}
        runs = {(j.cell_hash, j.seed): r for j, r in results.items() if j.kind == "train"}
        cell_columns, described = self._cell_columns()
        columns = assemble_columns(self._cells, scores, runs, spec.training_seeds, spec.score_seeds,
                                   spec.protocol.epochs, cell_columns_of_hashes=cell_columns)
        where = {}
        for r in results.values():
            where[str(r.get("where", ""))] = where.get(str(r.get("where", "")), 0) + 1
        build = {"executor": self.executor_name, "workers": self.workers, "address": self.address,
                 "journal": str(spec.journal_path), "command": self.command, "jobs_total": len(jobs),
                 "jobs_done": len(results), "where": where, "runs": journal.runs(spec.out),
                 "host": socket.gethostname(), "python": platform.python_version(), "snnbench": __version__,
                 "written_by": written_by}
        if train_journal is not None:
            build["train_journal"] = str(spec.train_journal)
        if self.label:
            build["label"] = self.label
        attrs = table_attrs(space=spec.space, protocol=spec.protocol, dataset_fingerprint=dataset_fingerprint_of(journal),
                            seeds=spec.training_seeds, score_seeds=spec.score_seeds, columns=columns,
                            complete=complete and all_done, selection=spec.selection(), build=build,
                            train_protocol=spec.train_protocol)
        dest = spec.out if dest is None else Path(dest)
        write_table(dest, columns, attrs)
        self._last_write, self._since_write, self._wrote = time.monotonic(), 0, True
        self.writes.append(WriteCost(complete, rows_read, described, time.perf_counter() - t0))
        return complete and all_done


    def _results(self, journal, jobs, everything: bool) -> tuple[dict, int]:
        """The finished results among `jobs`, read from the journal: only its rows added since the
        previous call, or every row with `everything`. Returns (results, journal rows read now)."""
        if self._wanted[0] is not jobs:
            self._wanted = (jobs, frozenset(jobs))
            self._known, self._read_up_to = {}, 0
        if everything:
            self._known, self._read_up_to = {}, 0
        new, self._read_up_to, rows_read = journal.results_after(self._wanted[1], self._read_up_to)
        self._known.update(new)
        return dict(self._known), rows_read

    def _cell_columns(self) -> tuple[dict, int]:
        """The cell columns of the table's cells (table.cell_columns), computed at the first write of
        the build and reused by the next. Returns (columns, number of cells described now)."""
        if self._described[0] is not self._cells:
            hashes = sorted(set(self._cells))
            self._described = (self._cells, cell_columns(hashes))
            return self._described[1], len(hashes)
        return self._described[1], 0


@dataclass(frozen=True)
class WriteCost:
    """The work of one table write of a build: whether it was the final write, how many journal rows it
    read, how many cells it computed the cell columns of (0 when it reused them), and its seconds."""
    final: bool
    journal_rows_read: int
    cells_described: int
    seconds: float = float("nan")


PROGRESS_LINE_EVERY_S = 300.0  # a build's status line on a stderr that is not a terminal


class _Progress:
    """Progress over jobs on stderr: a tqdm bar (done / total, rate, ETA) on a terminal; elsewhere (a
    log file of a background build) one status line at the start, every PROGRESS_LINE_EVERY_S
    seconds and at the end, never a bar's carriage returns. count_done (optional): how many of the
    build's jobs the journal holds now, read at most every PROGRESS_LINE_EVERY_S: jobs that builds
    sharing the journal finish count as soon as they are recorded, not only when this build reaches
    them, so the rate and the time left are those of all the builds together."""

    def __init__(self, total: int, initial: int, enabled: bool, stream=None, count_done=None):
        self.stream = sys.stderr if stream is None else stream
        self.total, self.initial, self.done = total, initial, initial
        self.counted, self.count_done = initial, count_done  # counted: the jobs update() was told of
        self.bar = None
        self.lines = enabled and not _is_terminal(self.stream)
        if enabled and not self.lines:
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="job", dynamic_ncols=True, desc="build",
                            smoothing=0.1, file=self.stream)
        self.t0 = self.last = time.monotonic()
        if self.lines:
            self._line()

    def update(self, n: int) -> None:
        if not n:
            return
        self.counted += n
        self._advance(self.counted)
        if time.monotonic() - self.last >= PROGRESS_LINE_EVERY_S:
            self._sync()
            if self.lines:
                self._line()
            else:
                self.last = time.monotonic()

    def _advance(self, done: int) -> None:
        # the larger of the two counts: a job another build recorded is counted by _sync first and by
        # update() when this build meets it (a failure only by update(): the journal holds no result)
        done = min(max(done, self.done), self.total)
        if self.bar is not None and done > self.done:
            self.bar.update(done - self.done)
        self.done = done

    def _sync(self) -> None:
        if self.count_done is None:
            return
        try:
            n = int(self.count_done())
        except Exception:  # a progress line never stops a build
            return
        self._advance(n)

    def _line(self) -> None:
        self.last = time.monotonic()
        elapsed, ran = self.last - self.t0, self.done - self.initial
        text = f"build: {self.done:,}/{self.total:,} jobs ({100 * self.done / max(self.total, 1):.1f}%)"
        if ran and elapsed > 0:
            left = (self.total - self.done) * elapsed / ran
            text += f", {ran / elapsed * 3600:,.0f} jobs/h, about {duration_text(left / 3600)} left at this rate"
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.lines:
            self._line()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def build_table(spec: BuildSpec, **options) -> BuildSummary:
    """Run a build (see Build for the options) and return its summary."""
    return Build(spec, **options).run()


def write_table_from_journal(spec: BuildSpec, dest=None, *, journal=None, snapshot: bool = True,
                             executor: str | None = None, workers: int | None = None, command: str | None = None,
                             force: bool = False, label: str | None = None) -> bool:
    """Write the table of `spec` from its journal (or `journal`) without running jobs, through the
    builder's own atomic writer, to dest (default spec.out). With snapshot (the default) the journal
    is first copied with snapshot_journal into a temporary file, so a journal that builds are writing
    is only read. executor / workers / command go into the table's build metadata (default: those of
    the latest run of spec.out recorded in the journal). force: replace a dest that is not this
    build's table (same journal, cells and seeds). Returns whether every job is in the table."""
    import tempfile
    source = Path(journal) if journal is not None else spec.journal_path
    if not source.is_file():
        raise ConfigError(f"journal {source}: no such file")
    train_source = spec.train_journal if spec.train_protocol is not None else None
    if train_source is not None and not Path(train_source).is_file():
        raise ConfigError(f"journal {train_source}: no such file")
    with tempfile.TemporaryDirectory(prefix="snnbench-journal-") as tmp:
        read_from = snapshot_journal(source, Path(tmp) / source.name) if snapshot else source
        train_from = None
        if train_source is not None:
            train_from = snapshot_journal(train_source, Path(tmp) / ("train-" + Path(train_source).name)) \
                if snapshot else train_source
        if executor is None or command is None:
            last = last_run(read_from, spec.out) or {}
            executor = executor or last.get("executor") or "local"
            command = command or last.get("command") or "snnbench.build.write_table_from_journal"
        if workers is None:
            workers = _workers_of(command)
        build = Build(replace(spec, journal=source), executor=executor, workers=workers, command=command,
                      progress=False, label=label)
        return build.write_from_journal(read_from, dest, force=force, train_journal_path=train_from)


def _workers_of(command: str) -> int:
    """The --workers N of a recorded snnbench build command line (1 if absent)."""
    words = (command or "").split()
    for i, word in enumerate(words):
        if word == "--workers" and i + 1 < len(words) and words[i + 1].isdigit():
            return int(words[i + 1])
        if word.startswith("--workers=") and word.split("=", 1)[1].isdigit():
            return int(word.split("=", 1)[1])
    return 1


def rewrite_table(path, journal=None, train_journal=None, scores_graph: str | None = None,
                  score_all: bool | None = None, label: str | None = None, force: bool = False) -> bool:
    """Write the table at `path` anew from journals, without running jobs (spec_from_table, then
    write_table_from_journal through the builder's atomic writer): after its builds stopped, or to
    add results its journal gained since.

    journal: the journal of its scores (default: the one the table records). train_journal: the
    journal of its training runs, when they were made under a protocol that differs from the
    table's in the graph only. scores_graph: make a table whose training runs are all of one graph
    one whose scores are of this graph (its training runs are then read from train_journal).
    score_all: score every cell of the space (True) or only the selection (False); None keeps the
    table's choice. label: what ran the rewrite, recorded as the table's label and in its command.
    force: replace the table even when it is not this build's (another protocol, e.g. the first
    conversion to scores_graph). Returns whether every job of the table was in the journals."""
    path = Path(path)
    spec = spec_from_table(path)
    if scores_graph is not None and spec.train_protocol is None and spec.protocol.graph != scores_graph:
        spec = replace(spec, protocol=spec.protocol.with_(graph=scores_graph), train_protocol=spec.protocol)
    changes = {"out": path}
    if journal is not None:
        changes["journal"] = Path(journal)
    if train_journal is not None:
        changes["train_journal"] = Path(train_journal)
    if score_all is not None:
        changes["score_all"] = score_all
    spec = replace(spec, **changes)
    command = f"{label} (written by snnbench table rewrite)" if label else None
    return write_table_from_journal(spec, path, force=force, command=command, label=label)
