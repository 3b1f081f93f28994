"""Datasets as whole uint8 tensors, with fixed train / validation / test splits and batched augmentation.

  digits        scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), no download.
                Stratified split (seed 0): 1,079 train / 359 validation / 359 test. 8x8 already passes
                the network's two 2x2 poolings, so no resampling is done.
  cifar10/100   the official python-format batches (cifar-10-batches-py/, cifar-100-python/) under
                --data-dir or $SNNBENCH_DATA_DIR. The 50,000 training images are split (stratified,
                seed 0) into 45,000 train and 5,000 validation; the official 10,000 test images are the
                test split. Select on validation, report test.
  tinyimagenet  the official tiny-imagenet-200/ layout. 450 images per class train, 50 per class
                validation (held out from the official train folder, seed 0); the official val/ folder
                (labelled in val_annotations.txt) is the test split.
  fashion-mnist the official IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
                t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gzipped or not), 28x28 grey, 10 classes,
                from --data-dir, else $SNNBENCH_DATA_DIR, else /usr/share/datasets/fashion-mnist (the
                package dataset-fashion-mnist), in that folder or its fashion-mnist/ subfolder. A sixth of
                every class of the official training file is held out (stratified, seed 0): 50,000 train
                and 10,000 validation of the 60,000; the official 10,000 test images are the test split.
                The share, not a count, is fixed, so smaller files in the same format split alike.

A protocol may change the data it trains on (load_for_protocol): `input_size` resamples every image
of every split once to that side by area averaging (rounded back to uint8; crop padding scales with
it), and `train_size` keeps a stratified subset of the train split whose smaller sizes are nested in
the larger ones (train_subset_order). The normalisation is then measured on the resulting train split,
and Dataset.fingerprint covers the data as the protocol sees it.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import zlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, DatasetError
from ..profiles import DATASETS, PROFILES

DATA_DIR_ENV = "SNNBENCH_DATA_DIR"
SPLIT_SEED = 0
SUBSET_SEED = 2  # train_size subsets; SPLIT_SEED and SPLIT_SEED + 1 draw the splits


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
    random offset per image, and mirror half of the images horizontally. No per-sample Python.

    The offsets and flips are drawn on the generator's device: a CPU generator for images on a GPU
    draws on the CPU and copies the draws over every call; a generator on the images' device
    (Protocol.device_augment) draws there, and nothing waits for the host."""
    b, _, h, w = images.shape
    out = images
    if pad > 0:
        padded = F.pad(images, (pad, pad, pad, pad))
        dy = _draw_ints(2 * pad + 1, b, generator, images.device)
        dx = _draw_ints(2 * pad + 1, b, generator, images.device)
        rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
        batch = torch.arange(b, device=images.device)[:, None, None, None]
        chan = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
        out = padded[batch, chan, rows, cols]
    if flip:
        mirror = (torch.rand(b, generator=generator, device=generator.device) < 0.5).to(images.device)
        out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
    return out


def _draw_ints(high: int, n: int, generator: torch.Generator, device) -> torch.Tensor:
    """n integers in [0, high) drawn on the generator's device, then placed on `device`."""
    return torch.randint(0, high, (n,), generator=generator, device=generator.device).to(device)


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
        raise DatasetError("this dataset needs its files: give their folder (data_dir; --data-dir on the command line) "
                           f"or set ${DATA_DIR_ENV}")
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
    """One TinyImageNet image as uint8 [3, 64, 64] (a greyscale JPEG is read as RGB), with torchvision.io."""
    from torchvision.io import ImageReadMode, decode_image
    try:
        image = decode_image(torch.from_numpy(np.fromfile(path, dtype=np.uint8)), mode=ImageReadMode.RGB)
    except (OSError, RuntimeError, ValueError) as exc:
        raise DatasetError(f"cannot read image {path} ({exc.__class__.__name__})") from None
    if tuple(image.shape) != (3, 64, 64):
        raise DatasetError(f"{path}: expected a 64x64 image, got {tuple(image.shape[1:])}")
    return image.numpy()


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


# ----------------------------------------------------------------------------- Fashion-MNIST
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_HINT = ("get the official files with `apt-get install dataset-fashion-mnist` "
                      f"(they go to {FASHION_MNIST_DIR}) or give the folder holding them (data_dir; --data-dir on "
                      "the command line)")
