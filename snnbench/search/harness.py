"""A harness in which NAS algorithms run as if they were training networks.

SimulatedBenchmark: a training service backed by a table. `evaluate(cell, epochs)` returns the
validation accuracy one training run (a random seed of the table) reached after `epochs` epochs and
charges a deterministic cost to a simulated clock (COST_MODELS: by default the cell's median
per-epoch time over its seeds, so that a cell costs the same on every draw), so that algorithms are
compared at equal simulated cost. NATS-Bench's simulate_train_eval and NASLib's search logs are the
models; NAS-Bench-301's "best measured incumbent" is the scoring rule offered for surrogate mode.

The incumbent (INCUMBENT_RULE) is chosen on what the algorithm saw; it is scored by its mean
accuracies over the table's seeds: validation regret against the best mean validation accuracy of
the effective search space, test regret against the best mean test accuracy, next to the test
regret of a perfect validation search (the oracle-by-validation floor).
Only cells of the benchmark's space can be queried; only cells trained in the table can be
evaluated, unless a surrogate is given, whose predictions are marked `predicted`.
The built-in algorithms are in algorithms.py.
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..analysis.reports import seed_columns
from ..errors import ArchitectureNotInTable, ConfigError, InvalidCellError, NoProgressError
from ..space import Cell, check_space, edit_distance, one_edit_neighbours, pair_states, space_hashes
from .algorithms import ALGORITHMS
from .paper import check_space_of_table, table_frame, table_space, trained_mask
from ..space import in_space

INCUMBENT_RULE = ("the evaluated cell with the highest validation accuracy the algorithm observed (the mean "
                  "of its evaluations at the most epochs it was trained for); ties go to the cell evaluated "
                  "more often, then to the smaller hash (a rule that does not depend on the order of evaluation)")
INCUMBENT_RULES = {"seen": "every evaluated cell may be the incumbent, predicted ones included (labelled)",
                   "measured": "only cells measured in the table may be the incumbent (NAS-Bench-301's best "
                               "measured incumbent, for full-space search with a surrogate)"}
COST_MODELS = {"median": "per cell, the median over its seeds of the seed's median epoch time, times the epochs "
                         "trained (deterministic: a cell costs the same on every draw)",
               "measured": "the drawn seed's recorded time for the epochs trained (noisy: jobs shared machines)"}


# ----------------------------------------------------------------------------- the harness
class BudgetExhausted(Exception):
    """Raised by SimulatedBenchmark.evaluate once the simulated clock has reached the budget."""


@dataclass
class EvalRecord:
    """One simulated training run. valid_acc (%) after `epochs` epochs is what an algorithm may use;
    test_acc (%, the cell's final test accuracy, mean over seeds; NaN for a predicted cell) is for the
    log and regret only. cost_s: simulated seconds charged (the cost model); time_s: the clock when the
    run finished. predicted: the accuracy is the surrogate's (the cell was not trained in the table).
    measured_s: the drawn seed's recorded seconds for those epochs (NaN when predicted).
    valid_mean: the cell's mean validation accuracy over seeds (%, the surrogate's mean when predicted).
    test_acc_predicted: the test surrogate's prediction (%) for a predicted cell, NaN otherwise."""
    hash: str
    text: str
    epochs: int
    valid_acc: float
    test_acc: float
    cost_s: float
    time_s: float
    seed: int | None
    predicted: bool = False
    measured_s: float = float("nan")
    valid_mean: float = float("nan")
    test_acc_predicted: float = float("nan")


