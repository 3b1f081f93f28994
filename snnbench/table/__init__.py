"""The table: one HDF5 file per build (docs/TABLE_FORMAT.md). schema (shared by the rest), writer,
reader (`Bench`), verify, open (which table `snnbench.open` opens); shipped (the tables that come
with snnbench) and manifest (their SHA-256 manifest)."""
from .schema import (CURVE_FIELDS, REQUIRED_ATTRS, SCHEMA_VERSION, SCORE_FIELDS, SPACES, TABLE_FORMAT,
    TRAIN_FIELDS, attribute_value, check_header, first_line, metadata_problems, open_h5, protocol_fields)
from .writer import (assemble_columns, cell_columns, table_attrs, temporary_path, write_table)
from .reader import Bench
from .verify import verify_table
from .open import open_table
from .interface import TableReader
