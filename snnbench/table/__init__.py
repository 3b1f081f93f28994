"""The table: one HDF5 file per build (docs/TABLE_FORMAT.md); `open_table` and `Bench` read it."""
from .reader import (Bench, CURVE_FIELDS, PAUSE_WRITE_ENV, REQUIRED_ATTRS, SCHEMA_VERSION, SCORE_FIELDS,
    SPACES, TABLE_FORMAT, TRAIN_FIELDS, assemble_columns, cell_columns, metadata_problems, open_table,
    table_attrs, temporary_path, verify_table, write_table)
