"""The built-in NAS algorithms of the harness: short classes with one method, run(bench, rng), that
ask `bench` (a harness.SimulatedBenchmark) for evaluations until its budget is spent; copy one to write your own."""
from __future__ import annotations

import math

import numpy as np

from ..space import Cell


class RandomSearch:
    """Evaluate uniformly drawn cells until the budget is spent."""
    name = "random search"

    def run(self, bench, rng) -> None:
        while True:
            bench.evaluate(bench.random_cell(rng))


class RegularizedEvolution:
    """Real et al. 2019: a population of the last `population` evaluated cells; each step, the best of
    `sample` random members is mutated and evaluated, and the oldest member dies."""
    name = "regularised evolution"

    def __init__(self, population: int = 20, sample: int = 5):
        self.population, self.sample = population, sample

    def run(self, bench, rng) -> None:
        alive = [bench.evaluate(bench.random_cell(rng)) for _ in range(self.population)]
        while True:
            contenders = [alive[i] for i in rng.choice(len(alive), size=min(self.sample, len(alive)), replace=False)]
            parent = max(contenders, key=lambda r: r.valid_acc)
            alive.append(bench.evaluate(bench.mutate(parent.hash, rng)))
            alive.pop(0)


class LocalSearch:
    """Hill climbing: evaluate every neighbour of the current cell, move to the best if it improves,
    otherwise restart from a random cell. Evaluated cells are remembered, never re-trained."""
    name = "local search"

    def run(self, bench, rng) -> None:
        seen: dict[str, float] = {}

        def accuracy(cell):
            if cell.hash not in seen:
                seen[cell.hash] = bench.evaluate(cell).valid_acc
            return seen[cell.hash]

        current = bench.random_cell(rng)
        while current is not None:
            neighbours = bench.neighbours(current)
            rng.shuffle(neighbours)
            best = max(neighbours, key=accuracy, default=None)
            if best is not None and accuracy(best) > accuracy(current):
                current = best
            else:  # a local optimum: restart from a cell not evaluated yet (stop when none is left)
                current = bench.random_cell(rng, exclude=seen)


class ZeroCostPick:
    """The paper's search inside the harness: rank candidates by a zero-cost score stored in the table
    (free), then train them best first. Candidates: `n_samples` random evaluable cells, or when None
    every cell of bench.candidates() (the trained cells; with a surrogate, every scored cell)."""

    def __init__(self, score: str = "sahd", n_samples: int | None = None):
        self.score, self.n_samples = score, n_samples
        self.name = f"zero-cost pick ({score})"

    def run(self, bench, rng) -> None:
        pool = [Cell.from_hash(h) for h in bench.candidates()]
        if self.n_samples is not None:
            pool = [bench.random_cell(rng) for _ in range(self.n_samples)]
        scored = [(bench.zero_cost(c, self.score), c) for c in pool]
        ranked = sorted((s, c.hash) for s, c in scored if math.isfinite(s))[::-1]
        for _score, h in dict.fromkeys(ranked):  # best first, each cell once
            bench.evaluate(h)


class PredictorGuided:
    """BANANAS-style search with the surrogate ensemble: after `n_init` random cells, fit the ensemble
    on what has been evaluated, predict `pool` fresh candidates (random cells and mutations of the
    best), and train the one with the highest mean + kappa * std."""
    name = "predictor-guided"

    def __init__(self, n_init: int = 10, pool: int = 100, kappa: float = 0.5, n_members: int = 3,
                 n_estimators: int = 100):
        self.n_init, self.pool, self.kappa = n_init, pool, kappa
        self.n_members, self.n_estimators = n_members, n_estimators

    def run(self, bench, rng) -> None:
        from ..surrogate import Surrogate, SurrogateParams
        done: dict[str, float] = {}
        for _ in range(self.n_init):
            r = bench.evaluate(bench.random_cell(rng))
            done[r.hash] = r.valid_acc
        while True:
            params = SurrogateParams(n_members=self.n_members, n_estimators=self.n_estimators,
                                     seed=int(rng.integers(1 << 30)))
            model = Surrogate(params).fit(list(done), list(done.values()))
            candidates = self._candidates(bench, rng, done)
            if not candidates:
                candidates = [bench.random_cell(rng)]
            mean, std = model.predict_cells(candidates)
            pick = candidates[int(np.argmax(mean + self.kappa * std))]
            done[pick.hash] = bench.evaluate(pick).valid_acc

    def _candidates(self, bench, rng, done) -> list[Cell]:
        top = sorted(done, key=done.get)[-5:]
        cells = [bench.random_cell(rng) for _ in range(self.pool // 2)]
        cells += [bench.mutate(top[int(rng.integers(len(top)))], rng) for _ in range(self.pool - len(cells))]
        return list({c.hash: c for c in cells if c.hash not in done}.values())


ALGORITHMS = {
    "rs": RandomSearch,
    "re": RegularizedEvolution,
    "ls": LocalSearch,
    "zc-hd": lambda: ZeroCostPick("hd"),
    "zc-sahd": lambda: ZeroCostPick("sahd"),
    "predictor": PredictorGuided,
}
