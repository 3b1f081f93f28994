"""The old import path of snnbench.model.reference: `snnbench.reference` is that module itself."""
import sys

from .model import reference as _module

sys.modules[__name__] = _module
