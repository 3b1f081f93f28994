"""Transfer of a search across tables, the analogue of the paper's Table 3: search on one table (the
source, e.g. digits-fw.h5), then look up what the winners achieve in another table (the target, e.g.
fmnist-fw.h5: the same cells trained on another dataset, or under another protocol).

The winners are found on the source alone, among its trained cells: the paper's search
(search.paper_search restricted to the table, by SAHD, HD or at random), each zero-cost score's best
cell, and the best cell by validation accuracy (the oracle, what a search that could train every
candidate would find). Each is reported with its accuracy on both tables and its rank among the
target's trained cells, next to the target's own best cell.

Accuracies are in %, the mean over a table's training seeds (its to_dataframe() columns valid_acc
and test_acc). A rank is 1 + the number of the target's trained cells with a strictly higher mean
validation accuracy (tied cells share the best rank of their tie).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .paper import PAPER_ALGOS, paper_search, table_frame
from ..space import check_space

PICK_SCORES = ("sahd", "hd")  # the zero-cost scores whose best cell is a pick of its own
# Where a winner stands in the target: trained there (a finite mean validation accuracy), in the
# target table but never trained (or every run diverged), or not in the target table at all.
IN_TARGET = ("trained", "untrained", "absent")


@dataclass
class TransferPick:
    """One winner found on the source and what it achieves on both tables (accuracies in %, mean over
    training seeds; NaN where a table did not train it). method: 'sahd search', 'hd search',
    'random search' (one row per run), 'best sahd', 'best hd', 'oracle' (the source's best by
    validation accuracy) or 'target best' (the target's own best, for reference). score: the source's
    zero-cost score of the cell for searches and score picks (NaN otherwise). target_rank: rank among
    the target's trained cells (1 = best), None unless in_target is 'trained'."""
    method: str
    run: int | None
    hash: str
    text: str
    score: float
    source_valid_acc: float
    source_test_acc: float
    target_valid_acc: float
    target_test_acc: float
    target_rank: int | None
    in_target: str


def validation_ranks(frame: pd.DataFrame) -> pd.Series:
    """Rank of every trained cell of a table frame by mean validation accuracy, indexed by hash:
    1 = best, tied cells sharing the best rank of their tie. Cells without a finite validation
    accuracy are left out."""
    frame = table_frame(frame)
    valid = frame["valid_acc"].astype(float)
    valid = valid[np.isfinite(valid.to_numpy())]
    return valid.rank(method="min", ascending=False).astype(int)


def _source_pool(frame: pd.DataFrame, space: str) -> pd.DataFrame:
    """The source's trained cells of the space (fw: the cells without a backward edge), by hash."""
    rows = frame[np.isfinite(frame["valid_acc"].to_numpy(dtype=float))]
    if space == "fw":
        rows = rows[rows["space"] == "fw"]
    return rows.sort_index()


class _Target:
    """A target frame with its validation ranks: what a winner achieves there."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = table_frame(frame)
        self.ranks = validation_ranks(self.frame)

    def lookup(self, h: str) -> tuple[float, float, int | None, str]:
        """(valid_acc, test_acc, rank, in_target) of a cell."""
        if h not in self.frame.index:
            return float("nan"), float("nan"), None, "absent"
        if h not in self.ranks.index:
            return float("nan"), float("nan"), None, "untrained"
        row = self.frame.loc[h]
        return float(row["valid_acc"]), float(row["test_acc"]), int(self.ranks[h]), "trained"


def _pick(method: str, run, h: str, score: float, source: pd.DataFrame, target: _Target) -> TransferPick:
    row = source.loc[h] if h in source.index else None
    valid = float(row["valid_acc"]) if row is not None else float("nan")
    test = float(row["test_acc"]) if row is not None else float("nan")
    text = str(row["text"]) if row is not None else str(target.frame.at[h, "text"])
    return TransferPick(method, run, h, text, float(score), valid, test, *target.lookup(h))


def transfer_search(source, target, space: str | None = None, algos=PAPER_ALGOS, n_samples: int = 20,
                    runs: int = 20, seed: int = 0) -> dict:
    """Search on `source`, evaluate on `target` (open tables, e.g. snnbench.open("digits-fw"), or their
    to_dataframe() frames).

    On the source's trained cells of `space` (default: the source table's space): the paper's search,
    `runs` runs of each of `algos` ('sahd', 'hd': the best of n_samples cells drawn with the authors'
    sampler restricted to those cells; 'random': the first drawn; search.paper_search with
    restrict_to_table, seeded by `seed`, never scoring a cell now), the best cell by each of SAHD and HD
    (ties: the smaller hash), and the oracle, the best by mean validation accuracy. Every winner gets
    its accuracies on both tables and its rank in the target (TransferPick); the target's best cell is
    added for reference.

    Returns {'space', 'n_samples', 'runs', 'source_trained' (the candidates), 'target_trained',
    'common' (cells trained in both), 'picks': a DataFrame of TransferPick rows, 'summary': a
    DataFrame of transfer_summary}. ConfigError when the source has no trained cell of the space or
    the target none at all."""
    source_frame, target_view = table_frame(source), _Target(target)
    if space is None:  # a DataFrame's .space is its column
        space = _frame_space(source_frame) if isinstance(source, pd.DataFrame) else source.space
    space = check_space(space)
    if n_samples < 1 or runs < 1:
        raise ConfigError(f"the samples and runs must be at least 1, got {n_samples} and {runs}")
    pool = _source_pool(source_frame, space)
    if len(pool) == 0:
        raise ConfigError(f"the source table has no trained cell of the {space} space: nothing to search")
    if len(target_view.ranks) == 0:
        raise ConfigError("the target table has no trained cell: nothing to compare with")
    picks = []
    for algo in algos:
        for r in paper_search(pool, space, algo, n_samples=n_samples, runs=runs, seed=seed,
                              compute_missing=False, restrict_to_table=True):
            picks.append(_pick(f"{algo} search", r.run, r.winner, r.score, pool, target_view))
    for score in PICK_SCORES:
        values = pool[score].astype(float)
        values = values[np.isfinite(values.to_numpy())]
        if len(values):
            picks.append(_pick(f"best {score}", None, values.idxmax(), values.max(), pool, target_view))
    best = pool["valid_acc"].astype(float).idxmax()
    picks.append(_pick("oracle", None, best, float("nan"), pool, target_view))
    target_best = target_view.ranks.index[target_view.ranks.to_numpy() == 1].min()
    picks.append(_pick("target best", None, target_best, float("nan"), source_frame, target_view))
    frame = pd.DataFrame([asdict(p) for p in picks])
    for key in ("run", "target_rank"):  # whole numbers or None, not floats with NaN
        frame[key] = pd.Series([getattr(p, key) for p in picks], dtype=object)
    return {"space": space, "n_samples": int(n_samples), "runs": int(runs), "source_trained": int(len(pool)),
            "target_trained": int(len(target_view.ranks)),
            "common": int(pool.index.isin(target_view.ranks.index).sum()),
            "picks": frame, "summary": transfer_summary(frame)}


def _frame_space(frame: pd.DataFrame) -> str:
    return "bw" if (frame["space"] == "bw").any() else "fw"


def transfer_summary(picks: pd.DataFrame) -> pd.DataFrame:
    """One row per method of transfer_search's picks: n (winners: the runs of a search, 1 for a
    pick); hash and in_target (the cell, and where it stands in the target, when n is 1; else '');
    the mean and std (over the winners, ddof 0) of source_valid_acc and source_test_acc, and, over
    the winners the target trained, of target_valid_acc, target_test_acc and target_rank;
    n_trained_in_target (how many of the n)."""
    rows = []
    for method, group in picks.groupby("method", sort=False):
        in_target = group[group["in_target"] == "trained"]
        single = len(group) == 1
        row = {"method": method, "n": int(len(group)), "hash": group["hash"].iloc[0] if single else "",
               "in_target": group["in_target"].iloc[0] if single else ""}
        for key, rows_of in (("source_valid_acc", group), ("source_test_acc", group), ("target_valid_acc", in_target),
                             ("target_test_acc", in_target), ("target_rank", in_target)):
            values = rows_of[key].to_numpy(dtype=float)
            row[key] = float(values.mean()) if len(values) else float("nan")
            row[f"{key}_std"] = float(values.std()) if len(values) else float("nan")
        row["n_trained_in_target"] = int(len(in_target))
        rows.append(row)
    return pd.DataFrame(rows)


def format_transfer(report: dict, name_a: str, name_b: str) -> str:
    """The text `snnbench transfer` prints: one line per method, then the cell of each single pick."""
    lines = [f"search on a = {name_a}", f"evaluated on b = {name_b}",
             f"{report['space']} space; candidates: the {report['source_trained']} cells a trained; "
             f"searches: {report['runs']} runs, best of {report['n_samples']} drawn with the authors' sampler; "
             f"{report['common']} of the candidates trained in b",
             f"rank in b: among its {report['target_trained']} trained cells, 1 = best mean validation accuracy; "
             "accuracies: mean over training seeds (+- sd over runs), %",
             f"{'method':14s} {'n':>3s}  {'a valid':>14s}  {'a test':>14s}  {'b valid':>14s}  {'b test':>14s}  "
             f"{'rank in b':>14s}  {'trained in b':>12s}  cell"]
    for r in report["summary"].to_dict("records"):
        cells = [_mean_sd(r, k, ".2f") for k in ("source_valid_acc", "source_test_acc", "target_valid_acc",
                                                 "target_test_acc")] + [_mean_sd(r, "target_rank", ".1f")]
        lines.append(f"{r['method']:14s} {r['n']:3d}  " + "  ".join(f"{c:>14s}" for c in cells)
                     + f"  {r['in_target'] or str(r['n_trained_in_target']) + '/' + str(r['n']):>12s}  {r['hash']}".rstrip())
    return "\n".join(lines)


def _mean_sd(row: dict, key: str, fmt: str) -> str:
    value, sd = row[key], row[f"{key}_std"]
    if not np.isfinite(value):
        return "-"
    if row["n"] == 1 or not np.isfinite(sd):
        return format(value, fmt)
    return f"{format(value, fmt)} +- {format(sd, fmt)}"
