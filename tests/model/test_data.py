"""Dataset loaders on the bundled digits and on small files generated here in the official formats."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from snnbench.data import load_dataset, random_crop_flip
from snnbench.errors import DatasetError


def _write_cifar10(root, per_batch=20):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = [int(v) for v in np.arange(per_batch) % 10]
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * per_batch}, f)
    return folder


def _write_cifar100(root, n_train=200, n_test=100):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name, n in (("train", n_train), ("test", n_test)):
        with open(folder / name, "wb") as f:
            pickle.dump({b"filenames": [b"x.png"] * n, b"fine_labels": [int(v) for v in np.arange(n) % 100],
                         b"coarse_labels": [0] * n, b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}, f)
    return folder


def _write_tinyimagenet(root, classes=("n01443537", "n01629819"), per_class=10, val_per_class=3):
    import torch
    from torchvision.io import write_jpeg

    def save(path):
        write_jpeg(torch.from_numpy(rng.integers(0, 256, (3, 64, 64), dtype=np.uint8)), str(path))

    base = root / "tiny-imagenet-200"
    rng = np.random.default_rng(2)
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(classes) + "\n")
    lines = []
    for w in classes:
        folder = base / "train" / w / "images"
        folder.mkdir(parents=True)
        for i in range(per_class):
            save(folder / f"{w}_{i}.JPEG")
        for i in range(val_per_class):
            name = f"val_{w}_{i}.JPEG"
            save(base / "val" / "images" / name)
            lines.append(f"{name}\t{w}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return base


def test_digits_split_is_fixed_stratified_and_disjoint():
    ds = load_dataset("digits")
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (1079, 359, 359)
    assert ds.train.images.dtype == torch.uint8 and ds.train.images.shape[1:] == (1, 8, 8)
    for split in (ds.train, ds.valid, ds.test):
        counts = torch.bincount(split.labels, minlength=10)
        assert counts.min() >= 0.08 * len(split)  # every class present in its share
    assert ds.fingerprint() == load_dataset("digits").fingerprint()
    all_imgs = torch.cat([ds.train.images, ds.valid.images, ds.test.images]).reshape(-1, 64)
    assert all_imgs.shape[0] == 1797


def test_cifar10_loader_reads_official_batches(tmp_path):
    _write_cifar10(tmp_path)
    ds = load_dataset("cifar10", tmp_path)
    assert ds.num_classes == 10 and ds.train.images.shape[1:] == (3, 32, 32)
    assert len(ds.train) + len(ds.valid) == 100 and len(ds.valid) == 10 and len(ds.test) == 20
    assert torch.bincount(ds.valid.labels, minlength=10).tolist() == [1] * 10
    # the pixel layout is the official one: row-major 1024 red, then green, then blue
    raw = pickle.load(open(tmp_path / "cifar-10-batches-py" / "test_batch", "rb"), encoding="bytes")
    assert torch.equal(ds.test.images[0, 1].flatten(), torch.from_numpy(raw[b"data"][0][1024:2048]))
    assert ds.test.labels.tolist() == raw[b"labels"]


def test_cifar100_loader_uses_fine_labels(tmp_path):
    _write_cifar100(tmp_path)
    ds = load_dataset("cifar100", tmp_path / "cifar-100-python")
    assert ds.num_classes == 100 and len(ds.test) == 100 and sorted(ds.test.labels.tolist()) == list(range(100))
    assert len(ds.train) + len(ds.valid) == 200


def test_tinyimagenet_loader_reads_official_layout(tmp_path):
    _write_tinyimagenet(tmp_path)
    ds = load_dataset("tinyimagenet", tmp_path)
    assert ds.num_classes == 2 and ds.train.images.shape[1:] == (3, 64, 64)
    assert len(ds.train) + len(ds.valid) == 20 and len(ds.test) == 6
    assert ds.test.labels.tolist() == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "tinyimagenet"])
def test_missing_dataset_directory_is_a_clear_error(tmp_path, name):
    with pytest.raises(DatasetError, match="expected"):
        load_dataset(name, tmp_path)


def test_malformed_cifar_file_is_a_clear_error(tmp_path):
    folder = _write_cifar10(tmp_path)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="data_batch_3"):
        load_dataset("cifar10", tmp_path)


def test_cli_reports_missing_dataset_in_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "snnbench.cli", "score", "0001 0000 0000 0000", "--dataset",
                        "cifar10", "--data-dir", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "cifar-10-batches-py" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_batched_crop_and_flip_matches_per_image_reference():
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (8, 3, 6, 6), dtype=torch.uint8, generator=g)
    out = random_crop_flip(imgs, 2, True, torch.Generator().manual_seed(1))
    g2 = torch.Generator().manual_seed(1)
    dy = torch.randint(0, 5, (8,), generator=g2)
    dx = torch.randint(0, 5, (8,), generator=g2)
    mirror = torch.rand(8, generator=g2) < 0.5
    padded = torch.nn.functional.pad(imgs, (2, 2, 2, 2))
    for i in range(8):
        ref = padded[i, :, dy[i]:dy[i] + 6, dx[i]:dx[i] + 6]
        if mirror[i]:
            ref = ref.flip(-1)
        assert torch.equal(out[i], ref)


def test_tinyimagenet_reads_a_greyscale_jpeg_as_rgb_and_names_a_damaged_one(tmp_path):
    import torch
    from torchvision.io import write_jpeg
    from snnbench.errors import DatasetError
    from snnbench.model.data import _read_rgb
    grey = tmp_path / "grey.JPEG"
    write_jpeg(torch.full((1, 64, 64), 128, dtype=torch.uint8), str(grey))
    image = _read_rgb(grey)
    assert image.shape == (3, 64, 64) and image.dtype == np.uint8
    assert (image[0] == image[1]).all() and (image[1] == image[2]).all()
    damaged = tmp_path / "damaged.JPEG"
    damaged.write_bytes(b"\xff\xd8\xff not a jpeg")
    with pytest.raises(DatasetError, match="damaged.JPEG"):
        _read_rgb(damaged)
