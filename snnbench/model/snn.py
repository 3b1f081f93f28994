"""The SNASNet network: LIF neurons (spikingjelly), edge ops, the cell with forward and backward
edges, and the macro skeleton (spec sections 1, 2, 4 and 7).

Every tensor inside the network is laid out [T', B, ...]: T' timesteps at once where time can be
batched (cells without backward edges, the layers between cells, the edges of a backward cell whose
source lies outside its recurrence) and T' = 1 inside the time loop of a cell with backward edges.
Timestep indices are passed along (t0) so that BatchNorm can keep per-timestep statistics. The
results are those of a plain per-timestep loop (tests check that).

Two graphs for cells with backward edges (spec section 2, "Which modules run"); both give the node
values of the section 2 equations and differ only in which edge modules are called:
  'authors'    the SNASNet authors' graph (default): every edge module runs once per timestep, on
               zeros where its source holds nothing yet, and every backward edge runs at the last
               timestep too (its result is discarded).
  'skip-idle'  snnbench's first graph (network version 1; the shipped digits tables' training runs): a forward edge
               runs only once its source holds a value, a backward edge only at t >= 1 on n_k[t-1].
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from ..profiles import GRAPHS, PROFILES, NetworkProfile, get_profile  # noqa: F401 (re-exported: snn.get_profile)
from ..space import Cell
from . import lif_kernel

try:  # spikingjelly >= 0.0.0.0.14 layout
    from spikingjelly.activation_based import functional as sj_functional
    from spikingjelly.activation_based import neuron as sj_neuron
    from spikingjelly.activation_based import surrogate as sj_surrogate
except ImportError as exc:  # pragma: no cover - dependency missing
    raise ImportError("snnbench needs spikingjelly (pip install spikingjelly)") from exc

LIF_TAU = 4.0 / 3.0
LIF_THRESHOLD = 1.0


class _LIFSequence(torch.autograd.Function):
    """T' steps of spikingjelly's LIF (decay_input, hard reset to 0, detached reset, ATan surrogate)
    as one autograd node. Forward and backward evaluate, element by element, the same float32
    expressions in the same order as autograd does through spikingjelly's reference step
    (spikingjelly/_ops/lif/reference.py, the path it takes on the CPU), so spikes, membranes and
    gradients are bit for bit those of sj_neuron.LIFNode (tests/test_snn.py checks it); what goes
    is the per-timestep autograd bookkeeping, about a dozen graph nodes per timestep."""

    @staticmethod
    def forward(ctx, x_seq, v, tau: float, threshold: float, alpha: float):
        ctx.alpha, ctx.tau = alpha, tau
        ctx.set_materialize_grads(False)
        computed = lif_kernel.forward(x_seq, v, tau, threshold) if lif_kernel.available() else None
        ctx.kernel = None  # the layout backward passes to C; None: the tensor expressions
        if computed is not None:  # the same operations in C (lif_kernel.c), bit for bit
            spikes, shifted, v, ctx.kernel = computed
            ctx.save_for_backward(spikes, shifted)
            return spikes, v
        # Constants as 0-dim float32 tensors: the same values as Python floats in these float32 ops
        # (bit for bit), without the per-call conversion that makes scalar ops several times slower.
        tau_t, threshold_t = x_seq.new_tensor(tau), x_seq.new_tensor(threshold)
        charged = torch.empty_like(x_seq)  # h[t]
        spikes = torch.empty_like(x_seq)
        for t in range(x_seq.shape[0]):
            h = torch.add(v, (x_seq[t] - v) / tau_t, out=charged[t])  # LIFNode, decay_input, v_reset = 0
            s = torch.ge(h, threshold_t, out=spikes[t])  # Heaviside(h - threshold)
            v = h - h * s  # hard reset: (1 - s) h, i.e. h or +0
        shifted = charged - threshold_t  # the surrogate's argument
        ctx.save_for_backward(spikes, shifted)
        return spikes, v

    @staticmethod
    def backward(ctx, grad_spikes, grad_v):
        spikes, shifted = ctx.saved_tensors
        alpha = ctx.alpha
        if ctx.kernel is not None:
            grad_x, carry = lif_kernel.backward(spikes, shifted, grad_spikes, grad_v, ctx.tau, alpha, ctx.kernel)
            return grad_x, carry, None, None, None
        tau_t = shifted.new_tensor(ctx.tau)
        direct = None  # the gradient reaching h[t] through the spikes, all t at once
        if grad_spikes is not None:
            z = shifted * (math.pi / 2 * alpha)
            direct = grad_spikes * ((alpha / 2) / (1 + z * z))  # ATan surrogate derivative
        keep = torch.ones_like(spikes[0]) - spikes  # the reset is detached: v = (1 - s) h passes (1 - s)
        grad_x = torch.zeros_like(shifted)
        carry = grad_v  # gradient reaching the membrane after step t (None: none reaches it)
        for t in range(shifted.shape[0] - 1, -1, -1):
            grad_h = None if direct is None else direct[t]
            if carry is not None:
                through = carry * keep[t]
                grad_h = through if grad_h is None else grad_h + through
            if grad_h is None:
                continue
            torch.div(grad_h, tau_t, out=grad_x[t])
            carry = grad_h - grad_x[t]  # h = v + (x - v) / tau
        return grad_x, carry, None, None, None


FUSED_LIF = "snnbench-fused-cpu"  # what devices.lif_implementation reports where LIF uses _LIFSequence


class LIF(sj_neuron.LIFNode):
    """spikingjelly's LIFNode with its multi-step path on the CPU run as one autograd node
    (_LIFSequence): identical spikes, membranes and gradients, a fraction of the dispatched
    operations. On a GPU spikingjelly's own fused kernels run."""

    def multi_step_forward(self, x_seq: torch.Tensor, *args, **kwargs):
        if x_seq.dtype in (torch.bfloat16, torch.float16):
            # Under autocast (Protocol.autocast) the membrane stays float32: in bfloat16 its 8-bit
            # mantissa would round the charge of every timestep. Spikes are 0 or 1 in any dtype.
            x_seq = x_seq.float()
        usable = (not args and not kwargs and x_seq.device.type == "cpu" and x_seq.dtype == torch.float32 and not self.store_v_seq
                  and self.v_reset == 0.0 and self.decay_input and self.detach_reset
                  and self._neuron_precision is None and isinstance(self.surrogate_function, sj_surrogate.ATan))
        if not usable:
            return super().multi_step_forward(x_seq, *args, **kwargs)
        v = self.v
        if not isinstance(v, torch.Tensor) or v.shape != x_seq.shape[1:]:
            v = torch.zeros_like(x_seq[0])
        spikes, self.v = _LIFSequence.apply(x_seq, v, self.tau, self.v_threshold,
                                            float(self.surrogate_function.alpha))
        return spikes


