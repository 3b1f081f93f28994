"""The unit of work of a build: one (kind, cell, protocol, seed) job, run by any executor.

Workers call run_job and return a plain dict; they never open a table or the journal."""
from __future__ import annotations

import functools
import platform
import time

import torch

from .data import Dataset, load_dataset
from ..protocols import Protocol
from .scores import score_cell, scoring_batches
from ..space.cell import Cell
from .train import train_cell

JOB_KINDS = ("score", "train")


@functools.lru_cache(maxsize=4)
def _dataset(name: str, data_dir: str | None, input_size: int | None, train_size: int | None) -> Dataset:
    return load_dataset(name, data_dir, input_size=input_size, train_size=train_size)


def protocol_dataset(protocol: Protocol, data_dir=None) -> Dataset:
    """What data.load_for_protocol gives, loaded once per process for each dataset, data folder,
    input_size and train_size (no other protocol field changes the data)."""
    return _dataset(protocol.dataset, None if data_dir is None else str(data_dir), protocol.input_size,
                    protocol.train_size)


def default_device() -> str:
    """cuda when a GPU is visible, else cpu (devices.default_device)."""
    from .devices import default_device as default
    return default()


def check_device(device: str | None) -> None:
    """DeviceError (a ConfigError) unless `device` names a device torch can use here (None: the default
    one); see devices.check_device."""
    from .devices import check_device as check
    check(device)


def where(device: str = "cpu") -> str:
    """Where a job runs: host name and the device it used ('cpu' or the GPU's name)."""
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    return f"{platform.node()}:{name}"


def run_job(kind: str, cell_hash: str, protocol_json: str, seed: int, data_dir: str | None = None,
            device: str | None = None, checkpoint_root=None, checkpoint_every: int = 1, on_epoch=None) -> dict:
    """Run one job and return its result as a dict of plain values.

    kind 'score': HD, SAHD, SAHD-Eq.9 (log|det K|), parameter count and firing rates at initialisation,
    on the protocol's scoring batches drawn with `seed`. kind 'train': a TrainRecord (see train.py),
    checkpointed every `checkpoint_every` epochs under checkpoint_root (checkpoint.job_folder) when
    given, so that a killed job run again resumes. device: cpu, cuda, cuda:K or None (this worker's
    GPU when it is bound to one, else the default device); DeviceError when it is not here. Every
    result records where it ran (`where`, and devices.describe: device_index, device_name, torch,
    cuda, spikingjelly, lif_implementation). on_epoch: called with the TrainRecord after each epoch of
    a training job (train_cell's on_epoch), e.g. to draw a progress bar."""
    from .devices import describe, job_device
    device = job_device(device)
    check_device(device)
    protocol = Protocol.from_json(protocol_json)
    cell = Cell.from_hash(cell_hash)
    dataset = protocol_dataset(protocol, data_dir)
    t0 = time.perf_counter()
    if kind == "score":
        # Draw the batches from the uint8 images, then normalise only them: the same values as
        # normalising the whole split first, without a pass over it for every job.
        drawn = scoring_batches(dataset.train.images, protocol.score_batch, protocol.score_repeat, seed)
        batches = [dataset.normalize(images) for images in drawn]
        result = score_cell(cell, protocol.network_profile(), batches, seed=seed, device=device, eq9=True).to_dict()
    elif kind == "train":
        folder = None
        if checkpoint_root is not None and checkpoint_every > 0:
            from .checkpoint import job_folder
            folder = job_folder(checkpoint_root, cell.hash, protocol.hash, seed)
        result = train_cell(cell, protocol, seed, dataset, device=device, checkpoint_dir=folder,
                            checkpoint_every=checkpoint_every, on_epoch=on_epoch).to_dict()
    else:
        raise ValueError(f"unknown job kind {kind!r}")
    result.update(kind=kind, cell_hash=cell.hash, seed=int(seed), protocol_hash=protocol.hash,
                  wall_time=time.perf_counter() - t0, where=where(device), threads=torch.get_num_threads(),
                  **describe(device))
    return result