class SimulatedBenchmark:
    """A training service backed by a table, with a simulated clock.

    bench: an open table (snnbench.open). space: 'fw' or 'bw' (the cells an algorithm may query; bw on
    an fw table raises SpaceMismatchError). budget_s: simulated seconds after which evaluate raises
    BudgetExhausted. model: optional validation-accuracy surrogate (surrogate.load_surrogate) that lets
    untrained cells of the space be evaluated, marked predicted; its prediction is drawn from
    N(mean, std) when `noisy`. test_model: a test-accuracy surrogate for the predicted cells' test
    accuracy (default: one fitted on the table's trained cells with the model's parameters).
    seed: which training seed answers a query is drawn at random per query, as NATS-Bench does.
    cost_model: a key of COST_MODELS. incumbent: a key of INCUMBENT_RULES."""

    def __init__(self, bench, space: str = "bw", budget_s: float = math.inf, model=None, seed: int = 0,
                 noisy: bool = True, cost_model: str = "median", incumbent: str = "seen", test_model=None):
        self.bench, self.space, self.budget_s = bench, check_space(space), float(budget_s)
        if cost_model not in COST_MODELS or incumbent not in INCUMBENT_RULES:
            raise ConfigError(f"`cost_model` must be one of {', '.join(COST_MODELS)} and `incumbent` one of "
                              f"{', '.join(INCUMBENT_RULES)}, got {cost_model!r} and {incumbent!r}")
        if model is not None and getattr(model, "target", "valid_acc") != "valid_acc":
            raise ConfigError("`model` must predict valid_acc (what an algorithm sees); give a test_acc "
                              "surrogate as `test_model`")
        self.model, self.noisy, self.test_model = model, noisy, test_model
        self.cost_model, self.incumbent_rule = cost_model, incumbent
        self.rng = np.random.default_rng(seed)
        self.frame = table_frame(bench)
        check_space_of_table(bench, self.frame, self.space)
        self.protocol = getattr(bench, "protocol", None)
        self.max_epochs = int(self.protocol.epochs) if self.protocol is not None else int(self.frame["epochs"].max())
        self._seeds = seed_columns(self.frame)
        self._curves: dict[str, dict] = {}
        self._epoch_cost: dict[str, float] = {}
        self._sorted: dict[str, np.ndarray] = {}
        self._neighbours: dict[str, list] = {}
        self.trained = self._trained_in_space()
        self._references()
        self.clock = 0.0
        self.history: list[EvalRecord] = []
        self.rejected = 0
        if not self.trained and model is None:
            raise ArchitectureNotInTable(f"the table has no trained cell of the {space} space")

    def _trained_in_space(self) -> list[str]:
        rows = self.frame[trained_mask(self.frame)]
        if self.space == "fw":
            rows = rows[rows["space"] == "fw"]
        return sorted(rows.index)

    def _references(self) -> None:
        """The regret references over the trained cells of the space (means over seeds, %)."""
        rows = self.frame.loc[self.trained]
        valid, test = rows["valid_acc"].to_numpy(dtype=float), rows["test_acc"].to_numpy(dtype=float)
        nan = float("nan")
        self.best_valid_mean = float(valid.max()) if len(valid) else nan
        self.oracle_test_acc = float(np.nanmax(test)) if len(test) else nan
        # a perfect validation search picks a cell of the best mean validation accuracy (ties: their mean)
        self.oracle_valid_test_acc = float(test[valid == self.best_valid_mean].mean()) if len(valid) else nan
        self.oracle_by_valid_regret = self.oracle_test_acc - self.oracle_valid_test_acc

    @property
    def effective_space(self) -> str:
        """In words, the cells a search can reach: '300 trained cells of the fw space', or with a
        surrogate every cell of the space (how many were trained)."""
        if self.model is None:
            return f"{len(self.trained)} trained cells of the {self.space} space"
        return (f"all {len(_space_pool(self.space))} cells of the {self.space} space ({len(self.trained)} trained, "
                "the rest predicted by the surrogate)")

    # ------------------------------------------------------------------------- what can be asked
    @property
    def exhausted(self) -> bool:
        return self.clock >= self.budget_s

    def check_cell(self, cell) -> Cell:
        """The cell as a Cell; InvalidCellError if it is not a cell of this benchmark's space."""
        try:
            parsed = Cell.parse(cell)
        except InvalidCellError:
            self.rejected += 1
            raise
        if not in_space(parsed, self.space):
            self.rejected += 1
            raise InvalidCellError(f"{parsed.canonical_text} has backward edges: it is not in the fw space")
        return parsed

    def can_evaluate(self, cell) -> bool:
        """True for cells of the space that were trained (any cell of the space with a surrogate)."""
        parsed = Cell.parse(cell)
        return in_space(parsed, self.space) and (self.model is not None or self._is_trained(parsed.hash))

    def _is_trained(self, h: str) -> bool:
        return h in self.frame.index and math.isfinite(float(self.frame.at[h, "valid_acc"]))

    def candidates(self) -> list[str]:
        """Hashes of the table's cells that can be evaluated: the trained cells of the space, or with a
        surrogate every cell of the table in the space (scored-only cells included)."""
        if self.model is None:
            return list(self.trained)
        rows = self.frame if self.space == "bw" else self.frame[self.frame["space"] == "fw"]
        return sorted(rows.index)

    def random_cell(self, rng, exclude=()) -> Cell | None:
        """A cell that can be evaluated, uniformly: among the trained cells of the space, or among all
        cells of the space when a surrogate is given. Cells whose hash is in `exclude` are not drawn;
        None when every evaluable cell is excluded."""
        if self.model is None:
            pool = [h for h in self.trained if h not in exclude] if exclude else self.trained
            return Cell.from_hash(pool[int(rng.integers(len(pool)))]) if pool else None
        pool = _space_pool(self.space)
        for _ in range(10_000):
            h = pool[int(rng.integers(len(pool)))]
            if h not in exclude:
                return Cell.from_hash(h)
        return None

    def neighbours(self, cell) -> list[Cell]:
        """Evaluable cells one edit away (one node pair set to another state allowed in the space).
        If none of them can be evaluated (a sparse table), the evaluable cells nearest to `cell` in
        pair-state edits instead, so that local moves stay possible."""
        cell = self.check_cell(cell)
        if cell.hash not in self._neighbours:
            near = [c for c in one_edit_neighbours(cell, self.space) if self.can_evaluate(c)]
            self._neighbours[cell.hash] = near or self.nearest_trained(cell)
        return list(self._neighbours[cell.hash])

    def mutate(self, cell, rng) -> Cell:
        """A random neighbour (see neighbours)."""
        near = self.neighbours(cell)
        return near[int(rng.integers(len(near)))]

    def nearest_trained(self, cell) -> list[Cell]:
        """The trained cells of the space (other than `cell`) at the smallest edit distance from it."""
        others = [h for h in self.trained if h != Cell.parse(cell).hash]
        if not others:
            return []
        if not hasattr(self, "_trained_states"):
            self._trained_states = np.stack([pair_states(h) for h in self.trained])
        index = {h: i for i, h in enumerate(self.trained)}
        rows = np.array([index[h] for h in others])
        dist = edit_distance(pair_states(cell), self._trained_states[rows])
        return [Cell.from_hash(others[i]) for i in np.flatnonzero(dist == dist.min())]

    def zero_cost(self, cell, name: str = "sahd") -> float:
        """A zero-cost score stored in the table (NaN if absent). Costs no simulated time."""
        h = Cell.parse(cell).hash
        if h in self.frame.index and name in self.frame.columns:
            return float(self.frame.at[h, name])
        return float("nan")

    # ------------------------------------------------------------------------- evaluation
    def evaluate(self, cell, epochs: int | None = None) -> EvalRecord:
        """Train `cell` for `epochs` (default: the protocol's full number) in simulation: returns an
        EvalRecord and advances the clock by the cost model's seconds for those epochs. Raises
        BudgetExhausted if the budget is already spent, InvalidCellError for a cell outside the space,
        and ArchitectureNotInTable for an untrained cell when no surrogate is given."""
        if self.exhausted:
            raise BudgetExhausted(f"simulated budget of {self.budget_s:.0f} s spent")
        cell = self.check_cell(cell)
        epochs = self.max_epochs if epochs is None else int(epochs)
        if not 1 <= epochs <= self.max_epochs:
            raise ConfigError(f"epochs must be in 1..{self.max_epochs}, got {epochs}")
        if self._is_trained(cell.hash):
            seed, valid, measured = self._measured(cell.hash, epochs)
            cost = measured if self.cost_model == "measured" else self.epoch_cost(cell.hash) * epochs
            test, predicted = float(self.frame.at[cell.hash, "test_acc"]), False
            extra = dict(measured_s=measured, valid_mean=float(self.frame.at[cell.hash, "valid_acc"]))
        elif self.model is not None:
            valid, cost, mean = self._predicted(cell, epochs)
            seed, test, predicted = None, float("nan"), True
            extra = dict(valid_mean=mean, test_acc_predicted=self.predicted_test(cell))
        else:
            self.rejected += 1
            raise ArchitectureNotInTable(f"{cell.canonical_text} ({cell.hash}) was not trained in this table; "
                                         "give a surrogate to evaluate untrained cells")
        self.clock += cost
        record = EvalRecord(cell.hash, cell.canonical_text, epochs, valid, test, cost, self.clock, seed, predicted,
                            **extra)
        self.history.append(record)
        return record

    def _measured(self, h: str, epochs: int) -> tuple[int, float, float]:
        """(seed, valid_acc after `epochs`, recorded seconds for those epochs) of a random training seed."""
        curves = self._cell_curves(h)
        seed = sorted(curves)[int(self.rng.integers(len(curves)))]
        valid = np.asarray(curves[seed]["valid_acc"], dtype=float)
        times = np.asarray(curves[seed]["epoch_time"], dtype=float)
        e = min(epochs, len(valid))
        return int(seed), float(valid[e - 1]), float(times[:e].sum())

    def epoch_cost(self, h: str) -> float:
        """The cost model's seconds per epoch of a trained cell: the median over its seeds of each
        seed's median epoch time (a median, so that one slow epoch on a busy machine does not count)."""
        if h not in self._epoch_cost:
            per_seed = [float(np.median(np.asarray(c["epoch_time"], dtype=float)))
                        for c in self._cell_curves(h).values() if len(c["epoch_time"])]
            self._epoch_cost[h] = float(np.median(per_seed)) if per_seed else self.median_epoch_time()
        return self._epoch_cost[h]

    def _cell_curves(self, h: str) -> dict:
        """Per-seed curves of the runs that finished with a validation accuracy (a diverged run has
        none: it is never drawn); a bench without curves gives final values only."""
        if h not in self._curves:
            if hasattr(self.bench, "curves"):
                finished = {s for s in self._seeds if math.isfinite(float(self.frame.at[h, f"valid_acc_s{s}"]))}
                self._curves[h] = {s: c for s, c in self.bench.curves(h).items()
                                   if s in finished and len(c.get("valid_acc", []))}
            else:
                self._curves[h] = self._final_only(h)
        return self._curves[h]

    def _final_only(self, h: str) -> dict:
        row = self.frame.loc[h]
        per_epoch = float(row["train_time"]) / max(int(row.get("epochs", self.max_epochs)), 1)
        out = {}
        for s in self._seeds:
            value = float(row.get(f"valid_acc_s{s}", float("nan")))
            if math.isfinite(value):
                acc = np.full(self.max_epochs, float("nan"))
                acc[-1] = value
                out[s] = {"valid_acc": acc, "epoch_time": np.full(self.max_epochs, per_epoch)}
        return out

    def _predicted(self, cell: Cell, epochs: int) -> tuple[float, float, float]:
        """(valid_acc drawn, cost, the surrogate's mean) of an untrained cell; cost: the median measured
        per-epoch time of the table's trained cells times `epochs`."""
        if epochs != self.max_epochs:
            raise ConfigError("the surrogate predicts the final accuracy only: evaluate untrained cells "
                              f"with epochs={self.max_epochs}")
        mean, std = self.model.predict_cells([cell], scores=self.frame)
        value = float(mean[0] + std[0] * self.rng.standard_normal()) if self.noisy else float(mean[0])
        return value, self.median_epoch_time() * epochs, float(mean[0])

    def predicted_test(self, cell) -> float:
        """The test-accuracy surrogate's mean prediction (%) for a cell; the surrogate is fitted on the
        table's trained cells with the validation model's parameters when none was given."""
        if self.test_model is None:
            self.test_model = fit_test_surrogate(self.model, self.frame, self.protocol)
        mean, _std = self.test_model.predict_cells([Cell.parse(cell)], scores=self.frame)
        return float(mean[0])

    def median_epoch_time(self) -> float:
        """Median over trained cells of the mean training time per epoch (s)."""
        rows = self.frame.loc[self.trained] if self.trained else self.frame[trained_mask(self.frame)]
        per_epoch = rows["train_time"].to_numpy(dtype=float) / rows["epochs"].to_numpy(dtype=float)
        per_epoch = per_epoch[np.isfinite(per_epoch)]
        return float(np.median(per_epoch)) if len(per_epoch) else 1.0


    def cost_noise(self) -> dict:
        """How noisy the recorded training times are, over the trained cells of the space with two seeds
        or more: the ratio of a cell's slowest to fastest seed (median, 90th percentile, max), Kendall tau
        between the first two seeds' times across cells, and how far one seed's time lies from the cost
        model (median and 90th percentile of max(t/c, c/t)). Times are whole runs (s)."""
        from ..analysis.stats import kendall_tau
        ratios, spread, firsts, seconds = [], [], [], []
        for h in self.trained:
            totals = [float(np.sum(c["epoch_time"])) for c in self._cell_curves(h).values() if len(c["epoch_time"])]
            if len(totals) < 2 or min(totals) <= 0:
                continue
            model = self.epoch_cost(h) * self.max_epochs
            ratios.append(max(totals) / min(totals))
            spread += [max(t / model, model / t) for t in totals]
            firsts.append(totals[0])
            seconds.append(totals[1])
        if not ratios:
            return {"cells": 0}
        return {"cells": len(ratios), "seed_ratio_median": float(np.median(ratios)),
                "seed_ratio_p90": float(np.percentile(ratios, 90)), "seed_ratio_max": float(np.max(ratios)),
                "seed_tau": float(kendall_tau(firsts, seconds)),
                "model_factor_median": float(np.median(spread)), "model_factor_p90": float(np.percentile(spread, 90))}

    # ------------------------------------------------------------------------- logs
    def log(self) -> pd.DataFrame:
        """Every evaluation in order with the incumbent after it (INCUMBENT_RULE, among the cells
        INCUMBENT_RULES[self.incumbent_rule] allows): best_hash, best_valid_acc (the score it was chosen
        on), best_predicted, best_valid_mean and best_test_acc (its means over seeds, %; test NaN when
        predicted), valid_regret and test_regret (points: the best mean validation / test accuracy of
        the trained cells of the space minus the incumbent's; NaN when predicted, see the *_predicted
        columns), regret (= test_regret), best_valid_rank and best_test_rank (1 = the best trained cell)."""
        incumbent, rows = _Incumbent(self.incumbent_rule), []
        for r in self.history:
            rows.append({**asdict(r), **self._scored(incumbent.add(r))})
        return pd.DataFrame(rows)

    def _scored(self, best: tuple | None) -> dict:
        nan = float("nan")
        if best is None:
            return {"best_hash": None, "best_valid_acc": nan, "best_predicted": False, "best_valid_mean": nan,
                    "best_test_acc": nan, "best_test_acc_predicted": nan, "valid_regret": nan, "test_regret": nan,
                    "regret": nan, "valid_regret_predicted": nan, "test_regret_predicted": nan,
                    "best_valid_rank": nan, "best_test_rank": nan}
        r, score = best
        valid_regret = self.best_valid_mean - r.valid_mean
        test = r.test_acc_predicted if r.predicted else r.test_acc
        test_regret = self.oracle_test_acc - test
        measured = nan if r.predicted else 1.0
        return {"best_hash": r.hash, "best_valid_acc": score, "best_predicted": r.predicted,
                "best_valid_mean": r.valid_mean, "best_test_acc": r.test_acc,
                "best_test_acc_predicted": r.test_acc_predicted,
                "valid_regret": valid_regret * measured, "test_regret": test_regret * measured,
                "regret": test_regret * measured,
                "valid_regret_predicted": nan if not r.predicted else valid_regret,
                "test_regret_predicted": nan if not r.predicted else test_regret,
                "best_valid_rank": self.rank(r.valid_mean, "valid_acc"), "best_test_rank": self.rank(test, "test_acc")}

    def rank(self, accuracy: float, target: str = "valid_acc") -> float:
        """1 + how many trained cells of the space have a higher mean `target` (%) than `accuracy`."""
        if not math.isfinite(accuracy):
            return float("nan")
        if target not in self._sorted:  # ascending, once: log() ranks every row
            values = self.frame.loc[self.trained, target].to_numpy(dtype=float)
            self._sorted[target] = np.sort(values[np.isfinite(values)])
        values = self._sorted[target]
        return float(1 + len(values) - np.searchsorted(values, accuracy, side="right"))

    def regret_at(self, times, which: str = "regret") -> np.ndarray:
        """A column of the log (default the test regret, points; also valid_regret, test_regret,
        best_valid_rank, best_test_rank, *_predicted) for the incumbent at each simulated time (s):
        only runs finished by then count; NaN before the first finished run."""
        log = self.log()
        times = np.asarray(times, dtype=float)
        if len(log) == 0:
            return np.full(len(times), float("nan"))
        idx = np.searchsorted(log["time_s"].to_numpy(), times, side="right") - 1
        values = log[which].to_numpy(dtype=float)
        return np.where(idx >= 0, values[np.maximum(idx, 0)], float("nan"))


