"""What a table answers beyond one query: `bench[cell]`, iteration over its hashes, `query_many`
(many cells in one DataFrame) and `find_best` (the best trained cell under a budget), shared by
`Bench` and `shipped.ShippedTables`. Both read their columns once (`_frame`) and answer a batch
with one vectorised lookup, so 100,000 lookups take well under a second (benchmarks/table_speed.py)."""
from __future__ import annotations

import math
import re

import numpy as np

from ..errors import ArchitectureNotInTable, ConfigError
from ..space import Cell, as_cell

_HASH_RE = re.compile(r"[0-9a-f]{16}")
_TEXT_DIGITS_RE = re.compile(r"[0-4]{16}")
# find_best's budgets: keyword -> the to_dataframe column it bounds from above
BUDGETS = {"max_params": "n_params", "max_sops": "sops", "max_energy_pj": "energy_pj", "max_train_time": "train_time"}


def cell_hash(cell) -> str:
    """The hash of a cell given as a hash (returned as is, lower case), text, matrix or Cell.
    A hash that names no cell is returned too: a table lookup then finds nothing."""
    if isinstance(cell, str):
        key = cell.strip().lower()
        if _HASH_RE.fullmatch(key) and not _TEXT_DIGITS_RE.fullmatch(key):
            return key
    if isinstance(cell, Cell):
        return cell.hash
    return as_cell(cell).hash


def cell_hashes(cells) -> list[str]:
    """cell_hash of each cell, in order (hashes cost one regex match each)."""
    if isinstance(cells, (str, Cell)):
        raise ConfigError("cells must be a list of cells (hashes, texts or Cells), not a single cell: "
                          "use query(cell) for one, or query_many([cell])")
    return [cell_hash(c) for c in cells]


class TableLookups:
    """Mixin: the batch and convenience reads of a table, on top of query, cells, _frame (the
    to_dataframe columns, cached) and _rows_frame (the frame rows of hashes, missing ones marked)."""

    def __getitem__(self, cell) -> dict:
        """bench[cell] is bench.query(cell) (mean over seeds); ArchitectureNotInTable if absent."""
        return self.query(cell)

    def __iter__(self):
        """The hashes of the table's cells, sorted (as cells())."""
        return iter(self.cells())

    def query_many(self, cells, columns=None, missing: str = "raise"):
        """The records of many cells at once as a pandas DataFrame, one row per cell asked for, in
        order (repeats kept): the columns of to_dataframe (accuracies in %, means over training
        seeds), or only `columns`. cells: hashes, texts, matrices or Cells. missing='raise' (the
        default): ArchitectureNotInTable for the first cell the table lacks; missing='nan': a row
        of NaN for it (its hash kept, 'in_table' False)."""
        if missing not in ("raise", "nan"):
            raise ConfigError(f"missing must be 'raise' or 'nan', got {missing!r}")
        hashes = cell_hashes(cells)
        cells = cells if isinstance(cells, (list, tuple, np.ndarray)) else None  # an iterator is spent
        frame, found = self._rows_frame(hashes)
        if missing == "raise" and not found.all():
            first = int(np.flatnonzero(~found)[0])
            self.query(hashes[first] if cells is None else cells[first])  # raises, naming the cell
            raise ArchitectureNotInTable(f"cell {hashes[first]} is not in this table")
        if missing == "nan":
            frame["hash"] = hashes
            frame["in_table"] = found
        if columns is not None:
            columns = [columns] if isinstance(columns, str) else list(columns)
            unknown = [c for c in columns if c not in frame.columns]
            if unknown:
                raise ConfigError(f"unknown column {unknown[0]!r}: the columns are {', '.join(frame.columns)}")
            frame = frame[columns]
        return frame

    def find_best(self, metric: str = "valid_acc", maximize: bool = True, space: str | None = None,
                  **budgets) -> dict:
        """The query record of the best trained cell by `metric` (a to_dataframe column: valid_acc,
        the mean validation accuracy over seeds in %, by default) within budgets: max_params
        (parameters), max_sops (synaptic operations per test image), max_energy_pj (pJ per test
        image), max_train_time (s per run), each an upper bound, inclusive; space 'fw' keeps the
        cells without a backward edge. Ties go to fewer parameters, then the smaller hash. The record
        has 'rank_key' (metric, n_params) and 'n_candidates' (trained cells within the budgets).
        ConfigError when no trained cell meets the budgets."""
        unknown = [k for k in budgets if k not in BUDGETS]
        if unknown:
            raise ConfigError(f"unknown budget {unknown[0]!r}: use {', '.join(BUDGETS)}")
        frame = self._frame()
        if metric not in frame.columns or frame[metric].dtype.kind not in "fiu":
            raise ConfigError(f"metric must be a numeric column of to_dataframe (valid_acc, test_acc, ...), "
                              f"got {metric!r}")
        keep = frame["trained"].to_numpy(bool) & frame[metric].notna().to_numpy()
        for name, limit in budgets.items():
            if limit is None:
                continue
            if isinstance(limit, bool) or not isinstance(limit, (int, float)) or math.isnan(limit):
                raise ConfigError(f"{name} must be a number, got {limit!r}")
            keep &= (frame[BUDGETS[name]] <= limit).to_numpy()
        if space is not None:
            if space not in ("fw", "bw"):
                raise ConfigError(f"space must be 'fw' or 'bw', got {space!r}")
            keep &= (frame["space"] == "fw").to_numpy() if space == "fw" else np.ones(len(frame), bool)
        candidates = frame[keep]
        if candidates.empty:
            said = ", ".join(f"{k}={v}" for k, v in budgets.items() if v is not None) or "no budget"
            trained = frame[frame["trained"].to_numpy(bool)]
            least = "; ".join(f"the least {BUDGETS[k]} of a trained cell is {trained[BUDGETS[k]].min():.6g}"
                              for k, v in budgets.items() if v is not None and len(trained))
            raise ConfigError(f"no trained cell of this table meets {said}"
                              + (f" in the {space} space" if space else "") + f" with a {metric}"
                              + (f" ({least})" if least else ""))
        order = candidates.sort_values([metric, "n_params", "hash"], ascending=[not maximize, True, True],
                                       kind="stable")
        best = order.iloc[0]
        rec = self.query(best["hash"])
        rec["rank_key"] = (float(best[metric]), int(best["n_params"]))
        rec["n_candidates"] = int(len(candidates))
        return rec
