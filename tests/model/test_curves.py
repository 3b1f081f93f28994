"""Per-epoch records of a training run: validation loss every epoch, test accuracy and loss every
epoch by default, or every `test_every` epochs and at the named budgets (the half-way epoch and the
last), or at the budgets only (test_every 0), and none of the test passes changing the training or
its recorded time."""
import math

import pytest
from click.testing import CliRunner

from snnbench.cli import main
from snnbench.data import load_digits
from snnbench.errors import ConfigError
from snnbench.protocols import get_protocol
from snnbench.space import Cell
from snnbench.train import budget_epochs, epochs_with_test, train_cell

CELL = Cell.from_text("0303 0030 0003 0000")


def finite(values):
    """The epochs (1-based) with a value; the others must be None (not evaluated)."""
    assert all(v is None or math.isfinite(v) for v in values)
    return [i + 1 for i, v in enumerate(values) if v is not None]


def test_named_budgets_are_the_half_way_epoch_and_the_last():
    assert budget_epochs(12) == {"half": 6, "full": 12}
    assert budget_epochs(15) == {"half": 7, "full": 15}
    assert budget_epochs(1) == {"half": 1, "full": 1}
    assert epochs_with_test(get_protocol("fmnist-cpu")) == {3, 6}  # its test_every is 0
    assert epochs_with_test(get_protocol("fmnist-cpu", epochs=12)) == {6, 12}
    assert epochs_with_test(get_protocol("digits-cpu", epochs=3)) == {1, 2, 3}
    assert epochs_with_test(get_protocol("digits-cpu", epochs=6, test_every=2)) == {2, 3, 4, 6}
    assert epochs_with_test(get_protocol("digits-cpu", epochs=4, test_every=1)) == {1, 2, 3, 4}


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_test_every_must_be_a_whole_number_from_0(bad):
    with pytest.raises(ConfigError, match="test_every"):
        get_protocol("digits-cpu", test_every=bad)


def test_test_every_is_part_of_the_hash_only_when_set():
    assert get_protocol("digits-cpu").hash == "9f5be9bdfea7298f"
    assert get_protocol("digits-cpu", test_every=1).hash != get_protocol("digits-cpu").hash
    assert get_protocol("digits-cpu", test_every=0).hash != get_protocol("digits-cpu", test_every=1).hash
    assert "test_every" not in get_protocol("digits-cpu").identity()
    assert get_protocol("fmnist-cpu").identity()["test_every"] == 0


def test_a_run_records_losses_every_epoch_and_test_at_the_budgets():
    ds = load_digits()
    p = get_protocol("digits-cpu", epochs=4, width=4, batch_size=64)
    budgets = train_cell(CELL, p.with_(test_every=0), seed=0, dataset=ds)
    assert len(budgets.valid_loss_curve) == len(budgets.test_acc_curve) == len(budgets.test_loss_curve) == 4
    assert all(math.isfinite(v) and v > 0 for v in budgets.valid_loss_curve)
    assert finite(budgets.test_acc_curve) == finite(budgets.test_loss_curve) == [2, 4]
    assert budgets.test_acc == budgets.test_acc_curve[-1] and budgets.test_loss == budgets.test_loss_curve[-1]
    # validation loss falls as the network learns; the test loss after training is a cross-entropy
    assert budgets.valid_loss_curve[-1] < budgets.valid_loss_curve[0] and 0 < budgets.test_loss < 2.31

    every = train_cell(CELL, p, seed=0, dataset=ds)  # the default: every epoch
    assert finite(every.test_acc_curve) == [1, 2, 3, 4]
    # evaluating the test split more often changes nothing of the training, validation or spike counts
    for key in ("train_loss", "train_acc", "valid_acc_curve", "valid_loss_curve", "valid_acc", "test_acc",
                "test_loss", "firing_rate", "sops", "firing_rates"):
        assert getattr(every, key) == getattr(budgets, key), key
    assert every.test_acc_curve[1] == budgets.test_acc_curve[1]
    assert len(every.epoch_time) == 4 and every.train_time == pytest.approx(sum(every.epoch_time), rel=0.2)


def test_train_command_takes_test_every_and_prints_the_curves_as_json():
    import json
    out = CliRunner().invoke(main, ["train", "0303003000030000", "--epochs", "2", "--test-every", "1", "--json"])
    assert out.exit_code == 0, out.output
    record = json.loads(out.output)
    assert len(record["test_acc_curve"]) == 2 and None not in record["test_acc_curve"]
    assert len(record["valid_loss_curve"]) == 2
    assert json.loads(record["protocol_json"])["test_every"] == 1
    bad = CliRunner().invoke(main, ["train", "0303003000030000", "--test-every", "-1"])
    assert bad.exit_code == 2