class _Incumbent:
    """The incumbent as evaluations arrive (INCUMBENT_RULE). Per cell: the most epochs it was
    evaluated at, the sum and count of the validation accuracies observed at that many epochs."""

    def __init__(self, rule: str):
        self.rule, self.cells, self.best = rule, {}, None

    def add(self, r: EvalRecord) -> tuple | None:
        """Take one evaluation; returns (a record of the incumbent cell, its score %) or None."""
        if (self.rule == "measured" and r.predicted) or not math.isfinite(r.valid_acc):
            return self.current()
        entry = self.cells.get(r.hash)
        if entry is None or r.epochs > entry[0]:
            entry = self.cells[r.hash] = [r.epochs, 0.0, 0, r]
        if r.epochs == entry[0]:
            entry[1], entry[2], entry[3] = entry[1] + r.valid_acc, entry[2] + 1, r
        if self.best == r.hash:  # the incumbent's own score changed: it may have lost its place
            self.best = max(self.cells, key=self._key)
        elif self.best is None or self._key(r.hash) > self._key(self.best):
            self.best = r.hash
        return self.current()

    def _key(self, h: str) -> tuple:
        epochs, total, n, _record = self.cells[h]
        return total / n, n, -int(h, 16)  # higher score, then more evaluations, then the smaller hash

    def current(self) -> tuple | None:
        if self.best is None:
            return None
        entry = self.cells[self.best]
        return entry[3], entry[1] / entry[2]


