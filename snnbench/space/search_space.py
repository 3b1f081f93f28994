"""A space as a search algorithm sees it, without the harness: `SearchSpace('fw' | 'bw')` numbers
its cells, checks, draws, mutates and encodes them, as NASLib's search-space interface and
NATS-Bench's API do (numpy only; docs/API.md).

Cells are named by their hash (a str); every method also accepts a Cell, a text or a matrix. One
edit changes the state of one node pair of a cell's canonical matrix (none, a forward op, or in the
bw space a backward op: space/encoding.py), then prunes and canonicalises; the neighbours of a cell
are the distinct cells of the space so reached, the cell itself excluded.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InvalidCellError, UnknownHashError
from .canonical import canonical_keys, check_space, lex_key, looks_like_hash
from .cell import Cell, in_space
from .encoding import one_edit_encodings, one_hot_batch, pair_feature_names, path_encoding_batch, \
    path_feature_names, states_of_matrices
from .index import space_index

ENCODINGS = ("onehot", "path", "adjacency")


class SearchSpace:
    """The fw space (7,012 cells, forward edges only) or the bw space (102,596 cells, forward and
    backward edges). len(space), iteration (hashes in index order), `cell in space`, space[i] (the
    hash of index i) and space.index(cell) (its integer index, 0..len-1, in canonical-text order)."""

    def __init__(self, name: str = "bw"):
        self.name = check_space(name)

    @property
    def _index(self):
        return space_index(self.name)

    def __repr__(self):
        return f"SearchSpace({self.name!r}: {len(self)} cells)"

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self):
        return (h.decode() for h in self._index.hashes)

    def __contains__(self, cell) -> bool:
        return self.is_valid(cell)

    def __getitem__(self, i) -> str:
        """The hash of the cell with index i (an int; negative counts from the end)."""
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise ConfigError(f"a space is indexed by an int (0..{len(self) - 1}), got {i!r}")
        if not -len(self) <= i < len(self):
            raise ConfigError(f"index {i} is outside the {self.name} space (0..{len(self) - 1})")
        return self._index.hashes[int(i)].decode()

    # -- cells and their index
    def is_valid(self, spec) -> bool:
        """Whether spec (a matrix, text, hash or Cell) is a cell of this space: it parses as a Cell
        (an architecture after pruning) and, in fw, has no backward edge. Never raises."""
        try:
            return in_space(Cell.parse(spec), self.name)
        except (InvalidCellError, UnknownHashError, TypeError, ValueError):
            return False

    def indices(self, cells) -> np.ndarray:
        """The integer index of each cell, int64 [n]; InvalidCellError for one not in this space."""
        cells = list(cells)
        out = np.full(len(cells), -1, dtype=np.int64)
        hashes = [k for k, c in enumerate(cells) if isinstance(c, str) and looks_like_hash(c)]
        if hashes:
            out[hashes] = self._index.of_hashes([cells[k] for k in hashes])
        others = [k for k in range(len(cells)) if out[k] < 0]
        if others:
            parsed = [Cell.parse(cells[k]) for k in others]
            out[others] = self._index.of_keys(lex_key(np.stack([c.canonical_matrix for c in parsed])))
        if (out < 0).any():
            bad = Cell.parse(cells[int(np.flatnonzero(out < 0)[0])])
            raise InvalidCellError(f"cell {bad.hash} ({bad.canonical_text}) is a {bad.space} cell, not in the "
                                   f"{self.name} space")
        return out

    def index(self, cell) -> int:
        """The integer index of a cell (0..len-1); InvalidCellError if it is not in this space."""
        return int(self.indices([cell])[0])

    def hash_of(self, index: int) -> str:
        """The hash of the cell with this index (space[index])."""
        return self[index]

    def cell(self, index: int) -> Cell:
        """The Cell (canonical form) with this index."""
        self[index]  # checks the index
        return Cell(self._index.matrices([int(index) % len(self)])[0])

    # -- drawing
    def _pool(self, trained_in) -> np.ndarray:
        """Indices to draw from: the whole space, or the cells of the space a table trained."""
        if trained_in is None:
            return np.arange(len(self))
        ids = self._index.of_hashes(trained_in.cells(trained_only=True))
        pool = np.unique(ids[ids >= 0])
        if len(pool) == 0:
            raise ConfigError(f"the table trained no cell of the {self.name} space")
        return pool

    def random_architecture(self, rng=None, trained_in=None) -> str:
        """The hash of a cell drawn uniformly from the space (or from the cells of it that the table
        trained_in trained); rng: a seed or a numpy Generator."""
        return self.sample(1, rng, trained_in)[0]

    def sample(self, n: int, rng=None, trained_in=None) -> list[str]:
        """n distinct cells drawn uniformly (without replacement), as hashes."""
        pool = self._pool(trained_in)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= len(pool):
            raise ConfigError(f"cannot draw {n!r} distinct cells from {len(pool)}")
        picked = np.random.default_rng(rng).choice(pool, size=int(n), replace=False)
        return [self._index.hashes[i].decode() for i in picked]

    # -- edits
    def neighbour_indices(self, cell) -> np.ndarray:
        """Indices of the one-edit neighbours of a cell, increasing."""
        own = self.index(cell)
        states = states_of_matrices(self._index.matrices([own]))[0]
        valid, keys = canonical_keys(one_edit_encodings(states, self.name))
        found = self._index.of_keys(keys)
        return np.setdiff1d(found[found >= 0], [own])

    def neighbours(self, cell, trained_in=None) -> list[str]:
        """Hashes of the cells of the space one edit away from `cell` (in index order); with
        trained_in (a table), only those that table trained (possibly none)."""
        found = [self._index.hashes[i].decode() for i in self.neighbour_indices(cell)]
        if trained_in is None:
            return found
        trained = set(trained_in.cells(trained_only=True))
        return [h for h in found if h in trained]

    def mutate(self, cell, rng=None, trained_in=None) -> str:
        """A one-edit neighbour drawn uniformly (among those trained_in trained, with a table);
        ConfigError when there is none, never a cell further away."""
        options = self.neighbours(cell, trained_in)
        if not options:
            where = f" that {getattr(trained_in, 'path', 'the table')} trained" if trained_in is not None else ""
            raise ConfigError(f"cell {Cell.parse(cell).hash} has no one-edit neighbour in the {self.name} space"
                              f"{where}: draw with random_architecture instead")
        return options[int(np.random.default_rng(rng).integers(len(options)))]

    # -- encodings
    def encode(self, cells, kind: str = "onehot") -> np.ndarray:
        """Features of cells (float, one row per cell) of their canonical matrices: 'onehot' (the state
        of each node pair: 6 x 5 in fw, 6 x 9 in bw), 'path' (space/encoding.py: path_encoding_batch;
        84 in fw, 108 in bw) or 'adjacency' (the 16 entries of the matrix, op codes 0..4)."""
        if kind not in ENCODINGS:
            raise ConfigError(f"unknown encoding {kind!r}: use one of {', '.join(ENCODINGS)}")
        matrices = self._index.matrices(self.indices(cells))
        if kind == "onehot":
            return one_hot_batch(states_of_matrices(matrices), self.name)
        if kind == "path":
            return path_encoding_batch(matrices, self.name)
        return matrices.reshape(len(matrices), -1).astype(np.float64)

    def feature_names(self, kind: str = "onehot") -> list[str]:
        """Names of the columns encode(cells, kind) returns."""
        if kind not in ENCODINGS:
            raise ConfigError(f"unknown encoding {kind!r}: use one of {', '.join(ENCODINGS)}")
        if kind == "onehot":
            return pair_feature_names(self.name)
        if kind == "path":
            return path_feature_names(self.name)
        return [f"m{i}{j}" for i in range(4) for j in range(4)]
