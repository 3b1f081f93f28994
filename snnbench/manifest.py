"""The old import path of snnbench.table.manifest: `snnbench.manifest` is that module itself."""
import sys

from .table import manifest as _module

sys.modules[__name__] = _module
