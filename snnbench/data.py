"""The old import path of snnbench.model.data: `snnbench.data` is that module itself."""
import sys

from .model import data as _module

sys.modules[__name__] = _module
