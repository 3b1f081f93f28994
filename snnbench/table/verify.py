"""Checking a table against docs/TABLE_FORMAT.md: every dataset readable, the metadata, the shapes,
and every consistency rule between the columns (canonical cells, attributes, training runs)."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from ..errors import SnnbenchError, TableFormatError
from ..space import ATTRIBUTE_NAMES, canonical_batch, hash_text, prune_batch
from .schema import (CURVE_FIELDS, LATER_CURVE_FIELDS, SCORE_FIELDS, TRAIN_FIELDS, check_header, first_line, metadata_problems,
                     open_h5)


def verify_table(path, quick: bool = False) -> list[str]:
    """Check a table against docs/TABLE_FORMAT.md. Returns the problems found (empty when the table is
    sound); raises TableFormatError if the file is not a readable table at all.

    By default every dataset is read in full first (HDF5 checks each compressed chunk as it inflates
    it: a damaged chunk anywhere is a problem naming its dataset), then the metadata, shapes and
    every consistency rule are checked. quick: skip the full read and the rules that need whole
    columns beyond the index, curves' valid_acc and the counts (the fast check of earlier versions)."""
    path = Path(path)
    with open_h5(path) as f:
        meta = check_header(f, path)
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
            raise TableFormatError(f"{path} is damaged: {first_line(exc)}") from None


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
        problems.append(f"the file's structure is damaged: {first_line(exc)}")
    for name in names:
        try:
            f[name][()]
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
            problems.append(f"{name} is damaged: it cannot be read ({first_line(exc)})")
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


def _later_curve_problems(f: h5py.File, m: int, n_seed: int, epochs: int) -> list[str]:
    """The later curves (valid_loss, test_acc, test_loss) are optional, but when a table has one it
    has the shape of the others and float values."""
    problems = []
    for name in LATER_CURVE_FIELDS:
        column = f"train/curves/{name}"
        if column not in f:
            continue
        if f[column].shape != (m, n_seed, epochs):
            problems.append(f"{column} has shape {f[column].shape}, expected {(m, n_seed, epochs)}")
        elif f[column].dtype.kind != "f":
            problems.append(f"{column} has dtype {f[column].dtype}, expected floats")
    return problems


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
    if not problems:
        epochs = json.loads(meta["protocol_json"]).get("epochs", 0)
        problems += _later_curve_problems(f, m, len(meta["seeds"]), epochs)
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


def _check_later_curves(f: h5py.File, done, diverged, after) -> list[str]:
    """The later curves of a table that has them: nothing after epochs_run; a run has a validation
    loss at every epoch up to epochs_run or at none (a run recorded before the field existed);
    test accuracy and loss are set at the same epochs, and a finished run's test accuracy at its
    last epoch, when recorded, is its train/test_acc."""
    problems = []
    present = {name: f[f"train/curves/{name}"][()] for name in LATER_CURVE_FIELDS if f"train/curves/{name}" in f}
    for name, curve in present.items():
        if np.any(np.isfinite(curve) & after):
            problems.append(f"train/curves/{name} holds values after epochs_run")
    if "valid_loss" in present:
        have = np.isfinite(present["valid_loss"]) & ~after
        finished = (done & ~diverged)[:, :, None]
        partial = have.any(axis=2) & ~(have | after).all(axis=2)
        if np.any(partial & finished[:, :, 0]):
            problems.append("train/curves/valid_loss lacks values before epochs_run of a finished run that has some")
    if "test_acc" in present and "test_loss" in present:
        if np.any(np.isfinite(present["test_acc"]) != np.isfinite(present["test_loss"])):
            problems.append("train/curves/test_acc and train/curves/test_loss are set at different epochs")
    if "test_acc" in present and present["test_acc"].shape[2]:
        test_acc = f["train/test_acc"][()]
        last = present["test_acc"][:, :, -1]
        stored = done & ~diverged & np.isfinite(last)
        if np.any(~np.isclose(last[stored], test_acc[stored], rtol=1e-6, atol=1e-4)):
            problems.append("train/test_acc differs from its test_acc curve's last epoch")
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
    problems += _check_later_curves(f, done, diverged, after)
    n_params = f["cells/n_params"][()]
    if np.any(n_params < -1):
        problems.append("cells/n_params holds values below -1")
    for name in ("scores/firing_rate", "train/firing_rate"):
        rates = f[name][()]
        if np.any(rates[np.isfinite(rates)] < 0):
            problems.append(f"{name} holds negative firing rates")
    return problems
