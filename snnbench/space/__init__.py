"""The cell space (numpy only): the cell value and its hash, enumeration and canonical form, samplers."""
from .cell import (ATTRIBUTE_NAMES, Cell, HASH_LENGTH, N_NODES, OPS, OP_NAMES, PAIRS, SPACES, SpaceSummary,
    all_encodings, batch_attributes, canonical_batch, canonical_texts, cell_attributes, check_encoding,
    check_space, hash_text, iter_cells, key_to_matrix, lex_key, looks_like_hash, matrix_to_text, prune_batch,
    read_cell_list, sample_cells, sample_encoding, space_hashes, states_to_matrices, summarize_space,
    text_to_matrix, uniform_sample_hashes, unique_canonical_matrices, unique_texts)
