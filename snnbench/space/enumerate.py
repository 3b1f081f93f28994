"""Enumerating a space: every encoding, the unique canonical cells, their hashes, and the index from
a hash back to its canonical text (numpy only)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..errors import UnknownHashError
from .canonical import N_NODES, canonical_keys, check_space, hash_text, key_to_matrix
from .encoding import all_encodings


@dataclass(frozen=True)
class SpaceSummary:
    space: str
    n_encodings: int
    n_valid: int
    n_unique: int


_CHUNK = 1 << 16  # encodings pruned at once: the bw space's 531,441 in one go peaked at about 220 MB


@functools.lru_cache(maxsize=4)
def canonical_keys_of_space(space: str):
    """(encodings, valid encodings, the sorted unique canonical keys) of a space; cached."""
    enc = all_encodings(space)
    n_valid, keys = 0, []
    for start in range(0, len(enc), _CHUNK):
        valid, chunk_keys = canonical_keys(enc[start:start + _CHUNK])
        n_valid += int(valid.sum())
        keys.append(np.unique(chunk_keys))
    return len(enc), n_valid, np.unique(np.concatenate(keys))


def summarize_space(space: str) -> SpaceSummary:
    """The three counts of a space: all encodings, valid ones, unique canonical cells."""
    n_enc, n_valid, keys = canonical_keys_of_space(check_space(space))
    return SpaceSummary(space, n_enc, n_valid, len(keys))


def unique_canonical_matrices(space: str) -> np.ndarray:
    """Every unique canonical cell of a space as (N, 4, 4) int8, ordered by canonical text."""
    return key_to_matrix(canonical_keys_of_space(check_space(space))[2])


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
def hash_index() -> dict:
    """{hash: canonical text} of every cell of the bw space (which holds the fw space)."""
    return dict(zip(space_hash_tuple("bw"), _unique_texts("bw")))


@functools.lru_cache(maxsize=1)
def _fw_hash_index() -> dict:
    return dict(zip(space_hash_tuple("fw"), _unique_texts("fw")))


def canonical_texts(hashes) -> list[str]:
    """The canonical text of each cell hash (fw or bw), in order; UnknownHashError for a hash of no
    cell. The bw index (a few seconds to build) is built only when a hash is not a fw cell's."""
    fw = _fw_hash_index()
    texts = [fw.get(h) for h in hashes]
    if any(t is None for t in texts):
        bw = hash_index()
        texts = [t if t is not None else bw.get(h) for t, h in zip(texts, hashes)]
    unknown = [h for t, h in zip(texts, hashes) if t is None]
    if unknown:
        raise UnknownHashError(f"{unknown[0]!r} is not the hash of any cell of the fw or bw space")
    return texts


def space_hashes(space: str) -> list[str]:
    """Hashes of every unique cell of a space (same order as unique_texts)."""
    return list(space_hash_tuple(check_space(space)))


@functools.lru_cache(maxsize=2)
def space_hash_tuple(space: str) -> tuple:
    """The hashes of every unique cell of a space, as a cached tuple (space_hashes returns a list)."""
    return tuple(hash_text(t) for t in _unique_texts(space))
