"""Datasets as whole uint8 tensors, with fixed train / validation / test splits and batched augmentation.

  digits        scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), no download.
                Stratified split (seed 0): 1,077 train / 360 validation / 360 test. 8x8 already passes
                the network's two 2x2 poolings, so no resampling is done.
  cifar10/100   the official python-format batches (cifar-10-batches-py/, cifar-100-python/) under
                --data-dir or $SNNBENCH_DATA_DIR. The 50,000 training images are split (stratified,
                seed 0) into 45,000 train and 5,000 validation; the official 10,000 test images are the
                test split. Select on validation, report test.
  tinyimagenet  the official tiny-imagenet-200/ layout. 450 images per class train, 50 per class
                validation (held out from the official train folder, seed 0); the official val/ folder
                (labelled in val_annotations.txt) is the test split.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DatasetError

DATASETS = ("digits", "cifar10", "cifar100", "tinyimagenet")
DATA_DIR_ENV = "SNNBENCH_DATA_DIR"
SPLIT_SEED = 0


@dataclass
class ImageSplit:
    """images: uint8 [N, C, H, W]; labels: int64 [N]."""
    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self):
        return int(self.labels.shape[0])

    def to(self, device) -> "ImageSplit":
        return ImageSplit(self.images.to(device), self.labels.to(device))


@dataclass
class Dataset:
    """A dataset with its three splits and per-channel normalisation (on the 0..1 scale)."""
    name: str
    train: ImageSplit
    valid: ImageSplit
    test: ImageSplit
    num_classes: int
    mean: tuple
    std: tuple
    crop_pad: int
    _constants: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])

    def to(self, device) -> "Dataset":
        return Dataset(self.name, self.train.to(device), self.valid.to(device), self.test.to(device),
                       self.num_classes, self.mean, self.std, self.crop_pad)

    def fingerprint(self) -> str:
        """First 16 hex digits of SHA-256 over every split's images and labels."""
        h = hashlib.sha256(self.name.encode())
        for split in (self.train, self.valid, self.test):
            h.update(split.images.cpu().numpy().tobytes())
            h.update(split.labels.cpu().numpy().astype(np.int64).tobytes())
        return h.hexdigest()[:16]

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, C, H, W] -> float32, scaled to 0..1 and normalised per channel."""
        key = str(images.device)
        if key not in self._constants:  # made once per device: no host-to-device copy per batch
            self._constants[key] = (torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1),
                                    torch.tensor(self.std, device=images.device).view(1, -1, 1, 1))
        mean, std = self._constants[key]
        return (images.float() / 255.0 - mean) / std


def random_crop_flip(images: torch.Tensor, pad: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Batched augmentation of [B, C, H, W] on the images' device: zero-pad by `pad`, crop back at a
    random offset per image, and mirror half of the images horizontally. No per-sample Python."""
    b, _, h, w = images.shape
    out = images
    if pad > 0:
        padded = F.pad(images, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(images.device)
        dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(images.device)
        rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
        batch = torch.arange(b, device=images.device)[:, None, None, None]
        chan = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
        out = padded[batch, chan, rows, cols]
    if flip:
        mirror = (torch.rand(b, generator=generator) < 0.5).to(images.device)
        out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
    return out


def _stratified_split(labels: np.ndarray, holdout_per_class_fraction: float, seed: int):
    """Indices (keep, holdout): a fixed fraction of every class held out, seeded."""
    rng = np.random.default_rng(seed)
    keep, hold = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(len(idx) * holdout_per_class_fraction))
        hold.append(idx[:k])
        keep.append(idx[k:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(hold))


def _split(images: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> ImageSplit:
    return ImageSplit(torch.from_numpy(np.ascontiguousarray(images[idx])),
                      torch.from_numpy(labels[idx].astype(np.int64)))


def _channel_stats(images: np.ndarray) -> tuple[tuple, tuple]:
    x = images.astype(np.float64) / 255.0
    return tuple(float(v) for v in x.mean(axis=(0, 2, 3))), tuple(float(v) for v in x.std(axis=(0, 2, 3)))


def load_digits() -> Dataset:
    """scikit-learn's digits: 0..16 intensities scaled to 0..255, stratified 60/20/20 split."""
    from sklearn.datasets import load_digits as sk_digits
    raw = sk_digits()
    images = np.round(raw.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    labels = raw.target.astype(np.int64)
    rest, test = _stratified_split(labels, 0.2, SPLIT_SEED)
    train_rel, valid_rel = _stratified_split(labels[rest], 0.25, SPLIT_SEED + 1)
    train, valid = rest[train_rel], rest[valid_rel]
    mean, std = _channel_stats(images[train])
    return Dataset("digits", _split(images, labels, train), _split(images, labels, valid),
                   _split(images, labels, test), 10, mean, std, crop_pad=0)


def resolve_data_dir(data_dir) -> Path:
    """The directory given, else $SNNBENCH_DATA_DIR; DatasetError if neither exists."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV)
    if not chosen:
        raise DatasetError(f"this dataset needs its files: pass --data-dir DIR or set ${DATA_DIR_ENV}")
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise DatasetError(f"data directory {path} does not exist")
    return path


def _find(root: Path, name: str) -> Path:
    """root itself if it is the dataset folder, else root/name."""
    if root.name == name:
        return root
    if (root / name).is_dir():
        return root / name
    raise DatasetError(f"expected the folder {name}/ in {root} (or {root} to be it)")


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(f"expected the file {path.name} in {path.parent}")
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except Exception as exc:
        raise DatasetError(f"{path} is not an official CIFAR python-format batch ({exc.__class__.__name__})") from None


def _cifar_arrays(batch: dict, label_key: bytes, path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (KeyError, ValueError) as exc:
        raise DatasetError(f"{path} does not hold CIFAR 'data' and labels as expected ({exc})") from None
    if len(data) != len(labels):
        raise DatasetError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data, labels


def load_cifar(name: str, data_dir=None, valid_fraction: float = 0.1) -> Dataset:
    """CIFAR-10 or CIFAR-100 from the official python-format files."""
    root = resolve_data_dir(data_dir)
    if name == "cifar10":
        folder = _find(root, "cifar-10-batches-py")
        train_files, test_files, key, classes = [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels", 10
    else:
        folder = _find(root, "cifar-100-python")
        train_files, test_files, key, classes = ["train"], ["test"], b"fine_labels", 100
    def read(files):
        parts = [_cifar_arrays(_unpickle(folder / f), key, folder / f) for f in files]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    train_x, train_y = read(train_files)
    test_x, test_y = read(test_files)
    if train_y.max(initial=0) >= classes or test_y.max(initial=0) >= classes:
        raise DatasetError(f"{folder}: labels outside 0..{classes - 1}")
    keep, hold = _stratified_split(train_y, valid_fraction, SPLIT_SEED)
    mean, std = _channel_stats(train_x[keep])
    return Dataset(name, _split(train_x, train_y, keep), _split(train_x, train_y, hold),
                   ImageSplit(torch.from_numpy(test_x), torch.from_numpy(test_y)), classes, mean, std, crop_pad=4)


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image
    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except Exception as exc:
        raise DatasetError(f"cannot read image {path} ({exc.__class__.__name__})") from None
    if arr.shape != (64, 64, 3):
        raise DatasetError(f"{path}: expected a 64x64 image, got {arr.shape[:2]}")
    return arr.transpose(2, 0, 1)


def load_tinyimagenet(data_dir=None, valid_fraction: float = 0.1) -> Dataset:
    """TinyImageNet-200 from the official folder layout (wnids.txt, train/<wnid>/images, val/)."""
    root = _find(resolve_data_dir(data_dir), "tiny-imagenet-200")
    wnids_file = root / "wnids.txt"
    if not wnids_file.is_file():
        raise DatasetError(f"expected wnids.txt in {root}")
    wnids = [w.strip() for w in wnids_file.read_text().split() if w.strip()]
    index = {w: i for i, w in enumerate(wnids)}
    images, labels = [], []
    for w in wnids:
        folder = root / "train" / w / "images"
        if not folder.is_dir():
            raise DatasetError(f"expected the folder train/{w}/images in {root}")
        for f in sorted(folder.iterdir()):
            images.append(_read_rgb(f))
            labels.append(index[w])
    annotations = root / "val" / "val_annotations.txt"
    if not annotations.is_file():
        raise DatasetError(f"expected val/val_annotations.txt in {root}")
    test_x, test_y = [], []
    for line in annotations.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or parts[1] not in index:
            raise DatasetError(f"{annotations}: malformed line {line!r}")
        test_x.append(_read_rgb(root / "val" / "images" / parts[0]))
        test_y.append(index[parts[1]])
    x, y = np.stack(images), np.asarray(labels, dtype=np.int64)
    keep, hold = _stratified_split(y, valid_fraction, SPLIT_SEED)
    mean, std = _channel_stats(x[keep])
    return Dataset("tinyimagenet", _split(x, y, keep), _split(x, y, hold),
                   ImageSplit(torch.from_numpy(np.stack(test_x)), torch.from_numpy(np.asarray(test_y))),
                   len(wnids), mean, std, crop_pad=8)


def load_dataset(name: str, data_dir=None) -> Dataset:
    """Load a dataset by name (see the module docstring for the splits); DatasetError on bad input."""
    if name == "digits":
        return load_digits()
    if name in ("cifar10", "cifar100"):
        return load_cifar(name, data_dir)
    if name == "tinyimagenet":
        return load_tinyimagenet(data_dir)
    raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
