"""Reading a table: `Bench`, the reader behind `snnbench.open` (the schema: schema.py).

Opening a table reads its metadata and the hash index only; rows are read when asked for.
"""
from __future__ import annotations

import functools
import json
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from ..errors import (ArchitectureNotInTable, ConfigError, InvalidCellError, SnnbenchError, TableClosedError,
                      TableFormatError)
from ..options import whole_number
from ..space import ATTRIBUTE_NAMES, HASH_LENGTH, Cell, cell_attributes, looks_like_hash, matrix_to_text
from .interface import TableReader
from .lookup import TableLookups, cell_hash
from .schema import (CURVE_FIELDS, LATER_CURVE_FIELDS, TRAIN_FIELDS, check_header, first_line, metadata_problems,
                     named_budgets, open_h5, protocol_fields)

if TYPE_CHECKING:  # the reader does not import protocols (and so torch) until .protocol is asked for
    from ..protocols import Protocol


# ----------------------------------------------------------------------------- the reader
def _mean(values) -> float:
    """Mean ignoring NaN (a missing or diverged value); -inf stays -inf (a singular kernel's log|det K|).
    Plain Python: a query averages two or three numbers, where numpy's overhead would dominate."""
    kept = [float(v) for v in values if v == v]
    return sum(kept) / len(kept) if kept else float("nan")


def _std(values) -> float:
    """Population standard deviation ignoring NaN."""
    kept = [float(v) for v in values if v == v]
    if not kept:
        return float("nan")
    mean = sum(kept) / len(kept)
    return math.sqrt(sum((v - mean) ** 2 for v in kept) / len(kept))


