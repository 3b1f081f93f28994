"""The paper's zero-cost search against a table: draw N candidate cells with the authors' sampler,
keep the one with the best zero-cost score (HD or SAHD; or a random one), and look up what it
achieves when trained. Over several runs this is the analogue of the paper's Table 4."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..errors import ArchitectureNotInTable, ConfigError, SpaceMismatchError
from ..space import Cell, check_space, in_space, sample_cells, sampler_probabilities


PAPER_ALGOS = ("sahd", "hd", "random")
# The paper's search draws 5000 cells of the bw space (102,596 cells): 4.9 % of it. On a table that
# trained a sample, a run draws the same share of the trained cells, so that runs see different cells;
# 5000 draws among 300 trained cells would cover every one of them, and every run would pick the same
# winner by construction.
PAPER_SAMPLES, PAPER_SPACE_SIZE = 5000, 102_596


@dataclass
class SearchPlan:
    """What a search covers: restrict_to_table (draw among the trained cells only), n_samples per run,
    n_trained (trained cells of the space in the table), space_size (cells of the space) and `note`,
    one sentence saying why, for the output."""
    restrict_to_table: bool
    n_samples: int
    n_trained: int
    space_size: int
    note: str


def search_plan(bench, space: str, n_samples: int | None = None, restrict_to_table: bool | None = None) -> SearchPlan:
    """The paper's search made to produce numbers on a table: unless told otherwise, a table that trained
    only a sample of the space is searched among its trained cells, with as many draws per run as the
    paper's share of its space (PAPER_SAMPLES / PAPER_SPACE_SIZE of the trained cells, at least 2); a
    table that trained the whole space is searched over the space with PAPER_SAMPLES draws."""
    from ..space import space_hashes
    check_space(space)
    frame = table_frame(bench)
    rows = frame[trained_mask(frame)]
    n_trained = int(len(rows) if space == "bw" else (rows["space"] == "fw").sum())
    size = len(space_hashes(space))
    if restrict_to_table is None:
        restrict_to_table = n_trained < size
    if n_samples is None:
        share = max(2, round(n_trained * PAPER_SAMPLES / PAPER_SPACE_SIZE))
        n_samples = share if restrict_to_table else PAPER_SAMPLES
    if restrict_to_table:
        note = (f"searching the {n_trained} trained cells of the {space} space (of {size}), {n_samples} draws per run")
        if n_samples >= n_trained:
            note += (f": {n_samples} draws among {n_trained} cells cover nearly all of them, so every run picks "
                     "nearly the same winner")
    else:
        note = (f"searching the whole {space} space ({size} cells, {n_trained} trained), {n_samples} draws per run"
                + ("; winners the table did not train have no measured accuracy" if n_trained < size else ""))
    return SearchPlan(bool(restrict_to_table), int(n_samples), n_trained, size, note)


def table_frame(bench) -> pd.DataFrame:
    """The bench's one-row-per-cell frame indexed by cell hash (a DataFrame is accepted as is)."""
    frame = bench if isinstance(bench, pd.DataFrame) else bench.to_dataframe()
    return frame.set_index("hash", drop=False) if "hash" in frame.columns else frame


def trained_mask(frame: pd.DataFrame) -> np.ndarray:
    return np.isfinite(frame["valid_acc"].to_numpy(dtype=float))


def table_space(bench, frame: pd.DataFrame) -> str:
    """The space a table holds: its `space` attribute, else 'fw' when every row is an fw cell."""
    space = None if isinstance(bench, pd.DataFrame) else getattr(bench, "space", None)
    if space in ("fw", "bw"):
        return space
    return "fw" if "space" in frame.columns and (frame["space"] == "fw").all() else "bw"


def check_space_of_table(bench, frame: pd.DataFrame, space: str) -> None:
    """SpaceMismatchError when `space` is bw and the table holds fw cells only."""
    held = table_space(bench, frame)
    if space == "bw" and held == "fw":
        name = getattr(getattr(bench, "path", None), "name", "the table")
        raise SpaceMismatchError(f"`space` bw asked of {name}, a table of the fw space (no cell has a backward "
                                 "edge): search `space` fw, or use a bw table")


@dataclass
class PaperSearchRun:
    """One search: the winner among n_samples candidates and what it achieves (accuracies in %).
    source: 'table' (measured), 'surrogate' (predicted, the model's target only) or 'untrained'."""
    run: int
    algo: str
    space: str
    n_samples: int
    winner: str
    text: str
    score: float
    valid_acc: float
    test_acc: float
    source: str
    n_scored_now: int