def make_lif() -> nn.Module:
    """Spec section 1: LIF, tau 4/3, threshold 1, hard reset to 0, ATan surrogate, detached reset.
    Multi-step mode: takes [T', B, ...] and keeps its membrane between calls until reset."""
    return LIF(tau=LIF_TAU, decay_input=True, v_threshold=LIF_THRESHOLD, v_reset=0.0,
               surrogate_function=sj_surrogate.ATan(), detach_reset=True, step_mode="m")


def is_lif(module: nn.Module) -> bool:
    return isinstance(module, sj_neuron.LIFNode)


def reset_state(net: nn.Module) -> None:
    """Forget every neuron's membrane (call before each new batch of samples)."""
    sj_functional.reset_net(net)


# ----------------------------------------------------------------------------- layers
class TimeBatchNorm2d(nn.Module):
    """BatchNorm2d for [T', B, C, H, W] inputs holding timesteps t0 .. t0+T'-1.

    One weight and bias for all timesteps. Training normalises every timestep with its own batch
    statistics (as a per-timestep loop would). Running statistics are either one set shared by all
    timesteps, updated once per timestep in order (the authors' network), or one set per timestep
    (bn_stats='per_timestep', BNTT-style; spec section 7)."""

    def __init__(self, channels: int, timesteps: int, per_timestep: bool = False,
                 momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.channels, self.timesteps, self.per_timestep = channels, timesteps, per_timestep
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        shape = (timesteps, channels) if per_timestep else (channels,)
        self.register_buffer("running_mean", torch.zeros(shape))
        self.register_buffer("running_var", torch.ones(shape))

    def forward(self, x: torch.Tensor, t0: int = 0) -> torch.Tensor:
        steps, batch = x.shape[0], x.shape[1]
        # [T', B, C, H, W] -> [B, T'*C, H, W]: each (timestep, channel) is its own BN channel.
        folded = x.transpose(0, 1).reshape(batch, steps * self.channels, *x.shape[3:])
        if steps == 1:
            weight, bias = self.weight, self.bias
        else:
            weight, bias = self.weight.repeat(steps), self.bias.repeat(steps)
        if self.per_timestep or steps == 1:
            # The running statistics of these timesteps are a contiguous slice of the buffers:
            # batch_norm updates them in place (one update per timestep, in order).
            rows = slice(t0, t0 + steps) if self.per_timestep else slice(None)
            rm, rv = self.running_mean[rows].view(-1), self.running_var[rows].view(-1)
            out = F.batch_norm(folded, rm, rv, weight, bias, self.training, self.momentum, self.eps)
        else:
            rm, rv = self.running_mean.repeat(steps), self.running_var.repeat(steps)
            if self.training:
                out = F.batch_norm(folded, rm, rv, weight, bias, True, self.momentum, self.eps)
                self._store_running(rm.view(steps, -1), rv.view(steps, -1))
            else:
                out = F.batch_norm(folded, rm, rv, weight, bias, False, 0.0, self.eps)
        return out.reshape(batch, steps, *x.shape[2:]).transpose(0, 1)

    @torch.no_grad()
    def _store_running(self, mean_upd: torch.Tensor, var_upd: torch.Tensor) -> None:
        """The shared running statistics after T' timesteps updated at once (rows of *_upd)."""
        steps = mean_upd.shape[0]
        # Each row k was updated in parallel from the same old value r: p_k = (1-m) r + m s_k.
        # The sequential update over k is r_T = (1-m)^T r + sum_k (1-m)^(T-1-k) (p_k - (1-m) r).
        keep = 1.0 - self.momentum
        for buf, upd in ((self.running_mean, mean_upd), (self.running_var, var_upd)):
            old = buf.clone()
            new = old * keep ** steps
            for k in range(steps):
                new += keep ** (steps - 1 - k) * (upd[k] - keep * old)
            buf.copy_(new)


class SharedMaskDropout(nn.Module):
    """Dropout on [T, B, F] with one mask per sample shared by all timesteps."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        mask = torch.empty((1, *x.shape[1:]), device=x.device, dtype=x.dtype).bernoulli_(1 - self.p)
        return x * mask / (1 - self.p)


def per_step(fn, x: torch.Tensor) -> torch.Tensor:
    """Apply a [N, ...] layer to every timestep of a [T', B, ...] tensor at once."""
    out = fn(x.flatten(0, 1))
    return out.view(x.shape[0], x.shape[1], *out.shape[1:])


class SpikingConv(nn.Module):
    """Edge op 2 / 3: LIF -> Conv (kernel 1 or 3, stride 1, no bias) -> BatchNorm."""

    def __init__(self, channels: int, kernel: int, timesteps: int, per_timestep_bn: bool):
        super().__init__()
        self.lif = make_lif()
        self.conv = nn.Conv2d(channels, channels, kernel, stride=1, padding=kernel // 2, bias=False)
        self.bn = TimeBatchNorm2d(channels, timesteps, per_timestep_bn)

    def forward(self, x: torch.Tensor, t0: int = 0) -> torch.Tensor:
        return self.bn(per_step(self.conv, self.lif(x)), t0)


class Skip(nn.Module):
    """Edge op 1: identity."""

    def forward(self, x: torch.Tensor, t0: int = 0) -> torch.Tensor:
        return x


class AvgPool3(nn.Module):
    """Edge op 4: AvgPool 3x3, stride 1, padding 1 (count_include_pad as torch's default)."""

    def forward(self, x: torch.Tensor, t0: int = 0) -> torch.Tensor:
        return per_step(lambda z: F.avg_pool2d(z, 3, stride=1, padding=1), x)


def make_edge_op(code: int, channels: int, timesteps: int, per_timestep_bn: bool) -> nn.Module:
    """The module of op code 1..4 (spec section 2)."""
    if code == 1:
        return Skip()
    if code in (2, 3):
        return SpikingConv(channels, 1 if code == 2 else 3, timesteps, per_timestep_bn)
    if code == 4:
        return AvgPool3()
    raise ConfigError(f"op code {code} has no module (0 means no edge)")


class SpikingCell(nn.Module):
    """A 4-node cell built from a canonical matrix; only the surviving edges are built.

    Node equations (spec section 2), n_k[-1] = 0:
      n_0[t] = x[t] + sum_k back(k->0)(n_k[t-1]);  n_j[t] = sum_{i<j} fwd(i->j)(n_i[t]) + sum_{k>j} back(k->j)(n_k[t-1])
      n_3[t] = sum_{i<3} fwd(i->3)(n_i[t])
    graph (module docstring) decides which edge modules are called to get them; a forward-only cell
    runs every edge once over all timesteps under either graph."""

    def __init__(self, matrix, channels: int, timesteps: int, per_timestep_bn: bool = False,
                 graph: str = "authors"):
        super().__init__()
        if graph not in GRAPHS:
            raise ConfigError(f"unknown graph {graph!r}; choose one of {', '.join(GRAPHS)}")
        m = [[int(v) for v in row] for row in matrix]
        self.graph = graph
        self.edge_ops = nn.ModuleDict()
        self.forward_in = {j: [] for j in range(4)}
        self.backward_in = {j: [] for j in range(4)}
        for i in range(4):
            for j in range(4):
                if m[i][j]:
                    key = f"{i}_{j}"
                    self.edge_ops[key] = make_edge_op(m[i][j], channels, timesteps, per_timestep_bn)
                    (self.forward_in if i < j else self.backward_in)[j].append((i, key))
        self.has_backward = any(self.backward_in.values())
        # A node is in the recurrence when its value depends on an earlier timestep: it receives a
        # backward edge, or a forward edge from such a node. Edges out of the other nodes see inputs
        # that are known for every timestep before the time loop starts.
        self.recurrent = [False] * 4
        for j in range(4):
            self.recurrent[j] = bool(self.backward_in[j]) or any(self.recurrent[i] for i, _ in self.forward_in[j])

    def node_values(self, x: torch.Tensor, prev, t0: int):
        """The values of nodes 0..3 for the timesteps of x (starting at t0), prev: the node values of
        the timestep before (None at the first); a list of 4 tensors (None for a node not built)."""
        nodes = [None] * 4
        for j in range(4):
            total = x if j == 0 else None
            for i, key in self.forward_in[j]:
                if nodes[i] is not None:
                    total = _add(total, self.edge_ops[key](nodes[i], t0))
            if prev is not None:
                for k, key in self.backward_in[j]:
                    if prev[k] is not None:
                        total = _add(total, self.edge_ops[key](prev[k], t0))
            nodes[j] = total
        return nodes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.has_backward:
            return self.node_values(x, None, 0)[3]
        if self.graph == "authors":
            return self._authors_forward(x)
        outputs, prev = [], None
        for t in range(x.shape[0]):
            nodes = self.node_values(x[t:t + 1], prev, t)
            outputs.append(nodes[3])
            prev = nodes
        return torch.cat(outputs, 0)

    def _authors_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The authors' graph: per timestep t, v_0 = x[t] + m_0, v_j = sum_i fwd(i->j)(v_i) + m_j,
        v_3 = sum_i fwd(i->3)(v_i), then m_j = sum_k back(k->j)(v_k), with m = 0 at the start.

        Every edge module sees its T calls in timestep order, as in a plain loop; the edges whose
        source is outside the recurrence make those T calls at once before the loop."""
        steps = x.shape[0]
        zeros = x.new_zeros(x.shape)
        outer = [x if j == 0 else zeros for j in range(4)]  # v_j of the nodes outside the recurrence, all t
        for j in range(1, 4):
            if not self.recurrent[j]:
                for i, key in self.forward_in[j]:
                    outer[j] = outer[j] + self.edge_ops[key](outer[i], 0)
        # the other edges whose source is outside the recurrence (into it, or backward), all T calls at once
        ahead = {key: self.edge_ops[key](outer[i], 0) for j in range(4)
                 for i, key in self.forward_in[j] + self.backward_in[j]
                 if not self.recurrent[i] and (self.recurrent[j] or i > j)}
        if not self.recurrent[3]:
            return outer[3]

        def edge(i, key, v, t):
            return ahead[key][t:t + 1] if key in ahead else self.edge_ops[key](v[i], t)

        memory = [zeros[:1]] * 4
        outputs = []
        for t in range(steps):
            v = [outer[j][t:t + 1] for j in range(4)]
            for j in range(4):
                if self.recurrent[j]:
                    total = v[j] + memory[j]  # x[t] + m_0 at node 0, zeros + m_j elsewhere
                    for i, key in self.forward_in[j]:
                        total = total + edge(i, key, v, t)
                    v[j] = total
            for j in range(3):
                total = zeros[:1]
                for k, key in self.backward_in[j]:
                    total = total + edge(k, key, v, t)
                memory[j] = total
            outputs.append(v[3])
        return torch.cat(outputs, 0)


def _add(total, value):
    return value if total is None else total + value


class SNASNet(nn.Module):
    """The macro skeleton of spec section 4, with one cell matrix used by both cells.

    forward(images [B, C_in, H, W]) -> logits [B, classes], the mean over T timesteps.
    Direct encoding: the stem output is the input of every timestep."""

    def __init__(self, cell, profile: NetworkProfile):
        super().__init__()
        cell = Cell.parse(cell)
        p = profile.validate()
        self.cell_hash, self.profile = cell.hash, p
        matrix = cell.canonical_matrix
        per_t = p.bn_stats == "per_timestep"
        C, T = p.width, p.timesteps
        self.stem = nn.Sequential(nn.Conv2d(p.in_channels, C, 3, stride=p.stem_stride, padding=1, bias=False),
                                  nn.BatchNorm2d(C))
        self.cell1 = SpikingCell(matrix, C, T, per_t, p.graph)
        self.bn1 = TimeBatchNorm2d(C, T, per_t)
        self.lif1 = make_lif()
        self.conv2 = nn.Conv2d(C, 2 * C, 3, padding=1, bias=False)
        self.bn2 = TimeBatchNorm2d(2 * C, T, per_t)
        self.cell2 = SpikingCell(matrix, 2 * C, T, per_t, p.graph)
        self.bn3 = TimeBatchNorm2d(2 * C, T, per_t)
        self.lif2 = make_lif()
        self.dropout = SharedMaskDropout(0.5)
        self.fc_in = 2 * C * p.feature_size ** 2
        self.fc1 = nn.Linear(self.fc_in, p.hidden, bias=False)
        self.lif3 = make_lif()
        self.fc2 = nn.Linear(p.hidden, p.num_classes * p.vote)
        self.initialize()

    def initialize(self) -> None:
        """Spec section 4 init; fc1 uses the fan-in rule N(0, 0.3*sqrt(512/F)) on small profiles."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=2)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, TimeBatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.profile.classifier_init == "fan_in":
            nn.init.normal_(self.fc1.weight, 0.0, 0.3 * math.sqrt(512.0 / self.fc_in))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_steps(images).mean(0)

    def forward_steps(self, images: torch.Tensor) -> torch.Tensor:
        """Per-timestep class scores [T, B, classes] (after voting)."""
        T = self.profile.timesteps
        stem = self.stem(images)
        x = stem.unsqueeze(0).expand(T, *stem.shape)
        x = self.cell1(x)
        x = self.lif1(self.bn1(x))
        x = self.bn2(per_step(self.conv2, x))
        x = per_step(lambda z: F.avg_pool2d(z, 2), x)
        x = self.cell2(x)
        x = self.lif2(self.bn3(x))
        x = per_step(lambda z: F.avg_pool2d(z, 2), x).flatten(2)
        x = self.lif3(self.fc1(self.dropout(x)))
        out = self.fc2(x)
        return F.avg_pool1d(out, self.profile.vote)

    def lif_layers(self) -> list[tuple[str, nn.Module]]:
        """Every LIF layer with its name, in a fixed order."""
        return [(name, m) for name, m in self.named_modules() if is_lif(m)]


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def build_network(cell, profile: NetworkProfile, seed: int | None = None) -> SNASNet:
    """A freshly initialised network; with a seed, the initialisation is reproducible."""
    if seed is not None:
        torch.manual_seed(seed)
    return SNASNet(cell, profile)
