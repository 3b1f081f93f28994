"""The SNASNet cell spaces: the Cell value, pruning, canonical form, hash, enumeration, sampling.

A cell is a 4x4 matrix M with entries 0..4 (spec section 2): M[i][j], i < j, is a forward edge
i -> j at the same timestep; M[i][j], i > j, a backward edge from node i at t-1 into node j at t.
Its text form is the four rows as digit strings, "0302 0030 3003 0000".

Hash: the first 16 hex digits of the SHA-256 of the canonical text form (ASCII, rows separated
by single spaces). It depends on nothing but the canonical matrix, so it is stable across runs,
machines and Python versions.
"""
from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidCellError, UnknownHashError

N_NODES = 4
OPS = {0: "none", 1: "skip", 2: "conv1x1", 3: "conv3x3", 4: "avgpool"}
OP_NAMES = tuple(OPS[k] for k in range(1, 5))
PAIRS = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
SPACES = ("fw", "bw")
HASH_LENGTH = 16
_TEXT_RE = re.compile(r"^\s*([0-9]{4})\s+([0-9]{4})\s+([0-9]{4})\s+([0-9]{4})\s*$")
_DIGITS_RE = re.compile(r"^\s*([0-9]{16})\s*$")
_HASH_RE = re.compile(r"^[0-9a-f]{%d}$" % HASH_LENGTH)
# Powers of 5 turn a flattened matrix into an integer that orders like its row string.
_LEX_WEIGHTS = 5 ** np.arange(15, -1, -1, dtype=np.int64)


# ----------------------------------------------------------------------------- pure helpers
def matrix_to_text(matrix) -> str:
    """Row-string form of a 4x4 matrix: "0302 0030 3003 0000"."""
    m = np.asarray(matrix)
    return " ".join("".join(str(int(v)) for v in row) for row in m)


def _shown(text, limit: int = 60) -> str:
    """repr of a user's text for an error message, cut when long (an argument may be 100,000 characters)."""
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[:limit]}... ({len(str(text))} characters)"


def text_to_matrix(text: str) -> np.ndarray:
    """Parse "0302 0030 3003 0000" (or 16 digits) into a 4x4 int matrix; InvalidCellError if malformed."""
    if not isinstance(text, str):
        raise InvalidCellError(f"a cell text must be a string, got {type(text).__name__}")
    match = _TEXT_RE.match(text) or _DIGITS_RE.match(text)
    if match is None:
        raise InvalidCellError(
            f"malformed cell text {_shown(text)}: expected four rows of four digits, e.g. '0302 0030 3003 0000'")
    digits = "".join(match.groups())
    return np.array([int(c) for c in digits], dtype=np.int64).reshape(N_NODES, N_NODES)


def check_encoding(matrix) -> np.ndarray:
    """Validate the shape and entries of an encoding; returns it as a 4x4 int64 array."""
    try:
        m = np.asarray(matrix)
    except Exception as exc:  # ragged lists and the like
        raise InvalidCellError(f"not a 4x4 matrix: {exc}") from None
    if m.shape != (N_NODES, N_NODES):
        raise InvalidCellError(f"a cell matrix must be 4x4, got shape {m.shape}")
    if m.dtype.kind not in "iu":
        if m.dtype.kind == "f" and np.all(np.isfinite(m)) and np.all(m == np.round(m)):
            m = m.astype(np.int64)
        else:
            raise InvalidCellError(f"a cell matrix must hold integers 0..4, got dtype {m.dtype}")
    m = m.astype(np.int64)
    if m.min() < 0 or m.max() > 4:
        bad = sorted({int(v) for v in m.ravel() if v < 0 or v > 4})
        raise InvalidCellError(f"op codes must be in 0..4 (0 none, 1 skip, 2 conv1x1, 3 conv3x3, 4 avgpool), got {bad}")
    if np.any(np.diag(m) != 0):
        raise InvalidCellError("the diagonal must be 0: a node has no edge to itself")
    for i, j in PAIRS:
        if m[i, j] and m[j, i]:
            raise InvalidCellError(
                f"nodes {i} and {j} have both a forward ({i}->{j}) and a backward ({j}->{i}) edge; at most one is allowed")
    return m


