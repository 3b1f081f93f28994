"""Typed errors of snnbench. The CLI turns every one of them into one line and exit code 2."""


class SnnbenchError(Exception):
    """Base class of every error snnbench raises on bad input."""


class InvalidCellError(SnnbenchError, ValueError):
    """A matrix or text that is not an architecture of the SNASNet cell space."""


class UnknownHashError(SnnbenchError, KeyError):
    """A hash that names no cell of the fw or bw space."""

    def __str__(self):
        return str(self.args[0]) if self.args else "unknown hash"


class ArchitectureNotInTable(SnnbenchError, KeyError):
    """A valid cell that a table does not contain."""

    def __str__(self):
        return str(self.args[0]) if self.args else "not in this table"


class TableFormatError(SnnbenchError):
    """A file that is not an snnbench table, is damaged, or has an unsupported schema version."""


class DatasetError(SnnbenchError):
    """A dataset that is unknown, missing or not in the expected format."""


class ProtocolMismatchError(SnnbenchError):
    """A journal or table built under another protocol than the one asked for."""


class ModelFormatError(SnnbenchError):
    """A surrogate model file that is damaged or does not match the table or feature version."""


class ConfigError(SnnbenchError, ValueError):
    """A setting out of range (batch smaller than 2, unknown protocol, ...)."""


class ManifestError(SnnbenchError):
    """A manifest of shipped tables (MANIFEST.json) that is missing, damaged or of a newer version."""


class StorageError(SnnbenchError, OSError):
    """The file system refused a read or write: a full or read-only disk, a missing permission, a name
    too long, a device that is not a file. The message names the file and the system's own reason."""


class JournalError(SnnbenchError):
    """A build journal that cannot be used: damaged rows, or SQLite failing on it (the message carries
    SQLite's own error)."""


class TableClosedError(SnnbenchError, ValueError):
    """A query on a table (Bench) after it was closed."""


class DeviceError(ConfigError):
    """A device that is not there: --device cuda with no GPU visible, cuda:K past the last visible GPU,
    a Ray cluster that advertises no GPU. snnbench never runs on the CPU instead of a GPU it was asked for."""


class CheckpointError(SnnbenchError):
    """A training checkpoint that cannot be used: it belongs to another run (cell, protocol or seed), or
    it is damaged. The message names the file; deleting it makes the run start from scratch."""


class SpaceMismatchError(ConfigError):
    """A search space that the table does not hold: the bw space asked of a table of fw cells (whose
    cells have no backward edge), which would search fw cells and call them bw."""


class NoProgressError(SnnbenchError):
    """A NAS algorithm that called the simulated benchmark many times in a row without one evaluation
    (a loop that can never spend the budget). The message names the algorithm and the limit."""
