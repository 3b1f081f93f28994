"""Resumable training runs. Every k epochs a run writes one checkpoint file, atomically, into its own
folder; a run started again with the same folder continues after the last checkpoint and ends with
the record an uninterrupted run gives (on the CPU bit for bit, the wall times aside); a finished run
removes its checkpoint.

A checkpoint holds everything the rest of the run depends on: the network's parameters and buffers
(BatchNorm running statistics), the optimizer's state (momentum), the state of the torch.Generator
that shuffles the data, the global torch RNG state (dropout draws from it; on a GPU the CUDA RNG
state too), the state of the augmentation's own generator where it has one (Protocol.device_augment),
the optimizer step count, and the record so far (curves, epoch times). LIF membranes are
reset before every batch, so they hold nothing between epochs.

A checkpoint names the run it belongs to (cell hash, protocol hash, seed); a folder holding another
run's checkpoint is refused (CheckpointError), never silently reused."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from ..errors import CheckpointError

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_FORMAT = "snnbench-train-checkpoint"
CHECKPOINT_VERSION = 1
CURVES = ("train_loss", "train_acc", "valid_acc_curve", "epoch_time", "valid_loss_curve", "test_acc_curve",
          "test_loss_curve")


def job_folder(root, cell_hash: str, protocol_hash: str, seed: int) -> Path:
    """The checkpoint folder of one training job of a build, under `root`: train-CELL-PROTOCOL-SEED."""
    return Path(root) / f"train-{cell_hash}-{protocol_hash}-{int(seed)}"


def build_root(journal_path) -> Path:
    """Where a build keeps the checkpoints of its training jobs: beside its journal, JOURNAL.checkpoints
    (the journal's .sqlite suffix dropped), so that builds sharing a journal share them too."""
    path = Path(journal_path)
    name = path.name[:-len(".sqlite")] if path.name.endswith(".sqlite") else path.name
    return path.with_name(name + ".checkpoints")


def remove_empty_root(root) -> None:
    """Remove a build's checkpoint folder when no checkpoint is left in it (every job finished)."""
    if root is None:
        return
    try:
        os.rmdir(root)
    except OSError:
        pass  # absent, or checkpoints of unfinished jobs remain: keep it


class TrainingCheckpoint:
    """The checkpoint of one training run in `folder`, written every `every` epochs (0: never).

    identity: {'cell_hash', 'protocol_hash', 'seed'} of the run; a checkpoint of another run in the
    folder is refused with CheckpointError."""

    def __init__(self, folder, identity: dict, every: int = 1):
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            from ..errors import ConfigError
            raise ConfigError(f"checkpoint_every must be a whole number of epochs, 0 or more, got {every!r}")
        self.folder, self.identity, self.every = Path(folder), dict(identity), every
        self.path = self.folder / CHECKPOINT_FILE
        self._failed = False

    def load(self, device) -> dict | None:
        """The saved state, or None when there is none. CheckpointError for a damaged file or one of
        another run."""
        import torch
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location=device, weights_only=True)
        except Exception as exc:  # torch raises many types for a damaged file
            raise CheckpointError(f"checkpoint {self.path} cannot be read ({type(exc).__name__}): "
                                  "delete it to train this run from the start") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{self.path} is not an snnbench training checkpoint: "
                                  "delete it or choose another folder")
        if state.get("version", 0) > CHECKPOINT_VERSION:
            raise CheckpointError(f"checkpoint {self.path} was written by a newer snnbench "
                                  f"(version {state['version']})")
        if state.get("identity") != self.identity:
            theirs = state.get("identity") or {}
            raise CheckpointError(
                f"checkpoint {self.path} belongs to cell {theirs.get('cell_hash')} protocol "
                f"{theirs.get('protocol_hash')} seed {theirs.get('seed')}, not to this run (cell "
                f"{self.identity['cell_hash']} protocol {self.identity['protocol_hash']} seed "
                f"{self.identity['seed']}): choose another folder or delete it")
        return state

    def restore(self, net, optimizer, generator, record, device, augment_generator=None) -> tuple[int, float] | None:
        """Put a saved run back where it stopped: network, optimizer, shuffling generator (and the
        augmentation's generator, when the run has one), global RNG and the record's curves. Returns
        (optimizer steps taken, seconds of training so far), or None (nothing restored) when there is
        no checkpoint."""
        import torch
        state = self.load(device)
        if state is None:
            return None
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        # Generator states are CPU byte tensors whatever the generator's device; map_location moved
        # them to `device` with everything else.
        generator.set_state(state["generator"].cpu())
        if augment_generator is not None and state.get("augment_generator") is not None:
            augment_generator.set_state(state["augment_generator"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        if state.get("cuda_rng") is not None and torch.device(device).type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), torch.device(device))
        for name in CURVES:
            setattr(record, name, list(state["record"].get(name, [])))  # curves added later: absent before
        record.epochs_run = int(state["record"]["epochs_run"])
        return int(state["step"]), float(state["record"]["elapsed"])

    def due(self, epochs_run: int, epochs: int) -> bool:
        """Whether a checkpoint is written after `epochs_run` of `epochs` epochs (never after the last:
        the run finishes then)."""
        return self.every > 0 and epochs_run < epochs and epochs_run % self.every == 0

    def save(self, net, optimizer, generator, step: int, record, elapsed: float, device,
             augment_generator=None) -> None:
        """Write the checkpoint atomically (a kill leaves the previous one or the new one, never a torn
        file). A disk that refuses the write costs the checkpoint, not the run: a warning, and no more
        checkpoints for this run."""
        import torch
        from ..files import atomic_write_bytes
        if self._failed:
            return
        on_gpu = torch.device(device).type == "cuda"
        state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "identity": self.identity,
                 "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                 "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                 "augment_generator": None if augment_generator is None else augment_generator.get_state(),
                 "cuda_rng": torch.cuda.get_rng_state(torch.device(device)) if on_gpu else None,
                 "step": int(step),
                 "record": {**{name: list(getattr(record, name)) for name in CURVES},
                            "epochs_run": int(record.epochs_run), "elapsed": float(elapsed)}}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path, buffer.getvalue())
        except OSError as exc:  # StorageError is an OSError too
            self._failed = True
            warnings.warn(f"training checkpoint not written, the run goes on without: {exc}", RuntimeWarning)

    def remove(self) -> None:
        """Delete the checkpoint of a finished run, and its folder when nothing else is in it."""
        from ..files import remove_quietly
        remove_quietly(self.path)
        remove_quietly(self.path.with_name(self.path.name + ".tmp"))
        try:
            self.folder.rmdir()
        except OSError:
            pass  # the folder holds something else, or is gone
