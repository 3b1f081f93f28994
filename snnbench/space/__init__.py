"""The cell space (numpy only): canonical (the matrix, pruning, canonical form, hash), encoding (pair
states, one-hot features, edits), enumerate (every cell of a space), cell (the Cell value),
samplers, index (the integer index of a space, cached), search_space (SearchSpace: the space API)."""
from .canonical import (HASH_LENGTH, N_NODES, OPS, OP_NAMES, PAIRS, SPACES, canonical_batch, canonical_keys,
    check_encoding, check_space, hash_text, is_architecture, key_to_matrix, lex_key, looks_like_hash,
    matrix_to_text, prune_batch, text_to_matrix)
from .encoding import (N_PATH_FEATURES, PAIR_STATES, SWAP_PAIRS, all_encodings, edit_distance, matrix_pair_states,
    one_edit_encodings, one_hot, one_hot_batch, pair_feature_names, pair_state_count, path_encoding_batch,
    path_feature_names, states_of_matrices, states_to_matrices)
from .enumerate import (SpaceSummary, canonical_texts, hash_index, iter_cells, space_hashes, summarize_space,
    unique_canonical_matrices, unique_texts)
from .cell import (ATTRIBUTE_NAMES, Cell, as_cell, batch_attributes, cell_attributes, in_space, pair_states,
    read_cell_list)
from .samplers import (one_edit_neighbours, sample_cells, sample_encoding, sampler_probabilities,
    uniform_sample_hashes)
from .index import SpaceIndex, space_index
from .search_space import SearchSpace
