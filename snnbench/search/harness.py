"""A harness in which NAS algorithms run as if they were training networks.

SimulatedBenchmark: a training service backed by a table. `evaluate(cell, epochs)` returns the
validation accuracy one training run reached after `epochs` epochs and charges that run's measured
training time to a simulated clock, so that algorithms are compared at equal simulated cost. The
best-so-far validation accuracy and the test accuracy of that incumbent are logged over simulated
time (NATS-Bench's simulate_train_eval and NASLib's search logs are the models).
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
from ..errors import ArchitectureNotInTable, ConfigError, InvalidCellError
from ..space import Cell, check_space, edit_distance, one_edit_neighbours, pair_states, space_hashes
from .algorithms import ALGORITHMS
from .paper import table_frame, trained_mask
from ..space import in_space


# ----------------------------------------------------------------------------- the harness
class BudgetExhausted(Exception):
    """Raised by SimulatedBenchmark.evaluate once the simulated clock has reached the budget."""


@dataclass
class EvalRecord:
    """One simulated training run. valid_acc (%) after `epochs` epochs is what an algorithm may use;
    test_acc (%, the cell's final test accuracy, mean over seeds) is for the log and regret only.
    cost_s: simulated seconds charged; time_s: the clock when the run finished.
    predicted: the accuracy is the surrogate's (the cell was not trained in the table)."""
    hash: str
    text: str
    epochs: int
    valid_acc: float
    test_acc: float
    cost_s: float
    time_s: float
    seed: int | None
    predicted: bool = False


class SimulatedBenchmark:
    """A training service backed by a table, with a simulated clock.

    bench: an open table (snnbench.open). space: 'fw' or 'bw' (the cells an algorithm may query).
    budget_s: simulated seconds after which evaluate raises BudgetExhausted. model: optional surrogate
    (surrogate.load_surrogate) that lets untrained cells of the space be evaluated, marked predicted;
    its prediction is drawn from N(mean, std) when `noisy`. seed: which training seed answers a query
    is drawn at random per query, as NATS-Bench does."""

    def __init__(self, bench, space: str = "bw", budget_s: float = math.inf, model=None, seed: int = 0,
                 noisy: bool = True):
        self.bench, self.space, self.budget_s = bench, check_space(space), float(budget_s)
        self.model, self.noisy = model, noisy
        self.rng = np.random.default_rng(seed)
        self.frame = table_frame(bench)
        self.protocol = getattr(bench, "protocol", None)
        self.max_epochs = int(self.protocol.epochs) if self.protocol is not None else int(self.frame["epochs"].max())
        self._seeds = seed_columns(self.frame)
        self._curves: dict[str, dict] = {}
        self._neighbours: dict[str, list] = {}
        self.trained = self._trained_in_space()
        self.oracle_test_acc = float(self.frame.loc[self.trained, "test_acc"].max()) if self.trained else float("nan")
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
        EvalRecord and advances the clock by that run's measured training time. Raises BudgetExhausted
        if the budget is already spent, InvalidCellError for a cell outside the space, and
        ArchitectureNotInTable for an untrained cell when no surrogate is given."""
        if self.exhausted:
            raise BudgetExhausted(f"simulated budget of {self.budget_s:.0f} s spent")
        cell = self.check_cell(cell)
        epochs = self.max_epochs if epochs is None else int(epochs)
        if not 1 <= epochs <= self.max_epochs:
            raise ConfigError(f"epochs must be in 1..{self.max_epochs}, got {epochs}")
        if self._is_trained(cell.hash):
            seed, valid, cost = self._measured(cell.hash, epochs)
            test, predicted = float(self.frame.at[cell.hash, "test_acc"]), False
        elif self.model is not None:
            seed, valid, cost, test, predicted = None, *self._predicted(cell, epochs), float("nan"), True
        else:
            self.rejected += 1
            raise ArchitectureNotInTable(f"{cell.canonical_text} ({cell.hash}) was not trained in this table; "
                                         "give a surrogate to evaluate untrained cells")
        self.clock += cost
        record = EvalRecord(cell.hash, cell.canonical_text, epochs, valid, test, cost, self.clock, seed, predicted)
        self.history.append(record)
        return record

    def _measured(self, h: str, epochs: int) -> tuple[int, float, float]:
        """(seed, valid_acc after `epochs`, seconds for those epochs) of a random training seed."""
        curves = self._cell_curves(h)
        seed = sorted(curves)[int(self.rng.integers(len(curves)))]
        valid = np.asarray(curves[seed]["valid_acc"], dtype=float)
        times = np.asarray(curves[seed]["epoch_time"], dtype=float)
        e = min(epochs, len(valid))
        return int(seed), float(valid[e - 1]), float(times[:e].sum())

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

    def _predicted(self, cell: Cell, epochs: int) -> tuple[float, float]:
        """(valid_acc, cost) of an untrained cell from the surrogate; cost: the median measured
        per-epoch time of the table's trained cells times `epochs`."""
        if epochs != self.max_epochs:
            raise ConfigError("the surrogate predicts the final accuracy only: evaluate untrained cells "
                              f"with epochs={self.max_epochs}")
        mean, std = self.model.predict_cells([cell], scores=self.frame)
        value = float(mean[0] + std[0] * self.rng.standard_normal()) if self.noisy else float(mean[0])
        return value, self.median_epoch_time() * epochs

    def median_epoch_time(self) -> float:
        """Median over trained cells of the mean training time per epoch (s)."""
        rows = self.frame.loc[self.trained] if self.trained else self.frame[trained_mask(self.frame)]
        per_epoch = rows["train_time"].to_numpy(dtype=float) / rows["epochs"].to_numpy(dtype=float)
        per_epoch = per_epoch[np.isfinite(per_epoch)]
        return float(np.median(per_epoch)) if len(per_epoch) else 1.0

    # ------------------------------------------------------------------------- logs
    def log(self) -> pd.DataFrame:
        """Every evaluation in order with the incumbent after it: time_s, hash, valid_acc, test_acc,
        predicted, best_valid_acc, best_hash, best_test_acc, regret (oracle test accuracy of the
        trained cells of the space minus the incumbent's test accuracy, in points)."""
        rows, best = [], None
        for r in self.history:
            if best is None or r.valid_acc > best.valid_acc:
                best = r
            rows.append({**asdict(r), "best_valid_acc": best.valid_acc, "best_hash": best.hash,
                         "best_test_acc": best.test_acc, "regret": self.oracle_test_acc - best.test_acc})
        return pd.DataFrame(rows)

    def regret_at(self, times) -> np.ndarray:
        """Test regret (points) of the incumbent at each simulated time (s): only runs finished by then
        count; NaN before the first finished run."""
        log = self.log()
        times = np.asarray(times, dtype=float)
        if len(log) == 0:
            return np.full(len(times), float("nan"))
        idx = np.searchsorted(log["time_s"].to_numpy(), times, side="right") - 1
        regret = log["regret"].to_numpy(dtype=float)
        return np.where(idx >= 0, regret[np.maximum(idx, 0)], float("nan"))


@functools.lru_cache(maxsize=2)
def _space_pool(space: str) -> tuple:
    """Hashes of every cell of a space (computed once: 0.3 s for bw)."""
    return tuple(space_hashes(space))


# ----------------------------------------------------------------------------- built-in algorithms


@dataclass
class AlgorithmResult:
    """The benchmarks of every run of one algorithm (their logs hold everything)."""
    algo: str
    runs: list = field(default_factory=list)

    def regret(self, times) -> np.ndarray:
        """(runs, len(times)) test regret in points at each simulated time."""
        return np.stack([b.regret_at(times) for b in self.runs])

    def final(self) -> dict:
        """Mean and std over runs of the final incumbent's validation and test accuracy and regret,
        counting only runs finished within the budget."""
        finals = []
        for b in self.runs:
            log = b.log()
            log = log[log["time_s"] <= b.budget_s]
            if len(log):
                finals.append(log.iloc[-1])
        frame = pd.DataFrame(finals)
        out = {"algo": self.algo, "runs": len(self.runs), "evaluations": float(np.mean([len(b.history) for b in self.runs]))}
        for key in ("best_valid_acc", "best_test_acc", "regret"):
            values = frame[key].to_numpy(dtype=float) if len(frame) else np.array([])
            values = values[np.isfinite(values)]
            out[key] = float(values.mean()) if len(values) else float("nan")
            out[f"{key}_std"] = float(values.std()) if len(values) else float("nan")
        return out


def run_algorithm(algo, bench, space: str = "bw", budget_s: float = 3600.0, runs: int = 10, seed: int = 0,
                  model=None, max_evaluations: int = 100_000) -> AlgorithmResult:
    """Run an algorithm (a name of ALGORITHMS, or an object with run(bench, rng)) `runs` times, each
    on a fresh SimulatedBenchmark with its own seed and the same simulated budget (s)."""
    if not (budget_s > 0 and math.isfinite(budget_s)) or runs < 1:  # nan and inf would never run out
        raise ConfigError(f"the budget must be a finite number of seconds above 0 and the runs at least 1, "
                          f"got {budget_s} s and {runs} runs")
    result = AlgorithmResult(_name(_make(algo)))
    for run in range(runs):
        algorithm = _make(algo)
        simulated = SimulatedBenchmark(bench, space, budget_s, model=model, seed=seed * 1000 + run)
        rng = np.random.default_rng([seed, run])
        try:
            algorithm.run(_Capped(simulated, max_evaluations), rng)
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
    algorithm that never stops cannot hang (zero-cost runs have no such risk; a bug might)."""

    def __init__(self, bench: SimulatedBenchmark, max_evaluations: int):
        self._bench, self._left = bench, max_evaluations

    def evaluate(self, cell, epochs=None):
        if self._left <= 0:
            raise BudgetExhausted("evaluation cap reached")
        self._left -= 1
        return self._bench.evaluate(cell, epochs)

    def __getattr__(self, name):
        return getattr(self._bench, name)


def plot_regret(results: list[AlgorithmResult], out, budget_s: float, points: int = 200):
    """Test regret (points) against simulated time (hours): mean over runs with the 25-75% band, one
    line per algorithm. Writes a PNG; returns its path."""
    from ..analysis.plots import pyplot, save_figure
    plt = pyplot()
    times = np.linspace(0, budget_s, points)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for result in results:
        regret = result.regret(times)
        with warnings.catch_warnings():  # all-NaN columns before the first run finishes
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(regret, axis=0)
            lo, hi = np.nanpercentile(regret, 25, axis=0), np.nanpercentile(regret, 75, axis=0)
        line, = ax.plot(times / 3600, mean, label=f"{result.algo} ({len(result.runs)} runs)")
        ax.fill_between(times / 3600, lo, hi, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("simulated training time (hours)")
    ax.set_ylabel("test regret (points)")
    ax.set_title("incumbent's test regret vs simulated time")
    ax.legend(fontsize=8)
    return save_figure(fig, plt, out)
