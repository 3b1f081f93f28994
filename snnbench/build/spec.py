"""What a build produces: the space, the protocol, the cells (a sample, all, or an explicit list),
the training and scoring seeds, the journal; and the jobs that follow from it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..files import check_path, same_file
from ..journal import JOURNAL_SUFFIX, Job
from ..options import MAX_SEED, seed_value, whole_number
from ..protocols import Protocol
from ..space import Cell, check_space, space_hashes, uniform_sample_hashes
from ..table.reader import Bench


def parse_seeds(seeds, what: str) -> tuple:
    if isinstance(seeds, str):
        try:
            seeds = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"{what} must be comma-separated integers such as 0,1,2, got {seeds[:40]!r}") from None
    seeds = tuple(whole_number(s, what) for s in seeds)
    if any(not 0 <= s <= MAX_SEED for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"{what} must be distinct integers in 0..2**63-1, got {', '.join(map(str, seeds))[:80]}")
    return seeds


@dataclass(frozen=True)
class BuildSpec:
    """What a build produces. The trained cells are `sample` cells drawn uniformly from the space
    with `sample_seed`, or every cell with all_cells, or an explicit list of hashes `cells`
    (e.g. the trained cells of another table); every trained cell is also scored, and with
    score_sample M the scored cells are M in total (the trained ones plus others drawn with the same
    seed), or every cell of the space with score_all. scores_only: score the selected cells, train none."""
    space: str
    protocol: Protocol
    out: Path
    sample: int | None = None
    all_cells: bool = False
    sample_seed: int = 0
    seeds: tuple = (0, 1, 2)
    score_seeds: tuple = (0,)
    scores_only: bool = False
    score_sample: int | None = None
    score_all: bool = False
    journal: Path | None = None
    data_dir: str | None = None
    cells: tuple | None = None
    # A table whose scores were re-made under another network graph keeps its training runs: they
    # were made under train_protocol (the same protocol but for the graph), recorded in train_journal.
    train_protocol: Protocol | None = None
    train_journal: Path | None = None
    scored_cells: tuple | None = None
    # Single training runs added to the table one by one (`snnbench train --append-to`): (cell hash,
    # seed) pairs beyond the cells x seeds product; a seed of theirs that `seeds` lacks becomes a
    # training seed of the table (a column where only these runs are set).
    appended_runs: tuple | None = None

    def __post_init__(self):
        if self.cells is not None:
            object.__setattr__(self, "cells", tuple(sorted({Cell.parse(c).hash for c in self.cells})))
        if self.scored_cells is not None:
            object.__setattr__(self, "scored_cells", tuple(sorted({Cell.parse(c).hash for c in self.scored_cells})))
        if self.appended_runs is not None:
            runs = {(Cell.parse(h).hash, seed_value(s, "`seed`")) for h, s in self.appended_runs}
            object.__setattr__(self, "appended_runs", tuple(sorted(runs)))
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "seeds", parse_seeds(self.seeds, "`seeds`"))
        object.__setattr__(self, "score_seeds", parse_seeds(self.score_seeds, "`score_seeds`"))
        if self.journal is not None:
            object.__setattr__(self, "journal", Path(self.journal))
        if self.train_journal is not None:
            object.__setattr__(self, "train_journal", Path(self.train_journal))

    def validate(self) -> "BuildSpec":
        """Check every setting without creating anything; returns self (ConfigError otherwise)."""
        check_space(self.space)
        self.protocol.validate()
        if (self.sample is not None) + self.all_cells + (self.cells is not None) != 1:
            raise ConfigError("choose the cells: give one of `sample` N, `all` or `cells` FILE")
        seed_value(self.sample_seed, "`sample_seed`")
        for option, value in (("`sample`", self.sample), ("`score_sample`", self.score_sample)):
            if value is not None and whole_number(value, option) > len(space_hashes(self.space)):
                raise ConfigError(f"{option} {value} is more than the {len(space_hashes(self.space))} cells of "
                                  f"the {self.space} space (use `all` for every cell)")
        if self.cells is not None:
            if not self.cells:
                raise ConfigError("the cell list is empty")
            if self.space == "fw" and any(Cell.from_hash(h).space != "fw" for h in self.cells):
                raise ConfigError("the cell list holds bw cells, which a fw table cannot hold")
        if self.space == "fw" and any(Cell.from_hash(h).space != "fw" for h, _ in self.appended_runs or ()):
            raise ConfigError("a fw table cannot hold a bw cell")
        if self.sample is not None and self.sample < 1:
            raise ConfigError(f"`sample` must be at least 1, got {self.sample}")
        if self.score_sample is not None and self.score_sample < 1:
            raise ConfigError(f"`score_sample` must be at least 1, got {self.score_sample}")
        if not self.score_seeds:
            raise ConfigError("give at least one scoring seed (`score_seeds` 0)")
        if not self.scores_only and not self.seeds:
            raise ConfigError("give at least one training seed (`seeds` 0,1) or `scores_only`")
        if self.out.suffix != ".h5":
            raise ConfigError(f"`out` must name an .h5 file, got {str(self.out)[:200]}")
        check_path(self.out, "`out`")
        check_path(self.journal_path, "`journal`")
        if self.out.is_dir():
            raise ConfigError(f"`out` {self.out} is a folder")
        if self.out.exists() and not self.out.is_file():
            raise ConfigError(f"`out` {self.out} is not a regular file")
        if self.journal_path.is_dir():
            raise ConfigError(f"`journal` {self.journal_path} is a folder")
        if same_file(self.journal_path, self.out):
            raise ConfigError("the journal and the table must be different files")
        if self.train_protocol is not None:
            from ..protocols import differs_only_in_graph
            if not differs_only_in_graph(self.train_protocol, self.protocol):
                raise ConfigError("the training runs' protocol may differ from the table's only in the graph")
            if self.train_journal is None:
                raise ConfigError("a training protocol of its own needs the journal of its runs (train_journal)")
        return self

    @property
    def journal_path(self) -> Path:
        return self.journal if self.journal is not None else Path(str(self.out) + JOURNAL_SUFFIX)

    @property
    def training_seeds(self) -> tuple:
        """The table's training seeds (its column order): `seeds`, then those only appended runs have."""
        base = () if self.scores_only else self.seeds
        return base + tuple(sorted({s for _, s in self.appended_runs or ()} - set(base)))

    def selected_cells(self) -> list[str]:
        """The cells chosen by --sample/--all (trained unless scores_only), sorted by hash."""
        if self.all_cells:
            return sorted(space_hashes(self.space))
        if self.cells is not None:
            return list(self.cells)
        return uniform_sample_hashes(self.space, self.sample, self.sample_seed)

    def score_cells(self) -> list[str]:
        """Every cell of the table (each is scored for every scoring seed), sorted by hash."""
        selected = self.selected_cells()
        if self.all_cells or self.score_all:
            return sorted(space_hashes(self.space))
        if self.scored_cells is not None:
            selected = sorted(set(selected) | set(self.scored_cells))
        if self.appended_runs:
            selected = sorted(set(selected) | {h for h, _ in self.appended_runs})
        if self.score_sample is None or self.score_sample <= len(selected):
            return selected
        chosen = set(selected)
        pool = space_hashes(self.space)
        # a second stream of the same seed: the same command always adds the same cells
        for i in np.random.default_rng([self.sample_seed, 1]).permutation(len(pool)):
            if len(chosen) >= self.score_sample:
                break
            chosen.add(pool[i])
        return sorted(chosen)

    def jobs(self) -> list[Job]:
        """Score jobs first (cell x scoring seed), then training runs seed by seed, so that a partial
        table has every cell scored and as many cells as possible with one run."""
        jobs = [Job("score", h, s) for h in self.score_cells() for s in self.score_seeds]
        if not self.scores_only:
            train = self.selected_cells()
            jobs += [Job("train", h, s) for s in self.seeds for h in train]
        listed = set(jobs)
        jobs += [Job("train", h, s) for h, s in self.appended_runs or () if Job("train", h, s) not in listed]
        return jobs

    def selection(self) -> dict:
        """How the cells were chosen, as recorded in the table."""
        chosen = {"mode": "all" if self.all_cells else "cells" if self.cells is not None else "sample",
                  "sample": self.sample, "sample_seed": self.sample_seed,
                  "score_sample": "all" if self.score_all else self.score_sample,
                  "scores_only": self.scores_only, "sampler": "space.uniform_sample_hashes"}
        if self.cells is not None:
            chosen["cells"] = list(self.cells)
        if self.scored_cells is not None:
            chosen["scored_cells"] = list(self.scored_cells)
        if self.appended_runs:
            chosen["appended_runs"] = [[h, s] for h, s in self.appended_runs]
            chosen["seeds"] = list(() if self.scores_only else self.seeds)
        return chosen


