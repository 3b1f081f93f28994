"""SNN-NAS-Bench. `snnbench.open("FILE.h5")` opens a table for queries (see snnbench.table.Bench)."""
from .version import __version__


def __getattr__(name):
    # snnbench.open is snnbench.table.open_table, imported on first use so that `import snnbench`
    # (and every CLI command that needs no table) does not pay for h5py and torch.
    if name == "open":
        from .table.open import open_table
        return open_table
    raise AttributeError(f"module 'snnbench' has no attribute {name!r}")
