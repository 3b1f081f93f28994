"""The old import path of snnbench.search.transfer: `snnbench.transfer` is that module itself."""
import sys

from .search import transfer as _module

sys.modules[__name__] = _module
