"""The old import path of snnbench.model.devices: `snnbench.devices` is that module itself."""
import sys

from .model import devices as _module

sys.modules[__name__] = _module
