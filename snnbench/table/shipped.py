"""The shipped tables: where they are, and one read-only view over them (what `snnbench.open()`
and `snnbench query HASH` without a table use).

Where the shipped tables are, first match wins:
1. $SNNBENCH_TABLES_DIR, when set (it must then be a folder holding tables);
2. the `tables/` folder of the source tree the package runs from (a checkout, or an editable
   install `pip install -e .`): the folder beside `snnbench/` whose parent has pyproject.toml;
3. `share/snnbench/tables` under the installation prefix (sys.prefix, the user base), where a
   regular install (`pip install .` or a wheel) puts them.
A folder holds shipped tables when it has a MANIFEST.json (its tables, in its order) or, without
one, .h5 tables (fw tables before bw, then by name). With a manifest, the manifest decides what ships:
a table it lists that the folder lacks (a table still to be built) is skipped by every query and by
`snnbench verify`, and `snnbench info` marks it MISSING; an .h5 file of the folder that it does not
list is not a shipped table (a build in progress, a scratch copy): queries skip it and `snnbench info`
names it, until runners/manifest.sh lists it.

The shipped tables may hold several datasets (digits, fashion-mnist): `query_all` answers with every
table's record of a cell, `open_shipped(dataset=...)` keeps one dataset's tables.
"""
from __future__ import annotations

import os
import site
import sys
import sysconfig
from pathlib import Path

from ..errors import ArchitectureNotInTable, ConfigError, InvalidCellError
from .interface import TableReader
from .lookup import TableLookups, cell_hash
from .manifest import MANIFEST_NAME, read_manifest
from ..profiles import DATASETS

TABLES_DIR_ENV = "SNNBENCH_TABLES_DIR"
SHARE_SUBDIR = Path("share", "snnbench", "tables")


def source_tables_dir() -> Path | None:
    """tables/ of the source tree this package runs from (None for a regular install)."""
    root = Path(__file__).resolve().parents[2]  # snnbench/table/shipped.py -> the source tree
    if (root / "pyproject.toml").is_file() and (root / "tables").is_dir():
        return root / "tables"
    return None


def candidate_dirs() -> list[tuple[str, Path]]:
    """(how it was found, folder) in the order they are tried (see the module docstring)."""
    env = os.environ.get(TABLES_DIR_ENV)
    if env:
        return [(f"${TABLES_DIR_ENV}", Path(env))]
    out = []
    src = source_tables_dir()
    if src is not None:
        out.append(("source tree", src))
    for base in dict.fromkeys([sys.prefix, sysconfig.get_path("data"), site.USER_BASE]):
        if base:
            out.append(("installed", Path(base) / SHARE_SUBDIR))
    return out


def _tables_in(directory: Path) -> list[Path]:
    """The shipped tables of a folder (MANIFEST.json order, else fw before bw); [] if none."""
    manifest = directory / MANIFEST_NAME
    if manifest.is_file():
        return [directory / t["file"] for t in read_manifest(manifest)["tables"]]
    tables = sorted(directory.glob("*.h5"))
    return sorted(tables, key=lambda p: ("-bw" in p.stem or p.stem.endswith("bw"), p.name))


def unlisted_tables(directory: Path) -> list[Path]:
    """The .h5 files of a folder that its MANIFEST.json does not list (none without a manifest):
    not shipped tables, which queries skip."""
    manifest = Path(directory) / MANIFEST_NAME
    if not manifest.is_file():
        return []
    listed = {t["file"] for t in read_manifest(manifest)["tables"]}
    return [p for p in sorted(Path(directory).glob("*.h5")) if p.name not in listed]


def locate() -> tuple[Path, list[Path], str] | None:
    """(folder, its shipped tables, how it was found), or None when there are no shipped tables.
    A folder named by $SNNBENCH_TABLES_DIR that holds no tables is an error, not a fall-through."""
    for how, directory in candidate_dirs():
        if not directory.is_dir():
            if how.startswith("$"):
                raise ConfigError(f"${TABLES_DIR_ENV}={directory} is not a folder")
            continue
        tables = _tables_in(directory)
        if tables:
            return directory, tables, how
        if how.startswith("$"):
            raise ConfigError(f"${TABLES_DIR_ENV}={directory} holds no tables (no {MANIFEST_NAME}, no .h5 file)")
    return None


def _none_found() -> ConfigError:
    searched = ", ".join(str(d) for _, d in candidate_dirs())
    return ConfigError(f"no table given and no shipped tables found (searched {searched}): pass `table` FILE, "
                       f"or set SNNBENCH_TABLE to a table file or {TABLES_DIR_ENV} to a folder of tables")


