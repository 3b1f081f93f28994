"""Scoring many cells: a resumable run that appends one JSON line per scored cell.

The output file is the journal: a line is written (and flushed, fsynced) as soon as a cell is
scored, so an interrupted run resumes after the last complete line and never scores a cell twice.
A torn last line (a kill during the write) is ignored and rewritten."""
from __future__ import annotations

import json
import os
from pathlib import Path

from tqdm import tqdm

from ..errors import ConfigError, ProtocolMismatchError
from ..model.jobs import run_job
from ..protocols import Protocol
from ..space import Cell, iter_cells


def score_one(cell, protocol: Protocol, seed: int = 0, data_dir=None, device=None) -> dict:
    """Scores of one cell (text, matrix or hash) as a dict (see jobs.run_job)."""
    return run_job("score", Cell.parse(cell).hash, protocol.to_json(), seed, data_dir, device)


MAX_RECORD_BYTES = 1 << 20  # a score record is about 2 kB; a longer line means this is no score file


def read_score_records(path):
    """Yield every complete record of a scoring JSONL file, reading one line at a time (a torn last
    line of a killed run is skipped). ConfigError for a file that is not one: not a regular file
    (/dev/zero never ends), binary (an HDF5 table), a line that is not a JSON object or is too long."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"`out` {path} is not a regular file: give a JSONL file of scores")
    try:
        with open(path, "rb") as f:
            lines = iter(lambda: f.readline(MAX_RECORD_BYTES + 1), b"")
            for number, line in enumerate(lines, 1):
                record = _score_record(path, number, line)
                if record is not None:
                    yield record
    except OSError as exc:
        from ..files import storage_error
        raise storage_error(exc, path, "cannot read") from None


def _score_record(path: Path, number: int, line: bytes):
    not_scores = f"`out` {path} is not a file of snnbench scores (line {number}"
    if len(line) > MAX_RECORD_BYTES:
        raise ConfigError(f"{not_scores} is longer than {MAX_RECORD_BYTES} bytes): choose another `out`")
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except UnicodeDecodeError:
        raise ConfigError(f"{not_scores} is not text): choose another `out`") from None
    except json.JSONDecodeError:
        if line.endswith(b"\n"):
            raise ConfigError(f"{not_scores} is not JSON): choose another `out`") from None
        return None  # a torn last line of a killed run
    if not isinstance(record, dict) or not isinstance(record.get("cell_hash"), str):
        raise ConfigError(f"{not_scores} is not a score record): choose another `out`")
    return record


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 0 <= K < N: shard K of N holds the cells whose hash is K modulo N."""
    try:
        k, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ConfigError(f"`shard` must read K/N (e.g. 3/16), got {text!r}") from None
    if n < 1 or not 0 <= k < n:
        raise ConfigError(f"`shard` K/N needs 0 <= K < N, got {text!r}")
    return k, n


def in_shard(cell_hash: str, shard: tuple[int, int] | None) -> bool:
    return shard is None or int(cell_hash, 16) % shard[1] == shard[0]


def scored_in_journal(path, protocol: Protocol, seed: int) -> set:
    """Hashes of the cells a build journal has already scored with this protocol and seed (read-only)."""
    from ..journal import read_done_jobs
    return {job.cell_hash for job in read_done_jobs(path, protocol) if job.kind == "score" and job.seed == seed}


class ScoreRun:
    """Score the unique cells of a space, in their canonical order, into a JSONL file.

    shard (K, N): only the cells whose hash is K modulo N, so that N processes or machines can share a
    space; skip: hashes not to score (e.g. those a build journal already holds); first: cells (hashes,
    texts) to score before the others, in their order (e.g. the trained cells of a table)."""

    def __init__(self, space: str, protocol: Protocol, seed: int, out, data_dir=None, device=None,
                 shard: tuple[int, int] | None = None, skip=frozenset(), first=()):
        from ..model.devices import check_device
        from ..files import check_output_file
        check_device(device)  # DeviceError now, not at the first cell
        self.space, self.protocol, self.seed = space, protocol, seed
        self.out, self.data_dir, self.device = check_output_file(out, "`out`"), data_dir, device
        self.shard, self.skip = shard, frozenset(skip)
        self.first = [Cell.parse(c).hash for c in first]

    def done_hashes(self) -> set:
        """Hashes already in the output file; refuses a file written under another protocol or seed."""
        done = set()
        if not self.out.exists():
            return done
        for rec in read_score_records(self.out):
            if rec.get("protocol_hash") != self.protocol.hash or rec.get("seed") != self.seed:
                raise ProtocolMismatchError(
                    f"{self.out} holds scores of protocol {rec.get('protocol_hash')} seed {rec.get('seed')}, "
                    f"not {self.protocol.hash} seed {self.seed}: use another `out`")
            done.add(rec["cell_hash"])
        return done

    def count(self) -> int:
        return len(self.done_hashes())

    def _repair_tail(self) -> None:
        """Cut a torn last line so that the next append starts on a fresh line."""
        if not self.out.exists() or self.out.stat().st_size == 0:
            return
        with open(self.out, "r+b") as f:
            end = f.seek(0, os.SEEK_END)
            f.seek(end - 1)
            if f.read(1) == b"\n":
                return
            while end > 0:  # back to the last newline, a block at a time (the file may be large)
                start = max(0, end - 65536)
                f.seek(start)
                newline = f.read(end - start).rfind(b"\n")
                if newline >= 0:
                    f.truncate(start + newline + 1)
                    return
                end = start
            f.truncate(0)

    def run(self, limit: int | None = None, progress: bool = True) -> int:
        """Score up to `limit` cells (all when None) not yet in the file; returns how many were scored now."""
        if limit is not None and limit < 1:
            raise ConfigError("`limit` must be at least 1")
        from ..files import append_records, make_parent, storage_error
        todo_all = [(h, t) for h, t in iter_cells(self.space) if in_shard(h, self.shard) and h not in self.skip]
        if self.first:
            rank = {h: k for k, h in enumerate(self.first)}
            todo_all.sort(key=lambda cell: rank.get(cell[0], len(rank)))  # stable: the rest keep their order
        if limit is not None:
            todo_all = todo_all[:limit]
        done = self.done_hashes()
        todo = [(h, t) for h, t in todo_all if h not in done]
        make_parent(self.out, "`out`")
        try:
            self._repair_tail()
            open(self.out, "a").close()  # a file that cannot be written fails here, before the progress bar
        except OSError as exc:
            raise storage_error(exc, self.out) from None
        protocol_json = self.protocol.to_json()
        with tqdm(total=len(todo_all), initial=len(todo_all) - len(todo), disable=not progress, unit="cell") as bar:
            return append_records(self.out, [h for h, _text in todo],
                                  lambda h: run_job("score", h, protocol_json, self.seed, self.data_dir, self.device),
                                  on_record=lambda _record: bar.update(1), sync=True)