def _reachability(adjacency: np.ndarray) -> np.ndarray:
    """Paths of length 1..4 on a (N, 4, 4) boolean adjacency; returns (N, 4, 4) bool."""
    a = adjacency.astype(np.int32)
    power = a.copy()
    reach = a.copy()
    for _ in range(N_NODES - 1):
        power = np.minimum(power @ a, 1)
        reach |= power
    return reach.astype(bool)


def prune_batch(matrices: np.ndarray) -> np.ndarray:
    """Spec section 3 pruning of (N, 4, 4) encodings: zero every node not on an input->output path."""
    m = np.array(matrices, dtype=np.int8, copy=True)
    reach = _reachability(m != 0)
    keep = np.ones(m.shape[:2], dtype=bool)
    keep[:, 0:3] &= reach[:, 0:3, 3]   # nodes 0..2 need a path to node 3
    keep[:, 1:4] &= reach[:, 0, 1:4]   # nodes 1..3 need a path from node 0
    m *= keep[:, :, None]
    m *= keep[:, None, :]
    return m


def canonical_batch(pruned: np.ndarray) -> np.ndarray:
    """Canonical form of pruned (N, 4, 4) matrices: relabel nodes 1 and 2 where they share no edge
    and keep whichever matrix has the lexicographically smaller row string."""
    swapped = pruned[:, [0, 2, 1, 3]][:, :, [0, 2, 1, 3]]
    free = (pruned[:, 1, 2] == 0) & (pruned[:, 2, 1] == 0)
    take_swap = free & (lex_key(swapped) < lex_key(pruned))
    return np.where(take_swap[:, None, None], swapped, pruned)


def lex_key(matrices: np.ndarray) -> np.ndarray:
    """An int64 per matrix that orders like its row string."""
    flat = np.asarray(matrices).reshape(-1, 16).astype(np.int64)
    return flat @ _LEX_WEIGHTS


