"""The space API without the harness (snnbench.space.SearchSpace) and the space index behind it:
neighbours are exactly the one-edit cells of the space, is_valid agrees with Cell.parse, the index
round-trips and its cache is believed only when its digest matches, the encodings."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnbench import space
from snnbench.errors import ConfigError, InvalidCellError
from snnbench.space import Cell, SearchSpace
from snnbench.space import index as space_index_module


def _brute_force_neighbours(cell: Cell, name: str) -> set:
    """Edit the 4x4 canonical matrix directly: give one node pair {i, j} no edge, a forward op i -> j
    or (bw) a backward op j -> i, keep what parses as a cell of the space, canonicalise by hashing."""
    m = cell.canonical_matrix
    found = set()
    for i in range(4):
        for j in range(i + 1, 4):
            variants = [(0, 0)] + [(op, 0) for op in range(1, 5)]
            if name == "bw":
                variants += [(0, op) for op in range(1, 5)]
            for forward, backward in variants:
                edited = m.copy()
                edited[i, j], edited[j, i] = forward, backward
                try:
                    other = Cell(edited)
                except InvalidCellError:
                    continue
                if space.in_space(other, name) and other.hash != cell.hash:
                    found.add(other.hash)
    return found


@pytest.mark.parametrize("name", ["fw", "bw"])
def test_neighbours_are_exactly_the_one_edit_cells_of_the_space(name):
    s = SearchSpace(name)
    for h in s.sample(60, rng=3):
        neighbours = s.neighbours(h)
        assert len(neighbours) == len(set(neighbours))
        assert set(neighbours) == _brute_force_neighbours(Cell.from_hash(h), name), h


def test_neighbours_of_a_cell_given_as_text_or_as_hash_agree():
    s = SearchSpace("bw")
    cell = Cell.from_text("0302 0030 3003 0000")
    assert s.neighbours(cell.text) == s.neighbours(cell.hash) == s.neighbours(cell)
    assert s.neighbours(cell) == [s[i] for i in s.neighbour_indices(cell)]


def test_neighbours_and_mutate_within_a_table_keep_to_its_trained_cells():
    import snnbench
    from snnbench.table.shipped import source_tables_dir
    if source_tables_dir() is None:
        pytest.skip("no shipped tables in this checkout")
    with snnbench.open("digits-fw") as bench:
        trained = set(bench.cells(trained_only=True))
        s = SearchSpace("fw")
        start = next(h for h in sorted(trained) if s.neighbours(h, trained_in=bench))
        within = s.neighbours(start, trained_in=bench)
        assert set(within) == set(s.neighbours(start)) & trained
        assert s.mutate(start, rng=0, trained_in=bench) in within
        assert s.random_architecture(rng=0, trained_in=bench) in trained
        lonely = next(h for h in sorted(trained) if not s.neighbours(h, trained_in=bench))
        with pytest.raises(ConfigError, match="no one-edit neighbour"):
            s.mutate(lonely, rng=0, trained_in=bench)


def test_mutate_returns_a_one_edit_neighbour_seeded():
    s = SearchSpace("bw")
    h = s.random_architecture(rng=5)
    assert s.mutate(h, rng=1) in s.neighbours(h)
    assert s.mutate(h, rng=1) == s.mutate(h, rng=1)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=16, max_size=16))
def test_is_valid_agrees_with_cell_parse_on_random_matrices(entries):
    matrix = np.array(entries).reshape(4, 4)
    try:
        cell = Cell.parse(matrix)
    except InvalidCellError:
        cell = None
    assert SearchSpace("bw").is_valid(matrix) == (cell is not None)
    assert SearchSpace("fw").is_valid(matrix) == (cell is not None and cell.space == "fw")
    if cell is not None:
        assert SearchSpace("bw").is_valid(cell.text) and SearchSpace("bw").is_valid(cell.hash)


def test_is_valid_says_false_for_what_is_no_cell_instead_of_raising():
    s = SearchSpace("bw")
    for spec in ("", "zz", "0123456789abcdef", np.zeros((3, 3)), [[5] * 4] * 4, None, 3.5):
        assert s.is_valid(spec) is False
    bw_only = next(h for h in s.sample(50, rng=0) if Cell.from_hash(h).space == "bw")
    assert s.is_valid(bw_only) and not SearchSpace("fw").is_valid(bw_only) and bw_only not in SearchSpace("fw")


@pytest.mark.parametrize("name", ["fw", "bw"])
def test_the_index_round_trips_and_numbers_the_cells_in_canonical_text_order(name):
    s = SearchSpace(name)
    assert len(s) == space.summarize_space(name).n_unique
    assert list(s) == space.space_hashes(name)
    rng = np.random.default_rng(0)
    for i in rng.integers(0, len(s), 200):
        h = s[int(i)]
        assert s.index(h) == i and s.hash_of(int(i)) == h
        assert s.cell(int(i)).hash == h and s.index(s.cell(int(i)).text) == i
    picked = s.sample(300, rng=1)
    assert [s[i] for i in s.indices(picked)] == picked
    assert s[-1] == s[len(s) - 1]


def test_the_index_refuses_what_is_not_in_its_space():
    fw = SearchSpace("fw")
    bw_only = next(h for h in SearchSpace("bw").sample(50, rng=0) if Cell.from_hash(h).space == "bw")
    with pytest.raises(InvalidCellError, match="not in the fw space"):
        fw.index(bw_only)
    for bad in (len(fw), -len(fw) - 1, "3", 1.0, True):
        with pytest.raises(ConfigError):
            fw[bad]


def test_a_cached_index_is_used_only_when_its_digest_matches(tmp_path, monkeypatch):
    monkeypatch.setenv(space_index_module.CACHE_ENV, str(tmp_path))
    space_index_module.space_index.cache_clear()
    try:
        built = space_index_module.space_index("fw")
        path = space_index_module.cache_file("fw")
        assert path.parent == tmp_path and path.is_file()
        reference = space_index_module.build_index("fw")
        assert np.array_equal(built.keys, reference.keys) and np.array_equal(built.hashes, reference.hashes)
        # a stale or tampered cache (two cells swapped, a truncated file) is rebuilt, never believed
        keys, hashes = reference.keys.copy(), reference.hashes.copy()
        hashes[[0, 1]] = hashes[[1, 0]]
        np.savez(path, keys=keys, hashes=hashes)
        space_index_module.space_index.cache_clear()
        again = space_index_module.space_index("fw")
        assert np.array_equal(again.hashes, reference.hashes)
        path.write_bytes(path.read_bytes()[:100])
        space_index_module.space_index.cache_clear()
        assert np.array_equal(space_index_module.space_index("fw").hashes, reference.hashes)
    finally:
        space_index_module.space_index.cache_clear()


@pytest.mark.parametrize("name", ["fw", "bw"])
def test_the_recorded_index_digests_are_those_of_the_enumeration(name):
    built = space_index_module.build_index(name)
    assert space_index_module._digest(built.keys, built.hashes) == space_index_module.INDEX_DIGESTS[name]


def test_cell_from_hash_reads_the_index():
    for h in SearchSpace("bw").sample(100, rng=2):
        assert Cell.from_hash(h).hash == h


# ----------------------------------------------------------------------------- encodings
@pytest.mark.parametrize("name,width", [("fw", 30), ("bw", 54)])
def test_one_hot_has_one_state_per_pair(name, width):
    s = SearchSpace(name)
    cells = s.sample(50, rng=0)
    x = s.encode(cells, "onehot")
    assert x.shape == (50, width) and len(s.feature_names("onehot")) == width
    assert (x.sum(axis=1) == 6).all()
    states = np.array([space.pair_states(c) for c in cells])
    assert np.array_equal(x, space.one_hot_batch(states, name))


def test_path_encoding_counts_the_paths_by_their_ops():
    s = SearchSpace("bw")
    names = s.feature_names("path")
    only_input_to_output = Cell.from_text("0003 0000 0000 0000")     # one conv3x3 edge 0 -> 3
    x = s.encode([only_input_to_output], "path")[0]
    assert x.sum() == 1 and names[int(np.argmax(x))] == "path_conv3x3"
    # 0 -> 3 skip, 0 -> 1 conv1x1 -> 3 conv1x1, 0 -> 2 avgpool -> 3 avgpool, and a backward edge 2 -> 1
    cell = Cell.from_text("0241 0002 0304 0000")
    x = dict(zip(names, s.encode([cell], "path")[0]))
    assert {k for k, v in x.items() if v} == {"path_skip", "path_conv1x1-conv1x1", "path_avgpool-avgpool",
                                                "back21_conv3x3"}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 8), min_size=6, max_size=6))
def test_every_encoding_of_one_cell_gets_the_same_features(states):
    matrix = space.states_to_matrices(np.array([states]))[0]
    try:
        cell = Cell(matrix)
    except InvalidCellError:
        return
    # relabelling nodes 1 and 2 builds the same network when they share no edge
    other = matrix[[0, 2, 1, 3]][:, [0, 2, 1, 3]] if states[3] == 0 else matrix
    s = SearchSpace("bw")
    for kind in ("onehot", "path", "adjacency"):
        assert np.array_equal(s.encode([matrix], kind), s.encode([Cell(other)], kind))
        assert np.array_equal(s.encode([matrix], kind), s.encode([cell.canonical_matrix], kind))
