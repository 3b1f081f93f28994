"""A candidate CPU speed-up for backward cells, measured and not adopted (issue 15): loop over time
only the nodes on a cycle of the cell (a backward edge's recurrence) and run every other edge once
over all timesteps after the loop.

Today's authors'-graph forward (SpikingCell._authors_forward) batches the edges whose source lies
outside the recurrence before the loop, and loops every node that depends on an earlier timestep,
including nodes that only lie downstream of a cycle (node 3 of most cells). Here those downstream
nodes (and the edges into them, backward edges into them shifted by one timestep) run after the loop,
T calls at once. The same modules see the same calls in the same order per module, so the forward
values are the section 2 equations; the weight gradients of a batched call are summed in another
order than those of T separate calls, so a run's numbers differ in the last bits and then diverge
(spikes): adopting it would make a new protocol version.

Prints CPU-seconds per epoch of each forward, alternating epoch by epoch in one process from the same
start (process time, one thread), and the epochs' (loss, accuracy, steps) of both.

    PYTHONPATH=. python benchmarks/cycle_loop.py --protocol digits-cpu [--cell "0302 0030 3003 0000"] [--epochs 3]
    PYTHONPATH=. python benchmarks/cycle_loop.py --protocol fmnist-cpu --epochs 2   # needs the Fashion-MNIST files
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from snnbench.data import load_for_protocol
from snnbench.model.snn import SpikingCell
from snnbench.protocols import get_protocol
from snnbench.snn import build_network
from snnbench.train import steps_per_epoch, train_epoch


def on_a_cycle(cell: SpikingCell) -> list:
    """Whether each node lies on a cycle of the cell's edges (forward and backward)."""
    succ = {i: [] for i in range(4)}
    for j in range(4):
        for i, _ in cell.forward_in[j] + cell.backward_in[j]:
            succ[i].append(j)
    looped = []
    for start in range(4):
        seen, stack = set(), [start]
        while stack:
            for nxt in succ[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        looped.append(start in seen)
    return looped


def join_steps(parts):
    """[T', B, ...] tensors joined along time (benchmarks/batch_major.py keeps its layout instead)."""
    return torch.cat(parts, 0)


def cycle_loop_forward(self: SpikingCell, x: torch.Tensor) -> torch.Tensor:
    """The authors' graph with only the nodes on a cycle in the time loop."""
    steps, looped = x.shape[0], on_a_cycle(self)
    zeros = torch.zeros_like(x)  # x's layout (time-major here; batch_major.py's batch-major)
    full = [None] * 4  # every node's values for all timesteps, once known
    for j in range(4):  # upstream of every cycle: all timesteps at once
        if not self.recurrent[j]:
            full[j] = x if j == 0 else zeros
            for i, key in self.forward_in[j]:
                full[j] = full[j] + self.edge_ops[key](full[i], 0)
    ahead = {key: self.edge_ops[key](full[i], 0) for j in range(4)
             for i, key in self.forward_in[j] + self.backward_in[j] if not self.recurrent[i] and looped[j]}

    def edge(i, key, v, t):
        return ahead[key][t:t + 1] if key in ahead else self.edge_ops[key](v[i], t)

    memory, per_step = [zeros[:1]] * 4, {j: [] for j in range(4) if looped[j]}
    for t in range(steps if per_step else 0):
        v = [None if full[j] is None else full[j][t:t + 1] for j in range(4)]
        for j in per_step:  # a looped node's inputs are looped or upstream nodes
            total = (x[t:t + 1] if j == 0 else zeros[:1]) + memory[j]
            for i, key in self.forward_in[j]:
                total = total + edge(i, key, v, t)
            v[j] = total
            per_step[j].append(total)
        for j in per_step:
            total = zeros[:1]
            for k, key in self.backward_in[j]:
                total = total + edge(k, key, v, t)
            memory[j] = total
    for j, values in per_step.items():
        full[j] = join_steps(values)
    for j in range(4):  # downstream of a cycle, not on one: all timesteps at once, in node order
        if self.recurrent[j] and not looped[j]:
            total = x if j == 0 else zeros
            for i, key in self.forward_in[j]:
                total = total + self.edge_ops[key](full[i], 0)
            for k, key in self.backward_in[j]:  # n_k[t-1] feeds n_j[t]; nothing at t = 0
                total = total + join_steps([zeros[:1], self.edge_ops[key](full[k], 0)[:-1]])
            full[j] = total
    return full[3]


def same_forward(net_a, net_b, dataset, forwards) -> bool:
    """Whether both forwards give the same logits, bit for bit, from the same start (eval mode)."""
    from snnbench.snn import reset_state
    images = dataset.normalize(dataset.valid.images[:256])
    logits = []
    for net, forward in zip((net_a, net_b), forwards.values()):
        SpikingCell._authors_forward = forward
        net.eval()
        reset_state(net)
        with torch.no_grad():
            logits.append(net(images))
        reset_state(net)
    SpikingCell._authors_forward = forwards["today"]
    return bool(torch.equal(*logits))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", default="digits-cpu")
    ap.add_argument("--cell", default="0302 0030 3003 0000")
    ap.add_argument("--epochs", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    protocol = get_protocol(a.protocol)
    dataset = load_for_protocol(protocol)
    total = protocol.epochs * steps_per_epoch(len(dataset.train), protocol.batch_size)
    forwards = {"today": SpikingCell._authors_forward, "cycle-loop": cycle_loop_forward}
    runs = {}
    for key in forwards:
        net = build_network(a.cell, protocol.network_profile(), seed=0)
        runs[key] = dict(net=net, gen=torch.Generator().manual_seed(0), cpu=0.0, out=[], step=0,
                         opt=torch.optim.SGD(net.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                                             weight_decay=protocol.weight_decay))
    same_start = same_forward(runs["today"]["net"], runs["cycle-loop"]["net"], dataset, forwards)
    try:
        for epoch in range(a.epochs):
            for key, forward in forwards.items():
                SpikingCell._authors_forward = forward
                run = runs[key]
                torch.manual_seed(epoch)  # dropout masks: the same draws for both
                t0 = time.process_time()
                out = train_epoch(run["net"], dataset, protocol, run["opt"], run["step"], total, run["gen"])
                run["cpu"] += time.process_time() - t0
                run["out"].append(out)
                run["step"] = out[2]
    finally:
        SpikingCell._authors_forward = forwards["today"]
    print(f"# {a.protocol} cell {a.cell}, {a.epochs} epochs, threads={torch.get_num_threads()} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')} cpu={platform.processor() or 'cpu'}")
    print(f"same logits from the same weights (eval mode, 256 validation images): {same_start}")
    today, cyc = runs["today"]["cpu"] / a.epochs, runs["cycle-loop"]["cpu"] / a.epochs
    print(f"today {today:.2f} s/epoch   cycle-loop {cyc:.2f} s/epoch   speed-up {today / cyc:.2f}x")
    for key, run in runs.items():
        print(f"{key:10s} " + "  ".join(f"({loss:.4f}, {acc:.2f}%)" for loss, acc, _ in run["out"]))


if __name__ == "__main__":
    main()
