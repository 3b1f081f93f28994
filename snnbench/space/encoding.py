"""Pair states, the encoding of a cell that samplers, searches and the surrogate share (numpy only).

Each of the six node pairs (i, j), i < j, of a cell is in one of nine states: 0 none, 1..4 a
forward op i -> j (op code), 5..8 a backward op j -> i (op code + 4); the fw space uses states
0..4 only. A state vector [6] maps to one encoding; this module turns states into matrices and
back, into one-hot features, and counts the edits between cells.
"""
from __future__ import annotations

import numpy as np

from .canonical import N_NODES, PAIRS, check_space

PAIR_STATES = ("none", *[f"fw{k}" for k in range(1, 5)], *[f"bw{k}" for k in range(1, 5)])
# The pairs' order after relabelling nodes 1 and 2: (0,1)<->(0,2), (1,3)<->(2,3); (0,3), (1,2) stay.
SWAP_PAIRS = [1, 0, 2, 3, 5, 4]


def pair_state_count(space: str) -> int:
    """States a node pair takes in a space: 5 in fw (none or a forward op), 9 in bw."""
    return 5 if check_space(space) == "fw" else 9


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
    k = pair_state_count(space)
    grids = np.indices((k,) * len(PAIRS)).reshape(len(PAIRS), -1).T
    return states_to_matrices(grids)


def matrix_pair_states(matrix) -> np.ndarray:
    """The state of each of the six node pairs of a 4x4 matrix, int64 [6]."""
    m = np.asarray(matrix)
    return np.array([m[i, j] if m[i, j] else (m[j, i] + 4 if m[j, i] else 0) for i, j in PAIRS], dtype=np.int64)


def one_hot(states) -> np.ndarray:
    """One-hot features of a state vector [6]: float [6 x 9], pair by pair (names: feature_names)."""
    out = np.zeros((len(PAIRS), len(PAIR_STATES)))
    out[np.arange(len(PAIRS)), np.asarray(states)] = 1.0
    return out.ravel()


def pair_feature_names() -> list[str]:
    """Names of the one_hot features, in order: pair{i}{j}_{state}."""
    return [f"pair{i}{j}_{state}" for i, j in PAIRS for state in PAIR_STATES]


def edit_distance(states: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Number of node pairs in different states between a cell and each row of `others`, the
    smaller over relabelling nodes 1 and 2 (allowed when the two share no edge)."""
    others = np.atleast_2d(others)
    plain = (others != states).sum(axis=1)
    if states[3] != 0:
        return plain
    swapped = (others != states[SWAP_PAIRS]).sum(axis=1)
    return np.minimum(plain, swapped)


def one_edit_encodings(states, space: str) -> np.ndarray:
    """Every encoding (K, 4, 4) whose pair states differ from `states` in exactly one pair, within
    the space's states, pair by pair and state by state (not all are architectures)."""
    states = np.asarray(states, dtype=np.int64)
    variants = []
    for p in range(len(PAIRS)):
        for s in range(pair_state_count(space)):
            if s != states[p]:
                new = states.copy()
                new[p] = s
                variants.append(new)
    return states_to_matrices(np.array(variants).reshape(-1, len(PAIRS)))
