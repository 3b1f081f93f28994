"""The fast training step changes nothing but the time: the fused LIF, the in-place BatchNorm and
the epoch loop that never waits give, bit for bit, what spikingjelly's LIFNode, the first
BatchNorm and the first loop give (snnbench.reference holds those)."""
import pytest
import torch

from snnbench.data import load_digits
from snnbench.protocols import get_protocol
from snnbench.reference import (ReferenceTimeBatchNorm2d, reference_lif, reference_network,
                                reference_train_epoch)
from snnbench.snn import LIF, TimeBatchNorm2d, build_network, make_lif
from snnbench.train import train_epoch, steps_per_epoch

FW_CELL, BW_CELL = "0303 0030 0003 0000", "0302 0030 3003 0000"


def _run_lif(module, x0, weights, chunks):
    """Feed x0 in time chunks (membrane carried between calls), backprop a weighted sum."""
    x = x0.clone().requires_grad_()
    outs, start = [], 0
    for size in chunks:
        outs.append(module(x[start:start + size]))
        start += size
    out = torch.cat(outs)
    (out * weights).sum().backward()
    return out.detach(), x.grad, module.v.detach()


@pytest.mark.parametrize("chunks", [[5], [1, 1, 1, 1, 1], [2, 3]])
def test_fused_lif_equals_spikingjelly_lifnode_bit_for_bit(chunks):
    torch.manual_seed(0)
    x0 = torch.randn(5, 6, 3, 4, 4) * 2
    weights = torch.randn_like(x0)
    fast = _run_lif(make_lif(), x0, weights, chunks)
    plain = _run_lif(reference_lif(), x0, weights, chunks)
    assert isinstance(make_lif(), LIF)
    assert fast[0].sum() > 0 and (fast[0] == 0).any()  # some neurons fire, some do not
    for a, b in zip(fast, plain):
        assert torch.equal(a, b)


def test_fused_lif_passes_no_gradient_where_none_arrives():
    """Spikes of a call that nothing uses (the authors' graph discards the last backward edge
    output) and a membrane nobody reads: the gradient of x is that of the spikes used."""
    torch.manual_seed(1)
    x0 = torch.randn(4, 3, 5) * 2
    results = []
    for module in (make_lif(), reference_lif()):
        x = x0.clone().requires_grad_()
        used = module(x[:2])
        module(x[2:])  # spikes and membrane of this call reach no loss
        used.sum().backward()
        results.append(x.grad)
    assert torch.equal(*results)
    assert torch.count_nonzero(results[0][2:]) == 0


@pytest.mark.parametrize("per_timestep", [False, True])
@pytest.mark.parametrize("steps", [1, 5])
def test_in_place_batchnorm_equals_first_batchnorm(per_timestep, steps):
    torch.manual_seed(2)
    fast = TimeBatchNorm2d(4, 5, per_timestep)
    plain = ReferenceTimeBatchNorm2d(4, 5, per_timestep)
    with torch.no_grad():
        for bn in (fast, plain):
            bn.weight.copy_(torch.linspace(0.5, 1.5, 4))
            bn.bias.copy_(torch.linspace(-0.2, 0.3, 4))
    x0 = torch.randn(steps, 8, 4, 3, 3) * 3 + 1
    grads = []
    for bn in (fast, plain):
        bn.train()
        x = x0.clone().requires_grad_()
        out = bn(x, 5 - steps)
        (out * torch.arange(out.numel()).view_as(out).float().sin()).sum().backward()
        bn.eval()
        grads.append((out.detach(), x.grad, bn.weight.grad, bn.bias.grad, bn.running_mean.clone(),
                      bn.running_var.clone(), bn(x0, 5 - steps).detach()))
    for a, b in zip(*grads):
        assert torch.equal(a, b)


@pytest.mark.parametrize("cell", [FW_CELL, BW_CELL])
@pytest.mark.parametrize("bn_stats", ["per_timestep", "shared"])
def test_fast_epochs_equal_the_first_trainer(cell, bn_stats):
    """Two epochs of digits-cpu (shared or per-timestep BatchNorm statistics) from the same start:
    same loss, accuracy, weights, running statistics and generator state."""
    protocol = get_protocol("digits-cpu", bn_stats=bn_stats)
    dataset = load_digits()
    total = protocol.epochs * steps_per_epoch(len(dataset.train), protocol.batch_size)
    fast = build_network(cell, protocol.network_profile(), 0)
    plain = reference_network(fast)
    outcome = {}
    for name, net, epoch in (("fast", fast, train_epoch), ("plain", plain, reference_train_epoch)):
        torch.manual_seed(7)  # dropout masks come from the global generator
        optimizer = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                                    weight_decay=protocol.weight_decay)
        generator = torch.Generator().manual_seed(3)
        step, results = 0, []
        for _ in range(2):
            loss, acc, step = epoch(net, dataset, protocol, optimizer, step, total, generator)
            results.append((loss, acc))
        outcome[name] = (results, step, generator.get_state(), net.state_dict())
    assert outcome["fast"][0] == outcome["plain"][0]
    assert outcome["fast"][1] == outcome["plain"][1]
    assert torch.equal(outcome["fast"][2], outcome["plain"][2])
    fast_state, plain_state = outcome["fast"][3], outcome["plain"][3]
    assert list(fast_state) == list(plain_state)
    for key in fast_state:
        assert torch.equal(fast_state[key], plain_state[key]), key


def test_fast_epoch_reports_divergence_in_the_same_epoch_as_the_first_loop():
    protocol = get_protocol("digits-cpu", epochs=3, width=4, batch_size=64, lr=float("inf"))
    dataset = load_digits()
    fast = build_network(FW_CELL, protocol.network_profile(), 0)
    plain = reference_network(fast)
    diverged_at = {}
    for name, net, epoch in (("fast", fast, train_epoch), ("plain", plain, reference_train_epoch)):
        torch.manual_seed(0)
        optimizer = torch.optim.SGD(net.parameters(), lr=protocol.lr)
        generator, step = torch.Generator().manual_seed(0), 0
        for e in range(3):
            outcome = epoch(net, dataset, protocol, optimizer, step, 60, generator)
            if outcome is None:
                diverged_at[name] = e
                break
            step = outcome[2]
    assert "plain" in diverged_at and diverged_at["fast"] == diverged_at["plain"]