@functools.lru_cache(maxsize=2)
def _space_pool(space: str) -> tuple:
    """Hashes of every cell of a space (computed once: 0.3 s for bw)."""
    return tuple(space_hashes(space))


def fit_test_surrogate(model, frame: pd.DataFrame, protocol=None):
    """A test-accuracy surrogate with the parameters and score features of a validation one, fitted on
    the table's trained cells (a surrogate per target, as NAS-Bench-301 does)."""
    from ..surrogate import Surrogate
    frame = frame.reset_index(drop=True) if "hash" in frame.columns else frame.reset_index()
    test = Surrogate(params=model.params, score_features=tuple(model.score_features), target="test_acc")
    return test.fit_table(frame, protocol)


def cost_noise(bench, space: str | None = None) -> dict:
    """SimulatedBenchmark.cost_noise over the trained cells of a table's space (default: the table's)."""
    frame = table_frame(bench)
    return SimulatedBenchmark(bench, space or table_space(bench, frame)).cost_noise()


# ----------------------------------------------------------------------------- built-in algorithms
@dataclass
class AlgorithmResult:
    """The benchmarks of every run of one algorithm (their logs hold everything)."""
    algo: str
    runs: list = field(default_factory=list)

    def regret(self, times, which: str = "regret") -> np.ndarray:
        """(runs, len(times)): a log column (default the test regret, points) at each simulated time;
        NaN where a run has no measured incumbent yet."""
        return np.stack([b.regret_at(times, which) for b in self.runs])

    def final(self) -> dict:
        """The final incumbents (the last evaluation finished within the budget) over runs: how many
        runs ended on a measured cell (n_measured), on a predicted one (n_predicted) or with none
        (n_empty); mean and std (ddof 0) over the measured runs only of best_valid_acc (the score it
        was chosen on), best_valid_mean, best_test_acc, valid_regret, test_regret and regret (= test
        regret); the same *_predicted over the predicted runs, labelled; the references (best mean
        valid and test accuracy of the effective space, the oracle-by-validation test regret floor)."""
        ends = [last_within_budget(b) for b in self.runs]
        measured = pd.DataFrame([e for e in ends if e is not None and not e["best_predicted"]])
        predicted = pd.DataFrame([e for e in ends if e is not None and e["best_predicted"]])
        first = self.runs[0]
        out = {"algo": self.algo, "runs": len(self.runs), "n_measured": len(measured), "n_predicted": len(predicted),
               "n_empty": sum(e is None for e in ends),
               "evaluations": float(np.mean([len(b.history) for b in self.runs])),
               "space": first.space, "effective_space": first.effective_space,
               "incumbent_rule": first.incumbent_rule, "cost_model": first.cost_model,
               "reference_valid_acc": first.best_valid_mean, "reference_test_acc": first.oracle_test_acc,
               "oracle_by_valid_regret": first.oracle_by_valid_regret}
        for key in ("best_valid_acc", "best_valid_mean", "best_test_acc", "valid_regret", "test_regret", "regret"):
            out[key], out[f"{key}_std"] = _mean_std(measured, key)
        for key in ("best_test_acc_predicted", "valid_regret_predicted", "test_regret_predicted"):
            out[key], out[f"{key}_std"] = _mean_std(predicted, key)
        return out


