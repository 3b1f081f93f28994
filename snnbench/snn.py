"""The old import path of snnbench.model.snn: `snnbench.snn` is that module itself."""
import sys

from .model import snn as _module

sys.modules[__name__] = _module
