"""The training step's GPU settings (Protocol.autocast, compile, device_augment): recorded in the
protocol, in its hash only when set (every protocol recorded before keeps its hash), validated, run
on the CPU too, and taken by `snnbench build` and `snnbench train`."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from snnbench.cli import main
from snnbench.data import load_digits
from snnbench.errors import ConfigError
from snnbench.protocols import PROTOCOLS, STEP_DEFAULTS, Protocol, get_protocol
from snnbench.snn import build_network
from snnbench.space import Cell
from snnbench.train import (SHUFFLE_SEED, train_epoch, conv_synaptic_ops, precision, steps_per_epoch,
                            train_cell)

REPO = Path(__file__).resolve().parents[2]
FW_CELL, BW_CELL = "0303 0030 0003 0000", "0302 0030 3003 0000"
WALL_TIMES = ("epoch_time", "train_time")

# The hashes these protocols had before the step settings existed (computed on the tree before them).
HASHES_BEFORE = {"paper-cifar10": "15cc5a9243607f79", "paper-cifar100": "811d2536f1a284fd",
                 "paper-tinyimagenet": "c5b52d39546cd5d0", "digits-cpu": "9f5be9bdfea7298f"}
DIGITS_CPU_SKIP_IDLE = "5f4b90695438e055"


def without_wall_times(record) -> dict:
    return {k: v for k, v in record.to_dict().items() if k not in WALL_TIMES}


@pytest.fixture(scope="module")
def digits():
    return load_digits()


# ----------------------------------------------------------------------------- identity
def test_step_settings_at_their_defaults_keep_every_recorded_protocol_hash():
    for name, expected in HASHES_BEFORE.items():
        assert PROTOCOLS[name].hash == expected, name
    assert get_protocol("digits-cpu", graph="skip-idle").hash == DIGITS_CPU_SKIP_IDLE
    for name, protocol in PROTOCOLS.items():
        assert not set(STEP_DEFAULTS) & set(protocol.identity()), name
        explicit = protocol.with_(autocast="off", compile=False, device_augment=False)
        assert explicit.hash == protocol.hash, name


def test_each_step_setting_enters_the_hash_when_set():
    base = get_protocol("paper-cifar100")
    changed = {"autocast": "bf16", "compile": True, "device_augment": True}
    hashes = {base.hash}
    for key, value in changed.items():
        protocol = get_protocol("paper-cifar100", **{key: value})
        assert protocol.identity()[key] == value
        hashes.add(protocol.hash)
    hashes.add(get_protocol("paper-cifar100", **changed).hash)
    assert len(hashes) == 5


def test_step_settings_survive_the_protocol_json_and_old_json_reads_as_the_defaults():
    protocol = get_protocol("paper-cifar100", autocast="bf16", compile=True, device_augment=True)
    assert Protocol.from_json(protocol.to_json()) == protocol
    old = json.loads(get_protocol("digits-cpu").to_json())
    for key in STEP_DEFAULTS:
        del old[key]  # a protocol recorded before the settings existed
    assert Protocol.from_json(json.dumps(old)).hash == HASHES_BEFORE["digits-cpu"]


@pytest.mark.parametrize("changes, words", [
    (dict(autocast="fp16"), "autocast must be one of off, bf16"),
    (dict(autocast=None), "autocast must be one of off, bf16"),
    (dict(compile="yes"), "compile must be true or false"),
    (dict(device_augment=1), "device_augment must be true or false"),
])
def test_bad_step_settings_are_refused_with_what_to_give(changes, words):
    with pytest.raises(ConfigError, match=words):
        PROTOCOLS["paper-cifar100"].with_(**changes).validate()


def test_device_augment_needs_an_augmentation_to_draw():
    with pytest.raises(ConfigError, match="no augmentation to draw"):
        get_protocol("digits-cpu", device_augment=True)
    assert get_protocol("digits-cpu", augmentation="crop_flip", device_augment=True).device_augment


# ----------------------------------------------------------------------------- autocast
def test_bf16_autocast_runs_convolutions_in_bf16_and_membranes_in_float32():
    net = build_network(FW_CELL, get_protocol("digits-cpu").network_profile(), 0).train()
    seen = {}

    def note(name):
        def hook(_module, _inputs, out):
            seen.setdefault(name, out.dtype)  # returns nothing: the output stays as it is
        return hook
    net.stem[0].register_forward_hook(note("conv"))
    net.lif1.register_forward_hook(note("spikes"))
    with precision("bf16", "cpu"):
        logits = net(torch.randn(4, 1, 8, 8))
    assert seen == {"conv": torch.bfloat16, "spikes": torch.float32}
    assert net.lif1.v.dtype == torch.float32 and torch.isfinite(logits).all()
    with precision("off", "cpu"):
        assert net(torch.randn(4, 1, 8, 8)).dtype == torch.float32


BF16 = dict(epochs=2, autocast="bf16")  # bfloat16 is slow on a CPU without it: few epochs


@pytest.fixture(scope="module")
def bf16_record(digits):
    return train_cell(Cell.from_text(FW_CELL), get_protocol("digits-cpu", **BF16), seed=0, dataset=digits)


def test_synaptic_operations_are_counted_exactly_under_autocast():
    torch.manual_seed(3)
    conv = torch.nn.Conv2d(64, 8, 3, padding=1, bias=False)
    spikes = (torch.rand(4, 64, 6, 6) < 0.7).float()  # up to 576 spiking inputs per position
    exact = conv_synaptic_ops(spikes, conv)
    with precision("bf16", "cpu"):
        assert conv_synaptic_ops(spikes, conv) == exact


def test_a_short_bf16_run_on_digits_learns_above_chance(bf16_record):
    assert bf16_record.protocol_hash == get_protocol("digits-cpu", **BF16).hash
    assert bf16_record.protocol_hash != get_protocol("digits-cpu", epochs=2).hash
    assert bf16_record.valid_acc > 30.0 and bf16_record.test_acc > 30.0  # chance is 10%
    assert 0 < bf16_record.firing_rate < 1 and bf16_record.sops > 0


# ----------------------------------------------------------------------------- device_augment
def _flip_protocol(**changes):
    """digits-cpu with the flip augmentation (digits has no crop padding), cheap."""
    return get_protocol("digits-cpu", **{**dict(augmentation="crop_flip", epochs=2, width=4, batch_size=64), **changes})


def test_device_augment_draws_from_its_own_generator_not_the_shuffling_one(digits):
    protocol = _flip_protocol(device_augment=True)
    net = build_network(BW_CELL, protocol.network_profile(), 0)
    optimizer = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=0.9)
    shuffle, augment = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    total = steps_per_epoch(len(digits.train), protocol.batch_size)
    train_epoch(net, digits, protocol, optimizer, 0, total, shuffle, augment)
    only_shuffled = torch.Generator().manual_seed(1)
    torch.randperm(len(digits.train), generator=only_shuffled)  # the epoch's one draw for the order
    assert torch.equal(shuffle.get_state(), only_shuffled.get_state())
    assert not torch.equal(augment.get_state(), torch.Generator().manual_seed(2).get_state())


def test_a_device_augment_run_repeats_exactly_and_differs_from_the_cpu_draws(digits):
    cell = Cell.from_text(BW_CELL)
    on_device = [train_cell(cell, _flip_protocol(device_augment=True, epochs=1), seed=1, dataset=digits)
                 for _ in range(2)]
    on_cpu = train_cell(cell, _flip_protocol(epochs=1), seed=1, dataset=digits)
    assert without_wall_times(on_device[0]) == without_wall_times(on_device[1])
    assert on_device[0].train_loss != on_cpu.train_loss  # other flips
    assert on_device[0].protocol_hash != on_cpu.protocol_hash


def test_a_device_augment_run_resumes_from_its_checkpoint_to_the_same_record(tmp_path, digits):
    class Stop(Exception):
        pass

    def stop_after_first(record):
        if record.epochs_run == 1:
            raise Stop

    cell, protocol = Cell.from_text(FW_CELL), _flip_protocol(device_augment=True)
    whole = train_cell(cell, protocol, seed=2, dataset=digits)
    with pytest.raises(Stop):
        train_cell(cell, protocol, seed=2, dataset=digits, checkpoint_dir=tmp_path, on_epoch=stop_after_first)
    resumed = train_cell(cell, protocol, seed=2, dataset=digits, checkpoint_dir=tmp_path)
    assert without_wall_times(resumed) == without_wall_times(whole)


def test_without_device_augment_the_shuffling_generator_draws_the_augmentation_as_before(digits):
    """The default path: one CPU generator (SHUFFLE_SEED + seed) shuffles and flips."""
    protocol = _flip_protocol(epochs=1)
    record = train_cell(Cell.from_text(FW_CELL), protocol, seed=0, dataset=digits)
    net = build_network(FW_CELL, protocol.network_profile(), 0)
    optimizer = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                                weight_decay=protocol.weight_decay)
    total = steps_per_epoch(len(digits.train), protocol.batch_size)
    loss, acc, _ = train_epoch(net, digits, protocol, optimizer, 0, total, torch.Generator().manual_seed(SHUFFLE_SEED))
    assert (record.train_loss, record.train_acc) == ([loss], [acc])


# ----------------------------------------------------------------------------- compile
def test_compile_is_recorded_and_validated_without_compiling():
    protocol = get_protocol("digits-cpu", compile=True)
    assert protocol.identity()["compile"] is True and protocol.hash != HASHES_BEFORE["digits-cpu"]
    assert Protocol.from_json(protocol.to_json()).compile is True


# ----------------------------------------------------------------------------- the CLI
def _table_protocol(path) -> dict:
    import h5py
    with h5py.File(path, "r") as f:
        return {"json": json.loads(f.attrs["protocol_json"]), "hash": f.attrs["protocol_hash"]}


def test_build_records_autocast_and_compile_in_the_table_protocol(tmp_path):
    out = tmp_path / "t.h5"
    args = ["build", "--space", "fw", "--dataset", "digits", "--scores-only", "--sample", "2", "--device", "cpu",
            "--autocast", "bf16", "--compile", "--quiet", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    recorded = _table_protocol(out)
    assert recorded["json"]["autocast"] == "bf16" and recorded["json"]["compile"] is True
    assert recorded["hash"] == get_protocol("digits-cpu", autocast="bf16", compile=True).hash
    info = CliRunner().invoke(main, ["info", str(out)])
    assert info.exit_code == 0 and "autocast bf16, compiled" in info.output
    verified = CliRunner().invoke(main, ["verify", str(out)])
    assert verified.exit_code == 0, verified.output


def test_build_records_device_augment_on_a_dataset_with_augmentation(tmp_path):
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "make_cifar100.py"), str(tmp_path / "data"),
                    "--train", "1000", "--test", "100"], check=True, capture_output=True)
    out = tmp_path / "c.h5"
    args = ["build", "--space", "fw", "--dataset", "cifar100", "--data-dir", str(tmp_path / "data"),
            "--scores-only", "--sample", "1", "--width", "4", "--timesteps", "2", "--device", "cpu",
            "--device-augment", "--no-compile", "--autocast", "off", "--quiet", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    recorded = _table_protocol(out)
    assert recorded["json"]["device_augment"] is True and recorded["json"]["compile"] is False
    assert recorded["hash"] == get_protocol("paper-cifar100", width=4, timesteps=2, device_augment=True).hash
    assert "augmentation drawn on the device" in CliRunner().invoke(main, ["info", str(out)]).output


def test_device_augment_without_augmentation_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["build", "--space", "fw", "--dataset", "digits", "--sample", "1",
                                       "--device-augment", "--out", str(tmp_path / "t.h5")])
    assert result.exit_code == 2
    assert "no augmentation to draw" in result.output and len(result.output.strip().splitlines()) == 1


def test_train_command_takes_the_step_settings_and_repeats_a_bf16_run_exactly(bf16_record):
    result = CliRunner().invoke(main, ["train", FW_CELL, "--epochs", "2", "--autocast", "bf16", "--seed", "0",
                                       "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["protocol_hash"] == bf16_record.protocol_hash
    assert json.loads(shown["protocol_json"])["autocast"] == "bf16"
    for key, value in without_wall_times(bf16_record).items():  # a second run on the CPU: the same record
        assert shown[key] == value, key
