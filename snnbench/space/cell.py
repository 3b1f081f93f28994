"""The Cell value: one encoding of an SNASNet cell, equal to every encoding of the same canonical
cell, with its hash, text forms, edges and attributes (numpy only).

A cell is a 4x4 matrix M with entries 0..4 (spec section 2): M[i][j], i < j, is a forward edge
i -> j at the same timestep; M[i][j], i > j, a backward edge from node i at t-1 into node j at t.
Its text form is the four rows as digit strings, "0302 0030 3003 0000".

Hash: the first 16 hex digits of the SHA-256 of the canonical text form (ASCII, rows separated
by single spaces). It depends on nothing but the canonical matrix, so it is stable across runs,
machines and Python versions.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidCellError, UnknownHashError
from .canonical import (HASH_LENGTH, N_NODES, OP_NAMES, OPS, canonical_batch, check_encoding, hash_text, is_architecture,
                        looks_like_hash, matrix_to_text, prune_batch, text_to_matrix)
from .encoding import matrix_pair_states
from .index import canonical_text_of_hash


# ----------------------------------------------------------------------------- the Cell value
@dataclass(frozen=True, eq=False)
class Cell:
    """One encoding of an SNASNet cell. Equality and hashing follow the canonical form, so two
    encodings that build the same network are equal. Build with Cell(matrix), Cell.from_text,
    Cell.from_hash or Cell.parse."""

    matrix: tuple

    def __init__(self, matrix):
        m = check_encoding(matrix)
        pruned = prune_batch(m[None])[0]
        if not is_architecture(pruned):
            raise InvalidCellError(
                f"{matrix_to_text(m)} is not an architecture: after pruning there is no direct edge 0->3 "
                "(the space requires M[0][3] in 1..4)")
        canonical = canonical_batch(pruned[None])[0]
        object.__setattr__(self, "matrix", tuple(tuple(int(v) for v in row) for row in m))
        object.__setattr__(self, "_canonical", canonical.astype(np.int64))
        object.__setattr__(self, "_hash", hash_text(matrix_to_text(canonical)))

    # constructors
    @classmethod
    def from_text(cls, text: str) -> "Cell":
        """Cell from the row-string form "0302 0030 3003 0000"."""
        return cls(text_to_matrix(text))

    @classmethod
    def from_hash(cls, arch_hash: str) -> "Cell":
        """Cell (in canonical form) whose hash is arch_hash; UnknownHashError if no cell of the bw space
        (which contains the fw space) has it."""
        key = str(arch_hash).strip().lower()
        text = canonical_text_of_hash(key) if len(key) == HASH_LENGTH else None
        if text is None:
            raise UnknownHashError(f"{arch_hash!r} is not the hash of any cell of the fw or bw space")
        return cls.from_text(text)

    @classmethod
    def parse(cls, spec) -> "Cell":
        """Accepts a Cell, a 4x4 matrix, a row-string text or a hash."""
        if isinstance(spec, Cell):
            return spec
        if isinstance(spec, str):
            # 16 digits 0..4 read as a compact row text: no hash of either space is made of them alone
            if looks_like_hash(spec) and not re.fullmatch(r"\s*[0-4]{16}\s*", spec):
                return cls.from_hash(spec)
            return cls.from_text(spec)
        return cls(spec)

    # views
    @property
    def text(self) -> str:
        """Row-string form of the encoding as given."""
        return matrix_to_text(self.matrix)

    @property
    def matrix_array(self) -> np.ndarray:
        return np.array(self.matrix, dtype=np.int64)

    @property
    def canonical_matrix(self) -> np.ndarray:
        """Pruned, relabelled 4x4 matrix that every equivalent encoding shares."""
        return self._canonical.copy()

    @property
    def canonical_text(self) -> str:
        return matrix_to_text(self._canonical)

    @property
    def hash(self) -> str:
        return self._hash

    @property
    def has_backward(self) -> bool:
        return bool(np.any(np.tril(self._canonical, -1)))

    @property
    def space(self) -> str:
        """Smallest space holding the cell: 'fw' if it has no backward edge after pruning, else 'bw'."""
        return "bw" if self.has_backward else "fw"

    def edges(self) -> list[tuple[int, int, str, str]]:
        """Edges of the canonical cell as (source, target, direction, op name)."""
        m = self._canonical
        out = []
        for i in range(N_NODES):
            for j in range(N_NODES):
                if m[i, j]:
                    out.append((i, j, "forward" if i < j else "backward", OPS[int(m[i, j])]))
        return out

    def attributes(self) -> dict:
        """Counts used in analysis: edges per direction, ops per direction, depth, has_backward."""
        return cell_attributes(self._canonical)

    def describe(self) -> str:
        """Multi-line human description used by `snnbench show`."""
        lines = [f"hash       {self.hash}",
                 f"text       {self.text}",
                 "matrix     " + "\n           ".join(" ".join(str(v) for v in row) for row in self.matrix),
                 f"canonical  {self.canonical_text}",
                 f"space      {self.space}",
                 "edges:"]
        for i, j, direction, op in self.edges():
            when = "same timestep" if direction == "forward" else "from t-1 into t"
            lines.append(f"  {i} -> {j}  {direction:8s} {op:8s} ({when})")
        lines.append("attributes:")
        for key, value in self.attributes().items():
            lines.append(f"  {key:18s} {value}")
        return "\n".join(lines)

    def __eq__(self, other):
        return isinstance(other, Cell) and other._hash == self._hash

    def __hash__(self):
        return hash(self._hash)

    def __repr__(self):
        return f"Cell('{self.text}', hash={self.hash})"

    def __str__(self):
        return self.text


ATTRIBUTE_NAMES = ("n_forward", "n_backward", "n_edges", "depth", "has_backward", "n_nodes",
                   *[f"fw_{op}" for op in OP_NAMES], *[f"bw_{op}" for op in OP_NAMES],
                   *[f"n_{op}" for op in OP_NAMES])


def cell_attributes(canonical) -> dict:
    """Per-cell counts of a pruned matrix. depth = edges on the longest forward path 0 -> 3."""
    m = np.asarray(canonical)
    upper = np.triu(m, 1)
    lower = np.tril(m, -1)
    attrs = {"n_forward": int(np.count_nonzero(upper)), "n_backward": int(np.count_nonzero(lower))}
    attrs["n_edges"] = attrs["n_forward"] + attrs["n_backward"]
    longest = [0, -1, -1, -1]  # forward edges go to higher nodes, so one sweep is a topological order
    for j in range(1, N_NODES):
        sources = [longest[i] + 1 for i in range(j) if upper[i, j] and longest[i] >= 0]
        longest[j] = max(sources) if sources else -1
    attrs["depth"] = int(longest[3])
    attrs["has_backward"] = bool(attrs["n_backward"])
    active = {i for i in range(N_NODES) if m[i].any() or m[:, i].any()}
    attrs["n_nodes"] = len(active)
    for code, name in enumerate(OP_NAMES, start=1):
        attrs[f"fw_{name}"] = int(np.count_nonzero(upper == code))
        attrs[f"bw_{name}"] = int(np.count_nonzero(lower == code))
        attrs[f"n_{name}"] = attrs[f"fw_{name}"] + attrs[f"bw_{name}"]
    return attrs


def batch_attributes(canonical: np.ndarray) -> dict:
    """cell_attributes of many pruned matrices at once: (N, 4, 4) -> {name: int64 array [N]} (bool for
    has_backward), the same values, in the order of ATTRIBUTE_NAMES, for tables of 100,000 cells."""
    m = np.asarray(canonical).astype(np.int64).reshape(-1, N_NODES, N_NODES)
    above = np.triu(np.ones((N_NODES, N_NODES), dtype=bool), 1)
    upper, lower = np.where(above, m, 0), np.where(above.T, m, 0)
    attrs = {"n_forward": np.count_nonzero(upper, axis=(1, 2)), "n_backward": np.count_nonzero(lower, axis=(1, 2))}
    attrs["n_edges"] = attrs["n_forward"] + attrs["n_backward"]
    longest = np.full((len(m), N_NODES), -1, dtype=np.int64)
    longest[:, 0] = 0
    for j in range(1, N_NODES):  # forward edges go to higher nodes: one sweep is a topological order
        for i in range(j):
            step = np.where((upper[:, i, j] != 0) & (longest[:, i] >= 0), longest[:, i] + 1, -1)
            longest[:, j] = np.maximum(longest[:, j], step)
    attrs["depth"] = longest[:, 3]
    attrs["has_backward"] = attrs["n_backward"] > 0
    nonzero = m != 0
    attrs["n_nodes"] = (nonzero.any(axis=2) | nonzero.any(axis=1)).sum(axis=1)
    for code, name in enumerate(OP_NAMES, start=1):
        attrs[f"fw_{name}"] = np.count_nonzero(upper == code, axis=(1, 2))
        attrs[f"bw_{name}"] = np.count_nonzero(lower == code, axis=(1, 2))
        attrs[f"n_{name}"] = attrs[f"fw_{name}"] + attrs[f"bw_{name}"]
    return {name: attrs[name] for name in ATTRIBUTE_NAMES}


def read_cell_list(path) -> list[str]:
    """Cells named in a text file, one per line (a hash or a text form; blank lines and '#' comments
    skipped), as hashes in file order; InvalidCellError names the line that is not a cell."""
    hashes = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            try:
                hashes.append(Cell.parse(line).hash)
            except (InvalidCellError, UnknownHashError) as exc:
                raise InvalidCellError(f"{path} line {number}: {exc}") from None
    return hashes


@functools.lru_cache(maxsize=200_000)
def _cell_of_hash(arch_hash: str) -> Cell:
    return Cell.from_hash(arch_hash)


def as_cell(spec) -> Cell:
    """Cell.parse, with the cells of hashes cached (searches and the surrogate ask for the same cells
    again and again)."""
    if isinstance(spec, str) and looks_like_hash(spec):
        return _cell_of_hash(spec.strip().lower())
    return Cell.parse(spec)


@functools.lru_cache(maxsize=None)
def _states_of(canonical_text: str) -> np.ndarray:
    return matrix_pair_states(text_to_matrix(canonical_text))


def pair_states(cell) -> np.ndarray:
    """The pair states (space/encoding.py) of a cell's canonical matrix, int64 [6]; cell: a Cell,
    text or hash."""
    return _states_of(as_cell(cell).canonical_text).copy()


def in_space(cell: Cell, space: str) -> bool:
    """The bw space holds every cell; the fw space the cells without a backward edge."""
    return space == "bw" or cell.space == "fw"
