"""The cell spaces: parsing, validation, pruning, canonical form, hashing, enumeration, sampling."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnbench import space
from snnbench.errors import InvalidCellError, UnknownHashError
from snnbench.space import Cell


def test_space_counts_follow_the_spec_rules():
    fw, bw = space.summarize_space("fw"), space.summarize_space("bw")
    assert (fw.n_encodings, bw.n_encodings) == (5 ** 6, 9 ** 6)
    assert bw.n_unique == 102_596
    assert fw.n_unique == 7_012 and fw.n_valid == 12_500 and bw.n_valid == 236_196


def test_every_fw_cell_round_trips_through_text_and_hash():
    for h, text in space.iter_cells("fw"):
        cell = Cell.from_text(text)
        assert cell.text == text and cell.hash == h and cell.canonical_text == text
        assert Cell.from_hash(h) == cell and Cell.from_hash(h).text == text


def test_large_seeded_sample_of_bw_round_trips():
    hashes = space.uniform_sample_hashes("bw", 3000, seed=11)
    for h in hashes:
        cell = Cell.from_hash(h)
        assert Cell(cell.matrix_array).hash == h
        assert Cell.from_text(cell.text).hash == h


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 8), min_size=6, max_size=6))
def test_text_and_matrix_round_trip_for_any_valid_encoding(states):
    m = space.states_to_matrices(np.array([states]))[0]
    if space.prune_batch(m[None])[0][0, 3] == 0:
        with pytest.raises(InvalidCellError):
            Cell(m)
        return
    cell = Cell(m)
    assert Cell.from_text(cell.text).matrix == cell.matrix
    assert np.array_equal(Cell.from_text(cell.canonical_text).canonical_matrix, cell.canonical_matrix)
    assert Cell.from_hash(cell.hash) == cell


def _swap_nodes_1_2(m):
    p = [0, 2, 1, 3]
    return np.asarray(m)[p][:, p]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 8), min_size=6, max_size=6))
def test_relabelling_nodes_1_and_2_keeps_the_hash(states):
    m = space.states_to_matrices(np.array([states]))[0]
    if m[1, 2] or m[2, 1] or space.prune_batch(m[None])[0][0, 3] == 0:
        return
    assert Cell(m).hash == Cell(_swap_nodes_1_2(m)).hash


def test_edges_removed_by_pruning_do_not_change_the_hash():
    base = Cell.from_text("0003 0000 0000 0000")
    # node 1 receives an edge but reaches no output: pruned away
    assert Cell.from_text("0203 0000 0000 0000").hash == base.hash
    # node 2 feeds the output but is unreachable from the input: pruned away
    assert Cell.from_text("0003 0000 0003 0000").hash == base.hash
    # a backward edge out of a pruned node is pruned with it
    assert Cell.from_text("0003 0000 4003 0000").hash == base.hash


def test_changing_any_surviving_op_changes_the_hash():
    cell = Cell.from_text("0302 0030 3003 0000")
    m = cell.canonical_matrix
    for i in range(4):
        for j in range(4):
            if m[i, j]:
                for op in range(1, 5):
                    if op != m[i, j]:
                        other = m.copy()
                        other[i, j] = op
                        assert Cell(other).hash != cell.hash


def test_hash_is_sha256_of_canonical_text():
    import hashlib
    cell = Cell.from_text("0302 0030 3003 0000")
    assert cell.hash == hashlib.sha256(cell.canonical_text.encode()).hexdigest()[:16]
    assert cell.hash == "ecb7cd2184de4ce5"  # stable across runs, machines and versions


def test_a_fw_cell_met_in_bw_space_is_the_same_cell():
    fw = set(space.space_hashes("fw"))
    bw = set(space.space_hashes("bw"))
    assert fw <= bw
    assert sum(Cell.from_hash(h).space == "fw" for h in list(bw)[:2000]) == len(fw & set(list(bw)[:2000]))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((3, 4)), "4x4"),
    ([[0, 5, 0, 1], [0] * 4, [0] * 4, [0] * 4], "0..4"),
    ([[0, -1, 0, 1], [0] * 4, [0] * 4, [0] * 4], "0..4"),
    ([[1, 0, 0, 1], [0] * 4, [0] * 4, [0] * 4], "diagonal"),
    ([[0, 2, 0, 1], [3, 0, 0, 0], [0] * 4, [0] * 4], "both a forward"),
    ([[0, 2, 0, 0], [0, 0, 0, 3], [0] * 4, [0] * 4], "not an architecture"),
    ([[0, 0, 0, 0], [0] * 4, [0] * 4, [0] * 4], "not an architecture"),
    ([[0, 0.5, 0, 1], [0] * 4, [0] * 4, [0] * 4], "integers"),
])
def test_bad_matrices_raise_invalid_cell_error(bad, message):
    with pytest.raises(InvalidCellError, match=message):
        Cell(bad)


@pytest.mark.parametrize("text", ["", "0302 0030 3003", "0302 0030 3003 000x", "03020 030 3003 0000", "hello"])
def test_malformed_text_raises_invalid_cell_error(text):
    with pytest.raises(InvalidCellError, match="malformed"):
        Cell.from_text(text)


def test_unknown_hash_raises():
    with pytest.raises(UnknownHashError):
        Cell.from_hash("0123456789abcdef")


def test_attributes_count_edges_ops_and_depth():
    a = Cell.from_text("0302 0030 3003 0000").attributes()
    assert a["n_forward"] == 4 and a["n_backward"] == 1 and a["has_backward"]
    assert a["fw_conv3x3"] == 3 and a["fw_conv1x1"] == 1 and a["bw_conv3x3"] == 1
    assert a["depth"] == 3
    assert Cell.from_text("0001 0000 0000 0000").attributes()["depth"] == 1


def test_attributes_of_many_cells_at_once_are_those_of_each_cell():
    fw = space.unique_canonical_matrices("fw")
    bw = space.unique_canonical_matrices("bw")[::37]
    for matrices in (fw, bw):
        together = space.batch_attributes(matrices)
        assert list(together) == list(space.ATTRIBUTE_NAMES)
        for k, matrix in enumerate(matrices):
            one = space.cell_attributes(matrix)
            assert {name: together[name][k].item() for name in space.ATTRIBUTE_NAMES} == one


def test_texts_and_hashes_of_a_space_are_those_of_each_canonical_matrix():
    for name in ("fw", "bw"):
        matrices = space.unique_canonical_matrices(name)
        texts, hashes = space.unique_texts(name), space.space_hashes(name)
        for k in range(0, len(matrices), 97):
            assert texts[k] == space.matrix_to_text(matrices[k]) and hashes[k] == space.hash_text(texts[k])
        assert space.canonical_texts(hashes[::97]) == texts[::97]
    with pytest.raises(UnknownHashError):
        space.canonical_texts(["0123456789abcdef"])


def test_authors_sampler_is_seeded_and_valid():
    a = space.sample_cells("bw", 50, 3)
    b = space.sample_cells("bw", 50, 3)
    assert [c.hash for c in a] == [c.hash for c in b]
    assert all(c.canonical_matrix[0, 3] for c in a)
    assert all(c.space == "fw" for c in space.sample_cells("fw", 50, 4))
    assert any(c.has_backward for c in a)
    uniq = space.sample_cells("fw", 40, 5, unique=True)
    assert len({c.hash for c in uniq}) == 40


def test_sixteen_digit_text_is_read_as_a_cell_not_a_hash():
    assert Cell.parse("0302003030030000") == Cell.from_text("0302 0030 3003 0000")
    assert not any(set(h) <= set("01234") for h in space.space_hashes("bw"))
