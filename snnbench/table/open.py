"""Which table `snnbench.open` opens: a file, $SNNBENCH_TABLE, a shipped table by name, or every
shipped table as one view."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import TableFormatError
from .reader import Bench


def open_table(path=None):
    """Open a table for queries (a Bench).

    path None: the table named by $SNNBENCH_TABLE, else the shipped tables as one view
    (snnbench.shipped.ShippedTables: a cell is answered by the first table in the manifest's order
    that trained it, else the first holding it, whatever its dataset; every table's record:
    snnbench.shipped.query_all; see snnbench/shipped.py for where they are found). A bare name that
    is no file here but names a shipped table ('digits-bw' or 'digits-bw.h5') opens that shipped table."""
    if isinstance(path, str) and path == "":
        raise TableFormatError("no table path given: name a table file")
    if path is None:
        env = os.environ.get("SNNBENCH_TABLE")
        if not env:
            from .shipped import open_shipped
            return open_shipped()
        path = env
    p = Path(path)
    if not p.exists() and p.name == str(path):
        from .shipped import find_shipped
        shipped = find_shipped(p.name)
        if shipped is not None:
            return Bench(shipped)
    return Bench(path)
