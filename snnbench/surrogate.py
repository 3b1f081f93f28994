"""An XGBoost surrogate of a table: from a cell's encoding to its final validation accuracy.

Features (FEATURE_VERSION 1), computed from the canonical matrix so that every encoding of one
network gets the same vector:
- for each of the 6 node pairs (space.PAIRS), a one-hot of its state: none, forward op 1..4,
  backward op 1..4 (9 columns per pair, 54 in all);
- the attribute counts of space.ATTRIBUTE_NAMES (edges per direction, ops, depth, ...);
- optionally (off by default, so that a prediction needs no network) zero-cost scores from the table.

An ensemble of boosted-tree members, each fit with its own seed on a bootstrap resample of the
training cells, gives a mean and a standard deviation per prediction (in the spirit of
NAS-Bench-301's noisy surrogates).

Files: `MODEL.json` holds our metadata (format, feature version, feature names, protocol hash,
training cells, ensemble settings, the member files and their SHA-256); each member is XGBoost's
own JSON beside it, `MODEL.member{i}.json`. Nothing is pickled. Loading checks all of it and raises
ModelFormatError on anything damaged or mismatched.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import kendall_tau, noise_ceiling, spearman_rho
from .errors import ConfigError, ModelFormatError, TableFormatError
from .space import (ATTRIBUTE_NAMES, PAIR_STATES, PAIRS, as_cell, cell_attributes, one_hot, pair_feature_names,  # noqa: F401
                    pair_states, text_to_matrix)


FEATURE_VERSION = 1
MODEL_FORMAT = "snnbench-surrogate"
MODEL_FORMAT_VERSION = 1
OPTIONAL_SCORE_FEATURES = ("hd", "sahd", "sahd_eq9", "n_params", "firing_rate_init")


# ----------------------------------------------------------------------------- encoding
@functools.lru_cache(maxsize=None)
def _structure_row(canonical_text: str) -> np.ndarray:
    """One-hot pair states and attribute counts of a canonical cell (cached: searches ask again and again)."""
    attrs = cell_attributes(text_to_matrix(canonical_text))
    return np.concatenate([one_hot(pair_states(canonical_text)), [float(attrs[a]) for a in ATTRIBUTE_NAMES]])


def feature_names(score_features=()) -> list[str]:
    """Column names of the feature vector, in order."""
    return pair_feature_names() + list(ATTRIBUTE_NAMES) + [f"score_{s}" for s in score_features]


def encode_cells(cells, scores: pd.DataFrame | None = None, score_features=()) -> np.ndarray:
    """Feature matrix (n_cells, n_features) of cells given as Cell, text or hash.

    With score_features, `scores` must be a frame indexed by cell hash holding those columns
    (such as the table's to_dataframe().set_index('hash')); a missing score is NaN, which XGBoost
    treats as missing."""
    cells = [as_cell(c) for c in cells]
    width = len(PAIRS) * len(PAIR_STATES) + len(ATTRIBUTE_NAMES)
    parts = [np.array([_structure_row(c.canonical_text) for c in cells]).reshape(len(cells), width)]
    if score_features:
        if scores is None:
            raise ConfigError(f"this surrogate uses the scores {', '.join(score_features)} as features: "
                              "give a table frame holding them")
        missing = [s for s in score_features if s not in scores.columns]
        if missing:
            raise TableFormatError(f"the table lacks the score columns {', '.join(missing)}")
        looked_up = scores.reindex([c.hash for c in cells])[list(score_features)].to_numpy(dtype=float)
        # a singular kernel's log|det K| is -inf: no usable value, so missing (XGBoost refuses inf)
        looked_up = np.where(np.isfinite(looked_up), looked_up, np.nan)
        parts.append(looked_up)
    return np.hstack(parts)


# ----------------------------------------------------------------------------- the ensemble
@dataclass
class SurrogateParams:
    """Settings of the ensemble. nthread=1 by default: the machines this runs on are shared."""
    n_members: int = 5
    n_estimators: int = 400
    max_depth: int = 4
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0
    reg_lambda: float = 1.0
    bootstrap: bool = True
    seed: int = 0
    nthread: int = 1

    def xgb_params(self, member: int) -> dict:
        return {"objective": "reg:squarederror", "eta": self.learning_rate, "max_depth": self.max_depth,
                "subsample": self.subsample, "colsample_bytree": self.colsample_bytree,
                "min_child_weight": self.min_child_weight, "lambda": self.reg_lambda,
                "nthread": self.nthread, "seed": self.seed * 1000 + member, "verbosity": 0}

    def check(self) -> "SurrogateParams":
        if self.n_members < 1 or self.n_estimators < 1 or self.max_depth < 1 or self.nthread < 1:
            raise ConfigError("n_members, n_estimators, max_depth and nthread must be at least 1")
        return self


@dataclass
class Surrogate:
    """An ensemble of XGBoost regressors from a cell to an accuracy (%).

    Build it with parameters, then fit(cells, accuracy); or fit_table(frame); or load_surrogate(path).
    predict_cells(cells) returns (mean, std) over the members, in %."""
    params: SurrogateParams = field(default_factory=SurrogateParams)
    score_features: tuple = ()
    target: str = "valid_acc"
    protocol_hash: str | None = None
    protocol_json: str | None = None
    train_hashes: list = field(default_factory=list)
    members: list = field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        return feature_names(self.score_features)

    @property
    def fitted(self) -> bool:
        return bool(self.members)

    def fit(self, cells, accuracy, scores: pd.DataFrame | None = None) -> "Surrogate":
        """Fit every member on (cells, accuracy %); each on its own bootstrap resample when
        params.bootstrap. Returns self."""
        import xgboost as xgb
        self.params.check()
        x = encode_cells(cells, scores, self.score_features)
        y = np.asarray(accuracy, dtype=float)
        if len(y) != len(x) or len(y) < 2 or not np.all(np.isfinite(y)):
            raise ConfigError(f"a surrogate needs at least 2 cells with finite accuracies, got {len(y)}")
        rng = np.random.default_rng(self.params.seed)
        self.members = []
        for member in range(self.params.n_members):
            rows = rng.integers(0, len(y), len(y)) if self.params.bootstrap else np.arange(len(y))
            # Names are attached after training: XGBoost re-validates them on every boosting round.
            booster = xgb.train(self.params.xgb_params(member), xgb.DMatrix(x[rows], label=y[rows]),
                                num_boost_round=self.params.n_estimators)
            booster.feature_names = self.feature_names
            self.members.append(booster)
        self.train_hashes = sorted({as_cell(c).hash for c in cells})
        return self

    def fit_table(self, frame: pd.DataFrame, protocol=None) -> "Surrogate":
        """Fit on every trained cell of a table frame (Bench.to_dataframe()), target self.target.
        `protocol` (a Protocol) is recorded so that the model is only used with matching tables."""
        rows = training_rows(frame, self.target)
        if protocol is not None:
            self.protocol_hash, self.protocol_json = protocol.hash, protocol.to_json()
        return self.fit(rows["hash"].tolist(), rows[self.target], scores=frame.set_index("hash"))

    def predict_cells(self, cells, scores: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted accuracy (%) of each cell: (mean, std) over the ensemble members, two arrays."""
        import xgboost as xgb
        if not self.fitted:
            raise ModelFormatError("this surrogate has not been fitted")
        x = encode_cells(cells, scores, self.score_features)
        data = xgb.DMatrix(x, feature_names=self.feature_names)
        preds = np.stack([m.predict(data) for m in self.members]).astype(float)
        return preds.mean(axis=0), preds.std(axis=0)

    def check_protocol(self, protocol_hash: str) -> None:
        """ModelFormatError unless the model was fit on tables of this protocol."""
        if self.protocol_hash is not None and protocol_hash != self.protocol_hash:
            raise ModelFormatError(f"the surrogate was fit on protocol {self.protocol_hash}, "
                                   f"not on this table's protocol {protocol_hash}: fit a model on this table")

    # ------------------------------------------------------------------------- files
    def metadata(self, member_files: list[str], member_sha: list[str]) -> dict:
        return {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
                "feature_version": FEATURE_VERSION, "feature_names": self.feature_names,
                "score_features": list(self.score_features), "target": self.target,
                "protocol_hash": self.protocol_hash, "protocol": self.protocol_json,
                "n_train_cells": len(self.train_hashes), "train_hashes": self.train_hashes,
                "ensemble_size": len(self.members), "params": self.params.__dict__.copy(),
                "members": [{"file": f, "sha256": s} for f, s in zip(member_files, member_sha)]}

    def save(self, path) -> Path:
        """Write the metadata to `path` (a .json) and each member as XGBoost JSON beside it.
        Returns the metadata path. If a write fails (StorageError), the member files written by this
        call are removed again and no temporary file is left."""
        from .files import atomic_write_bytes, check_output_file, make_parent, remove_quietly
        if not self.fitted:
            raise ModelFormatError("nothing to save: this surrogate has not been fitted")
        path = check_output_file(path, "`out`")
        if path.suffix != ".json":
            raise ConfigError(f"the model path must end in .json, got {path.name}")
        make_parent(path, "`out`")
        files, shas, written = [], [], []
        try:
            for booster, member_path in zip(self.members, member_paths(path, len(self.members))):
                raw = bytes(booster.save_raw(raw_format="json"))
                written.append(atomic_write_bytes(member_path, raw))
                files.append(member_path.name)
                shas.append(hashlib.sha256(raw).hexdigest())
            atomic_write_bytes(path, json.dumps(self.metadata(files, shas), indent=1).encode())
        except BaseException:
            for member_path in written:  # members of no model: a half-saved model is no model
                remove_quietly(member_path)
            raise
        return path


def member_paths(path, n_members: int) -> list[Path]:
    """Where Surrogate.save writes the members of a model saved at `path`: MODEL.member{i}.json."""
    path = Path(path)
    return [path.with_name(f"{path.stem}.member{i}.json") for i in range(n_members)]


def training_rows(frame: pd.DataFrame, target: str = "valid_acc") -> pd.DataFrame:
    """The rows of a table frame with a finite target accuracy."""
    if "hash" not in frame.columns or target not in frame.columns:
        raise TableFormatError(f"the table's frame needs the columns hash and {target}")
    return frame[np.isfinite(frame[target].to_numpy(dtype=float))]


def load_surrogate(path, protocol_hash: str | None = None) -> Surrogate:
    """Load a surrogate written by Surrogate.save. Checks the metadata (format, versions, feature
    names), each member's SHA-256 and feature count, and, when protocol_hash is given, that the model
    was fit on tables of that protocol. ModelFormatError with one clear line otherwise."""
    import xgboost as xgb
    path = Path(path)
    meta = _read_metadata(path)
    params = _read_params(path, meta.get("params", {}))
    model = Surrogate(params=params, score_features=tuple(meta["score_features"]), target=meta["target"],
                      protocol_hash=meta["protocol_hash"], protocol_json=meta.get("protocol"),
                      train_hashes=list(meta.get("train_hashes", [])))
    if meta["feature_names"] != model.feature_names:
        raise ModelFormatError(f"{path}: its feature names do not match feature version {FEATURE_VERSION}")
    for entry in meta["members"]:
        raw = _read_member(path, entry)
        booster = xgb.Booster(params={"nthread": params.nthread})
        try:
            booster.load_model(bytearray(raw))
        except xgb.core.XGBoostError as exc:
            raise ModelFormatError(f"{path}: member {entry['file']} is not an XGBoost model "
                                   f"({str(exc).splitlines()[0]})") from None
        if booster.num_features() != len(model.feature_names):
            raise ModelFormatError(f"{path}: member {entry['file']} has {booster.num_features()} features, "
                                   f"expected {len(model.feature_names)}")
        model.members.append(booster)
    if protocol_hash is not None:
        model.check_protocol(protocol_hash)
    return model


def _read_metadata(path: Path) -> dict:
    if not path.is_file():
        raise ModelFormatError(f"{path}: no such model file")
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{path}: not a JSON model file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise ModelFormatError(f"{path}: not an snnbench surrogate (give the MODEL.json that "
                               "`snnbench surrogate fit --out` wrote, not a member file)")
    if meta.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelFormatError(f"{path}: model format version {meta.get('format_version')}, "
                               f"this snnbench reads {MODEL_FORMAT_VERSION}")
    if meta.get("feature_version") != FEATURE_VERSION:
        raise ModelFormatError(f"{path}: built with feature version {meta.get('feature_version')}, "
                               f"this snnbench encodes cells with version {FEATURE_VERSION}: refit the model")
    needed = ("feature_names", "score_features", "target", "protocol_hash", "members")
    missing = [k for k in needed if k not in meta]
    if missing or not meta["members"]:
        raise ModelFormatError(f"{path}: metadata incomplete (missing {', '.join(missing) or 'members'})")
    _check_metadata_types(path, meta)
    return meta


def _is_list_of(value, kind) -> bool:
    return isinstance(value, list) and all(isinstance(v, kind) for v in value)


def _check_metadata_types(path: Path, meta: dict) -> None:
    """ModelFormatError for a field of MODEL.json of the wrong type (a damaged or hand-edited file)."""
    def bad(field, expected):
        raise ModelFormatError(f"{path}: metadata field {field!r} is damaged (expected {expected})")
    members = meta["members"]
    if not isinstance(members, list) or not all(
            isinstance(m, dict) and isinstance(m.get("file"), str) and isinstance(m.get("sha256"), str)
            for m in members):
        bad("members", "a list of {file, sha256} objects")
    if not _is_list_of(meta["feature_names"], str):
        bad("feature_names", "a list of names")
    if not _is_list_of(meta["score_features"], str) or any(
            s not in OPTIONAL_SCORE_FEATURES for s in meta["score_features"]):
        bad("score_features", f"names among {', '.join(OPTIONAL_SCORE_FEATURES)}")
    if meta["target"] not in ("valid_acc", "test_acc"):
        bad("target", "valid_acc or test_acc")
    if meta["protocol_hash"] is not None and not isinstance(meta["protocol_hash"], str):
        bad("protocol_hash", "a hash")
    if "train_hashes" in meta and not _is_list_of(meta["train_hashes"], str):
        bad("train_hashes", "a list of cell hashes")
    if not isinstance(meta.get("params", {}), dict):
        bad("params", "an object of ensemble settings")


def _read_params(path: Path, stored: dict) -> SurrogateParams:
    """The ensemble settings of a model file, each of the type SurrogateParams gives it."""
    params = SurrogateParams()
    for name, default in params.__dict__.items():
        if name not in stored:
            continue
        value = stored[name]
        kind = type(default)
        ok = (isinstance(value, bool) if kind is bool else
              isinstance(value, int) and not isinstance(value, bool) if kind is int else
              isinstance(value, (int, float)) and not isinstance(value, bool))
        if not ok:
            raise ModelFormatError(f"{path}: metadata field params.{name} is damaged (expected a {kind.__name__}, "
                                   f"got {str(value)[:40]!r})")
        setattr(params, name, kind(value))
    try:
        return params.check()
    except ConfigError as exc:
        raise ModelFormatError(f"{path}: metadata field params is damaged ({exc})") from None


def _read_member(path: Path, entry: dict) -> bytes:
    name = str(entry.get("file", ""))
    if not name or Path(name).name != name or name in (".", ".."):
        raise ModelFormatError(f"{path}: member file name {name[:80]!r} is not a plain file name "
                               "(members lie beside MODEL.json)")
    member_path = path.with_name(name)
    if not member_path.is_file():
        raise ModelFormatError(f"{path}: member file {name!r} is missing (keep the member files beside MODEL.json)")
    raw = member_path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != entry.get("sha256"):
        raise ModelFormatError(f"{path}: member {name} is damaged (SHA-256 mismatch)")
    return raw


# ----------------------------------------------------------------------------- evaluation
def r_squared(y_true, y_pred) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (NaN for a constant y_true)."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    ss_tot = ((y_true - y_true.mean()) ** 2).sum()
    return float(1 - ((y_true - y_pred) ** 2).sum() / ss_tot) if ss_tot > 0 else float("nan")


def cross_validate(frame: pd.DataFrame, sizes=None, folds: int = 5, params: SurrogateParams | None = None,
                   target: str = "valid_acc", score_features=(), seed: int = 0) -> pd.DataFrame:
    """k-fold cross-validation of the surrogate as a curve over training-set size.

    The trained cells are split into `folds` folds (seeded); for each fold and each size n, a model is
    fit on n cells drawn from the other folds and scored on the held-out fold. One row per size:
    size, folds, n_test (held-out cells per fold, mean), tau, rho, r2, rmse (%) and the same for a
    predictor of the training mean (mean_rmse), as mean over folds with *_std across folds.
    Sizes larger than the pool of training cells are clipped to it; default sizes: 5 steps up to it."""
    params = params or SurrogateParams(n_members=3, n_estimators=200)
    rows = training_rows(frame, target).reset_index(drop=True)
    if folds < 2 or len(rows) < folds + 2:
        raise ConfigError(f"cross-validation needs folds >= 2 and more trained cells than folds + 1 "
                          f"(the table has {len(rows)} trained cells, folds = {folds})")
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(len(rows)) % folds
    pool_size = int((fold_of != 0).sum())
    sizes = _curve_sizes(sizes, pool_size)
    scores = frame.set_index("hash")
    results = []
    for size in sizes:
        per_fold = [_fold_metrics(rows, fold_of == k, size, params, target, score_features, scores, rng)
                    for k in range(folds)]
        results.append(_summarise_folds(size, per_fold))
    return pd.DataFrame(results)


def _curve_sizes(sizes, pool_size: int) -> list[int]:
    if not sizes:
        sizes = np.unique(np.linspace(min(10, pool_size), pool_size, 5).astype(int))
    sizes = sorted({min(int(s), pool_size) for s in sizes})
    if sizes[0] < 2:
        raise ConfigError("training-set sizes must be at least 2")
    return sizes


def _fold_metrics(rows, test_mask, size, params, target, score_features, scores, rng) -> dict:
    pool = np.flatnonzero(~test_mask)
    train = rng.choice(pool, size=min(size, len(pool)), replace=False)
    test = rows[test_mask]
    member_params = SurrogateParams(**{**params.__dict__, "seed": int(rng.integers(1 << 30))})
    model = Surrogate(params=member_params, score_features=tuple(score_features), target=target)
    model.fit(rows["hash"].iloc[train].tolist(), rows[target].iloc[train], scores=scores)
    pred, _std = model.predict_cells(test["hash"].tolist(), scores=scores)
    y = test[target].to_numpy(dtype=float)
    baseline = np.full_like(y, rows[target].iloc[train].mean())
    return {"tau": kendall_tau(pred, y), "rho": spearman_rho(pred, y), "r2": r_squared(y, pred),
            "rmse": float(np.sqrt(((pred - y) ** 2).mean())),
            "mean_rmse": float(np.sqrt(((baseline - y) ** 2).mean())), "n_test": len(y)}


def _summarise_folds(size: int, per_fold: list[dict]) -> dict:
    out = {"size": size, "folds": len(per_fold), "n_test": float(np.mean([f["n_test"] for f in per_fold]))}
    for key in ("tau", "rho", "r2", "rmse", "mean_rmse"):
        values = np.array([f[key] for f in per_fold], dtype=float)
        out[key] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        out[f"{key}_std"] = float(np.nanstd(values)) if np.isfinite(values).any() else float("nan")
    return out


def evaluation_report(frame: pd.DataFrame, curve: pd.DataFrame, target: str = "valid_acc") -> str:
    """The CV curve as text, with the noise ceiling (one training seed ranking the cells as another
    does) printed next to it."""
    lines = [f"surrogate cross-validation, target {target} (mean over folds +- std across folds)",
             f"{'train cells':>11s} {'test/fold':>9s}  {'Kendall tau':>15s}  {'Spearman rho':>15s}  "
             f"{'R^2':>15s}  {'RMSE %':>7s}  {'mean-predictor RMSE %':>21s}"]
    for r in curve.itertuples():
        lines.append(f"{r.size:11d} {r.n_test:9.1f}  {r.tau:+7.3f} +- {r.tau_std:5.3f}  {r.rho:+7.3f} +- {r.rho_std:5.3f}  "
                     f"{r.r2:+7.3f} +- {r.r2_std:5.3f}  {r.rmse:7.3f}  {r.mean_rmse:21.3f}")
    ceiling = noise_ceiling(frame, target, n_boot=0)
    all_rows = ceiling[ceiling["space"] == "all"]
    if len(all_rows):
        # the mean over the pairs of the build's seeds, or its first pair (a pair with a seed that
        # only the better half has covers that half alone)
        averaged = all_rows[all_rows["score"] == "seed pairs (mean)"]
        best = averaged.iloc[0] if len(averaged) else all_rows.iloc[0]
        lines.append(f"noise ceiling (seed vs seed, all cells, n={best.n}): tau {best.tau:+.3f}, rho {best.rho:+.3f}")
    else:
        lines.append("noise ceiling: not available (fewer than two training seeds per cell)")
    return "\n".join(lines)