def key_to_matrix(keys: np.ndarray) -> np.ndarray:
    """Inverse of lex_key: (N,) int64 -> (N, 4, 4) int8."""
    keys = np.asarray(keys, dtype=np.int64)
    digits = (keys[:, None] // _LEX_WEIGHTS[None, :]) % 5
    return digits.reshape(-1, 4, 4).astype(np.int8)


def hash_text(canonical_text: str) -> str:
    """The cell hash: first 16 hex digits of SHA-256 of the canonical text form."""
    return hashlib.sha256(canonical_text.encode("ascii")).hexdigest()[:HASH_LENGTH]


def looks_like_hash(text: str) -> bool:
    return isinstance(text, str) and bool(_HASH_RE.match(text.strip().lower()))


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
        if pruned[0, 3] == 0:
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
        text = _hash_index().get(key)
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


# ----------------------------------------------------------------------------- enumeration
def _pair_states(space: str) -> int:
    return 5 if space == "fw" else 9


def check_space(space: str) -> str:
    if space not in SPACES:
        raise InvalidCellError(f"unknown space {space!r}: use 'fw' (forward only) or 'bw' (forward + backward)")
    return space


def states_to_matrices(states: np.ndarray) -> np.ndarray:
    """(N, 6) pair states -> (N, 4, 4) matrices. State 0 none, 1..4 forward op, 5..8 backward op (code-4)."""
    states = np.asarray(states)
    m = np.zeros((states.shape[0], N_NODES, N_NODES), dtype=np.int8)
    for p, (i, j) in enumerate(PAIRS):
        s = states[:, p]
        m[:, i, j] = np.where(s <= 4, s, 0)
        m[:, j, i] = np.where(s > 4, s - 4, 0)
    return m


def all_encodings(space: str) -> np.ndarray:
    """Every encoding of a space as (N, 4, 4) int8: 5^6 = 15,625 for fw, 9^6 = 531,441 for bw."""
    k = _pair_states(check_space(space))
    grids = np.indices((k,) * len(PAIRS)).reshape(len(PAIRS), -1).T
    return states_to_matrices(grids)


@dataclass(frozen=True)
class SpaceSummary:
    space: str
    n_encodings: int
    n_valid: int
    n_unique: int


@functools.lru_cache(maxsize=4)
def _enumerate(space: str):
    enc = all_encodings(space)
    pruned = prune_batch(enc)
    valid = pruned[:, 0, 3] != 0
    keys = np.unique(lex_key(canonical_batch(pruned[valid])))
    return len(enc), int(valid.sum()), keys


def summarize_space(space: str) -> SpaceSummary:
    """The three counts of a space: all encodings, valid ones, unique canonical cells."""
    n_enc, n_valid, keys = _enumerate(check_space(space))
    return SpaceSummary(space, n_enc, n_valid, len(keys))


def unique_canonical_matrices(space: str) -> np.ndarray:
    """Every unique canonical cell of a space as (N, 4, 4) int8, ordered by canonical text."""
    return key_to_matrix(_enumerate(check_space(space))[2])


def unique_texts(space: str) -> list[str]:
    """Canonical text of every unique cell of a space, sorted."""
    return list(_unique_texts(check_space(space)))


@functools.lru_cache(maxsize=2)
def _unique_texts(space: str) -> tuple:
    """matrix_to_text of every unique canonical matrix, all at once (a build asks several times)."""
    matrices = unique_canonical_matrices(space)
    chars = np.full((len(matrices), N_NODES, N_NODES + 1), ord(" "), dtype=np.uint8)
    chars[:, :, :N_NODES] = matrices.astype(np.uint8) + ord("0")
    rows = chars.reshape(len(matrices), -1)[:, :-1].copy().view(f"S{N_NODES * (N_NODES + 1) - 1}").ravel()
    return tuple(row.decode("ascii") for row in rows)


def iter_cells(space: str):
    """Yield (hash, canonical text) for every unique cell of a space without building Cell objects."""
    for text in unique_texts(space):
        yield hash_text(text), text


@functools.lru_cache(maxsize=1)
def _hash_index() -> dict:
    return dict(zip(_space_hashes("bw"), _unique_texts("bw")))


@functools.lru_cache(maxsize=1)
def _fw_hash_index() -> dict:
    return dict(zip(_space_hashes("fw"), _unique_texts("fw")))


def canonical_texts(hashes) -> list[str]:
    """The canonical text of each cell hash (fw or bw), in order; UnknownHashError for a hash of no
    cell. The bw index (a few seconds to build) is built only when a hash is not a fw cell's."""
    fw = _fw_hash_index()
    texts = [fw.get(h) for h in hashes]
    if any(t is None for t in texts):
        bw = _hash_index()
        texts = [t if t is not None else bw.get(h) for t, h in zip(texts, hashes)]
    unknown = [h for t, h in zip(texts, hashes) if t is None]
    if unknown:
        raise UnknownHashError(f"{unknown[0]!r} is not the hash of any cell of the fw or bw space")
    return texts


def space_hashes(space: str) -> list[str]:
    """Hashes of every unique cell of a space (same order as unique_texts)."""
    return list(_space_hashes(check_space(space)))


@functools.lru_cache(maxsize=2)
def _space_hashes(space: str) -> tuple:
    return tuple(hash_text(t) for t in _unique_texts(space))


# ----------------------------------------------------------------------------- sampling
def sample_encoding(space: str, rng: np.random.Generator) -> np.ndarray:
    """One random encoding drawn by the authors' rules (may be invalid).
    fw: a uniform op 0..4 per pair. bw: per pair a fair coin picks the direction, then a uniform op 0..4."""
    m = np.zeros((N_NODES, N_NODES), dtype=np.int64)
    for i, j in PAIRS:
        op = int(rng.integers(0, 5))
        if space == "bw" and rng.integers(0, 2) == 1:
            m[j, i] = op
        else:
            m[i, j] = op
    return m


def sample_cells(space: str, n: int, rng=None, *, unique: bool = False) -> list[Cell]:
    """n valid cells drawn as the authors' search does (rejecting non-architectures).
    With unique=True, a cell whose hash was already drawn is drawn again."""
    check_space(space)
    rng = np.random.default_rng(rng)
    if unique:
        n = min(n, summarize_space(space).n_unique)
    cells, seen = [], set()
    while len(cells) < n:
        m = sample_encoding(space, rng)
        pruned = prune_batch(m[None])[0]
        if pruned[0, 3] == 0:
            continue
        cell = Cell(m)
        if unique:
            if cell.hash in seen:
                continue
            seen.add(cell.hash)
        cells.append(cell)
    return cells


def uniform_sample_hashes(space: str, n: int, seed: int) -> list[str]:
    """n distinct unique cells drawn uniformly (without replacement) from a space, seeded; sorted by hash.
    This is how tables select the cells they train."""
    hashes = space_hashes(space)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(hashes), size=min(n, len(hashes)), replace=False)
    return sorted(hashes[i] for i in idx)


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
