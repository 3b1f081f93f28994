"""The old import path of snnbench.model.scores: `snnbench.scores` is that module itself."""
import sys

from .model import scores as _module

sys.modules[__name__] = _module