def last_within_budget(bench: SimulatedBenchmark):
    """The log's last row finished within the budget that has an incumbent, or None."""
    log = bench.log()
    if len(log) == 0:
        return None
    log = log[(log["time_s"] <= bench.budget_s) & log["best_hash"].notna()]
    return log.iloc[-1] if len(log) else None


def _mean_std(frame: pd.DataFrame, key: str) -> tuple[float, float]:
    values = frame[key].to_numpy(dtype=float) if len(frame) else np.array([])
    if len(values) and not np.isfinite(values).all():
        raise AssertionError(f"{key} has non-finite values among the runs it summarises")  # never a silent subset
    return (float(values.mean()), float(values.std())) if len(values) else (float("nan"), float("nan"))


def run_algorithm(algo, bench, space: str = "bw", budget_s: float = 3600.0, runs: int = 10, seed: int = 0,
                  model=None, max_evaluations: int = 100_000, cost_model: str = "median", incumbent: str = "seen",
                  test_model=None, max_calls_without_evaluation: int = 1_000_000) -> AlgorithmResult:
    """Run an algorithm (a name of ALGORITHMS, or an object with run(bench, rng)) `runs` times, each
    on a fresh SimulatedBenchmark with its own seed and the same simulated budget (s). cost_model,
    incumbent, model and test_model: see SimulatedBenchmark. An algorithm that calls the benchmark
    `max_calls_without_evaluation` times in a row without an evaluation raises NoProgressError."""
    if not (budget_s > 0 and math.isfinite(budget_s)) or runs < 1:  # nan and inf would never run out
        raise ConfigError(f"the budget must be a finite number of seconds above 0 and the runs at least 1, "
                          f"got {budget_s} s and {runs} runs")
    if max_calls_without_evaluation < 1:
        raise ConfigError(f"`max_calls_without_evaluation` must be at least 1, got {max_calls_without_evaluation}")
    result = AlgorithmResult(_name(_make(algo)))
    for run in range(runs):
        algorithm = _make(algo)
        simulated = SimulatedBenchmark(bench, space, budget_s, model=model, seed=seed * 1000 + run,
                                       cost_model=cost_model, incumbent=incumbent, test_model=test_model)
        if model is not None and test_model is None:  # fitted once, shared by the runs
            test_model = simulated.test_model = fit_test_surrogate(model, simulated.frame, simulated.protocol)
        rng = np.random.default_rng([seed, run])
        try:
            algorithm.run(_Capped(simulated, max_evaluations, max_calls_without_evaluation, result.algo), rng)
        except BudgetExhausted:
            pass
        result.runs.append(simulated)
    return result


