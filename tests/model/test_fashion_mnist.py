"""Fashion-MNIST: the IDX loader and its splits, the protocol fields input_size and train_size, and
every way in (Python API, jobs, builds, the CLI). Most tests read small files in the official IDX
format written here (600 training and 100 test images of 28x28, balanced labels): the loader holds
out a sixth of every class of the training file, as it holds out 10,000 of the official 60,000, so
such a file splits 500 train / 100 validation. The tests marked `real` read the installed files."""
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from snnbench.build import Build, BuildSpec, dataset_fingerprint
from snnbench.cli import main
from snnbench.data import (DATA_DIR_ENV, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, load_dataset, load_for_protocol,
                           resample_images, train_subset_order)
from snnbench.errors import ConfigError, DatasetError
from snnbench.model.jobs import run_job
from snnbench.profiles import DATASETS
from snnbench.snn import build_network, count_parameters
from snnbench.protocols import DEFAULT_PROTOCOLS, Protocol, default_protocol, get_protocol
from snnbench.space import Cell
from snnbench.train import train_cell

REAL = Path("/usr/share/datasets/fashion-mnist")
real = pytest.mark.skipif(not all((REAL / f"{name}.gz").is_file() for name in (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")),
    reason="the Fashion-MNIST files are not installed (apt-get install dataset-fashion-mnist)")
INSTALL_HINT = "apt-get install dataset-fashion-mnist"
CELL = "0302 0030 3003 0000"
TRAIN_CONSTANT, TEST_CONSTANT = 200, 137  # the value of the first image of each file


def write_idx(path: Path, array: np.ndarray, magic: int) -> Path:
    """An IDX file: magic number and dimensions as big-endian 32-bit integers, then the bytes."""
    header = int(magic).to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload, compresslevel=1) if path.suffix == ".gz" else payload)
    return path