def shipped_tables(required: bool = True) -> list[Path]:
    """Paths of the shipped tables present, in the order queries try them; a table the manifest
    lists but the folder lacks is left out (see missing_tables). With required, none present is a
    one-line ConfigError; without, [] then."""
    found = locate()
    if found is None:
        if required:
            raise _none_found()
        return []
    directory, tables, _ = found
    present = [t for t in tables if t.is_file()]
    if not present and required:
        raise ConfigError(f"{directory / MANIFEST_NAME} lists {', '.join(t.name for t in tables)}, none of which "
                          f"is in {directory}: restore the tables, or rerun runners/manifest.sh")
    return present


def missing_tables() -> list[Path]:
    """The tables the manifest of the shipped tables lists that its folder lacks (skipped by queries)."""
    found = locate()
    return [] if found is None else [t for t in found[1] if not t.is_file()]


def find_shipped(name: str) -> Path | None:
    """A shipped table by file name, with or without .h5 ('digits-bw'); None if there is none."""
    found = locate()
    if found is None:
        return None
    wanted = {name, f"{name}.h5"}
    return next((t for t in found[1] if t.name in wanted and t.is_file()), None)


class ShippedTables(TableLookups, TableReader):
    """The shipped tables as one read-only view: what `snnbench.open()` returns.

    A cell is answered by the first table (the manifest's order: digits fw, then bw, then the tables
    of other datasets) that trained it, else by the first that holds it; its record says which
    ('table': the file name). query_all answers with every table's record instead. It has the
    reading interface of Bench: query, curves, cells, sample, to_dataframe (one row per cell, from the
    table that answers for it, with a 'table' column), `in`, len; protocol and seeds when the tables
    share them; `tables` gives the Bench of each table. dataset (a name of profiles.DATASETS) keeps
    the tables of that dataset only (ConfigError, one line, if none is shipped)."""

    def __init__(self, paths, dataset: str | None = None):
        from .reader import Bench
        paths = [Path(p) for p in paths]
        if not paths:
            raise _none_found()
        if dataset is not None and dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
        self.tables = []
        self._frame_cache = self._frame_keys = None
        try:
            for p in paths:
                self.tables.append(Bench(p))
            if dataset is not None:
                self._keep_dataset(dataset)
        except BaseException:
            self.close()
            raise
        self.paths = [b.path for b in self.tables]
        spaces = {b.space for b in self.tables}
        self.space = "bw" if "bw" in spaces else "fw"
        self.path = self.paths[0].parent

    def _keep_dataset(self, dataset: str) -> None:
        kept = [b for b in self.tables if b.metadata["dataset"] == dataset]
        if not kept:
            shipped = ", ".join(f"{b.path.name} ({b.metadata['dataset']})" for b in self.tables)
            raise ConfigError(f"no shipped table of the dataset {dataset} (the shipped tables: {shipped})")
        for b in self.tables:
            if b not in kept:
                b.close()
        self.tables = kept

    @property
    def datasets(self) -> list[str]:
        """The datasets of the tables, in the tables' order, each once."""
        return list(dict.fromkeys(b.metadata["dataset"] for b in self.tables))

    # -- life
    def close(self) -> None:
        self._frame_cache = self._frame_keys = None
        for b in self.tables:
            b.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "ShippedTables(" + ", ".join(f"{b.path.name}: {len(b)} {b.space} cells" for b in self.tables) + ")"

    # -- which table answers
    def table_for(self, cell):
        """The Bench that answers for a cell: the first that trained it, else the first holding it."""
        key = cell_hash(cell)  # InvalidCellError for a text or matrix that is no cell
        first = None
        for b in self.tables:  # a hash lookup per table: no table parses the cell again
            row = b.find_hash(key)
            if row < 0:
                continue
            if b.trained_at(row):
                return b
            first = first or b
        if first is not None:
            return first
        self._raise_in_none(cell)

    def _raise_in_none(self, cell):
        """Raise the error for a cell no table holds: UnknownHashError for a hash of no cell, else
        ArchitectureNotInTable naming the cell (parsing it reads the space index)."""
        try:
            self.tables[0].row(cell)
        except ArchitectureNotInTable as exc:
            raise self._in_none(exc) from None
        raise AssertionError(f"{cell!r} was found in {self.tables[0].path} after all")

    def _in_none(self, error: ArchitectureNotInTable) -> ArchitectureNotInTable:
        """The error for a cell that no table holds (error: one table's, which carries the parsed cell)."""
        parsed = error.cell
        err = ArchitectureNotInTable(
            f"cell {parsed.hash} ({parsed.canonical_text}, a {parsed.space} cell) is in none of the shipped tables ("
            + ", ".join(f"{b.path.name}: {len(b)} cells of the {b.space} space, {b.metadata['dataset']}"
                        for b in self.tables) + ")")
        err.cell = parsed
        return err

    def query(self, cell, seed=None, epoch=None, budget=None) -> dict:
        """Bench.query on the table that answers for the cell, plus 'table' (its file name)."""
        b = self.table_for(cell)
        rec = b.query(cell, seed=seed, epoch=epoch, budget=budget)
        rec["table"] = b.path.name
        return rec

    def query_all(self, cell, seed=None, epoch=None, budget=None) -> list[dict]:
        """Bench.query on every table that holds the cell, in the tables' order, each record with
        'table' (the file name) and 'dataset'; tables without the cell are skipped. Raises
        ArchitectureNotInTable when none holds it (InvalidCellError for a text that is no cell)."""
        records = []
        key = cell_hash(cell)  # then a hash lookup per table: the cell is not parsed again
        for b in self.tables:
            if b.find_hash(key) < 0:
                continue
            rec = b.query(key, seed=seed, epoch=epoch, budget=budget)
            rec["table"], rec["dataset"] = b.path.name, b.metadata["dataset"]
            records.append(rec)
        if not records:
            self._raise_in_none(cell)
        return records

    def curves(self, cell) -> dict:
        return self.table_for(cell).curves(cell)

    def __contains__(self, cell) -> bool:
        if isinstance(cell, str):
            try:
                key = cell_hash(cell)
            except (InvalidCellError, KeyError):
                return False
            return any(b.find_hash(key) >= 0 for b in self.tables)
        return any(cell in b for b in self.tables)

    def _frame(self):
        """to_dataframe(), read once and kept (query_many and find_best read it; do not modify it)."""
        if self._frame_cache is None:
            self._frame_cache = self.to_dataframe()
        return self._frame_cache

    def _rows_frame(self, hashes: list):
        """(the rows of the hashes, in order, from the table that answers for each (to_dataframe
        already keeps that table's row of every hash), NaN rows where no table holds one; found)."""
        import numpy as np
        frame = self._frame()
        if self._frame_keys is None:
            self._frame_keys = frame["hash"].to_numpy().astype("S16")
        keys = np.array([h.encode("ascii", "replace") for h in hashes], dtype="S17")
        rows = np.minimum(np.searchsorted(self._frame_keys, keys), max(len(frame) - 1, 0))
        found = (self._frame_keys[rows] == keys) if len(frame) else np.zeros(len(keys), bool)
        out = frame.iloc[np.where(found, rows, 0)].reset_index(drop=True)
        if not found.all():
            out = out.where(np.broadcast_to(found[:, None], out.shape))  # NaN rows (ints become floats)
        return out, found

    def _union(self, trained_only: bool = False) -> list[str]:
        hashes = set()
        for b in self.tables:
            hashes.update(b.cells(trained_only=trained_only))
        return sorted(hashes)

    def cells(self, trained_only: bool = False) -> list[str]:
        """Hashes of the cells of every shipped table, sorted; with trained_only, the trained ones."""
        return self._union(trained_only)

    def __len__(self) -> int:
        return len(self._union())

    def sample(self, n: int, rng=None, trained_only: bool = False) -> list[str]:
        import numpy as np
        pool = self._union(trained_only)
        if n < 0 or n > len(pool):
            raise ConfigError(f"cannot sample {n} cells from {len(pool)}")
        picked = np.random.default_rng(rng).choice(len(pool), size=n, replace=False)
        return [pool[i] for i in picked]

    def to_dataframe(self):
        """One row per cell of any shipped table, sorted by hash, from the table that answers for it."""
        import pandas as pd
        frames = []
        for order, b in enumerate(self.tables):
            df = b.to_dataframe()
            df["table"] = b.path.name
            df["_order"] = order
            frames.append(df)
        df = pd.concat(frames, ignore_index=True)
        df = df.sort_values(["hash", "trained", "_order"], ascending=[True, False, True], kind="stable")
        df = df.drop_duplicates("hash", keep="first").drop(columns="_order").reset_index(drop=True)
        df.attrs["extra_seeds"] = sorted({s for b in self.tables for s in b.extra_seeds})
        return df

    # -- shared metadata
    def _shared(self, what: str, value):
        values = {repr(value(b)) for b in self.tables}
        if len(values) > 1:
            raise ConfigError(f"the shipped tables differ in {what}: open one of them with snnbench.open(PATH)")
        return value(self.tables[0])

    @property
    def protocol(self):
        return self._shared("protocol", lambda b: b.protocol)

    @property
    def seeds(self) -> list:
        return self._shared("training seeds", lambda b: b.seeds)

    @property
    def score_seeds(self) -> list:
        return self._shared("scoring seeds", lambda b: b.score_seeds)

    @property
    def metadata(self) -> dict:
        """The metadata every shipped table shares (protocol, dataset, seeds), plus 'tables': each
        table's own metadata by file name."""
        metas = [b.metadata for b in self.tables]
        shared = {k: v for k, v in metas[0].items()
                  if k in ("protocol_name", "protocol_hash", "protocol_json", "dataset", "dataset_fingerprint",
                           "seeds", "score_seeds", "schema_version") and all(m.get(k) == v for m in metas)}
        return {**shared, "space": self.space, "shipped": True, "folder": str(self.path),
                "tables": {b.path.name: m for b, m in zip(self.tables, metas)}}


