"""The SNN-NAS-Bench table: the HDF5 schema (docs/TABLE_FORMAT.md), its atomic writer and the
reader `Bench` behind `snnbench.open`.

A table is column-oriented: one compressed HDF5 dataset per column, one row per cell, rows sorted
by cell hash so that a lookup is a binary search on the hash column. Scores are stored per scoring
seed; training results per training seed, only for the cells that have at least one finished
run (the /train group, linked to /cells by cells/train_row and train/cell_row).

Opening a table reads its metadata and the hash index only; rows are read when asked for.
"""
from __future__ import annotations

import datetime
import functools
import json
import math
import os
import re
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

from typing import TYPE_CHECKING

from .. import __version__
from ..errors import (ArchitectureNotInTable, ConfigError, InvalidCellError, SnnbenchError, TableClosedError,
                     TableFormatError)
from ..files import check_path, make_parent, remove_quietly, storage_error
from ..options import whole_number
from ..profiles import DATASETS
from ..space.cell import (ATTRIBUTE_NAMES, HASH_LENGTH, Cell, batch_attributes, canonical_batch, canonical_texts,
                    cell_attributes, hash_text, iter_cells, looks_like_hash, matrix_to_text, prune_batch)

if TYPE_CHECKING:  # the reader does not import protocols (and so torch) until .protocol is asked for
    from ..protocols import Protocol

TABLE_FORMAT = "snnbench-table"
SCHEMA_VERSION = 1
# Per (cell, scoring seed), float64: log|det K| for hd, sahd, sahd_eq9 (nats); firing_rate at
# initialisation (spikes per neuron per timestep); wall_time of the scoring job (s).
SCORE_FIELDS = ("hd", "sahd", "sahd_eq9", "firing_rate", "wall_time")
# Per (trained cell, training seed), float64: accuracies in %, train_time in s, firing_rate in spikes
# per neuron per timestep, sops / macs per test image, energy_pj in pJ per test image.
TRAIN_FIELDS = ("valid_acc", "test_acc", "train_time", "firing_rate", "sops", "macs", "energy_pj")
# Per-epoch curves, float32 [trained cell, seed, epoch]: table name -> key of a train job result.
CURVE_FIELDS = {"valid_acc": "valid_acc_curve", "train_acc": "train_acc", "train_loss": "train_loss",
                "epoch_time": "epoch_time"}
REQUIRED_ATTRS = ("format", "schema_version", "snnbench_version", "created", "space", "dataset",
                  "dataset_fingerprint", "protocol_name", "protocol_hash", "protocol_json", "seeds",
                  "score_seeds", "n_cells", "n_trained", "n_train_runs", "n_score_runs", "complete",
                  "selection", "build")
_COMPRESSION = dict(compression="gzip", compression_opts=4, shuffle=True)
SPACES = ("fw", "bw")
PAUSE_WRITE_ENV = "SNNBENCH_FAULT_PAUSE_WRITE"


# ----------------------------------------------------------------------------- assembling columns
def _nan(shape, dtype=np.float64) -> np.ndarray:
    return np.full(shape, np.nan, dtype=dtype)


def _fixed_strings(values, min_length: int = 1) -> np.ndarray:
    """ASCII fixed-length byte strings, the HDF5 type every reader understands."""
    encoded = [str(v).encode("ascii") for v in values]
    width = max([min_length] + [len(v) for v in encoded])
    return np.array(encoded, dtype=f"S{width}")