FASHION_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FASHION_MNIST_SIDE = 28
# 10,000 of the official 60,000 training images are the validation split.
FASHION_MNIST_VALID_SHARE = 1 / 6
IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


def _fashion_mnist_error(problem: str) -> DatasetError:
    return DatasetError(f"fashion-mnist: {problem}; {FASHION_MNIST_HINT}")


def fashion_mnist_folder(data_dir=None) -> Path:
    """The folder holding the Fashion-MNIST files: the first of data_dir, $SNNBENCH_DATA_DIR and
    /usr/share/datasets/fashion-mnist that is given (an explicit folder without the files is an
    error, never passed over), or its fashion-mnist/ subfolder when the files lie there."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV)
    root = Path(chosen).expanduser() if chosen else FASHION_MNIST_DIR
    if not root.is_dir():
        raise _fashion_mnist_error(f"the data directory {root} does not exist")
    for folder in (root, root / "fashion-mnist"):
        if any((folder / (name + suffix)).is_file() for name in FASHION_MNIST_FILES for suffix in (".gz", "")):
            return folder
    raise _fashion_mnist_error(f"no IDX files ({FASHION_MNIST_FILES[0]}[.gz], ...) in {root} "
                               f"or {root / 'fashion-mnist'}")


def _idx_file(folder: Path, name: str) -> Path:
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.is_file():
            return candidate
    raise _fashion_mnist_error(f"the file {name}.gz (or {name}) is missing from {folder}")


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except EOFError:
        raise _fashion_mnist_error(f"{path} is truncated (the gzip stream ends early)") from None
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise _fashion_mnist_error(f"{path} cannot be read ({reason})") from None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """An IDX file of unsigned bytes (gzipped when its name ends in .gz) as a read-only uint8 array of
    the shape its header gives. DatasetError when the magic number is not `magic` (2051 images, 2049
    labels) or the file's length is not the header's 4 + 4 * ndim bytes plus one byte per value."""
    data = _read_bytes(path)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _fashion_mnist_error(f"{path} is truncated: {len(data)} bytes, shorter than an IDX header ({header})")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        kind = "images" if magic == IDX_IMAGES_MAGIC else "labels"
        raise _fashion_mnist_error(f"{path} is not an IDX {kind} file: magic number {found}, expected {magic}")
    shape = tuple(int(v) for v in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise _fashion_mnist_error(f"{path} is {what}: its header announces {' x '.join(map(str, shape))} "
                                   f"values ({expected} bytes) but it holds {len(data)} bytes")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _fashion_mnist_pair(folder: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 1, 28, 28], labels int64 [N]) of the official `train` or `t10k` files."""
    images_path = _idx_file(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _idx_file(folder, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC).astype(np.int64)
    side = FASHION_MNIST_SIDE
    if images.shape[1:] != (side, side):
        raise _fashion_mnist_error(f"{images_path} holds {images.shape[1]}x{images.shape[2]} images, "
                                   f"not the {side}x{side} of Fashion-MNIST")
    if len(images) != len(labels):
        raise _fashion_mnist_error(f"{images_path} holds {len(images)} images but {labels_path} "
                                   f"{len(labels)} labels")
    if len(labels) and labels.max() > 9:
        raise _fashion_mnist_error(f"{labels_path} holds the label {labels.max()}, outside 0..9")
    return images[:, None], labels


def load_fashion_mnist(data_dir=None) -> Dataset:
    """Fashion-MNIST from the official IDX files at its own 28x28: a sixth of every class of the
    training file held out as validation (seed 0), the official test file as test; crop padding 2."""
    folder = fashion_mnist_folder(data_dir)
    train_x, train_y = _fashion_mnist_pair(folder, "train")
    test_x, test_y = _fashion_mnist_pair(folder, "t10k")
    keep, hold = _stratified_split(train_y, FASHION_MNIST_VALID_SHARE, SPLIT_SEED)
    if not len(keep) or not len(hold) or not len(test_y):
        raise _fashion_mnist_error(f"the files in {folder} hold too few images to split "
                                   f"({len(train_y)} training, {len(test_y)} test)")
    mean, std = _channel_stats(train_x[keep])
    return Dataset("fashion-mnist", _split(train_x, train_y, keep), _split(train_x, train_y, hold),
                   _split(test_x, test_y, np.arange(len(test_y))), 10, mean, std, crop_pad=2)


# ----------------------------------------------------------------------------- what a protocol changes
def resample_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, C, size, size] by area averaging (each output pixel the mean
    of the input pixels its area covers), rounded to the nearest integer. For shrinking."""
    chunks = [F.interpolate(chunk.float(), size=(size, size), mode="area").round().clamp(0, 255).to(torch.uint8)
              for chunk in images.split(8192)]
    return torch.cat(chunks) if chunks else images.new_zeros((0, images.shape[1], size, size))


def train_subset_order(labels: np.ndarray, seed: int = SUBSET_SEED) -> np.ndarray:
    """Every index of `labels` in an order whose first n, for every n, are a stratified subset: each
    class is shuffled (seeded), its k-th image gets the position (k + 1/2) / (its class size), and the
    images are sorted by position (ties by class). The first n hold each class's share of n to within
    one image, exactly n * share when that is whole, and a smaller n's subset is inside a larger one's."""
    rng = np.random.default_rng(seed)
    position = np.empty(len(labels))
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        position[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.lexsort((labels, position))


def check_input_size(size: int, native: int, name: str) -> None:
    """ConfigError unless `size` is a side the network takes (a multiple of 4) and a shrink of `native`."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 4 <= size <= native or size % 4:
        raise ConfigError(f"input_size {size!r}: {name} images are resampled to a side that is a multiple "
                          f"of 4 from 4 to their own {native}")


