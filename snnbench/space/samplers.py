"""Drawing cells: the SNASNet authors' sampler (and the exact probability it gives each cell), the
uniform sample a table trains, and the one-edit neighbours of a cell (numpy only)."""
from __future__ import annotations

import functools

import numpy as np

from .canonical import N_NODES, PAIRS, canonical_keys, check_space, is_architecture, lex_key, prune_batch
from .cell import Cell, in_space
from .encoding import all_encodings, matrix_pair_states, one_edit_encodings
from .enumerate import space_hashes, summarize_space


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
        if not is_architecture(pruned):
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


@functools.lru_cache(maxsize=2)
def _sampler_distribution(space: str) -> tuple[np.ndarray, np.ndarray]:
    """(canonical keys, probability) of every cell under the authors' sampler (space.sample_cells):
    the probability of each encoding, summed over the encodings of a cell, over the valid ones.
    fw: every encoding has 5^-6. bw: per pair, 'none' has 1/5 (either direction), an op 1/10."""
    encodings = all_encodings(space)
    if space == "fw":
        p = np.full(len(encodings), 5.0 ** -6)
    else:
        upper, lower = np.triu(encodings, 1), np.tril(encodings, -1)
        n_edges = np.count_nonzero(upper, axis=(1, 2)) + np.count_nonzero(lower, axis=(1, 2))
        p = 0.2 ** (len(PAIRS) - n_edges) * 0.1 ** n_edges
    valid, valid_keys = canonical_keys(encodings)
    keys, inverse = np.unique(valid_keys, return_inverse=True)
    prob = np.bincount(inverse.ravel(), weights=p[valid])
    return keys, prob / prob.sum()


def sampler_probabilities(space: str, cells) -> np.ndarray:
    """Probability of drawing each cell with the authors' sampler of a space (0 for cells outside it)."""
    keys, prob = _sampler_distribution(check_space(space))
    wanted = lex_key(np.stack([Cell.parse(c).canonical_matrix for c in cells]))
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, prob[at], 0.0)


def one_edit_neighbours(cell, space: str) -> list[Cell]:
    """Distinct cells of the space (not `cell` itself) whose pair states differ from those of
    `cell` (a Cell, text or hash) in one node pair, in the order of encoding.one_edit_encodings."""
    cell = Cell.parse(cell)
    candidates = one_edit_encodings(matrix_pair_states(cell.canonical_matrix), space)
    out, seen = [], {cell.hash}
    for matrix, valid in zip(candidates, is_architecture(prune_batch(candidates))):
        if not valid:
            continue
        neighbour = Cell(matrix)
        if neighbour.hash not in seen and in_space(neighbour, space):
            seen.add(neighbour.hash)
            out.append(neighbour)
    return out
