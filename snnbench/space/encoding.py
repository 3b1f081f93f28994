"""Pair states, the encoding of a cell that samplers, searches and the surrogate share (numpy only).

Each of the six node pairs (i, j), i < j, of a cell is in one of nine states: 0 none, 1..4 a
forward op i -> j (op code), 5..8 a backward op j -> i (op code + 4); the fw space uses states
0..4 only. A state vector [6] maps to one encoding; this module turns states into matrices and
back, into one-hot features, and counts the edits between cells.
"""
from __future__ import annotations

import numpy as np

from .canonical import N_NODES, OP_NAMES, PAIRS, check_space

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


def one_hot(states, space: str | None = None) -> np.ndarray:
    """One-hot features of a state vector [6]: float [6 x 9], pair by pair (names:
    pair_feature_names); with space='fw', [6 x 5] (the fw space has no backward state)."""
    width = len(PAIR_STATES) if space is None else pair_state_count(space)
    out = np.zeros((len(PAIRS), width))
    out[np.arange(len(PAIRS)), np.asarray(states)] = 1.0
    return out.ravel()


def one_hot_batch(states: np.ndarray, space: str | None = None) -> np.ndarray:
    """one_hot of many state vectors at once: (N, 6) -> float (N, 6 x 9), or (N, 6 x 5) with space='fw'."""
    states = np.asarray(states, dtype=np.int64).reshape(-1, len(PAIRS))
    width = len(PAIR_STATES) if space is None else pair_state_count(space)
    out = np.zeros((len(states), len(PAIRS), width))
    rows = np.repeat(np.arange(len(states)), len(PAIRS))
    out[rows, np.tile(np.arange(len(PAIRS)), len(states)), states.ravel()] = 1.0
    return out.reshape(len(states), -1)


def pair_feature_names(space: str | None = None) -> list[str]:
    """Names of the one_hot features, in order: pair{i}{j}_{state} (the fw states only with space='fw')."""
    states = PAIR_STATES if space is None else PAIR_STATES[:pair_state_count(space)]
    return [f"pair{i}{j}_{state}" for i, j in PAIRS for state in states]


def states_of_matrices(matrices: np.ndarray) -> np.ndarray:
    """matrix_pair_states of many matrices at once: (N, 4, 4) -> int64 (N, 6)."""
    m = np.asarray(matrices, dtype=np.int64).reshape(-1, N_NODES, N_NODES)
    forward = np.stack([m[:, i, j] for i, j in PAIRS], axis=1)
    backward = np.stack([m[:, j, i] for i, j in PAIRS], axis=1)
    return np.where(forward != 0, forward, np.where(backward != 0, backward + 4, 0))


# ----------------------------------------------------------------------------- path encoding
# The forward paths from the input node 0 to the output node 3 (nodes in increasing order): a path
# is named by its ops, not its nodes, so that relabelling nodes 1 and 2 changes nothing (the path
# encoding of White et al., BANANAS, AAAI 2021, for a cell whose ops sit on edges).
_FORWARD_PATHS = ((0, 3), (0, 1, 3), (0, 2, 3), (0, 1, 2, 3))
_N_OPS = 4
_PATH_OFFSETS = {1: 0, 2: _N_OPS, 3: _N_OPS + _N_OPS ** 2}
N_PATH_FEATURES = _N_OPS + _N_OPS ** 2 + _N_OPS ** 3  # 84 op sequences of length 1..3


def path_encoding_batch(matrices: np.ndarray, space: str = "bw") -> np.ndarray:
    """Path encoding of pruned (canonical) matrices (N, 4, 4) -> float (N, F): how many forward paths
    0 -> 3 carry each sequence of ops (84 counts: 4 of one edge, 16 of two, 64 of three), then, in
    the bw space, one indicator per (node pair, op) of a backward edge (24), the part of a cell that
    lies on no forward path. F = 84 (fw) or 108 (bw). Names: path_feature_names(space)."""
    m = np.asarray(matrices, dtype=np.int64).reshape(-1, N_NODES, N_NODES)
    out = np.zeros((len(m), N_PATH_FEATURES + (len(PAIRS) * _N_OPS if check_space(space) == "bw" else 0)))
    rows = np.arange(len(m))
    for path in _FORWARD_PATHS:
        ops = np.stack([m[:, a, b] for a, b in zip(path[:-1], path[1:])], axis=1)  # (N, length)
        on = (ops != 0).all(axis=1)
        code = np.zeros(len(m), dtype=np.int64)
        for k in range(ops.shape[1]):
            code = code * _N_OPS + np.maximum(ops[:, k] - 1, 0)
        np.add.at(out, (rows[on], _PATH_OFFSETS[ops.shape[1]] + code[on]), 1.0)
    if space == "bw":
        for p, (i, j) in enumerate(PAIRS):
            op = m[:, j, i]
            on = op != 0
            out[rows[on], N_PATH_FEATURES + p * _N_OPS + op[on] - 1] = 1.0
    return out


def path_feature_names(space: str = "bw") -> list[str]:
    """Names of the path_encoding_batch features: path_{ops} (e.g. path_conv3x3-skip), then in bw
    back{j}{i}_{op} (a backward edge from node j at t-1 into node i)."""
    op_names = OP_NAMES
    names = [f"path_{op}" for op in op_names]
    names += [f"path_{a}-{b}" for a in op_names for b in op_names]
    names += [f"path_{a}-{b}-{c}" for a in op_names for b in op_names for c in op_names]
    if check_space(space) == "bw":
        names += [f"back{j}{i}_{op}" for i, j in PAIRS for op in op_names]
    return names


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
