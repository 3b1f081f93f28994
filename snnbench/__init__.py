"""SNN-NAS-Bench. `snnbench.open("FILE.h5")` opens a table for queries (see snnbench.table.Bench)."""
import importlib
import importlib.abc
import importlib.util
import sys

from .version import __version__

# Modules that moved into the package folders, by their old path: `import snnbench.train` (or
# `from snnbench import train`) gives snnbench.model.train itself, imported only when asked for.
MOVED_MODULES = {"snn": "model.snn", "data": "model.data", "scores": "model.scores", "train": "model.train",
                 "reference": "model.reference", "checkpoint": "model.checkpoint", "devices": "model.devices",
                 "cost": "build.cost", "scorer": "build.scorer", "shipped": "table.shipped",
                 "manifest": "table.manifest", "transfer": "search.transfer",
                 "jobs": "model.jobs"}


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds snnbench.OLD for each OLD of MOVED_MODULES; loading it puts the moved module in its place."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, old = fullname.rpartition(".")
        if package == __name__ and old in MOVED_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return None  # a plain module, replaced in sys.modules by exec_module

    def exec_module(self, module):
        old = module.__name__.rpartition(".")[2]
        sys.modules[module.__name__] = importlib.import_module(f"{__name__}.{MOVED_MODULES[old]}")


if not any(isinstance(finder, _OldPaths) for finder in sys.meta_path):
    sys.meta_path.append(_OldPaths())


def __getattr__(name):
    # snnbench.open is snnbench.table.open_table, imported on first use so that `import snnbench`
    # (and every CLI command that needs no table) does not pay for h5py and torch.
    if name == "open":
        from .table.open import open_table
        return open_table
    raise AttributeError(f"module 'snnbench' has no attribute {name!r}")