def assemble_columns(cell_hashes, score_results: dict, train_results: dict, seeds, score_seeds,
                     epochs: int, cell_columns_of_hashes: dict | None = None) -> dict:
    """Columns of a table (HDF5 path -> array) from finished jobs.

    cell_hashes: every cell of the table. score_results / train_results: {(cell_hash, seed): the dict
    jobs.run_job returned}. seeds / score_seeds: the training and scoring seeds (column order).
    epochs: the protocol's epoch count (length of the curve arrays). cell_columns_of_hashes: the
    cell_columns of these cells when the caller has them already (they never change in a build)."""
    hashes = sorted(set(cell_hashes))
    seeds, score_seeds = [int(s) for s in seeds], [int(s) for s in score_seeds]
    n, n_score, n_seed = len(hashes), len(score_seeds), len(seeds)
    results = list(score_results.values()) + list(train_results.values())
    layers = sorted({name for r in results for name in r.get("firing_rates", {})})
    hosts = sorted({str(r.get("where", "")) for r in results})
    layer_index = {name: i for i, name in enumerate(layers)}
    host_index = {name: i for i, name in enumerate(hosts)}

    if cell_columns_of_hashes is None:
        cell_columns_of_hashes = cell_columns(hashes)
    elif len(cell_columns_of_hashes["cells/hash"]) != n:
        raise ValueError("cell_columns_of_hashes are not the columns of these cells")
    cols = dict(cell_columns_of_hashes)
    cols["layers"] = _fixed_strings(layers)
    cols["hosts"] = _fixed_strings(hosts)

    n_params = np.full(n, -1, dtype=np.int64)
    scores = {f: _nan((n, n_score)) for f in SCORE_FIELDS}
    score_where = np.full((n, n_score), -1, dtype=np.int16)
    score_layers = _nan((n, n_score, len(layers)), np.float32)
    for i, h in enumerate(hashes):
        for k, s in enumerate(score_seeds):
            r = score_results.get((h, s))
            if r is None:
                continue
            for f in SCORE_FIELDS:
                scores[f][i, k] = r[f]
            n_params[i] = r["n_params"]
            score_where[i, k] = host_index[str(r.get("where", ""))]
            for name, rate in r.get("firing_rates", {}).items():
                score_layers[i, k, layer_index[name]] = rate
    for f in SCORE_FIELDS:
        cols[f"scores/{f}"] = scores[f]
    cols["scores/where"] = score_where
    cols["scores/layer_firing_rate"] = score_layers

    trained = [h for h in hashes if any((h, s) in train_results for s in seeds)]
    m = len(trained)
    row_of = {h: i for i, h in enumerate(hashes)}
    train_row = np.full(n, -1, dtype=np.int32)
    for t, h in enumerate(trained):
        train_row[row_of[h]] = t
    cols["cells/train_row"] = train_row
    cols["train/cell_row"] = np.array([row_of[h] for h in trained], dtype=np.int32)
    done = np.zeros((m, n_seed), dtype=bool)
    values = {f: _nan((m, n_seed)) for f in TRAIN_FIELDS}
    epochs_run = np.zeros((m, n_seed), dtype=np.int16)
    diverged = np.zeros((m, n_seed), dtype=bool)
    where = np.full((m, n_seed), -1, dtype=np.int16)
    curves = {name: _nan((m, n_seed, epochs), np.float32) for name in CURVE_FIELDS}
    train_layers = _nan((m, n_seed, len(layers)), np.float32)
    for t, h in enumerate(trained):
        for k, s in enumerate(seeds):
            r = train_results.get((h, s))
            if r is None:
                continue
            done[t, k] = True
            for f in TRAIN_FIELDS:
                values[f][t, k] = r[f]
            epochs_run[t, k] = r["epochs_run"]
            diverged[t, k] = bool(r["diverged"])
            where[t, k] = host_index[str(r.get("where", ""))]
            for name, key in CURVE_FIELDS.items():
                curve = np.asarray(r[key], dtype=np.float32)[:epochs]
                curves[name][t, k, :len(curve)] = curve
            for name, rate in r.get("firing_rates", {}).items():
                train_layers[t, k, layer_index[name]] = rate
            if n_params[row_of[h]] < 0:
                n_params[row_of[h]] = r["n_params"]
    cols["cells/n_params"] = n_params
    cols["train/done"] = done
    for f in TRAIN_FIELDS:
        cols[f"train/{f}"] = values[f]
    cols["train/epochs_run"] = epochs_run
    cols["train/diverged"] = diverged
    cols["train/where"] = where
    for name in CURVE_FIELDS:
        cols[f"train/curves/{name}"] = curves[name]
    cols["train/layer_firing_rate"] = train_layers
    return cols


def cell_columns(hashes) -> dict:
    """The columns that depend on the cells alone (HDF5 path -> array): hash, canonical text,
    canonical matrix, space and attributes of sorted cell hashes. A build computes them once and
    passes them to every assemble_columns of its checkpoints."""
    texts = canonical_texts(hashes)
    digits = np.frombuffer("".join(texts).replace(" ", "").encode("ascii"), dtype=np.uint8)
    matrices = (digits.astype(np.int8) - ord("0")).reshape(-1, 4, 4)
    backward = np.tril(matrices, -1).reshape(len(matrices), -1).any(axis=1)
    cols = {"cells/hash": _fixed_strings(hashes, HASH_LENGTH),
            "cells/text": _fixed_strings(texts, 19),
            "cells/matrix": matrices,
            "cells/space": _fixed_strings(["bw" if b else "fw" for b in backward], 2)}
    for name, values in batch_attributes(matrices).items():
        cols[f"attributes/{name}"] = values.astype(bool if name == "has_backward" else np.int8)
    return cols


def table_attrs(*, space: str, protocol: "Protocol", dataset_fingerprint: str, seeds, score_seeds,
                columns: dict, complete: bool, selection: dict, build: dict,
                train_protocol: "Protocol | None" = None) -> dict:
    """The root attributes (file metadata) of a table whose columns are `columns`. train_protocol:
    the protocol of the training runs when it is not `protocol` (it may differ only in the graph)."""
    done = columns["train/done"]
    score_done = np.isfinite(columns["scores/hd"]) | (columns["scores/where"] >= 0)
    kept = {} if train_protocol is None or train_protocol.hash == protocol.hash else {
        "train_protocol_name": train_protocol.name, "train_protocol_hash": train_protocol.hash,
        "train_protocol_json": train_protocol.to_json()}
    return kept | {
        "format": TABLE_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "snnbench_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "space": space,
        "dataset": protocol.dataset,
        "dataset_fingerprint": dataset_fingerprint,
        "protocol_name": protocol.name,
        "protocol_hash": protocol.hash,
        "protocol_json": protocol.to_json(),
        "seeds": np.array([int(s) for s in seeds], dtype=np.int64),
        "score_seeds": np.array([int(s) for s in score_seeds], dtype=np.int64),
        "n_cells": int(len(columns["cells/hash"])),
        "n_trained": int(len(columns["train/cell_row"])),
        "n_train_runs": int(done.sum()),
        "n_score_runs": int(score_done.sum()),
        "complete": int(bool(complete)),
        "selection": json.dumps(selection, sort_keys=True),
        "build": json.dumps(build, sort_keys=True),
    }


