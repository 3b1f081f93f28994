"""The old import path of snnbench.build.cost: `snnbench.cost` is that module itself."""
import sys

from .build import cost as _module

sys.modules[__name__] = _module