def _with_train_size(dataset: Dataset, n: int) -> Dataset:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"train_size must be a whole number of at least 1, got {n!r}")
    if n > len(dataset.train):
        raise DatasetError(f"train_size {n} is larger than the {dataset.name} train split "
                           f"({len(dataset.train)} images)")
    labels = dataset.train.labels.cpu().numpy()
    keep = torch.from_numpy(np.sort(train_subset_order(labels)[:n]))
    train = ImageSplit(dataset.train.images[keep], dataset.train.labels[keep])
    return Dataset(dataset.name, train, dataset.valid, dataset.test, dataset.num_classes, dataset.mean,
                   dataset.std, dataset.crop_pad)


def _with_input_size(dataset: Dataset, size: int) -> Dataset:
    native = dataset.image_size
    check_input_size(size, native, dataset.name)
    splits = [ImageSplit(resample_images(s.images, size), s.labels) for s in (dataset.train, dataset.valid, dataset.test)]
    return Dataset(dataset.name, *splits, dataset.num_classes, dataset.mean, dataset.std,
                   crop_pad=int(round(dataset.crop_pad * size / native)))


def _load_native(name: str, data_dir=None) -> Dataset:
    if name == "digits":
        return load_digits()
    if name in ("cifar10", "cifar100"):
        return load_cifar(name, data_dir)
    if name == "tinyimagenet":
        return load_tinyimagenet(data_dir)
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def load_dataset(name: str, data_dir=None, input_size: int | None = None, train_size: int | None = None) -> Dataset:
    """Load a dataset by name (see the module docstring for the splits). input_size: resample every
    split's images to this side (pixels; a multiple of 4, at most the native side); train_size: keep
    this many training images, a nested stratified subset. With either, mean and std are those of the
    resulting train split. DatasetError on missing or bad files, ConfigError on a bad size."""
    dataset = _load_native(name, data_dir)
    if input_size is None and train_size is None:
        return dataset
    if input_size is not None:  # checked before the subset, so that a bad size fails before any work
        check_input_size(input_size, PROFILES[name].image_size, name)
    if train_size is not None:
        dataset = _with_train_size(dataset, train_size)
    if input_size is not None:
        dataset = _with_input_size(dataset, input_size)
    mean, std = _channel_stats(dataset.train.images.numpy())
    return Dataset(dataset.name, dataset.train, dataset.valid, dataset.test, dataset.num_classes, mean, std,
                   dataset.crop_pad)


def load_for_protocol(protocol, data_dir=None) -> Dataset:
    """The data a protocol trains and scores on: its dataset with its input_size and train_size applied
    (load_dataset with the protocol's fields; jobs.protocol_dataset makes the same call and keeps one
    copy per process)."""
    return load_dataset(protocol.dataset, data_dir, input_size=protocol.input_size, train_size=protocol.train_size)