def _name(algorithm) -> str:
    return getattr(algorithm, "name", type(algorithm).__name__)


def _make(algo):
    if isinstance(algo, str):
        if algo not in ALGORITHMS:
            raise ConfigError(f"unknown algorithm {algo!r}: choose one of {', '.join(ALGORITHMS)}")
        return ALGORITHMS[algo]()
    return algo


class _Capped:
    """The benchmark as an algorithm sees it, ending a run after max_evaluations queries so that an
    algorithm that never stops cannot hang (zero-cost runs have no such risk; a bug might), and
    stopping an algorithm that calls the benchmark max_idle times in a row without an evaluation (a
    loop that would never spend the budget) with NoProgressError."""

    def __init__(self, bench: SimulatedBenchmark, max_evaluations: int, max_idle: int = 1_000_000,
                 algo: str = "the algorithm"):
        self._bench, self._left = bench, max_evaluations
        self._max_idle, self._idle, self._algo = max_idle, 0, algo

    def evaluate(self, cell, epochs=None):
        if self._left <= 0:
            raise BudgetExhausted("evaluation cap reached")
        self._count_call()
        record = self._bench.evaluate(cell, epochs)
        self._left -= 1
        self._idle = 0
        return record

    def _count_call(self):
        self._idle += 1
        if self._idle > self._max_idle:
            raise NoProgressError(f"{self._algo} called the benchmark {self._max_idle} times in a row without an "
                                  f"evaluation (at {len(self._bench.history)} evaluations, simulated time "
                                  f"{self._bench.clock:.0f} s): it is stuck; raise `max_calls_without_evaluation` "
                                  "if it really needs that many")

    def __getattr__(self, name):
        value = getattr(self._bench, name)
        if not callable(value):
            return value

        def counted(*args, **kwargs):
            self._count_call()
            return value(*args, **kwargs)
        return counted


