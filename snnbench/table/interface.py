"""What every table reader answers: `TableReader`, the interface that `Bench` (one table) and
`shipped.ShippedTables` (the shipped tables as one view) both implement, and that analysis, search
and the CLI rely on (docs/CONTRACT.md, "Table")."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..protocols import Protocol as TrainingProtocol


@runtime_checkable
class TableReader(Protocol):
    """A table to query. Cells are given as a Cell, its text or its hash; accuracies are in %."""

    def query(self, cell, seed=None, epoch=None) -> dict:
        """The record of one cell: scores, and the mean over training seeds (or one seed's values, or
        the values after `epoch` epochs). ArchitectureNotInTable when the table lacks the cell."""
        ...

    def cells(self, trained_only: bool = False) -> list[str]:
        """The hashes of the cells held (only those trained with trained_only), sorted."""
        ...

    def sample(self, n: int, rng=None, trained_only: bool = False) -> list[str]:
        """n distinct hashes of cells held, drawn uniformly with rng (a seed or a Generator)."""
        ...

    def to_dataframe(self) -> "pd.DataFrame":
        """One row per cell, sorted by hash (columns: docs/CONTRACT.md)."""
        ...

    def curves(self, cell) -> dict[int, dict[str, "np.ndarray"]]:
        """{training seed: {"valid_acc", "train_acc", "train_loss", "epoch_time": per-epoch arrays}}."""
        ...

    def __contains__(self, cell) -> bool: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...

    def __enter__(self): ...

    def __exit__(self, *exc): ...

    @property
    def protocol(self) -> "TrainingProtocol":
        """The protocol the table's cells were scored and trained under."""
        ...

    @property
    def metadata(self) -> dict:
        """The table's root attributes (docs/TABLE_FORMAT.md)."""
        ...