class Bench(TableLookups, TableReader):
    """A table opened for queries. Build with snnbench.open(path).

    Opening reads the metadata and the hash index (cells/hash, cells/train_row); every query reads
    the rows it needs. Accuracies are in %, times in seconds, firing rates in spikes per neuron per
    timestep, sops per test image, energy in pJ per test image. Means over seeds ignore diverged
    runs (NaN); standard deviations are population ones (numpy's default).

    Also: bench[cell] (a query), iteration over the hashes, query_many(cells) (a DataFrame, one
    row per cell) and find_best(metric, max_params=..., max_sops=...) (snnbench/table/lookup.py)."""

    def __init__(self, path):
        self.path = Path(path)
        self._datasets = {}
        self._whole = {}  # columns a query reads, read in full on first use (a query then costs no I/O)
        self._frame_cache = None
        self._closed = False
        self._file = open_h5(self.path)
        try:
            self._meta = check_header(self._file, self.path)
            problems = metadata_problems(self._meta)
            if problems:
                raise TableFormatError(f"{self.path} is damaged: {problems[0]}")
            self._hashes = self._read("cells/hash")
            self._train_row = self._read("cells/train_row")
            self.seeds = [int(s) for s in self._meta["seeds"]]
            self.score_seeds = [int(s) for s in self._meta["score_seeds"]]
            self.protocol_fields = protocol_fields(self._meta["protocol_json"], self.path)
            self._check_index()
        except BaseException:
            self._file.close()
            raise
        self.space = self._meta["space"]

    def _check_index(self) -> None:
        """The hash index and the train rows, as far as a query relies on them (cheap: the two
        columns opening reads anyway, and the shape of train/cell_row)."""
        if self._hashes.dtype.kind != "S" or self._hashes.ndim != 1:
            raise TableFormatError(f"{self.path} is damaged: cells/hash is not a column of hash strings "
                                   f"(dtype {self._hashes.dtype})")
        if self._train_row.dtype.kind not in "iu" or self._train_row.shape != self._hashes.shape:
            raise TableFormatError(f"{self.path} is damaged: cells/train_row does not match cells/hash")
        if len(self._hashes) != self._meta["n_cells"]:
            raise TableFormatError(f"{self.path} is damaged: the hash index does not match n_cells")
        n_trained = self._dataset("train/cell_row").shape[0]
        if len(self._train_row) and (self._train_row.min() < -1 or self._train_row.max() >= n_trained):
            raise TableFormatError(f"{self.path} is damaged: cells/train_row points outside /train "
                                   f"({n_trained} rows)")

    # -- low level
    def _dataset(self, name: str) -> h5py.Dataset:
        if self._closed:
            raise TableClosedError(f"{self.path} was closed: open it again with snnbench.open")
        ds = self._datasets.get(name)
        if ds is None:
            try:
                ds = self._datasets[name] = self._file[name]
            except (KeyError, TypeError):
                raise TableFormatError(f"{self.path} is damaged: it lacks the dataset {name}") from None
            except (OSError, RuntimeError, ValueError) as exc:
                raise TableFormatError(f"{self.path} is damaged: cannot open {name} ({first_line(exc)})") from None
        return ds

    def _read(self, name: str, index=()):
        try:
            return self._dataset(name)[index]
        except SnnbenchError:
            raise
        except (OSError, RuntimeError, ValueError, IndexError, TypeError) as exc:
            raise TableFormatError(f"{self.path} is damaged: cannot read {name} ({first_line(exc)})") from None

    def _cached(self, name: str) -> np.ndarray:
        """A dataset read in full once (the per-cell columns a query reads: a few MB for 100,000 cells)."""
        if self._closed:
            raise TableClosedError(f"{self.path} was closed: open it again with snnbench.open")
        whole = self._whole.get(name)
        if whole is None:
            whole = self._whole[name] = self._read(name)
        return whole

    def column(self, name: str) -> np.ndarray:
        """One dataset of the table in full, by its HDF5 path (docs/TABLE_FORMAT.md), e.g.
        'scores/where' [cells, scoring seeds] or 'train/done' [trained cells, seeds]."""
        return self._read(name)

    def stored_jobs(self) -> set:
        """(kind, cell hash, seed) of every job whose result the table holds: 'score' with a scoring
        seed, 'train' with a training seed."""
        hashes = [h.decode() for h in self._read("cells/hash")]
        score_where, done = self._read("scores/where"), self._read("train/done")
        cell_row = self._read("train/cell_row")
        jobs = {("score", hashes[i], self.score_seeds[k]) for i, k in zip(*np.nonzero(score_where >= 0))}
        return jobs | {("train", hashes[cell_row[t]], self.seeds[k]) for t, k in zip(*np.nonzero(done))}

    def close(self) -> None:
        self._closed = True
        self._whole.clear()
        self._frame_cache = None
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- metadata
    @functools.cached_property
    def protocol(self) -> "Protocol":
        """The protocol the table was built under (protocols.Protocol): its scores, and its training
        runs unless train_protocol says otherwise."""
        from ..protocols import Protocol
        return Protocol.from_json(self._meta["protocol_json"])

    @functools.cached_property
    def train_protocol(self) -> "Protocol":
        """The protocol the training runs were made under: the table's protocol, or, in a table whose
        scores were re-made under another network graph, the one it recorded as train_protocol_json."""
        from ..protocols import Protocol
        return Protocol.from_json(self._meta.get("train_protocol_json") or self._meta["protocol_json"])

    @property
    def metadata(self) -> dict:
        """The file's metadata: schema and snnbench versions, protocol (json and hash), dataset and its
        fingerprint, space, seeds, creation time, selection and how it was built."""
        return dict(self._meta)

    @functools.cached_property
    def selection(self) -> dict:
        """How the build chose its cells (the metadata's selection, decoded once; read it, do not
        change it): sample, seeds, and the runs added for part of the cells (appended_runs, one
        [hash, seed] pair each) where there are."""
        selection = self._meta.get("selection") or {}
        return json.loads(selection) if isinstance(selection, str) else dict(selection)

    def _seeds_text(self) -> str:
        """The training seeds for `info`: the build's, then each extra seed with how many cells have it."""
        extra = self.extra_seeds
        if not extra:
            return ", ".join(map(str, self.seeds)) or "-"
        counts = {s: sum(1 for _, seed in self.selection["appended_runs"] if int(seed) == s) for s in extra}
        base = [s for s in self.seeds if s not in extra]
        return (", ".join(map(str, base)) + " (every trained cell); "
                + ", ".join(f"{s} ({counts[s]} cells)" for s in extra))

    @property
    def extra_seeds(self) -> list[int]:
        """The training seeds that only part of the cells have: runs added after the build's own seeds
        (build --extra-seeds, e.g. the better half's third seed); [] for most tables."""
        selection = self.selection
        if not selection.get("appended_runs"):
            return []
        base = {int(s) for s in selection.get("seeds", self.seeds)}
        return [s for s in self.seeds if s not in base]

    def __len__(self) -> int:
        return len(self._hashes)

    def __repr__(self):
        return (f"Bench({str(self.path)!r}: {len(self)} cells of the {self.space} space, "
                f"{self._meta['n_trained']} trained, protocol {self._meta['protocol_name']} "
                f"{self._meta['protocol_hash']})")

    # -- the index
    def index(self, hashes) -> np.ndarray:
        """Rows of many hashes at once (int64 array; -1 where a hash is not in the table)."""
        # a key that is not ASCII is no hash: '?' in its place finds nothing
        if isinstance(hashes, np.ndarray) and hashes.dtype.kind == "S":
            keys = hashes
        else:
            keys = np.array([str(h).strip().lower().encode("ascii", "replace")[:HASH_LENGTH + 1] for h in hashes],
                            dtype=f"S{HASH_LENGTH + 1}")
        if len(self._hashes) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        rows = np.minimum(np.searchsorted(self._hashes, keys), len(self._hashes) - 1)
        return np.where(self._hashes[rows] == keys, rows, -1).astype(np.int64)

    def find_hash(self, arch_hash: str) -> int:
        """The row of a cell hash, -1 when the table lacks it (a lookup only: the hash is not checked
        against the space, nor a cell text parsed; `row` does that)."""
        key = arch_hash.strip().lower().encode("ascii")
        row = int(np.searchsorted(self._hashes, key))
        if row < len(self._hashes) and self._hashes[row] == key:
            return row
        return -1

    def trained_at(self, row: int) -> bool:
        """Whether the cell in `row` has training runs."""
        return bool(self._train_row[row] >= 0)

    def row(self, cell) -> int:
        """Row of a cell given as a Cell, text, matrix or hash; ArchitectureNotInTable if the table
        lacks it, InvalidCellError / UnknownHashError if it is no architecture at all."""
        if isinstance(cell, str) and looks_like_hash(cell):
            row = self.find_hash(cell)
            if row >= 0:
                return row
        parsed = Cell.parse(cell)
        row = self.find_hash(parsed.hash)
        if row < 0:
            err = ArchitectureNotInTable(
                f"cell {parsed.hash} ({parsed.canonical_text}, a {parsed.space} cell) is not in this table "
                f"({self.path.name}: {len(self)} cells of the {self.space} space)")
            err.cell = parsed
            raise err
        return row

    def __contains__(self, cell) -> bool:
        if isinstance(cell, str):
            try:
                return self.find_hash(cell_hash(cell)) >= 0  # a hash of no cell is in no table
            except (InvalidCellError, KeyError):
                return False
        try:
            self.row(cell)
        except (ArchitectureNotInTable, InvalidCellError, KeyError):
            return False
        return True

    def cells(self, trained_only: bool = False) -> list[str]:
        """Hashes of the cells in the table, sorted; with trained_only, those with a finished run."""
        hashes = self._hashes[self._train_row >= 0] if trained_only else self._hashes
        return [h.decode() for h in hashes]

    def sample(self, n: int, rng=None, trained_only: bool = False) -> list[str]:
        """n distinct hashes drawn uniformly from the table (or its trained cells), seeded by rng."""
        pool = np.flatnonzero(self._train_row >= 0) if trained_only else np.arange(len(self))
        n = whole_number(n, "the number of cells to sample")
        if n < 0 or n > len(pool):
            raise ConfigError(f"cannot sample {n} cells from {len(pool)}")
        rng = np.random.default_rng(rng)
        picked = rng.choice(pool, size=n, replace=False)
        return [self._hashes[i].decode() for i in picked]

    # -- one cell
    def _seed_column(self, seed) -> int:
        seed = whole_number(seed, "seed")
        if seed not in self.seeds:
            raise ConfigError(f"seed {seed} was not trained in this table; its seeds are "
                              f"{', '.join(map(str, self.seeds)) or 'none'}")
        return self.seeds.index(seed)

    def _cell_record(self, row: int) -> dict:
        # text and space follow from the canonical matrix (verify checks that the stored columns
        # agree), which saves two reads per query
        matrix = self._cached("cells/matrix")[row]
        attributes = cell_attributes(matrix)
        rec = {"hash": self._hashes[row].decode(), "text": matrix_to_text(matrix),
               "space": "bw" if attributes["has_backward"] else "fw", **attributes}
        for name in ("hd", "sahd", "sahd_eq9"):
            rec[name] = _mean(self._cached(f"scores/{name}")[row])
        rec["n_params"] = int(self._cached("cells/n_params")[row])
        rec["firing_rate_init"] = _mean(self._cached("scores/firing_rate")[row])
        return rec

    def _seed_records(self, trow: int, epoch: int | None, at_budget: bool = False) -> dict:
        """{seed: values of that seed's run} for the finished runs of train row trow, after `epoch`
        epochs when given; at_budget: with the test accuracy and loss of that epoch where the table
        records them (query's budget), else NaN before the last epoch (query's epoch)."""
        done = self._cached("train/done")[trow]
        values = {f: self._cached(f"train/{f}")[trow] for f in TRAIN_FIELDS}
        epochs_run = self._cached("train/epochs_run")[trow]
        diverged = self._cached("train/diverged")[trow]
        if epoch is not None:
            valid_curve = self._read("train/curves/valid_acc", (trow, slice(None), epoch - 1))
            epoch_times = self._read("train/curves/epoch_time", (trow, slice(None), slice(0, epoch)))
        # the later curves (tables whose runs recorded them): values at `epoch`, else at the last epoch
        later = {name: self._read(f"train/curves/{name}", trow) for name in self.later_curves}
        out = {}
        for k, seed in enumerate(self.seeds):
            if not done[k]:
                continue
            rec = {f: float(values[f][k]) for f in TRAIN_FIELDS}
            rec.update(epochs=int(epochs_run[k]), diverged=bool(diverged[k]))
            if epoch is not None and epoch != int(epochs_run[k]):
                rec["valid_acc"] = float(valid_curve[k])
                rec["train_time"] = float(np.nansum(epoch_times[k]))
                rec["epochs"] = min(epoch, int(epochs_run[k]))
                # measured once, on the network after its last epoch (test accuracy: at the epochs
                # the test split was evaluated, in tables that record them)
                for f in ("test_acc", "firing_rate", "sops", "macs", "energy_pj"):
                    rec[f] = float("nan")
            last = int(epochs_run[k])
            at = epoch or last
            for name, curve in later.items():
                if name == "test_acc" and at == last:
                    continue  # train/test_acc holds it
                # query(epoch=) is what a search sees of a run before its end: no test values
                hidden = at != last and name.startswith("test_") and not at_budget
                rec[name] = float("nan") if hidden or at > last else float(curve[k, at - 1])
            out[seed] = rec
        return out

    @functools.cached_property
    def later_curves(self) -> tuple:
        """The per-epoch curves beyond the first four that this table stores: 'valid_loss', 'test_acc',
        'test_loss' in tables whose runs recorded them, () in older tables."""
        if self._closed:
            raise TableClosedError(f"{self.path} was closed: open it again with snnbench.open")
        return tuple(name for name in LATER_CURVE_FIELDS if f"train/curves/{name}" in self._file)

    @property
    def budgets(self) -> dict:
        """The named training budgets of the table's protocol: {'half': epoch, 'full': epoch}, 1-based
        (the half-way epoch and the last, at which runs evaluate the test split too)."""
        return named_budgets(int(self.protocol_fields["epochs"]))

    def budget_epoch(self, budget) -> int:
        """The epoch (1-based) of a budget: a name of `budgets` ('half', 'full') or an epoch number."""
        if isinstance(budget, str) and budget.strip().lower() in self.budgets:
            return self.budgets[budget.strip().lower()]
        if isinstance(budget, str):
            try:
                budget = int(budget.strip())
            except ValueError:
                raise ConfigError(f"budget must be one of {', '.join(self.budgets)} or an epoch number "
                                  f"1..{self.budgets['full']}, got {budget[:40]!r}") from None
        return self._check_epoch(budget)

    def _check_epoch(self, epoch):
        if epoch is None:
            return None
        epochs = int(self.protocol_fields["epochs"])
        epoch = whole_number(epoch, "epoch")
        if not 1 <= epoch <= epochs:
            raise ConfigError(f"epoch must be in 1..{epochs} (1-based), got {epoch}")
        return epoch

    def query(self, cell, seed=None, epoch=None, budget=None) -> dict:
        """The record of one cell (Cell, text, matrix or hash): its text, space, attributes, scores
        (mean over scoring seeds), and training results: the mean over training seeds with
        'per_seed' {seed: {...}} when seed is None, or that seed's values when seed is given.
        epoch=e (1-based) gives valid_acc after epoch e and train_time up to e; the values measured
        only after the last epoch (test_acc, test_loss, firing_rate, sops, energy_pj) are then NaN.
        budget: a named budget ('half', 'full': `budgets`) or an epoch number, as NATS-Bench's hp:
        the values after that epoch as with epoch=, plus the test accuracy and loss measured then, in
        tables that record them (NaN at an epoch without a test pass); the record then says 'epoch'
        and 'budget' (the name, or the epoch number). Tables whose runs recorded them also give
        valid_loss and test_loss (mean cross-entropy) at that epoch (at the last one without epoch)."""
        at_budget = budget is not None
        if at_budget:
            if epoch is not None:
                raise ConfigError("give an epoch or a budget, not both")
            epoch = self.budget_epoch(budget)
        epoch = self._check_epoch(epoch)
        column = None if seed is None else self._seed_column(seed)
        seed = None if seed is None else self.seeds[column]
        row = self.row(cell)
        rec = self._cell_record(row)
        trow = int(self._train_row[row])
        per_seed = self._seed_records(trow, epoch, at_budget) if trow >= 0 else {}
        rec["trained"] = bool(per_seed)
        rec["n_seeds"] = len(per_seed)
        for s in self.seeds:
            rec[f"valid_acc_s{s}"] = per_seed.get(s, {}).get("valid_acc", float("nan"))
            rec[f"test_acc_s{s}"] = per_seed.get(s, {}).get("test_acc", float("nan"))
        chosen = per_seed if column is None else {s: r for s, r in per_seed.items() if s == int(seed)}
        rec.update(_summarise_runs(list(chosen.values())))
        if column is None:
            rec["per_seed"] = per_seed
        else:
            rec["seed"] = int(seed)
        if at_budget:
            named = str(budget).strip().lower()
            rec["epoch"], rec["budget"] = epoch, named if named in self.budgets else epoch
        return rec

    def curves(self, cell) -> dict:
        """Per-epoch curves of a cell: {seed: {"valid_acc", "train_acc", "train_loss", "epoch_time"}}
        as arrays of length epochs_run (% for accuracies, mean cross-entropy for losses, s for
        epoch_time); {} if untrained. Tables whose runs recorded them add "valid_loss" (every epoch),
        "test_acc" and "test_loss" (NaN at the epochs the test split was not evaluated): later_curves."""
        trow = int(self._train_row[self.row(cell)])
        if trow < 0:
            return {}
        done = self._read("train/done", trow)
        epochs_run = self._read("train/epochs_run", trow)
        names = tuple(CURVE_FIELDS) + self.later_curves
        arrays = {name: self._read(f"train/curves/{name}", trow) for name in names}
        return {seed: {name: np.asarray(arrays[name][k][:int(epochs_run[k])], dtype=np.float64)
                       for name in names}
                for k, seed in enumerate(self.seeds) if done[k]}

    # -- everything
    def _frame(self):
        """to_dataframe(), read once and kept (query_many and find_best read it; do not modify it)."""
        if self._closed:
            raise TableClosedError(f"{self.path} was closed: open it again with snnbench.open")
        if self._frame_cache is None:
            self._frame_cache = self.to_dataframe()
        return self._frame_cache

    def _rows_frame(self, hashes: list):
        """(frame rows of the hashes, in order, NaN rows where missing; found: bool [n])."""
        rows = self.index(hashes)
        found = rows >= 0
        frame = self._frame().iloc[np.where(found, rows, 0)].reset_index(drop=True)
        if not found.all():
            frame = frame.where(np.broadcast_to(found[:, None], frame.shape))  # NaN rows (ints become floats)
        return frame, found

    def to_dataframe(self):
        """One row per cell (sorted by hash): the query keys (without per_seed), plus
        valid_acc_s{seed} and test_acc_s{seed} for every training seed; attrs['extra_seeds']: the
        seeds only part of the cells have (extra_seeds)."""
        import pandas as pd
        n = len(self)
        df = {"hash": [h.decode() for h in self._hashes],
              "text": [t.decode() for t in self._read("cells/text")],
              "space": [s.decode() for s in self._read("cells/space")]}
        for name in ATTRIBUTE_NAMES:
            df[name] = self._read(f"attributes/{name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for name in ("hd", "sahd", "sahd_eq9"):
                df[name] = np.nanmean(self._read(f"scores/{name}"), axis=1) if self.score_seeds else np.full(n, np.nan)
            df["n_params"] = self._read("cells/n_params")
            df["firing_rate_init"] = (np.nanmean(self._read("scores/firing_rate"), axis=1)
                                      if self.score_seeds else np.full(n, np.nan))
            df.update(self._train_frame_columns())
        frame = pd.DataFrame(df)
        frame.attrs["extra_seeds"] = self.extra_seeds  # reports tell the build's seeds from added ones
        return frame

    def _train_frame_columns(self) -> dict:
        n, rows = len(self), self._train_row
        has = rows >= 0
        done = self._read("train/done")
        values = {f: self._read(f"train/{f}") for f in TRAIN_FIELDS}
        epochs_run = self._read("train/epochs_run")

        def spread(per_train_row, fill=np.nan, dtype=np.float64):
            out = np.full(n, fill, dtype=dtype)
            out[has] = per_train_row[rows[has]]
            return out

        def over_seeds(array, fn):
            if array.shape[0] == 0 or array.shape[1] == 0:
                return np.full(array.shape[0], np.nan)
            return fn(np.where(done, array, np.nan), axis=1)

        cols = {"trained": spread(done.any(axis=1), False, bool) if done.size else np.zeros(n, bool),
                "n_seeds": spread(done.sum(axis=1), 0, np.int64)}
        cols["valid_acc"] = spread(over_seeds(values["valid_acc"], np.nanmean))
        cols["test_acc"] = spread(over_seeds(values["test_acc"], np.nanmean))
        cols["valid_acc_std"] = spread(over_seeds(values["valid_acc"], np.nanstd))
        cols["test_acc_std"] = spread(over_seeds(values["test_acc"], np.nanstd))
        cols["train_time"] = spread(over_seeds(values["train_time"], np.nanmean))
        cols["epochs"] = spread(np.where(done, epochs_run, 0).max(axis=1, initial=0), 0, np.int64)
        for f in ("firing_rate", "sops", "energy_pj"):
            cols[f] = spread(over_seeds(values[f], np.nanmean))
        for k, s in enumerate(self.seeds):
            for f in ("valid_acc", "test_acc"):
                cols[f"{f}_s{s}"] = spread(np.where(done[:, k], values[f][:, k], np.nan))
        return cols

    def describe(self) -> str:
        """A few lines summarising the table (what `snnbench info` prints)."""
        m, p = self._meta, self.protocol_fields
        build = m["build"]
        lines = [
            f"table      {self.path}  ({self.path.stat().st_size / 1e6:.2f} MB)",
            f"schema     {m['schema_version']}  written by snnbench {m['snnbench_version']} at {m['created']}",
            f"space      {m['space']}   dataset {m['dataset']} (fingerprint {m['dataset_fingerprint']})",
            f"protocol   {m['protocol_name']} {m['protocol_hash']}: width {p.get('width')}, timesteps "
            f"{p.get('timesteps')}, epochs {p.get('epochs')}, batch {p.get('batch_size')}, lr {p.get('lr')}, "
            f"graph {p.get('graph', 'skip-idle')}"
            + (f", input {p['input_size']}x{p['input_size']}" if p.get("input_size") else "")
            + (f", {p['train_size']} training images" if p.get("train_size") else "")
            + (f", autocast {p['autocast']}" if p.get("autocast", "off") != "off" else "")
            + (", compiled" if p.get("compile") else "")
            + (", augmentation drawn on the device" if p.get("device_augment") else ""),
            *([f"training   runs made under {m['train_protocol_name']} {m['train_protocol_hash']}: the same "
               f"protocol with graph {json.loads(m['train_protocol_json']).get('graph', 'skip-idle')}"]
              if m.get("train_protocol_json") else []),
            f"seeds      training {self._seeds_text()}; scoring {', '.join(map(str, self.score_seeds)) or '-'}",
            f"cells      {m['n_cells']} ({m['n_trained']} trained, {m['n_train_runs']} training runs, "
            f"{m['n_score_runs']} scoring runs)",
            f"selection  {json.dumps(_abridged(self.selection), sort_keys=True)}",
            f"built      {'complete' if m['complete'] else 'CHECKPOINT (build not finished)'}; executor "
            f"{build.get('executor')}, {build.get('jobs_done')}/{build.get('jobs_total')} jobs, "
            f"journal {build.get('journal')}",
        ]
        where = build.get("where") or {}
        if where:
            lines.append("ran on     " + ", ".join(f"{k} ({v} jobs)" for k, v in sorted(where.items())))
        if m["n_trained"]:
            df = self.to_dataframe()
            best = df.loc[df["valid_acc"].idxmax()] if df["valid_acc"].notna().any() else None
            with warnings.catch_warnings():  # every run diverged: the means are NaN, said as such
                warnings.simplefilter("ignore", RuntimeWarning)
                lines.append(f"accuracy   valid mean {np.nanmean(df['valid_acc']):.2f}%, test mean "
                             f"{np.nanmean(df['test_acc']):.2f}% over trained cells")
            if best is not None:
                lines.append(f"best       {best['hash']} ({best['text']}): valid {best['valid_acc']:.2f}%, "
                             f"test {best['test_acc']:.2f}%")
        return "\n".join(lines)


def _abridged(selection: dict) -> dict:
    """A table's selection for `info`: an explicit cell list (build --cells), the scored cells of a
    table extended by other builds, and the runs added for part of the cells (build --extra-seeds,
    one [hash, seed] pair each) counted, not listed (the metadata keeps them whole)."""
    selection = dict(selection)
    for key in ("cells", "scored_cells"):
        if selection.get(key):
            selection[key] = f"{len(selection[key])} listed"
    if selection.get("appended_runs"):
        selection["appended_runs"] = f"{len(selection['appended_runs'])} runs"
    return selection


def _summarise_runs(runs: list) -> dict:
    """Mean (and std of accuracies) over runs of one cell; NaN when there are none."""
    out = {"valid_acc": _mean([r["valid_acc"] for r in runs]),
           "test_acc": _mean([r["test_acc"] for r in runs]),
           "valid_acc_std": _std([r["valid_acc"] for r in runs]),
           "test_acc_std": _std([r["test_acc"] for r in runs]),
           "train_time": _mean([r["train_time"] for r in runs]),
           "epochs": max([r["epochs"] for r in runs], default=0)}
    for f in ("firing_rate", "sops", "energy_pj"):
        out[f] = _mean([r[f] for r in runs])
    for f in ("valid_loss", "test_loss"):  # tables whose runs recorded them
        if any(f in r for r in runs):
            out[f] = _mean([r.get(f, float("nan")) for r in runs])
    return out
