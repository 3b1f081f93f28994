"""The table's schema, shared by the writer, the reader and verify (docs/TABLE_FORMAT.md): the
format name and version, the columns of scores, training runs and curves, the required root
attributes, and opening a file as a table of this schema.

A table is column-oriented: one compressed HDF5 dataset per column, one row per cell, rows sorted
by cell hash so that a lookup is a binary search on the hash column. Scores are stored per scoring
seed; training results per training seed, only for the cells that have at least one finished
run (the /train group, linked to /cells by cells/train_row and train/cell_row).
"""
from __future__ import annotations

import json
import re

import h5py
import numpy as np

from ..version import __version__
from ..errors import TableFormatError
from ..files import check_path, storage_error
from ..profiles import DATASETS


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


# Per-epoch curves that runs recorded from a later release on (validation loss every epoch, test
# accuracy and loss at the epochs the test split was evaluated): stored, float32 [trained cell, seed,
# epoch], only in tables whose runs have them; NaN at epochs without a value (a test pass is made
# only at the epochs the protocol's `test_every` names) and for runs recorded before the fields.
# Table name -> key of a train job result.
LATER_CURVE_FIELDS = {"valid_loss": "valid_loss_curve", "test_acc": "test_acc_curve",
                      "test_loss": "test_loss_curve"}


def named_budgets(epochs: int) -> dict:
    """The named training budgets of a protocol of `epochs` epochs (1-based epochs): 'half'
    (epochs // 2, at least 1) and 'full' (the last), the epochs whose test accuracy a run records
    (model.train.budget_epochs, which trains to them; this copy keeps the query path free of torch)."""
    return {"half": max(int(epochs) // 2, 1), "full": int(epochs)}


REQUIRED_ATTRS = ("format", "schema_version", "snnbench_version", "created", "space", "dataset",
                  "dataset_fingerprint", "protocol_name", "protocol_hash", "protocol_json", "seeds",
                  "score_seeds", "n_cells", "n_trained", "n_train_runs", "n_score_runs", "complete",
                  "selection", "build")


SPACES = ("fw", "bw")


def first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def attribute_value(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def open_h5(path) -> h5py.File:
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


def check_header(f: h5py.File, path) -> dict:
    """Root attributes of a table, after checking that it is one this snnbench can read."""
    try:
        attrs = {k: attribute_value(v) for k, v in f.attrs.items()}
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


def protocol_fields(protocol_json: str, path) -> dict:
    try:
        fields = json.loads(protocol_json)
        int(fields["epochs"])
    except (TypeError, ValueError, KeyError, IndexError):
        raise TableFormatError(f"{path} is damaged: protocol_json is not a protocol") from None
    return fields