def open_shipped(dataset: str | None = None) -> ShippedTables:
    """The shipped tables as one ShippedTables view, or those of one dataset (ConfigError, one line,
    if there are none)."""
    return ShippedTables(shipped_tables(required=True), dataset=dataset)


def query_all(cell, dataset: str | None = None, seed=None, epoch=None, budget=None) -> list[dict]:
    """Every shipped table's record of a cell (hash, text or Cell), in the manifest's order: a list of
    Bench.query records (mean over training seeds, accuracies in %), each with 'table' (file name) and
    'dataset'. dataset: only the tables of that dataset. ArchitectureNotInTable when no table holds
    the cell; ConfigError for an unknown dataset or one without a shipped table."""
    with open_shipped(dataset) as view:
        return view.query_all(cell, seed=seed, epoch=epoch, budget=budget)


def describe_shipped() -> str:
    """What `snnbench info` prints without a file: each shipped table with its space, dataset, counts,
    protocol and whether its SHA-256 matches the manifest; then the tables the manifest lists that the
    folder lacks, and the .h5 files of the folder it does not list."""
    found = locate()
    if found is None:
        raise _none_found()
    directory, tables, how = found
    manifest_path = directory / MANIFEST_NAME
    manifest = read_manifest(manifest_path) if manifest_path.is_file() else None
    lines = [f"shipped tables in {directory} (found via {how}; "
             f"{MANIFEST_NAME if manifest else 'no ' + MANIFEST_NAME})"]
    for t in tables:
        if t.is_file():
            lines.append(_describe_table(t, manifest))
    for t in tables:
        if not t.is_file():
            lines.append(f"  {t.name:14s} MISSING: listed in {MANIFEST_NAME}, not in the folder (queries skip it)")
    for t in unlisted_tables(directory):
        lines.append(f"  {t.name:14s} not in {MANIFEST_NAME}: not a shipped table, queries skip it "
                     "(runners/manifest.sh lists it)")
    lines.append("query: snnbench query HASH (every table above that holds the cell; --dataset NAME: that dataset's "
                 "tables only); snnbench.open() answers from the first that trained it; details: snnbench info FILE")
    return "\n".join(lines)


def _describe_table(path: Path, manifest: dict | None) -> str:
    """One line of `snnbench info` for a shipped table present in its folder."""
    from .manifest import manifest_entry, sha256_file
    from .reader import Bench
    with Bench(path) as b:
        m = b.metadata
    entry = manifest_entry(manifest, path.name) if manifest else None
    if entry is None:
        check = "sha256 not in a manifest"
    else:
        check = "sha256 ok" if sha256_file(path) == entry["sha256"] else "sha256 MISMATCH (not the file the manifest lists)"
    state = "" if m["complete"] else ", CHECKPOINT of an unfinished build"
    return (f"  {path.name:14s} {m['space']}  {m['dataset']}: {m['n_cells']} cells, {m['n_trained']} trained, "
            f"{m['n_train_runs']} training runs, {m['n_score_runs']} scoring runs; protocol "
            f"{m['protocol_name']} {m['protocol_hash']}; {path.stat().st_size / 1e6:.1f} MB; {check}{state}")
