"""Write a CIFAR-100 of random pixels in the official python format (cifar-100-python/train and
/test: pickled dicts with b'data' uint8 [N, 3072] in channel-major rows, b'fine_labels' and
b'coarse_labels' as lists of ints, b'filenames', b'batch_label'), so that the cifar100 build path
(snnbench.data.load_cifar) runs where the real files are not, e.g. on a lent machine with no network.
The labels cycle through the 100 classes, so every class has images in both files.

    python benchmarks/make_cifar100.py DIR [--train 50000] [--test 10000] [--seed 0]

Writes DIR/cifar-100-python/{train,test,meta}; `snnbench build --dataset cifar100 --data-dir DIR`
reads them.
"""
from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

CLASSES = 100
SUPERCLASSES = 20


def cifar100_batch(n: int, rng: np.random.Generator, label: str) -> dict:
    """One official-format batch of n random images, labels 0..99 in turn."""
    fine = np.arange(n) % CLASSES
    return {b"batch_label": label.encode(),
            b"filenames": [f"random_{label}_{i:05d}.png".encode() for i in range(n)],
            b"fine_labels": fine.tolist(),
            b"coarse_labels": (fine % SUPERCLASSES).tolist(),
            b"data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)}


def write_cifar100(root, n_train: int = 50_000, n_test: int = 10_000, seed: int = 0) -> Path:
    """Write root/cifar-100-python (train, test, meta); returns that folder."""
    if n_train < CLASSES or n_test < 1:
        raise SystemExit(f"--train must be at least {CLASSES} (one image per class) and --test at least 1")
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, n in (("train", n_train), ("test", n_test)):
        with open(folder / name, "wb") as f:
            pickle.dump(cifar100_batch(n, rng, name), f, protocol=2)
    meta = {b"fine_label_names": [f"class{i}".encode() for i in range(CLASSES)],
            b"coarse_label_names": [f"super{i}".encode() for i in range(SUPERCLASSES)]}
    with open(folder / "meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return folder


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="folder to write cifar-100-python/ into")
    ap.add_argument("--train", type=int, default=50_000, help="training images (official: 50,000)")
    ap.add_argument("--test", type=int, default=10_000, help="test images (official: 10,000)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(f"wrote {write_cifar100(a.root, a.train, a.test, a.seed)} ({a.train} train, {a.test} test images)")


if __name__ == "__main__":
    main()
