"""Training: learning on digits, determinism, synaptic-operation counting, divergence."""
import math

import torch
import torch.nn as nn

from snnbench.data import load_digits
from snnbench.protocols import get_protocol
from snnbench.space import Cell
from snnbench.train import conv_synaptic_ops, learning_rate, train_cell

FAST = dict(epochs=3, width=8, batch_size=32)


def test_a_few_epochs_on_digits_learn_well_above_chance():
    record = train_cell(Cell.from_text("0303 0030 0003 0000"), get_protocol("digits-cpu", **FAST), seed=0)
    assert record.epochs_run == 3 and len(record.valid_acc_curve) == 3 and len(record.epoch_time) == 3
    assert record.valid_acc > 40.0 and record.test_acc > 40.0  # chance is 10%
    assert record.train_loss[-1] < record.train_loss[0]
    assert 0 < record.firing_rate < 1 and record.sops > 0 and record.energy_pj > record.macs * 4.6
    assert set(record.firing_rates) >= {"lif1", "lif2", "lif3"}


def test_same_seed_gives_the_same_record_on_cpu():
    p = get_protocol("digits-cpu", epochs=1, width=4, batch_size=64)
    ds = load_digits()
    a = train_cell(Cell.from_text("0302 0030 3003 0000"), p, seed=3, dataset=ds).to_dict()
    b = train_cell(Cell.from_text("0302 0030 3003 0000"), p, seed=3, dataset=ds).to_dict()
    for key in ("train_time", "epoch_time"):
        a.pop(key), b.pop(key)
    assert a == b
    c = train_cell(Cell.from_text("0302 0030 3003 0000"), p, seed=4, dataset=ds)
    assert c.train_loss != a["train_loss"]


def test_conv_synaptic_ops_by_hand():
    conv = nn.Conv2d(2, 5, 3, padding=1, bias=False)
    spikes = torch.zeros(1, 2, 4, 4)
    spikes[0, 0, 0, 0] = 1   # corner: reaches the 2x2 outputs around it -> 4 positions
    spikes[0, 1, 1, 1] = 1   # interior: reaches 9 positions
    spikes[0, 0, 3, 1] = 1   # bottom edge: 6 positions
    assert conv_synaptic_ops(spikes, conv) == (4 + 9 + 6) * 5
    conv1 = nn.Conv2d(2, 7, 1, bias=False)
    assert conv_synaptic_ops(spikes, conv1) == 3 * 7


def test_cosine_schedule_with_warmup():
    assert math.isclose(learning_rate(0, 100, 10, 0.1, 0.01), 0.01)
    assert math.isclose(learning_rate(10, 100, 10, 0.1, 0.01), 0.1)
    assert math.isclose(learning_rate(99, 100, 10, 0.1, 0.01), 0.001)


def test_diverged_run_is_recorded_not_raised():
    p = get_protocol("digits-cpu", epochs=2, width=4, batch_size=64, lr=1e30)
    record = train_cell(Cell.from_text("0303 0030 0003 0000"), p, seed=0)
    assert record.diverged and record.epochs_run < 2 and math.isnan(record.test_acc)


def test_train_command_prints_the_record_a_build_would_store():
    """`snnbench train CELL --json` gives the record of train_cell for that cell, protocol and seed."""
    import json

    from click.testing import CliRunner

    from snnbench.cli import main
    result = CliRunner().invoke(main, ["train", "0303 0030 0003 0000", "--epochs", "2", "--seed", "3", "--json",
                                       "--device", "cpu"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    protocol = get_protocol("digits-cpu", epochs=2)
    record = train_cell(Cell.from_text("0303 0030 0003 0000"), protocol, seed=3)
    assert shown["protocol_hash"] == protocol.hash and shown["seed"] == 3
    for key in ("valid_acc", "test_acc", "valid_acc_curve", "train_loss", "n_params", "sops", "firing_rate"):
        assert shown[key] == getattr(record, key), key


def test_train_command_refuses_a_bad_cell_with_one_line():
    from click.testing import CliRunner

    from snnbench.cli import main
    result = CliRunner().invoke(main, ["train", "0303 0030 0003 000"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