def plot_regret(results: list[AlgorithmResult], out, budget_s: float, points: int = 200, scale: str = "regret",
                title: str | None = None):
    """Validation and test regret (points, log scale; with scale='rank', the incumbent's rank among the
    trained cells by mean validation / test accuracy) against simulated time (hours): the mean over
    the runs with a measured incumbent at that time, with the 25-75 % band; the legend gives how many
    runs ended measured. The test panel marks the oracle-by-validation floor. The title names the
    table, space, effective space and protocol (default: from the first run). Writes an image; returns
    its path."""
    from ..analysis.plots import pyplot, save_figure
    if scale not in ("regret", "rank"):
        raise ConfigError(f"`scale` must be regret or rank, got {scale!r}")
    plt = pyplot()
    times = np.linspace(0, budget_s, points)
    columns = ("valid_regret", "test_regret") if scale == "regret" else ("best_valid_rank", "best_test_rank")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True)
    for result in results:
        final = result.final()
        for ax, column in zip(axes, columns):
            values = result.regret(times, column)
            if scale == "rank":  # ranks of predicted incumbents are not measured ones
                values = np.where(np.isfinite(result.regret(times, column.replace("rank", "regret").replace(
                    "best_", ""))), values, np.nan)
            with warnings.catch_warnings():  # all-NaN columns before the first run finishes
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(values, axis=0)
                lo, hi = np.nanpercentile(values, 25, axis=0), np.nanpercentile(values, 75, axis=0)
            line, = ax.plot(times / 3600, mean, label=f"{result.algo} ({final['n_measured']}/{final['runs']} measured)")
            ax.fill_between(times / 3600, lo, hi, color=line.get_color(), alpha=0.12, lw=0)
    first = results[0].runs[0]
    if scale == "regret":
        floor = first.oracle_by_valid_regret
        axes[1].axhline(floor, color="black", ls="--", lw=0.8,
                        label=f"perfect validation search ({floor:.2f})")
        for ax, what in zip(axes, ("validation", "test")):
            ax.set_yscale("symlog", linthresh=0.05)  # log above 0.05 points; 0 (found the best) stays visible
            ax.set_ylabel(f"{what} regret (points, log above 0.05)")
    else:
        for ax, what in zip(axes, ("validation", "test")):
            ax.set_yscale("log")
            ax.set_ylabel(f"incumbent's rank by mean {what} accuracy (1 = best)")
    for ax in axes:
        ax.set_xlabel("simulated training time (hours)")
        ax.legend(fontsize=7)
    fig.suptitle(title or describe_setting(first), fontsize=9)
    return save_figure(fig, plt, out)


def describe_setting(sim: SimulatedBenchmark) -> str:
    """One line naming a simulated benchmark's table, space, effective space, protocol, cost model and
    incumbent rule."""
    path = getattr(sim.bench, "path", None)
    table = getattr(path, "name", "a table")
    protocol = f"protocol {sim.protocol.name} {sim.protocol.hash[:8]}" if sim.protocol is not None else "no protocol"
    return (f"{table}, {sim.space} space: {sim.effective_space}; {protocol}; cost {sim.cost_model}, "
            f"incumbent {sim.incumbent_rule}")
