"""The LIF's C kernel (snnbench/model/lif_kernel.c) against the tensor expressions it replaces: the
same bits and the same memory layout for every input layout the network produces, the same trained
network, and the fallback where no kernel can be built."""
import dataclasses
import os
import subprocess
import sys

import pytest
import torch

from snnbench.model import lif_kernel, snn
from snnbench.model.data import ImageSplit, load_for_protocol
from snnbench.model.train import train_epoch
from snnbench.protocols import get_protocol
from snnbench.space import Cell

needs_kernel = pytest.mark.skipif(lif_kernel._compiler() is None, reason="no C compiler on this machine")


@pytest.fixture
def path(monkeypatch):
    """use(True | False): run _LIFSequence through the C kernel or through the tensor expressions."""
    def use(kernel: bool):
        monkeypatch.setattr(lif_kernel, "available", lambda: kernel)
    return use


def _inputs(kind, steps=4, batch=6, shape=(3, 5, 5)):
    """x_seq in one of the layouts the network hands a LIF layer, and a membrane v."""
    g = torch.Generator().manual_seed(7)
    if kind == "contiguous":
        x = torch.randn(steps, batch, *shape, generator=g) * 2
    elif kind == "batch-major":  # TimeBatchNorm2d's output: [T, B, ...] stored as [B, T, ...]
        x = (torch.randn(batch, steps, *shape, generator=g) * 2).transpose(0, 1)
    elif kind == "broadcast":  # the stem's output expanded over time
        x = (torch.randn(1, batch, *shape, generator=g) * 2).expand(steps, batch, *shape)
    elif kind == "slice":  # one timestep of a batch-major tensor (a backward cell's time loop)
        x = (torch.randn(batch, steps, *shape, generator=g) * 2).transpose(0, 1)[1:2]
    elif kind == "other":  # a layout the kernel does not take: the tensor expressions run
        x = (torch.randn(*shape[::-1], batch, steps, generator=g) * 2).permute(4, 3, 2, 1, 0)
    else:
        raise ValueError(kind)
    if kind == "contiguous":  # signed zeros, and charges exactly at the threshold
        x.view(-1)[::5] = 0.0
        x.view(-1)[1::7] = -0.0
        x.view(-1)[2::9] = snn.LIF_THRESHOLD * snn.LIF_TAU
    return x, torch.randn(batch, *shape, generator=g)


def _run(x, v, grad_spikes, grad_v, alpha=2.0):
    x = x.detach().requires_grad_()
    v = v.detach().requires_grad_()
    spikes, v_last = snn._LIFSequence.apply(x, v, snn.LIF_TAU, snn.LIF_THRESHOLD, alpha)
    pairs = [(o, g) for o, g in ((spikes, grad_spikes), (v_last, grad_v)) if g is not None]
    grads = torch.autograd.grad([o for o, _ in pairs], [x, v], [g for _, g in pairs], allow_unused=True)
    return [spikes, v_last, *grads]


@needs_kernel
@pytest.mark.parametrize("kind", ["contiguous", "batch-major", "broadcast", "slice", "other"])
@pytest.mark.parametrize("grads", ["spikes", "membrane", "both"])
@pytest.mark.parametrize("alpha", [2.0, 3.7])  # the network's ATan alpha is 2; 3.7 checks the surrogate's constants
def test_kernel_equals_tensor_expressions_bit_for_bit(path, kind, grads, alpha):
    x, v = _inputs(kind)
    g = torch.Generator().manual_seed(3)
    grad_spikes = torch.randn(x.shape, generator=g) * 100 if grads in ("spikes", "both") else None
    grad_v = torch.randn(v.shape, generator=g) if grads in ("membrane", "both") else None
    path(True)
    fast = _run(x, v, grad_spikes, grad_v, alpha)
    path(False)
    plain = _run(x, v, grad_spikes, grad_v, alpha)
    assert [t is None for t in fast] == [t is None for t in plain]
    for a, b in zip(fast, plain):
        if a is not None:
            assert a.shape == b.shape and a.stride() == b.stride()
            assert torch.equal(a.contiguous().view(torch.int32), b.contiguous().view(torch.int32))
    assert float(fast[0].detach().sum()) > 0, "some neurons must fire, or the comparison shows little"


@needs_kernel
def test_kernel_takes_the_layouts_the_network_gives():
    def layout(kind):
        x = _inputs(kind)[0]
        return lif_kernel.layout(x, torch.empty_like(x))
    assert layout("contiguous") == (1, 6 * 75)
    assert layout("batch-major") == (6, 75)
    assert layout("broadcast") == (1, 6 * 75)
    assert layout("other") is None


@needs_kernel
@pytest.mark.parametrize("cell", ["0303 0030 0003 0000", "0302 0030 3003 0000"])
def test_training_with_the_kernel_gives_the_same_network(path, cell):
    protocol = get_protocol("digits-cpu")
    ds = load_for_protocol(protocol)
    n = 6 * protocol.batch_size
    part = dataclasses.replace(ds, train=ImageSplit(ds.train.images[:n], ds.train.labels[:n]))
    states = []
    for kernel in (True, False):
        path(kernel)
        net = snn.build_network(Cell.from_text(cell), protocol.network_profile(), 0)
        opt = torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                              weight_decay=protocol.weight_decay)
        result = train_epoch(net, part, protocol, opt, 0, 100, torch.Generator().manual_seed(0))
        states.append((result, net.state_dict()))
    (r_fast, s_fast), (r_plain, s_plain) = states
    assert r_fast == r_plain
    assert all(torch.equal(s_fast[k], s_plain[k]) for k in s_plain)


def _probe(env_extra, tmp_path):
    """lif_implementation('cpu') and one LIF call's spike count in a fresh process with env_extra."""
    code = ("import torch; from snnbench.model import devices, lif_kernel, snn;"
            "lif = snn.make_lif(); s = lif(torch.full((2, 3, 4), 1.5));"
            "print(devices.lif_implementation('cpu'), lif_kernel.available(), int(s.sum()))")
    env = {**os.environ, "SNNBENCH_CACHE_DIR": str(tmp_path / "cache"), **env_extra}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@needs_kernel
def test_kernel_is_built_once_into_the_cache(tmp_path):
    assert _probe({}, tmp_path) == ["snnbench-c-cpu", "True", "24"]
    built = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(built) == 1 and built[0].startswith("lif_kernel-") and built[0].endswith(".so")
    assert _probe({}, tmp_path) == ["snnbench-c-cpu", "True", "24"]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == built  # reused, nothing left over


@pytest.mark.parametrize("env", [{"SNNBENCH_LIF_KERNEL": "torch"}, {"CC": "false"}],
                         ids=["switched-off", "compiler-fails"])
def test_without_kernel_the_tensor_expressions_run(env, tmp_path):
    assert _probe(env, tmp_path) == ["snnbench-fused-cpu", "False", "24"]
    assert not (tmp_path / "cache").exists() or not any(p.suffix == ".so" for p in (tmp_path / "cache").iterdir())