# ----------------------------------------------------------------------------- writer
def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_writes_in_this_process = [0]


def _pause_for_fault_test() -> None:
    """Test hook: with SNNBENCH_FAULT_PAUSE_WRITE=MARKER set (and SNNBENCH_FAULT_PAUSE_WRITE_AT=N, the
    N-th table write of this process, default 1), create MARKER and sleep in the middle of writing the
    temporary file, so that a test can kill the process exactly there. Once MARKER exists, no pause."""
    _writes_in_this_process[0] += 1
    marker = os.environ.get(PAUSE_WRITE_ENV)
    if not marker or _writes_in_this_process[0] != int(os.environ.get(PAUSE_WRITE_ENV + "_AT", "1")):
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    time.sleep(120)


def temporary_path(path) -> Path:
    """Where a table is written before it is renamed over `path`."""
    path = Path(path)
    return path.with_name(path.name + ".tmp")


def write_table(path, columns: dict, attrs: dict) -> Path:
    """Write a table atomically: into PATH.tmp, fsync, then rename over PATH. A reader sees the old
    file or the new one, never a half-written one. On failure (a full or read-only disk) PATH is
    unchanged, the temporary file is removed and a StorageError says why. Returns the path.

    HDF5 builds the file in memory (its 'core' driver) and plain file writes put it on disk: a disk
    that fails in the middle of an HDF5 write leaves HDF5 with a file it can neither flush nor close,
    and a process that goes on using h5py after that may crash."""
    path = Path(path)
    tmp = temporary_path(path)
    make_parent(path, "--out")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as exc:
        raise storage_error(exc, path, "cannot write the table") from None
    try:
        try:
            image = _table_image(tmp.name, columns, attrs)
            view = memoryview(image)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        remove_quietly(tmp)
        raise storage_error(exc, path, "cannot write the table") from None
    except BaseException:
        remove_quietly(tmp)
        raise
    try:
        _fsync_path(path.parent if str(path.parent) else Path("."), directory=True)
    except OSError:
        pass  # the rename is done; a folder that cannot be fsynced is no reason to fail
    return path


def _table_image(name: str, columns: dict, attrs: dict) -> bytes:
    """The bytes of an HDF5 table file holding columns and attrs, built in memory."""
    with h5py.File(name, "w", driver="core", backing_store=False) as f:
        for key, value in attrs.items():
            f.attrs[key] = value
        for column, array in columns.items():
            array = np.asarray(array)
            options = _COMPRESSION if array.size > 0 else {}
            f.create_dataset(column, data=array, **options)
            if column == "cells/space":
                _pause_for_fault_test()
        f.flush()
        return f.id.get_file_image()


