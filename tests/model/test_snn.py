"""The network: node equations and timing of backward edges, shapes and gradients at every profile."""
import pytest
import torch

from snnbench.snn import (PROFILES, SNASNet, SpikingCell, TimeBatchNorm2d, build_network, count_parameters,
                          get_profile, reset_state)
from snnbench.space import Cell


def _cell_outputs(matrix, x, seed=0):
    torch.manual_seed(seed)
    cell = SpikingCell(matrix, channels=4, timesteps=x.shape[0])
    cell.train()
    with torch.no_grad():
        return cell(x)


def test_backward_edge_has_no_effect_at_first_timestep():
    torch.manual_seed(1)
    x = torch.randn(4, 3, 4, 6, 6)
    fw_only = SpikingCell(Cell.from_text("0302 0030 0003 0000").canonical_matrix, 4, 4).train()
    with_bw = SpikingCell(Cell.from_text("0302 0030 3003 0000").canonical_matrix, 4, 4).train()
    missing, unexpected = with_bw.load_state_dict(fw_only.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("edge_ops.2_0.") for k in missing)  # same weights but the new edge
    with torch.no_grad():
        a, b = fw_only(x), with_bw(x)
    assert torch.equal(a[0], b[0])
    assert all(not torch.allclose(a[t], b[t], atol=1e-3) for t in range(1, 4))


def test_backward_skip_edge_adds_previous_node_value():
    """n_0[t] = x[t] + n_2[t-1] for a backward skip 2 -> 0: the cell output at t=1 uses it."""
    torch.manual_seed(2)
    x = torch.randn(3, 2, 2, 4, 4)
    # forward 0->1, 1->2, 0->3, 1->3 skips; backward 2->0 skip: n3[t] = 2 n0[t], n0[t] = x[t] + n0[t-1]
    out = _cell_outputs(Cell.from_text("0101 0011 1000 0000").canonical_matrix, x)
    n0 = [x[0], x[1] + x[0], x[2] + x[1] + x[0]]
    expected = torch.stack([2 * n for n in n0])
    assert torch.allclose(out, expected, atol=1e-6)


def test_fw_cell_gives_same_output_as_same_cell_met_in_bw_space():
    fw_cell = Cell.from_text("0324 0001 0003 0000")
    # the same network met in the bw space: nodes 1 and 2 relabelled, plus a backward edge out of a
    # node that pruning removes (node 2 -> 0 where 2 is unreachable) is impossible here, so relabel only
    bw_encoding = Cell.from_text("0234 0003 0001 0000")
    assert fw_cell.hash == bw_encoding.hash and bw_encoding.space == "fw"
    profile = get_profile("digits", width=4)
    x = torch.randn(3, 1, 8, 8)
    outs = []
    for cell in (fw_cell, bw_encoding):
        net = build_network(cell, profile, seed=5).train()
        torch.manual_seed(9)  # same dropout mask
        with torch.no_grad():
            reset_state(net)
            outs.append(net(x))
    assert torch.equal(outs[0], outs[1])


def test_multi_step_cell_equals_per_timestep_loop():
    """A forward-only cell processes all timesteps at once; the time loop (bw path) must agree."""
    torch.manual_seed(3)
    m = Cell.from_text("0303 0030 0003 0000").canonical_matrix
    x = torch.randn(4, 2, 3, 5, 5)
    torch.manual_seed(0)
    batched = SpikingCell(m, 3, 4)
    torch.manual_seed(0)
    looped = SpikingCell(m, 3, 4)
    looped.has_backward = True  # force the per-timestep path
    with torch.no_grad():
        assert torch.allclose(batched(x), looped(x), atol=1e-5)
        for a, b in zip(batched.buffers(), looped.buffers()):
            assert torch.allclose(a, b, atol=1e-6)  # same running statistics after the pass


@pytest.mark.parametrize("per_timestep", [False, True])
def test_time_batchnorm_normalises_each_timestep_with_its_own_batch(per_timestep):
    bn = TimeBatchNorm2d(2, timesteps=3, per_timestep=per_timestep).train()
    x = torch.randn(3, 8, 2, 4, 4) * torch.tensor([1.0, 5.0, 9.0]).view(3, 1, 1, 1, 1) + 3
    y = bn(x)
    for t in range(3):
        ref = torch.nn.functional.batch_norm(x[t], None, None, training=True)
        assert torch.allclose(y[t], ref, atol=1e-5)
    # the shared running mean equals three sequential updates with momentum 0.1
    if not per_timestep:
        r = torch.zeros(2)
        for t in range(3):
            r = 0.9 * r + 0.1 * x[t].mean(dim=(0, 2, 3))
        assert torch.allclose(bn.running_mean, r, atol=1e-5)
    else:
        assert bn.running_mean.shape == (3, 2)


def _cells_using_every_op_both_ways():
    return [Cell.from_text("0102 0034 0000 0000"), Cell.from_text("0301 0020 0004 0000"),  # forward 1..4
            Cell.from_text("0301 0020 1000 0200"), Cell.from_text("0101 0010 3000 0400")]  # backward 1..4


@pytest.mark.parametrize("profile_name", list(PROFILES))
def test_network_runs_forward_and_backward_at_every_profile(profile_name):
    profile = get_profile(profile_name)
    batch = 2
    x = torch.randn(batch, profile.in_channels, profile.image_size, profile.image_size)
    cells = _cells_using_every_op_both_ways() if profile_name == "digits" else _cells_using_every_op_both_ways()[2:3]
    if profile_name != "digits":  # large profiles: one cell with a backward conv and a forward avgpool is enough
        cells = [Cell.from_text("0304 0020 3000 0000")]
    for cell in cells:
        net = build_network(cell, profile, seed=0).train()
        out = net(x)
        assert out.shape == (batch, profile.num_classes)
        out.sum().backward()
        grad = net.stem[0].weight.grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_every_op_code_in_both_directions_is_covered():
    codes = {(d, op) for c in _cells_using_every_op_both_ways() for _, _, d, op in c.edges()}
    for op in ("skip", "conv1x1", "conv3x3", "avgpool"):
        assert ("forward", op) in codes and ("backward", op) in codes


def test_pruned_edges_are_not_built():
    net = build_network(Cell.from_text("0203 0000 0000 0000"), get_profile("digits"), seed=0)
    assert list(net.cell1.edge_ops.keys()) == ["0_3"]
    assert count_parameters(net) == count_parameters(build_network(Cell.from_text("0003 0000 0000 0000"),
                                                                   get_profile("digits"), seed=0))


def test_lif_state_is_reset_between_batches():
    net = build_network(Cell.from_text("0303 0030 0003 0000"), get_profile("digits", width=4), seed=0).eval()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        reset_state(net)
        first = net(x)
        net(torch.randn(4, 1, 8, 8) * 5)
        reset_state(net)
        again = net(x)
    assert torch.equal(first, again)


def test_paper_profiles_keep_authors_sizes():
    assert (PROFILES["cifar10"].width, PROFILES["cifar10"].hidden, PROFILES["cifar10"].vote) == (256, 1024, 10)
    assert (PROFILES["cifar100"].width, PROFILES["cifar100"].vote) == (128, 5)
    t = PROFILES["tinyimagenet"]
    assert (t.width, t.hidden, t.stem_stride, t.image_size) == (128, 4096, 2, 64)
    net = SNASNet(Cell.from_text("0003 0000 0000 0000"), PROFILES["cifar100"])
    assert net.fc_in == 256 * 8 * 8 and torch.isclose(net.fc1.weight.std(), torch.tensor(0.01), rtol=0.05)
