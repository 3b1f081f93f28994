"""More seeds for part of a table. Where one run's label is too noisy to rank the better cells (the
Fashion-MNIST tables: README "The CPU protocol for Fashion-MNIST"), the better part of the trained
cells gets further training seeds: `better_cells` chooses them from the table's finished runs, and a
build adds the runs (`snnbench build ... --extend --extra-seeds 2 --extra-cells FILE`, as
BuildSpec.appended_runs: the table records them in its selection, a seed column set for those cells)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .spec import parse_seeds, spec_from_table


def better_cells(table, fraction: float = 0.5) -> list[str]:
    """The better `fraction` of a table's trained cells (rounded up), best first: ranked by the mean
    validation accuracy over the seeds its build trained every cell with (runs added later for some
    cells do not count), a diverged run counting as the worst; ties by hash. ConfigError when the
    fraction is not in (0, 1] or a trained cell still lacks one of those runs (a partial table: the
    choice is made on complete means only)."""
    import snnbench
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise ConfigError(f"the fraction of cells must be in (0, 1], got {fraction!r}")
    spec = spec_from_table(table)
    if spec.scores_only or not spec.seeds:
        raise ConfigError(f"{table} trained no cells: there is no better part to choose")
    cells = spec.selected_cells()
    with snnbench.open(Path(table)) as bench:
        stored = bench.stored_jobs()
        missing = sum(("train", h, s) not in stored for h in cells for s in spec.seeds)
        if missing:
            raise ConfigError(f"{table} lacks {missing} of the {len(cells) * len(spec.seeds)} runs of seeds "
                              f"{', '.join(map(str, spec.seeds))}: the better cells are chosen once its build "
                              "has finished them")
        frame = bench.to_dataframe().set_index("hash")
    runs = frame.loc[cells, [f"valid_acc_s{s}" for s in spec.seeds]].to_numpy(dtype=float)
    means = np.where(np.isfinite(runs), runs, -np.inf).mean(axis=1)  # a diverged run: the worst
    order = sorted(range(len(cells)), key=lambda k: (-means[k], cells[k]))
    return [cells[k] for k in order[:math.ceil(fraction * len(cells))]]


def extra_runs(cells, seeds, what: str = "extra seeds") -> tuple:
    """The (cell hash, seed) runs of `seeds` (integers, or comma-separated text such as "2,3") for every
    cell of `cells` (BuildSpec.appended_runs). ConfigError on a seed that is not one."""
    return tuple((h, s) for h in cells for s in parse_seeds(seeds, what))