def paper_search(bench, space: str, algo: str = "sahd", n_samples: int = 5000, runs: int = 5, seed: int = 0,
                 model=None, compute_missing: bool = True, restrict_to_table: bool = False,
                 data_dir=None, device=None, progress: bool = False) -> list[PaperSearchRun]:
    """The paper's search, `runs` times: draw n_samples cells with the authors' sampler
    (space.sample_cells), keep the best by `algo` ('sahd', 'hd': highest score; 'random': the first
    drawn), and look up the winner's mean accuracies in the table; if it was not trained, the
    surrogate `model` predicts it (marked) or it is reported as untrained.

    Scores come from the table; a candidate without one is scored now (scorer.score_one under the
    table's protocol, seed 0) when compute_missing, else dropped. restrict_to_table draws from the
    authors' sampler conditioned on the cell having been trained, so every winner is measured."""
    check_space(space)
    if algo not in PAPER_ALGOS:
        raise ConfigError(f"unknown search {algo!r}: choose one of {', '.join(PAPER_ALGOS)}")
    if n_samples < 1 or runs < 1:
        raise ConfigError("`samples` and `runs` must be at least 1")
    frame = table_frame(bench)
    trained = set(frame.index[trained_mask(frame)])
    if restrict_to_table:
        check_space_of_table(bench, frame, space)
    if restrict_to_table and not any(space == "bw" or frame.at[h, "space"] == "fw" for h in trained):
        raise ArchitectureNotInTable(f"the table has no trained cell of the {space} space")
    scorer = _ScoreLookup(frame, bench, compute_missing, data_dir, device) if algo != "random" else None
    results = []
    for run in range(runs):
        rng = np.random.default_rng([seed, run])
        candidates = _draw(space, n_samples, rng, trained if restrict_to_table else None)
        if scorer is None:
            winner, score = candidates[0], float("nan")
        else:
            winner, score = scorer.best(candidates, algo, progress)
        results.append(PaperSearchRun(run, algo, space, n_samples, winner.hash, winner.canonical_text, score,
                                      *_outcome(frame, winner, model), n_scored_now=scorer.n_computed if scorer else 0))
    return results


def _draw(space: str, n: int, rng, allowed: set | None) -> list[Cell]:
    """n cells from the authors' sampler; with `allowed`, from the sampler's distribution conditioned
    on the cell's hash being in `allowed` (drawn directly with the exact probabilities)."""
    if allowed is None:
        return sample_cells(space, n, rng)
    cells = [c for c in (Cell.from_hash(h) for h in sorted(allowed)) if in_space(c, space)]
    weights = sampler_probabilities(space, cells)
    picks = rng.choice(len(cells), size=n, p=weights / weights.sum())
    return [cells[i] for i in picks]


def _outcome(frame: pd.DataFrame, cell: Cell, model) -> tuple[float, float, str]:
    """(valid_acc, test_acc, source) of a search's winner."""
    if cell.hash in frame.index and np.isfinite(frame.at[cell.hash, "valid_acc"]):
        return float(frame.at[cell.hash, "valid_acc"]), float(frame.at[cell.hash, "test_acc"]), "table"
    if model is not None:
        mean, _std = model.predict_cells([cell], scores=frame)
        acc = {"valid_acc": float("nan"), "test_acc": float("nan"), model.target: float(mean[0])}
        return acc["valid_acc"], acc["test_acc"], "surrogate"
    return float("nan"), float("nan"), "untrained"


class _ScoreLookup:
    """Zero-cost scores of cells: from the table, else computed once and remembered."""

    def __init__(self, frame, bench, compute_missing, data_dir, device):
        self.frame, self.compute_missing = frame, compute_missing
        self.protocol = getattr(bench, "protocol", None)
        self.data_dir, self.device = data_dir, device
        self.computed: dict[str, dict] = {}

    @property
    def n_computed(self) -> int:
        return len(self.computed)

    def score(self, cell: Cell, name: str) -> float:
        if cell.hash in self.frame.index and name in self.frame.columns:
            value = float(self.frame.at[cell.hash, name])
            if not math.isnan(value):  # -inf (a singular kernel: HD of silent units) is a recorded score
                return value
        if not self.compute_missing:
            return float("nan")
        if cell.hash not in self.computed:
            if self.protocol is None:
                raise ConfigError("scores must be computed but the table has no protocol")
            from ..build.scorer import score_one
            self.computed[cell.hash] = score_one(cell, self.protocol, 0, self.data_dir, self.device)
        return float(self.computed[cell.hash][name])

    def best(self, candidates: list[Cell], name: str, progress: bool) -> tuple[Cell, float]:
        from tqdm import tqdm
        best, best_score = None, -math.inf
        for cell in tqdm(candidates, disable=not progress, unit="cell", desc=f"{name} scores", delay=2):
            value = self.score(cell, name)
            if math.isfinite(value) and value > best_score:
                best, best_score = cell, value
        if best is None:
            raise ArchitectureNotInTable(f"no candidate has a {name} score in the table "
                                         "(allow computing the missing ones)")
        return best, best_score


def summarise_paper_search(results: list[PaperSearchRun]) -> dict:
    """Mean and std (over runs, ddof 0) of the winners' accuracies, with how many came from where: the
    accuracies over the winners measured in the table only (n_measured of runs); the surrogate's
    predictions, never mixed with them, as valid_acc_predicted / test_acc_predicted over the predicted
    winners; the score over every run."""
    frame = pd.DataFrame([asdict(r) for r in results])
    out = {"algo": results[0].algo, "space": results[0].space, "runs": len(results),
           "n_samples": results[0].n_samples}
    measured, predicted = frame[frame["source"] == "table"], frame[frame["source"] == "surrogate"]
    out["n_measured"], out["n_predicted"] = len(measured), len(predicted)
    for key, rows, name in (("valid_acc", measured, "valid_acc"), ("test_acc", measured, "test_acc"),
                            ("score", frame, "score"), ("valid_acc", predicted, "valid_acc_predicted"),
                            ("test_acc", predicted, "test_acc_predicted")):
        values = rows[key].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        out[name] = float(values.mean()) if len(values) else float("nan")
        out[f"{name}_std"] = float(values.std()) if len(values) else float("nan")
    out["sources"] = frame["source"].value_counts().to_dict()
    return out
