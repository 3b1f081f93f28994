"""The `snnbench` command: thin commands over the library (commands.py)."""
from .commands import main, run

__all__ = ["main", "run"]
