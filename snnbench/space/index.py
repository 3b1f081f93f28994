"""The integer index of a space: its unique cells numbered 0..N-1 in the order of their canonical
text (the order of enumerate.unique_texts), with vectorised lookups hash -> index -> canonical
matrix (numpy only).

Enumerating the bw space costs about a CPU-second and 50 MB (531,441 encodings pruned and
canonicalised); the index it yields (canonical keys and hashes, 2.5 MB for bw) is kept in the
user's cache folder and read back in milliseconds. A cached index is used only when the SHA-256
of its content equals the digest recorded below, so a damaged or stale file is rebuilt, never
believed. The cache folder: $SNNBENCH_CACHE_DIR, else $XDG_CACHE_HOME/snnbench, else
~/.cache/snnbench; a folder that cannot be written only costs the rebuild next time.
"""
from __future__ import annotations

import functools
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .canonical import HASH_LENGTH, check_space, key_to_matrix
from .enumerate import canonical_keys_of_space, space_hash_tuple

CACHE_ENV = "SNNBENCH_CACHE_DIR"
INDEX_VERSION = 1
# SHA-256 of keys.tobytes() + hashes.tobytes() of each space's index (tests check them against a build)
INDEX_DIGESTS = {
    "fw": "7e46fbfd7c88dbc91f59c517aeef1ad2b1340b7818a0f23ed884861410ae82b6",
    "bw": "0f430fb5a97878e8d5ee2626aec0784898d571b548ccc152b6af2bd40ea35007",
}


@dataclass(frozen=True, eq=False)
class SpaceIndex:
    """The cells of one space in index order: keys (int64 [N], lex_key of each canonical matrix,
    increasing) and hashes (S16 [N]); lookups of many hashes or keys at once."""

    space: str
    keys: np.ndarray
    hashes: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    @functools.cached_property
    def _hash_order(self) -> np.ndarray:
        return np.argsort(self.hashes, kind="stable")

    @functools.cached_property
    def _sorted_hashes(self) -> np.ndarray:
        return self.hashes[self._hash_order]

    def of_hashes(self, hashes) -> np.ndarray:
        """Index of each hash (str or bytes), int64 [n]; -1 where a hash names no cell of the space."""
        wanted = np.asarray([h.encode("ascii", "replace") if isinstance(h, str) else h for h in hashes]
                            if not isinstance(hashes, np.ndarray) or hashes.dtype.kind != "S" else hashes,
                            dtype=f"S{HASH_LENGTH + 1}")
        wanted = np.char.lower(np.char.strip(wanted))
        if len(wanted) == 0:
            return np.zeros(0, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted_hashes, wanted), len(self.hashes) - 1)
        found = self._sorted_hashes[at] == wanted
        return np.where(found, self._hash_order[at], -1).astype(np.int64)

    def of_keys(self, keys) -> np.ndarray:
        """Index of each canonical key (lex_key of a canonical matrix), int64 [n]; -1 where none."""
        keys = np.asarray(keys, dtype=np.int64)
        if len(keys) == 0:
            return np.zeros(0, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[at] == keys, at, -1).astype(np.int64)

    def matrices(self, indices) -> np.ndarray:
        """Canonical matrices (n, 4, 4) int8 of cells given by index."""
        return key_to_matrix(self.keys[np.asarray(indices, dtype=np.int64)])


def _digest(keys: np.ndarray, hashes: np.ndarray) -> str:
    return hashlib.sha256(keys.astype("<i8").tobytes() + hashes.astype(f"S{HASH_LENGTH}").tobytes()).hexdigest()


def cache_dir() -> Path:
    """Where cached indices live ($SNNBENCH_CACHE_DIR, $XDG_CACHE_HOME/snnbench or ~/.cache/snnbench)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "snnbench"


def cache_file(space: str) -> Path:
    return cache_dir() / f"space-index-{check_space(space)}-v{INDEX_VERSION}.npz"


def build_index(space: str) -> SpaceIndex:
    """Enumerate the space (no cache): the reference every cached index must equal."""
    keys = canonical_keys_of_space(check_space(space))[2].astype(np.int64)
    hashes = np.array(space_hash_tuple(space), dtype=f"S{HASH_LENGTH}")
    return SpaceIndex(space, keys, hashes)


def _read_cached(path: Path, space: str) -> SpaceIndex | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            keys, hashes = data["keys"], data["hashes"]
    except Exception:  # missing, truncated, not an npz: rebuilt below
        return None
    if keys.dtype != np.int64 or hashes.dtype != np.dtype(f"S{HASH_LENGTH}") or keys.shape != hashes.shape:
        return None
    if _digest(keys, hashes) != INDEX_DIGESTS.get(space):
        return None
    return SpaceIndex(space, keys, hashes)


def _write_cache(path: Path, index: SpaceIndex) -> None:
    from ..files import atomic_write_bytes
    buffer = io.BytesIO()
    np.savez(buffer, keys=index.keys, hashes=index.hashes)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
    except OSError:  # StorageError is one too: a cache that cannot be written costs time, not results
        pass


@functools.lru_cache(maxsize=2)
def space_index(space: str) -> SpaceIndex:
    """The index of a space ('fw' or 'bw'): read from the user's cache when its digest matches,
    else enumerated (under 1 CPU-s for bw) and written there."""
    check_space(space)
    path = cache_file(space)
    index = _read_cached(path, space) if INDEX_DIGESTS.get(space) else None
    if index is None:
        index = build_index(space)
        if _digest(index.keys, index.hashes) == INDEX_DIGESTS.get(space):
            _write_cache(path, index)
    return index


def canonical_text_of_hash(arch_hash: str) -> str | None:
    """Canonical text of the cell with this hash (fw or bw), or None when no cell has it."""
    return _texts_of_hashes([arch_hash])[0]


def _texts_of_hashes(hashes) -> list:
    """Canonical texts of hashes, None for a hash of no cell; the bw index is read only when a hash
    is not a fw cell's."""
    from .canonical import matrix_to_text
    hashes = list(hashes)
    out = [None] * len(hashes)
    todo = list(range(len(hashes)))
    for space in ("fw", "bw"):
        if not todo:
            break
        index = space_index(space)
        found = index.of_hashes([hashes[k] for k in todo])
        for k, i in zip(todo, found):
            if i >= 0:
                out[k] = matrix_to_text(index.matrices([i])[0])
        todo = [k for k in todo if out[k] is None]
    return out
