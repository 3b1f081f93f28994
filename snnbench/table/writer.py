"""Writing a table: its columns assembled from finished jobs, its root attributes, and the atomic
write (a temporary file built in memory, fsync, rename over the table, fsync the folder)."""
from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from .. import testing
from ..version import __version__
from ..files import atomic_output, make_parent
from ..space import HASH_LENGTH, batch_attributes, canonical_texts
from .schema import CURVE_FIELDS, LATER_CURVE_FIELDS, SCHEMA_VERSION, SCORE_FIELDS, TABLE_FORMAT, TRAIN_FIELDS

if TYPE_CHECKING:
    from ..protocols import Protocol


_COMPRESSION = dict(compression="gzip", compression_opts=4, shuffle=True)


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
    # the later curves are stored when any run has them; older runs of the same table leave NaN
    later = {name: key for name, key in LATER_CURVE_FIELDS.items()
             if any(key in r for r in train_results.values())}
    curves.update({name: _nan((m, n_seed, epochs), np.float32) for name in later})
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
            for name, key in later.items():
                curve = _curve_values(r.get(key))[:epochs]
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
    for name in curves:
        cols[f"train/curves/{name}"] = curves[name]
    cols["train/layer_firing_rate"] = train_layers
    return cols


def _curve_values(values) -> np.ndarray:
    """A recorded per-epoch list as float32, None (an epoch without that evaluation) as NaN."""
    return np.array([np.nan if v is None else v for v in (values or [])], dtype=np.float32)


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


def temporary_path(path) -> Path:
    """Where a table is written before it is renamed over `path`."""
    path = Path(path)
    return path.with_name(path.name + ".tmp")


def write_table(path, columns: dict, attrs: dict) -> Path:
    """Write a table atomically (files.atomic_output): into PATH.tmp, fsync, then rename over PATH. A
    reader sees the old file or the new one, never a half-written one. On failure (a full or read-only
    disk) PATH is unchanged, the temporary file is removed and a StorageError says why. Returns the path.

    HDF5 builds the file in memory (its 'core' driver) and plain file writes put it on disk: a disk
    that fails in the middle of an HDF5 write leaves HDF5 with a file it can neither flush nor close,
    and a process that goes on using h5py after that may crash."""
    path = Path(path)
    tmp = temporary_path(path)
    make_parent(path, "`out`")
    with atomic_output(path, tmp, "cannot write the table") as fh:
        fh.write(_table_image(tmp.name, columns, attrs))
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
                testing.pause_table_write()
        f.flush()
        return f.id.get_file_image()
