"""The old import path of snnbench.model.checkpoint: `snnbench.checkpoint` is that module itself."""
import sys

from .model import checkpoint as _module

sys.modules[__name__] = _module
