"""The old import path of snnbench.build.scorer: `snnbench.scorer` is that module itself."""
import sys

from .build import scorer as _module

sys.modules[__name__] = _module
