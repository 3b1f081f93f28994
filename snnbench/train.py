"""The old import path of snnbench.model.train: `snnbench.train` is that module itself."""
import sys

from .model import train as _module

sys.modules[__name__] = _module