def spec_from_table(path, journal=None) -> BuildSpec:
    """The BuildSpec of the build that wrote a table, from its metadata: space, protocol, selection,
    training and scoring seeds. Its out is the path the build wrote (as recorded by its runs, else
    `path`); its journal is `journal`, else the recorded journal's file name beside the table if it
    is there, else the recorded journal path."""
    path = Path(path)
    with Bench(path) as bench:
        meta = bench.metadata
        protocol = bench.protocol
        train_protocol = bench.train_protocol if meta.get("train_protocol_json") else None
    sel, build = meta["selection"], meta["build"]
    train_journal = None
    if train_protocol is not None and build.get("train_journal"):
        beside = path.parent / Path(build["train_journal"]).name
        train_journal = beside if beside.exists() else Path(build["train_journal"])
    runs = build.get("runs") or []
    out = Path(runs[-1]["out"]) if runs and runs[-1].get("out") else path
    if journal is None and build.get("journal"):
        beside = path.parent / Path(build["journal"]).name
        journal = beside if beside.exists() else Path(build["journal"])
    score_sample = sel.get("score_sample")
    seeds = tuple(sel.get("seeds", meta["seeds"])) if not sel.get("scores_only") else (0,)
    cells = sel.get("cells") if sel.get("mode") == "cells" else None
    return BuildSpec(meta["space"], protocol, out, sample=sel.get("sample") if sel.get("mode") == "sample" else None,
                     cells=cells, scored_cells=sel.get("scored_cells"),
                     all_cells=sel.get("mode") == "all", sample_seed=int(sel.get("sample_seed") or 0), seeds=seeds,
                     score_seeds=tuple(meta["score_seeds"]), scores_only=bool(sel.get("scores_only")),
                     score_sample=score_sample if isinstance(score_sample, int) else None,
                     score_all=score_sample == "all", journal=journal, train_protocol=train_protocol,
                     train_journal=train_journal,
                     appended_runs=tuple(tuple(r) for r in sel["appended_runs"]) if sel.get("appended_runs") else None)
