"""The unit of work of a build: one (kind, cell, protocol, seed) job, run by any executor.

Workers call run_job and return a plain dict; they never open a table or the journal."""
from __future__ import annotations

import functools
import platform
import time

import torch

from .data import load_dataset
from .protocols import Protocol
from .scores import score_cell, scoring_batches
from .space import Cell
from .train import train_cell

JOB_KINDS = ("score", "train")


@functools.lru_cache(maxsize=4)
def _dataset(name: str, data_dir: str | None):
    return load_dataset(name, data_dir)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str | None) -> None:
    """ConfigError unless `device` names a device torch can use here (None: the default one)."""
    from .errors import ConfigError
    if device is None:
        return
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"--device {str(device)[:40]!r} is not a device: use cpu or cuda (cuda:N for one GPU)") from None
    if dev.type == "cpu":
        return
    if dev.type != "cuda":
        raise ConfigError(f"--device {device}: snnbench runs on cpu or cuda")
    if not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA GPU is available here (use --device cpu)")
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s)")


def where(device: str = "cpu") -> str:
    """Where a job runs: host name and the device it used ('cpu' or the GPU's name)."""
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    return f"{platform.node()}:{name}"


def run_job(kind: str, cell_hash: str, protocol_json: str, seed: int, data_dir: str | None = None,
            device: str | None = None) -> dict:
    """Run one job and return its result as a dict of plain values.

    kind 'score': HD, SAHD, SAHD-Eq.9 (log|det K|), parameter count and firing rates at initialisation,
    on the protocol's scoring batches drawn with `seed`. kind 'train': a TrainRecord (see train.py)."""
    protocol = Protocol.from_json(protocol_json)
    cell = Cell.from_hash(cell_hash)
    dataset = _dataset(protocol.dataset, data_dir)
    device = device or default_device()
    t0 = time.perf_counter()
    if kind == "score":
        # choose the images first and normalise only those: the normalisation works per element, so
        # the floats are those of normalising the whole split, without its cost (CIFAR: seconds a job)
        chosen = scoring_batches(dataset.train.images, protocol.score_batch, protocol.score_repeat, seed)
        batches = [dataset.normalize(images) for images in chosen]
        result = score_cell(cell, protocol.network_profile(), batches, seed=seed, device=device, eq9=True).to_dict()
    elif kind == "train":
        result = train_cell(cell, protocol, seed, dataset, device=device).to_dict()
    else:
        raise ValueError(f"unknown job kind {kind!r}")
    result.update(kind=kind, cell_hash=cell.hash, seed=int(seed), protocol_hash=protocol.hash,
                  wall_time=time.perf_counter() - t0, where=where(device), threads=torch.get_num_threads(),
                  torch=torch.__version__)
    return result
