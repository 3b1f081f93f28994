"""The cell as a matrix: its text form, pruning, canonical form and hash (numpy only; the rules and the
hash are documented in space/cell.py and the README)."""
from __future__ import annotations

import hashlib
import re

import numpy as np

from ..errors import InvalidCellError

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


def is_architecture(pruned: np.ndarray) -> np.ndarray:
    """Whether pruned matrices ((4, 4) or (N, 4, 4)) are architectures: the space requires a direct
    edge 0 -> 3 after pruning (spec section 3). A bool, or a bool array [N]."""
    return np.asarray(pruned)[..., 0, 3] != 0


def canonical_keys(encodings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The enumeration pipeline on (N, 4, 4) encodings: prune, keep the architectures, canonicalise.
    Returns (valid: bool [N], lex_key of the canonical form of each valid encoding, in order)."""
    pruned = prune_batch(encodings)
    valid = is_architecture(pruned)
    return valid, lex_key(canonical_batch(pruned[valid]))


def check_space(space: str) -> str:
    """The space's name if it is one ('fw' or 'bw'); InvalidCellError otherwise."""
    if space not in SPACES:
        raise InvalidCellError(f"unknown space {space!r}: use 'fw' (forward only) or 'bw' (forward + backward)")
    return space
