"""The old import path of snnbench.table.shipped: `snnbench.shipped` is that module itself."""
import sys

from .table import shipped as _module

sys.modules[__name__] = _module