def write_fashion_mnist(folder: Path, n_train=600, n_test=100, gz=True, seed=0) -> Path:
    """Random 28x28 images with balanced, shuffled labels; the first image of each file is constant."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n, constant in (("train", n_train, TRAIN_CONSTANT), ("t10k", n_test, TEST_CONSTANT)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        images[0] = constant
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, IDX_IMAGES_MAGIC)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, IDX_LABELS_MAGIC)
    return folder


def read_idx_payload(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def image_set(split) -> set:
    return {image.tobytes() for image in split.images.numpy()}


@pytest.fixture
def fixture_dir(tmp_path) -> Path:
    return write_fashion_mnist(tmp_path / "fm")


def cheap_protocol(**fields) -> Protocol:
    """fmnist-cpu made small enough for the 500-image fixture and a few seconds of CPU."""
    settings = dict(train_size=200, input_size=8, epochs=1, width=4, score_batch=16)
    settings.update(fields)
    return get_protocol("fmnist-cpu", **settings)


# ----------------------------------------------------------------------------- the loader
def test_fixture_loads_with_official_layout_and_labels(fixture_dir):
    ds = load_dataset("fashion-mnist", fixture_dir)
    assert ds.name == "fashion-mnist" and ds.num_classes == 10 and ds.crop_pad == 2
    assert ds.train.images.dtype == torch.uint8 and ds.train.images.shape == (500, 1, 28, 28)
    assert ds.valid.images.shape == (100, 1, 28, 28) and ds.test.images.shape == (100, 1, 28, 28)
    raw = read_idx_payload(fixture_dir / "t10k-images-idx3-ubyte.gz")
    pixels = np.frombuffer(raw, np.uint8, offset=16).reshape(100, 28, 28)
    labels = np.frombuffer(read_idx_payload(fixture_dir / "t10k-labels-idx1-ubyte.gz"), np.uint8, offset=8)
    assert torch.equal(ds.test.images[:, 0], torch.from_numpy(pixels.copy()))  # test split in file order
    assert ds.test.labels.dtype == torch.int64 and ds.test.labels.tolist() == labels.tolist()
    mean = ds.train.images.double().mean().item() / 255
    assert ds.mean[0] == pytest.approx(mean) and 0.2 < ds.std[0] < 0.4


def test_validation_is_a_sixth_of_every_class_of_the_training_file(fixture_dir):
    ds = load_dataset("fashion-mnist", fixture_dir)
    assert torch.bincount(ds.train.labels, minlength=10).tolist() == [50] * 10
    assert torch.bincount(ds.valid.labels, minlength=10).tolist() == [10] * 10
    raw = read_idx_payload(fixture_dir / "train-images-idx3-ubyte.gz")
    every = {img.tobytes() for img in np.frombuffer(raw, np.uint8, offset=16).reshape(600, 1, 28, 28)}
    train, valid = image_set(ds.train), image_set(ds.valid)
    assert not train & valid and train | valid == every


def test_fingerprint_is_stable_and_sees_one_changed_pixel(fixture_dir, tmp_path):
    first = load_dataset("fashion-mnist", fixture_dir)
    assert first.fingerprint() == load_dataset("fashion-mnist", fixture_dir).fingerprint()
    assert torch.equal(first.valid.images, load_dataset("fashion-mnist", fixture_dir).valid.images)
    path = fixture_dir / "t10k-images-idx3-ubyte.gz"
    payload = bytearray(read_idx_payload(path))
    payload[16 + 5 * 784 + 300] ^= 1
    path.write_bytes(gzip.compress(bytes(payload)))
    assert load_dataset("fashion-mnist", fixture_dir).fingerprint() != first.fingerprint()


def test_files_are_found_uncompressed_in_a_fashion_mnist_subfolder_and_through_the_environment(
        fixture_dir, tmp_path, monkeypatch):
    plain = write_fashion_mnist(tmp_path / "data" / "fashion-mnist", gz=False)
    expected = load_dataset("fashion-mnist", fixture_dir).fingerprint()
    assert load_dataset("fashion-mnist", plain).fingerprint() == expected
    assert load_dataset("fashion-mnist", tmp_path / "data").fingerprint() == expected
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    assert load_dataset("fashion-mnist").fingerprint() == expected
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "nowhere"))  # an explicit folder comes first
    assert load_dataset("fashion-mnist", fixture_dir).fingerprint() == expected


# ----------------------------------------------------------------------------- bad files
def _truncate_gzip_stream(folder):
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    return path.name, "truncated"


def _truncate_idx_payload(folder):
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(read_idx_payload(path)[:-100]))
    return path.name, "truncated"


def _garbage_magic(folder):
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x12\x34\x56\x78" + read_idx_payload(path)[4:]))
    return path.name, "magic number 305419896, expected 2049"


def _images_where_labels_belong(folder):
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes((folder / "t10k-images-idx3-ubyte.gz").read_bytes())
    return "t10k-labels-idx1-ubyte.gz", "magic number 2051, expected 2049"


def _not_gzip(folder):
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"this is no gzip file\n")
    return "t10k-labels-idx1-ubyte.gz", "cannot be read"


def _missing_file(folder):
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    return "t10k-labels-idx1-ubyte", "missing"


def _label_out_of_range(folder):
    labels = np.arange(100) % 10
    labels[7] = 10
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels, IDX_LABELS_MAGIC)
    return "t10k-labels-idx1-ubyte.gz", "label 10, outside 0..9"


def _counts_disagree(folder):
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(90) % 10, IDX_LABELS_MAGIC)
    return "t10k-images-idx3-ubyte.gz", "100 images but"


def _wrong_image_side(folder):
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((100, 32, 32), np.uint8), IDX_IMAGES_MAGIC)
    return "t10k-images-idx3-ubyte.gz", "32x32 images"


DAMAGE = [_truncate_gzip_stream, _truncate_idx_payload, _garbage_magic, _images_where_labels_belong, _not_gzip,
          _missing_file, _label_out_of_range, _counts_disagree, _wrong_image_side]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__.strip("_"))
def test_a_bad_file_is_one_line_naming_it_and_how_to_get_the_data(fixture_dir, damage):
    name, problem = damage(fixture_dir)
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", fixture_dir)
    message = str(err.value)
    assert "\n" not in message and name in message and problem in message, message
    assert INSTALL_HINT in message and "--data-dir" in message


def test_a_folder_without_the_files_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    for folder, problem in ((tmp_path, "no IDX files"), (tmp_path / "absent", "does not exist")):
        with pytest.raises(DatasetError, match=problem) as err:
            load_dataset("fashion-mnist", folder)
        assert INSTALL_HINT in str(err.value)


@pytest.mark.parametrize("damage", [_truncate_idx_payload, _garbage_magic, _missing_file],
                         ids=lambda f: f.__name__.strip("_"))
def test_cli_score_with_bad_files_says_so_in_one_line_and_exits_2(fixture_dir, damage):
    name, problem = damage(fixture_dir)
    result = CliRunner().invoke(main, ["score", CELL, "--dataset", "fashion-mnist", "--data-dir", str(fixture_dir)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: fashion-mnist:")
    assert name in lines[0] and problem in lines[0] and INSTALL_HINT in lines[0]


def test_the_command_line_program_reports_a_missing_folder_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "snnbench", "score", CELL, "--dataset", "fashion-mnist",
                          "--data-dir", str(tmp_path / "absent")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and INSTALL_HINT in out.stderr and "absent" in out.stderr


def test_build_accepts_fashion_mnist_and_reports_bad_files_in_one_line(tmp_path):
    result = CliRunner().invoke(main, ["build", "--space", "fw", "--dataset", "fashion-mnist", "--sample", "1",
                                       "--quiet", "--data-dir", str(tmp_path), "--out", str(tmp_path / "t.h5")])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "no IDX files" in result.stderr and INSTALL_HINT in result.stderr


# ----------------------------------------------------------------------------- input_size
def test_area_resampling_keeps_a_constant_image_constant_and_averages_blocks(fixture_dir):
    for size in (16, 8):
        ds = load_dataset("fashion-mnist", fixture_dir, input_size=size)
        assert ds.train.images.shape == (500, 1, size, size) and ds.test.images.shape == (100, 1, size, size)
        assert ds.valid.images.shape == (100, 1, size, size) and ds.train.images.dtype == torch.uint8
        assert (ds.test.images[0] == TEST_CONSTANT).all()
        assert ds.crop_pad == 1  # the padding shrinks with the image
    native = load_dataset("fashion-mnist", fixture_dir)
    small = load_dataset("fashion-mnist", fixture_dir, input_size=4)  # 7x7 blocks: plain means
    blocks = native.test.images.double().reshape(100, 1, 4, 7, 4, 7).mean(dim=(3, 5))
    assert torch.equal(small.test.images, blocks.round().to(torch.uint8))
    assert torch.equal(small.test.labels, native.test.labels)
    assert small.mean[0] == pytest.approx(small.train.images.double().mean().item() / 255)


def test_resample_images_on_constants_and_halves():
    constant = torch.full((3, 1, 28, 28), 77, dtype=torch.uint8)
    assert (resample_images(constant, 16) == 77).all() and (resample_images(constant, 8) == 77).all()
    halves = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    halves[..., 4:] = 255
    assert resample_images(halves, 4).tolist() == [[[[0, 0, 255, 255]] * 4]]


@pytest.mark.parametrize("size", [10, 32, 0, 2, 28.0])
def test_input_size_must_be_a_multiple_of_4_no_larger_than_the_images(fixture_dir, size):
    with pytest.raises(ConfigError, match="input_size"):
        get_protocol("fmnist-cpu", input_size=size)
    with pytest.raises(ConfigError, match="input_size"):
        load_dataset("fashion-mnist", fixture_dir, input_size=size)


def test_the_network_follows_input_size():
    assert get_protocol("fmnist-cpu").network_profile().image_size == 8
    assert get_protocol("fmnist-cpu", input_size=16).network_profile().image_size == 16
    assert get_protocol("fmnist-cpu").with_(input_size=None).validate().network_profile().image_size == 28
    assert get_protocol("digits-cpu", input_size=4).network_profile().image_size == 4


# ----------------------------------------------------------------------------- train_size
def test_train_size_subsets_are_stratified_nested_and_leave_valid_and_test_alone(fixture_dir):
    full = load_dataset("fashion-mnist", fixture_dir)
    subsets = {n: load_dataset("fashion-mnist", fixture_dir, train_size=n) for n in (100, 200, 300, 55, 500)}
    for n, ds in subsets.items():
        assert len(ds.train) == n
        counts = torch.bincount(ds.train.labels, minlength=10)
        assert counts.min() >= n // 10 and counts.max() <= -(-n // 10)  # each class its share, to one image
        assert torch.equal(ds.valid.images, full.valid.images) and torch.equal(ds.test.images, full.test.images)
        assert image_set(ds.train) <= image_set(full.train)
    assert image_set(subsets[55].train) < image_set(subsets[100].train) < image_set(subsets[200].train) \
        < image_set(subsets[300].train) < image_set(subsets[500].train) == image_set(full.train)
    assert subsets[500].fingerprint() == full.fingerprint()
    assert subsets[100].fingerprint() == load_dataset("fashion-mnist", fixture_dir, train_size=100).fingerprint()
    both = load_dataset("fashion-mnist", fixture_dir, input_size=8, train_size=100)
    assert torch.equal(both.train.labels, subsets[100].train.labels)


def test_train_subset_order_takes_each_class_in_proportion():
    labels = np.repeat(np.arange(3), [60, 30, 10])
    order = train_subset_order(labels)
    assert sorted(order.tolist()) == list(range(100))
    assert np.bincount(labels[order[:50]], minlength=3).tolist() == [30, 15, 5]
    assert np.bincount(labels[order[:10]], minlength=3).tolist() == [6, 3, 1]


def test_train_size_beyond_the_train_split_or_below_the_classes_is_refused(fixture_dir):
    with pytest.raises(DatasetError, match="larger than the fashion-mnist train split"):
        load_dataset("fashion-mnist", fixture_dir, train_size=501)
    with pytest.raises(ConfigError, match="train_size"):
        get_protocol("fmnist-cpu", train_size=9)
    with pytest.raises(ConfigError, match="train_size"):
        get_protocol("fmnist-cpu", train_size=1e4)


# ----------------------------------------------------------------------------- protocols
def test_protocols_without_the_new_fields_keep_their_hashes():
    assert get_protocol("digits-cpu").hash == "9f5be9bdfea7298f"
    assert get_protocol("digits-cpu").with_(graph="skip-idle").hash == "5f4b90695438e055"
    assert get_protocol("paper-cifar10").hash == "15cc5a9243607f79"
    assert get_protocol("paper-cifar100").hash == "811d2536f1a284fd"
    assert get_protocol("paper-tinyimagenet").hash == "c5b52d39546cd5d0"
    identity = get_protocol("digits-cpu").identity()
    assert "input_size" not in identity and "train_size" not in identity
    old_json = json.loads(get_protocol("digits-cpu").to_json())
    del old_json["input_size"], old_json["train_size"]  # a record written before the fields existed
    assert Protocol.from_json(json.dumps(old_json)).hash == "9f5be9bdfea7298f"


def test_input_size_and_train_size_are_part_of_the_hash_when_set():
    base = get_protocol("fmnist-cpu").with_(input_size=None, train_size=None)
    hashes = {base.hash, base.with_(input_size=16).hash, base.with_(input_size=8).hash,
              base.with_(train_size=10000).hash, base.with_(train_size=5000).hash,
              get_protocol("fmnist-cpu").hash, get_protocol("digits-cpu", input_size=4).hash,
              get_protocol("digits-cpu").hash}
    assert len(hashes) == 8
    fmnist = get_protocol("fmnist-cpu")
    assert fmnist.identity()["input_size"] == 8 and fmnist.identity()["train_size"] == 5000
    assert Protocol.from_json(fmnist.to_json()) == fmnist


def test_every_dataset_has_a_default_protocol_and_fashion_mnist_has_fmnist_cpu():
    assert set(DEFAULT_PROTOCOLS) == set(DATASETS) and "fashion-mnist" in DATASETS
    assert default_protocol("fashion-mnist") == "fmnist-cpu"
    p = get_protocol("fmnist-cpu")
    assert (p.dataset, p.input_size, p.train_size, p.width, p.timesteps, p.epochs, p.batch_size, p.lr) == \
        ("fashion-mnist", 8, 5000, 16, 5, 6, 32, 0.1)
    assert p.test_every == 0  # the test split at the half-way and last epochs
    # the hash of the study's confirmation runs of s8-n5k-e6-C16 (benchmarks/fmnist_confirm.jsonl; its
    # first runs, made before test_every existed, tested at the same epochs and record the hash without it)
    assert p.hash == "19551ea0ab906741" and p.with_(test_every=None).hash == "9a80b2707087a67f"
    assert (p.augmentation, p.bn_stats, p.classifier_init, p.score_batch, p.score_repeat) == \
        ("none", "per_timestep", "fan_in", 64, 2)
    profile = p.network_profile()
    assert (profile.in_channels, profile.num_classes, profile.hidden, profile.vote) == (1, 10, 256, 5)


# ----------------------------------------------------------------------------- every way in
def test_jobs_score_and_train_on_the_protocols_data(fixture_dir):
    p = cheap_protocol()
    score = run_job("score", Cell.parse(CELL).hash, p.to_json(), 0, data_dir=str(fixture_dir), device="cpu")
    assert np.isfinite(score["hd"]) and score["protocol_hash"] == p.hash
    train = run_job("train", Cell.parse(CELL).hash, p.to_json(), 0, data_dir=str(fixture_dir), device="cpu")
    assert train["epochs_run"] == 1 and 0 <= train["valid_acc"] <= 100
    # the network is sized for 8x8 (fc1 would not fit 28x28 or 16x16 images)
    assert train["n_params"] == score["n_params"] == count_parameters(build_network(Cell.parse(CELL),
                                                                                    p.network_profile(), 0))


def test_training_is_deterministic_and_refuses_data_of_another_size(fixture_dir):
    p = cheap_protocol()
    a = train_cell(Cell.parse(CELL), p, seed=1, data_dir=fixture_dir).to_dict()
    b = train_cell(Cell.parse(CELL), p, seed=1, data_dir=fixture_dir).to_dict()
    for key in ("train_time", "epoch_time"):
        a.pop(key), b.pop(key)
    assert a == b
    with pytest.raises(ConfigError, match="load_for_protocol"):
        train_cell(Cell.parse(CELL), p, dataset=load_dataset("fashion-mnist", fixture_dir))
    with pytest.raises(ConfigError, match="200"):
        train_cell(Cell.parse(CELL), p, dataset=load_dataset("fashion-mnist", fixture_dir, input_size=8))


def test_a_build_records_the_fingerprint_of_the_resampled_subsetted_data(fixture_dir, tmp_path):
    import snnbench
    p = cheap_protocol()
    expected = load_for_protocol(p, fixture_dir).fingerprint()
    assert dataset_fingerprint(p.to_json(), fixture_dir) == expected
    assert expected != load_dataset("fashion-mnist", fixture_dir).fingerprint()
    assert expected != load_for_protocol(p.with_(train_size=100), fixture_dir).fingerprint()
    assert expected != load_for_protocol(p.with_(input_size=16), fixture_dir).fingerprint()
    spec = BuildSpec("fw", p, tmp_path / "fm.h5", sample=1, seeds=(0,), scores_only=True, data_dir=str(fixture_dir))
    summary = Build(spec, workers=1, progress=False, command="tests/test_fashion_mnist.py").run()
    assert summary.complete, summary.line()
    with snnbench.open(tmp_path / "fm.h5") as bench:
        assert bench.metadata["dataset"] == "fashion-mnist" and bench.metadata["dataset_fingerprint"] == expected
        assert bench.protocol == p
    result = CliRunner().invoke(main, ["verify", str(tmp_path / "fm.h5"), "--quick"])
    assert result.exit_code == 0, result.output


def test_a_dry_run_estimates_on_the_protocols_data(fixture_dir):
    """The calibration trains on the resampled images and counts the steps of the protocol's subset
    (it once loaded the native 28x28 files and stopped with an error)."""
    from snnbench.cost import estimate
    p = cheap_protocol(epochs=2, batch_size=32, test_every=0)
    spec = BuildSpec("fw", p, "fm.h5", sample=1, seeds=(0,), score_sample=2, data_dir=str(fixture_dir))
    cost = estimate(spec, device="cpu")
    data = load_for_protocol(p, fixture_dir)
    assert cost.steps_per_epoch == -(-p.train_size // 32) == -(-len(data.train) // 32)
    assert (cost.valid_batches, cost.test_batches, cost.test_passes) == (1, 1, 2)
    assert cost.calibration.step_s > 0 and cost.train_job_s > 0


# ----------------------------------------------------------------------------- the installed files
@real
def test_real_files_split_50000_10000_10000_with_balanced_classes():
    ds = load_dataset("fashion-mnist", REAL)
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (50000, 10000, 10000)
    assert ds.train.images.shape[1:] == (1, 28, 28)
    assert torch.bincount(ds.train.labels, minlength=10).tolist() == [5000] * 10
    assert torch.bincount(ds.valid.labels, minlength=10).tolist() == [1000] * 10
    assert torch.bincount(ds.test.labels, minlength=10).tolist() == [1000] * 10
    assert 0.27 < ds.mean[0] < 0.30 and 0.34 < ds.std[0] < 0.37
    small = load_dataset("fashion-mnist", REAL, input_size=16, train_size=10000)
    assert small.train.images.shape == (10000, 1, 16, 16) and len(small.valid) == 10000
    assert torch.bincount(small.train.labels, minlength=10).tolist() == [1000] * 10
    assert image_set(load_dataset("fashion-mnist", REAL, input_size=16, train_size=5000).train) < image_set(small.train)


@real
def test_a_short_run_on_real_fashion_mnist_learns_well_above_chance():
    # batch 16: twice the steps of batch 32 in 3 epochs (about 57% instead of 46% valid for this cell)
    p = get_protocol("fmnist-cpu", train_size=1000, input_size=8, epochs=3, width=8, batch_size=16)
    record = train_cell(Cell.from_text("0303 0030 0003 0000"), p, seed=0, data_dir=REAL)
    assert record.epochs_run == 3 and not record.diverged
    assert record.valid_acc > 40.0 and record.test_acc > 40.0  # chance is 10%, on 10,000 images each
    assert record.train_loss[-1] < record.train_loss[0]


@real
def test_cli_scores_a_cell_on_the_real_files():
    result = CliRunner().invoke(main, ["score", CELL, "--dataset", "fashion-mnist", "--data-dir", str(REAL)])
    assert result.exit_code == 0, result.output
    assert "SAHD" in result.output and "params" in result.output
