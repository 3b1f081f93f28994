"""The `snnbench` command: the group and what every command shares (group.py), the commands by
what they work on (runs, tables, analyse, searching, journal), and how they print (format.py)."""
from . import analyse, journal, runs, searching, tables  # noqa: F401  (each module adds its commands to main)
from .group import main, run

__all__ = ["main", "run"]