# ----------------------------------------------------------------------------- opening
def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _attr(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _open_h5(path) -> h5py.File:
    """Open an HDF5 file for reading; every failure becomes a TableFormatError with one line."""
    if str(path) == "":
        raise TableFormatError("no table path given")
    path = check_path(path, "table")
    if not path.exists():
        raise TableFormatError(f"{path}: no such table file")
    if path.is_dir():
        raise TableFormatError(f"{path} is a folder, not a table file")
    if not path.is_file():
        raise TableFormatError(f"{path} is not a regular file")
    try:
        return h5py.File(path, "r")
    except PermissionError as exc:
        raise storage_error(exc, path, "cannot read") from None
    except OSError as exc:
        if not h5py.is_hdf5(path):
            raise TableFormatError(f"{path} is not an snnbench table (not an HDF5 file)") from None
        message = str(exc)
        if "truncated file" in message:
            eof = re.search(r"eof = (\d+).*stored_eof = (\d+)", message)
            size = f" ({eof.group(1)} of {eof.group(2)} bytes)" if eof else ""
            raise TableFormatError(f"{path} is truncated{size}: not a complete snnbench table") from None
        raise TableFormatError(f"{path} is damaged: HDF5 cannot open it ({message.splitlines()[0]})") from None


def _check_header(f: h5py.File, path) -> dict:
    """Root attributes of a table, after checking that it is one this snnbench can read."""
    try:
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TableFormatError(f"{path} is damaged: its metadata cannot be read ({reason})") from None
    if attrs.get("format") != TABLE_FORMAT:
        raise TableFormatError(f"{path} is an HDF5 file but not an snnbench table (no format='{TABLE_FORMAT}')")
    version = attrs.get("schema_version")
    if not isinstance(version, int):
        raise TableFormatError(f"{path} has no valid schema_version")
    if version > SCHEMA_VERSION:
        raise TableFormatError(f"{path} has table schema version {version}, newer than the {SCHEMA_VERSION} "
                               f"this snnbench {__version__} reads: upgrade snnbench")
    if version < 1:
        raise TableFormatError(f"{path} has an invalid schema version {version}")
    missing = [k for k in REQUIRED_ATTRS if k not in attrs]
    if missing:
        raise TableFormatError(f"{path} is damaged: metadata lacks {', '.join(missing)}")
    for key in ("selection", "build"):
        try:
            attrs[key] = json.loads(attrs[key])
        except (TypeError, ValueError):
            raise TableFormatError(f"{path} is damaged: metadata {key!r} is not JSON") from None
        if not isinstance(attrs[key], dict):
            raise TableFormatError(f"{path} is damaged: metadata {key!r} is not a JSON object")
    return attrs


def metadata_problems(meta: dict) -> list[str]:
    """What is wrong with a table's root attributes beyond their presence: types, the space and
    dataset names, seeds (whole, non-negative, distinct), counts, the protocol's JSON."""
    problems = []
    if meta.get("space") not in SPACES:
        problems.append(f"space is {str(meta.get('space'))[:40]!r}, not one of {', '.join(SPACES)}")
    if meta.get("dataset") not in DATASETS:
        problems.append(f"dataset is {str(meta.get('dataset'))[:40]!r}, not one of {', '.join(DATASETS)}")
    for key in ("seeds", "score_seeds"):
        seeds = meta.get(key)
        if not isinstance(seeds, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in seeds):
            problems.append(f"{key} is not an array of integers ({str(seeds)[:40]!r})")
        elif len(set(seeds)) != len(seeds) or any(v < 0 for v in seeds):
            problems.append(f"{key} {seeds} has duplicate or negative seeds")
    for key in ("n_cells", "n_trained", "n_train_runs", "n_score_runs", "complete"):
        value = meta.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append(f"{key} is not a non-negative integer ({str(value)[:40]!r})")
    if meta.get("complete") not in (0, 1):
        problems.append(f"complete is {meta.get('complete')!r}, not 0 or 1")
    for key in ("protocol_name", "protocol_hash", "protocol_json", "dataset_fingerprint", "created"):
        if not isinstance(meta.get(key), str):
            problems.append(f"{key} is not a string")
    if isinstance(meta.get("protocol_json"), str):
        try:
            fields = json.loads(meta["protocol_json"])
            if not isinstance(fields, dict) or int(fields["epochs"]) < 1:
                raise ValueError
        except (TypeError, ValueError, KeyError):
            problems.append("protocol_json is not a protocol")
    return problems


def _protocol_fields(protocol_json: str, path) -> dict:
    try:
        fields = json.loads(protocol_json)
        int(fields["epochs"])
    except (TypeError, ValueError, KeyError, IndexError):
        raise TableFormatError(f"{path} is damaged: protocol_json is not a protocol") from None
    return fields


def open_table(path=None):
    """Open a table for queries (a Bench).

    path None: the table named by $SNNBENCH_TABLE, else the shipped tables as one view
    (snnbench.shipped.ShippedTables: a cell is answered by the first table in the manifest's order
    that trained it, else the first holding it, whatever its dataset; every table's record:
    snnbench.shipped.query_all; see snnbench/shipped.py for where they are found). A bare name that
    is no file here but names a shipped table ('digits-bw' or 'digits-bw.h5') opens that shipped table."""
    if isinstance(path, str) and path == "":
        raise TableFormatError("no table path given: name a table file")
    if path is None:
        env = os.environ.get("SNNBENCH_TABLE")
        if not env:
            from .shipped import open_shipped
            return open_shipped()
        path = env
    p = Path(path)
    if not p.exists() and p.name == str(path):
        from .shipped import find_shipped
        shipped = find_shipped(p.name)
        if shipped is not None:
            return Bench(shipped)
    return Bench(path)


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


class Bench:
    """A table opened for queries. Build with snnbench.open(path).

    Opening reads the metadata and the hash index (cells/hash, cells/train_row); every query reads
    the rows it needs. Accuracies are in %, times in seconds, firing rates in spikes per neuron per
    timestep, sops per test image, energy in pJ per test image. Means over seeds ignore diverged
    runs (NaN); standard deviations are population ones (numpy's default)."""

    def __init__(self, path):
        self.path = Path(path)
        self._datasets = {}
        self._closed = False
        self._file = _open_h5(self.path)
        try:
            self._meta = _check_header(self._file, self.path)
            problems = metadata_problems(self._meta)
            if problems:
                raise TableFormatError(f"{self.path} is damaged: {problems[0]}")
            self._hashes = self._read("cells/hash")
            self._train_row = self._read("cells/train_row")
            self.seeds = [int(s) for s in self._meta["seeds"]]
            self.score_seeds = [int(s) for s in self._meta["score_seeds"]]
            self._protocol_fields = _protocol_fields(self._meta["protocol_json"], self.path)
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
                raise TableFormatError(f"{self.path} is damaged: cannot open {name} ({_first_line(exc)})") from None
        return ds

    def _read(self, name: str, index=()):
        try:
            return self._dataset(name)[index]
        except SnnbenchError:
            raise
        except (OSError, RuntimeError, ValueError, IndexError, TypeError) as exc:
            raise TableFormatError(f"{self.path} is damaged: cannot read {name} ({_first_line(exc)})") from None

    def close(self) -> None:
        self._closed = True
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
        keys = np.array([str(h).strip().lower().encode("ascii", "replace")[:HASH_LENGTH + 1] for h in hashes],
                        dtype=f"S{HASH_LENGTH + 1}")
        if len(self._hashes) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        rows = np.minimum(np.searchsorted(self._hashes, keys), len(self._hashes) - 1)
        return np.where(self._hashes[rows] == keys, rows, -1).astype(np.int64)

    def _find_hash(self, arch_hash: str) -> int:
        key = arch_hash.strip().lower().encode("ascii")
        row = int(np.searchsorted(self._hashes, key))
        if row < len(self._hashes) and self._hashes[row] == key:
            return row
        return -1

    def row(self, cell) -> int:
        """Row of a cell given as a Cell, text, matrix or hash; ArchitectureNotInTable if the table
        lacks it, InvalidCellError / UnknownHashError if it is no architecture at all."""
        if isinstance(cell, str) and looks_like_hash(cell):
            row = self._find_hash(cell)
            if row >= 0:
                return row
        parsed = Cell.parse(cell)
        row = self._find_hash(parsed.hash)
        if row < 0:
            err = ArchitectureNotInTable(
                f"cell {parsed.hash} ({parsed.canonical_text}, a {parsed.space} cell) is not in this table "
                f"({self.path.name}: {len(self)} cells of the {self.space} space)")
            err.cell = parsed
            raise err
        return row

    def __contains__(self, cell) -> bool:
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
        matrix = self._read("cells/matrix", row)
        attributes = cell_attributes(matrix)
        rec = {"hash": self._hashes[row].decode(), "text": matrix_to_text(matrix),
               "space": "bw" if attributes["has_backward"] else "fw", **attributes}
        for name in ("hd", "sahd", "sahd_eq9"):
            rec[name] = _mean(self._read(f"scores/{name}", row))
        rec["n_params"] = int(self._read("cells/n_params", row))
        rec["firing_rate_init"] = _mean(self._read("scores/firing_rate", row))
        return rec

    def _seed_records(self, trow: int, epoch: int | None) -> dict:
        """{seed: values of that seed's run} for the finished runs of train row trow."""
        done = self._read("train/done", trow)
        values = {f: self._read(f"train/{f}", trow) for f in TRAIN_FIELDS}
        epochs_run = self._read("train/epochs_run", trow)
        diverged = self._read("train/diverged", trow)
        if epoch is not None:
            valid_curve = self._read("train/curves/valid_acc", (trow, slice(None), epoch - 1))
            epoch_times = self._read("train/curves/epoch_time", (trow, slice(None), slice(0, epoch)))
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
                # measured once, on the network after its last epoch
                for f in ("test_acc", "firing_rate", "sops", "macs", "energy_pj"):
                    rec[f] = float("nan")
            out[seed] = rec
        return out

    def _check_epoch(self, epoch):
        if epoch is None:
            return None
        epochs = int(self._protocol_fields["epochs"])
        epoch = whole_number(epoch, "epoch")
        if not 1 <= epoch <= epochs:
            raise ConfigError(f"epoch must be in 1..{epochs} (1-based), got {epoch}")
        return epoch

    def query(self, cell, seed=None, epoch=None) -> dict:
        """The record of one cell (Cell, text, matrix or hash): its text, space, attributes, scores
        (mean over scoring seeds), and training results: the mean over training seeds with
        'per_seed' {seed: {...}} when seed is None, or that seed's values when seed is given.
        epoch=e (1-based) gives valid_acc after epoch e and train_time up to e; the values measured
        only after the last epoch (test_acc, firing_rate, sops, energy_pj) are then NaN."""
        epoch = self._check_epoch(epoch)
        column = None if seed is None else self._seed_column(seed)
        seed = None if seed is None else self.seeds[column]
        row = self.row(cell)
        rec = self._cell_record(row)
        trow = int(self._train_row[row])
        per_seed = self._seed_records(trow, epoch) if trow >= 0 else {}
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
        return rec

    def curves(self, cell) -> dict:
        """Per-epoch curves of a cell: {seed: {"valid_acc", "train_acc", "train_loss", "epoch_time"}}
        as arrays of length epochs_run (% for accuracies, s for epoch_time); {} if untrained."""
        trow = int(self._train_row[self.row(cell)])
        if trow < 0:
            return {}
        done = self._read("train/done", trow)
        epochs_run = self._read("train/epochs_run", trow)
        arrays = {name: self._read(f"train/curves/{name}", trow) for name in CURVE_FIELDS}
        return {seed: {name: np.asarray(arrays[name][k][:int(epochs_run[k])], dtype=np.float64)
                       for name in CURVE_FIELDS}
                for k, seed in enumerate(self.seeds) if done[k]}

    # -- everything
    def to_dataframe(self):
        """One row per cell (sorted by hash): the query keys (without per_seed), plus
        valid_acc_s{seed} and test_acc_s{seed} for every training seed."""
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
                df[name] = np.nanmean(self._read(f"scores/{name}"), axis=1) if self.score_seeds else _nan(n)
            df["n_params"] = self._read("cells/n_params")
            df["firing_rate_init"] = (np.nanmean(self._read("scores/firing_rate"), axis=1)
                                      if self.score_seeds else _nan(n))
            df.update(self._train_frame_columns())
        return pd.DataFrame(df)

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
        m, p = self._meta, self._protocol_fields
        build = m["build"]
        sel = m["selection"]
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
            f"seeds      training {', '.join(map(str, self.seeds)) or '-'}; scoring "
            f"{', '.join(map(str, self.score_seeds)) or '-'}",
            f"cells      {m['n_cells']} ({m['n_trained']} trained, {m['n_train_runs']} training runs, "
            f"{m['n_score_runs']} scoring runs)",
            f"selection  {json.dumps(sel, sort_keys=True)}",
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
    return out


# ----------------------------------------------------------------------------- verify
def verify_table(path, quick: bool = False) -> list[str]:
    """Check a table against docs/TABLE_FORMAT.md. Returns the problems found (empty when the table is
    sound); raises TableFormatError if the file is not a readable table at all.

    By default every dataset is read in full first (HDF5 checks each compressed chunk as it inflates
    it: a damaged chunk anywhere is a problem naming its dataset), then the metadata, shapes and
    every consistency rule are checked. quick: skip the full read and the rules that need whole
    columns beyond the index, curves' valid_acc and the counts (the fast check of earlier versions)."""
    path = Path(path)
    with _open_h5(path) as f:
        meta = _check_header(f, path)
        problems = metadata_problems(meta)
        if not quick:
            damaged = _unreadable_datasets(f)
            if damaged:
                return problems + damaged
        if problems:
            return problems
        try:
            return _consistency_problems(f, meta, quick)
        except SnnbenchError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
            raise TableFormatError(f"{path} is damaged: {_first_line(exc)}") from None


def _unreadable_datasets(f: h5py.File) -> list[str]:
    """'NAME is damaged: ...' for every dataset that cannot be read in full, and for every group or
    object that cannot be opened."""
    names, problems = [], []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            names.append(name)

    try:
        f.visititems(visit)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        problems.append(f"the file's structure is damaged: {_first_line(exc)}")
    for name in names:
        try:
            f[name][()]
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
            problems.append(f"{name} is damaged: it cannot be read ({_first_line(exc)})")
    return problems


def _expected_shapes(meta: dict, n: int, m: int, n_layers: int) -> dict:
    n_seed, n_score = len(meta["seeds"]), len(meta["score_seeds"])
    epochs = json.loads(meta["protocol_json"]).get("epochs", 0)
    shapes = {"cells/hash": (n,), "cells/text": (n,), "cells/matrix": (n, 4, 4), "cells/space": (n,),
              "cells/n_params": (n,), "cells/train_row": (n,), "train/cell_row": (m,),
              "train/done": (m, n_seed), "train/epochs_run": (m, n_seed), "train/diverged": (m, n_seed),
              "train/where": (m, n_seed), "scores/where": (n, n_score),
              "scores/layer_firing_rate": (n, n_score, n_layers),
              "train/layer_firing_rate": (m, n_seed, n_layers)}
    shapes.update({f"attributes/{a}": (n,) for a in ATTRIBUTE_NAMES})
    shapes.update({f"scores/{f}": (n, n_score) for f in SCORE_FIELDS})
    shapes.update({f"train/{f}": (m, n_seed) for f in TRAIN_FIELDS})
    shapes.update({f"train/curves/{c}": (m, n_seed, epochs) for c in CURVE_FIELDS})
    return shapes


def _train_protocol_problems(meta: dict, protocol) -> list[str]:
    """A recorded training protocol must parse, match its hash and differ from the table's only in the graph."""
    from ..protocols import Protocol, differs_only_in_graph
    if "train_protocol_json" not in meta:
        return []
    try:
        train = Protocol.from_json(meta["train_protocol_json"])
    except (TypeError, ValueError) as exc:
        return [f"train_protocol_json does not parse: {exc}"]
    problems = []
    if train.hash != meta.get("train_protocol_hash"):
        problems.append(f"train_protocol_hash {meta.get('train_protocol_hash')} does not match train_protocol_json "
                        f"(hash {train.hash})")
    if not differs_only_in_graph(train, protocol):
        problems.append("train_protocol_json differs from protocol_json in more than the network graph")
    return problems


def _consistency_problems(f: h5py.File, meta: dict, quick: bool = False) -> list[str]:
    problems = []
    if "cells/hash" not in f or "train/cell_row" not in f or "layers" not in f or "hosts" not in f:
        return ["missing one of the datasets cells/hash, train/cell_row, layers, hosts"]
    for name in ("cells/hash", "cells/text", "cells/space", "layers", "hosts"):
        if name in f and f[name].dtype.kind != "S":
            problems.append(f"{name} has dtype {f[name].dtype}, expected fixed-length ASCII strings")
    for name in ("cells/matrix", "cells/n_params", "cells/train_row", "train/cell_row", "train/epochs_run",
                 "scores/where", "train/where"):
        if name in f and f[name].dtype.kind not in "iu":
            problems.append(f"{name} has dtype {f[name].dtype}, expected integers")
    if problems:
        return problems
    n, m = len(f["cells/hash"]), len(f["train/cell_row"])
    n_layers, n_hosts = len(f["layers"]), len(f["hosts"])
    for name, shape in _expected_shapes(meta, n, m, n_layers).items():
        if name not in f:
            problems.append(f"missing dataset {name}")
        elif f[name].shape != shape:
            problems.append(f"{name} has shape {f[name].shape}, expected {shape}")
    if problems:
        return problems
    from ..protocols import Protocol
    try:
        protocol = Protocol.from_json(meta["protocol_json"])
    except (TypeError, ValueError) as exc:
        return [f"protocol_json does not parse: {exc}"]
    if protocol.hash != meta["protocol_hash"]:
        problems.append(f"protocol_hash {meta['protocol_hash']} does not match protocol_json (hash {protocol.hash})")
    if protocol.dataset != meta["dataset"]:
        problems.append(f"dataset {meta['dataset']} differs from the protocol's {protocol.dataset}")
    problems += _train_protocol_problems(meta, protocol)
    problems += _check_cells(f, meta, n)
    problems += _check_training(f, meta, n, m, protocol.epochs)
    if not quick:
        problems += _check_columns(f, protocol.epochs)
    for name in ("scores/where", "train/where"):
        w = f[name][()]
        if w.size and (w.min() < -1 or w.max() >= n_hosts):
            problems.append(f"{name} points outside hosts")
    n_score_runs = int((f["scores/where"][()] >= 0).sum())
    if n_score_runs != meta["n_score_runs"]:
        problems.append(f"n_score_runs is {meta['n_score_runs']} but {n_score_runs} scoring runs are stored")
    missing = f["scores/where"][()] < 0
    if any(np.any(~np.isnan(f[f"scores/{name}"][()][missing])) for name in SCORE_FIELDS):
        problems.append("a score is set for a scoring run that is not stored")
    return problems


def _check_cells(f: h5py.File, meta: dict, n: int) -> list[str]:
    problems = []
    if n != meta["n_cells"]:
        problems.append(f"n_cells is {meta['n_cells']} but the table has {n} rows")
    hashes = f["cells/hash"][()]
    if n > 1 and not np.all(hashes[1:] > hashes[:-1]):
        problems.append("cells/hash is not sorted strictly (unsorted or duplicate hashes)")
    matrices = f["cells/matrix"][()].astype(np.int64)
    texts = [t.decode() for t in f["cells/text"][()]]
    if n:
        canonical = canonical_batch(prune_batch(matrices))
        bad_matrix = np.flatnonzero(np.any(canonical != matrices, axis=(1, 2)) | (matrices[:, 0, 3] == 0))
        if len(bad_matrix):
            problems.append(f"{len(bad_matrix)} matrices are not canonical architectures (row {bad_matrix[0]})")
    bad_text = np.flatnonzero(np.array(texts, dtype="S19") != _texts_of(matrices)) if n else []
    if len(bad_text):
        problems.append(f"{len(bad_text)} texts differ from their matrices (row {bad_text[0]})")
    # the hash of each stored matrix's canonical text, computed here (not the stored text's)
    canonical_texts = [t.decode() for t in _texts_of(canonical_batch(prune_batch(matrices)))] if n else []
    bad_hash = [i for i in range(n) if hashes[i].decode() != hash_text(canonical_texts[i])]
    if bad_hash:
        problems.append(f"{len(bad_hash)} hashes do not match their canonical texts (the canonical hashes of the "
                        f"stored matrices; row {bad_hash[0]})")
    spaces = [s.decode() for s in f["cells/space"][()]]
    backward = np.tril(matrices, -1).reshape(n, -1).any(axis=1) if n else np.zeros(0, bool)
    if spaces != ["bw" if b else "fw" for b in backward]:
        problems.append("cells/space disagrees with the matrices")
    if meta["space"] == "fw" and "bw" in spaces:
        problems.append("a table of the fw space holds bw cells")
    for name, expected in _attribute_checks(matrices).items():
        stored = f[f"attributes/{name}"][()]
        bad = np.flatnonzero(stored.astype(np.int64) != expected)
        if len(bad):
            problems.append(f"attributes/{name} disagrees with the matrix in {len(bad)} rows")
    return problems


def _texts_of(matrices: np.ndarray) -> np.ndarray:
    """Row-string forms ("0302 0030 3003 0000") of (N, 4, 4) matrices of op codes 0..9, as S19."""
    n = len(matrices)
    chars = np.full((n, 4, 5), ord(" "), dtype=np.uint8)
    chars[:, :, :4] = (matrices.astype(np.int64) + ord("0")).astype(np.uint8)
    return chars.reshape(n, 20)[:, :19].copy().view("S19").ravel()


def _attribute_checks(matrices: np.ndarray) -> dict:
    """n_backward, n_edges and depth of (N, 4, 4) canonical matrices, vectorised (what
    space.cell_attributes computes one cell at a time), for verify on tables of 100,000 cells."""
    upper = np.triu(np.ones((4, 4), dtype=bool), 1)
    nonzero = matrices != 0
    n_forward = (nonzero & upper).sum(axis=(1, 2))
    n_backward = (nonzero & upper.T).sum(axis=(1, 2))
    longest = np.full((len(matrices), 4), -1, dtype=np.int64)
    longest[:, 0] = 0
    for j in range(1, 4):  # forward edges go to higher nodes: one sweep is a topological order
        for i in range(j):
            step = np.where(nonzero[:, i, j] & (longest[:, i] >= 0), longest[:, i] + 1, -1)
            longest[:, j] = np.maximum(longest[:, j], step)
    return {"n_backward": n_backward, "depth": longest[:, 3], "n_edges": n_forward + n_backward}


def _check_training(f: h5py.File, meta: dict, n: int, m: int, epochs: int) -> list[str]:
    problems = []
    train_row, cell_row = f["cells/train_row"][()], f["train/cell_row"][()]
    if m != meta["n_trained"]:
        problems.append(f"n_trained is {meta['n_trained']} but /train has {m} rows")
    expected = np.flatnonzero(train_row >= 0)
    if not np.array_equal(expected, cell_row) or not np.array_equal(train_row[cell_row], np.arange(m)):
        problems.append("cells/train_row and train/cell_row are not inverse of each other")
        return problems
    done = f["train/done"][()]
    if int(done.sum()) != meta["n_train_runs"]:
        problems.append(f"n_train_runs is {meta['n_train_runs']} but {int(done.sum())} runs are stored")
    if m and not np.all(done.any(axis=1)):
        problems.append("a row of /train has no finished run")
    epochs_run = f["train/epochs_run"][()]
    diverged = f["train/diverged"][()]
    valid = f["train/valid_acc"][()]
    curve = f["train/curves/valid_acc"][()]
    if np.any(epochs_run[~done] != 0) or np.any(np.isfinite(valid[~done])):
        problems.append("values are stored for runs marked not done")
    if np.any(epochs_run > epochs) or np.any(epochs_run[done & ~diverged] != epochs):
        problems.append(f"epochs_run is not {epochs} for a finished run")
    for t, k in zip(*np.nonzero(done)):
        e = int(epochs_run[t, k])
        if np.any(np.isfinite(curve[t, k, e:])) or not np.all(np.isfinite(curve[t, k, :e])):
            problems.append(f"valid_acc curve of train row {t} seed column {k} does not match epochs_run {e}")
            break
        if not diverged[t, k] and not np.isclose(curve[t, k, e - 1], valid[t, k], rtol=1e-6, atol=1e-4):
            problems.append(f"valid_acc of train row {t} seed column {k} differs from its curve's last epoch")
            break
        if diverged[t, k] != (not np.isfinite(valid[t, k])):
            problems.append(f"diverged flag of train row {t} seed column {k} disagrees with valid_acc")
            break
    return problems


def _check_columns(f: h5py.File, epochs: int) -> list[str]:
    """The rules that need whole columns: nothing stored for runs not done, every per-epoch curve set
    exactly up to epochs_run (all of them, not only valid_acc), parameter counts and firing rates in
    range."""
    problems = []
    done = f["train/done"][()].astype(bool)
    diverged = f["train/diverged"][()].astype(bool)
    epochs_run = f["train/epochs_run"][()].astype(np.int64)
    for name in TRAIN_FIELDS:
        values = f[f"train/{name}"][()]
        if np.any(np.isfinite(values[~done])):
            problems.append(f"train/{name} holds values for runs that are not done")
    after = np.arange(epochs)[None, None, :] >= epochs_run[:, :, None]
    finished = (done & ~diverged)[:, :, None]
    for name in CURVE_FIELDS:
        curve = f[f"train/curves/{name}"][()]
        if np.any(np.isfinite(curve) & after):
            problems.append(f"train/curves/{name} holds values after epochs_run")
        if np.any(~np.isfinite(curve) & ~after & finished):
            problems.append(f"train/curves/{name} lacks values before epochs_run of a finished run")
    n_params = f["cells/n_params"][()]
    if np.any(n_params < -1):
        problems.append("cells/n_params holds values below -1")
    for name in ("scores/firing_rate", "train/firing_rate"):
        rates = f[name][()]
        if np.any(rates[np.isfinite(rates)] < 0):
            problems.append(f"{name} holds negative firing rates")
    return problems
