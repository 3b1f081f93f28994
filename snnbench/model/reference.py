"""Straightforward versions of the training step's fast parts, kept to check them against.

The trainer (snnbench.train, snnbench.snn) runs spikingjelly's LIF as one autograd node per call
(snn.LIF), keeps BatchNorm's running statistics in place (snn.TimeBatchNorm2d) and never waits
for a result inside an epoch. Each of those is meant to change nothing but the time: the versions
here are the first ones, written the plain way — spikingjelly's own LIFNode, BatchNorm that
repeats, clones and copies back, an epoch loop that reads the loss and the accuracy after every
step — and tests/test_fast_step.py and benchmarks/bench_train.py compare the two bit for bit and
in time.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import random_crop_flip
from .snn import LIF, LIF_TAU, LIF_THRESHOLD, TimeBatchNorm2d, reset_state, sj_neuron, sj_surrogate
from .train import learning_rate


def reference_lif() -> nn.Module:
    """spikingjelly's LIFNode with the spec's settings (what snn.make_lif returned at first)."""
    return sj_neuron.LIFNode(tau=LIF_TAU, decay_input=True, v_threshold=LIF_THRESHOLD, v_reset=0.0,
                             surrogate_function=sj_surrogate.ATan(), detach_reset=True, step_mode="m")


class ReferenceTimeBatchNorm2d(TimeBatchNorm2d):
    """The first TimeBatchNorm2d: weights repeated and running statistics cloned for every call,
    then copied back (per timestep) or combined in closed form (shared)."""

    def forward(self, x: torch.Tensor, t0: int = 0) -> torch.Tensor:
        steps, batch = x.shape[0], x.shape[1]
        folded = x.transpose(0, 1).reshape(batch, steps * self.channels, *x.shape[3:])
        weight, bias = self.weight.repeat(steps), self.bias.repeat(steps)
        if self.per_timestep:
            rm = self.running_mean[t0:t0 + steps].reshape(-1)
            rv = self.running_var[t0:t0 + steps].reshape(-1)
        else:
            rm, rv = self.running_mean.repeat(steps), self.running_var.repeat(steps)
        if self.training:
            rm, rv = rm.clone(), rv.clone()
            out = F.batch_norm(folded, rm, rv, weight, bias, True, self.momentum, self.eps)
            with torch.no_grad():
                if self.per_timestep:
                    self.running_mean[t0:t0 + steps] = rm.view(steps, -1)
                    self.running_var[t0:t0 + steps] = rv.view(steps, -1)
                else:
                    self._store_running(rm.view(steps, -1), rv.view(steps, -1))
        else:
            out = F.batch_norm(folded, rm, rv, weight, bias, False, 0.0, self.eps)
        return out.reshape(batch, steps, *x.shape[2:]).transpose(0, 1)


def reference_network(net: nn.Module) -> nn.Module:
    """A copy of a network (same weights, buffers and state) whose LIF and BatchNorm layers are the
    reference versions above."""
    twin = copy.deepcopy(net)
    for parent in list(twin.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LIF):
                setattr(parent, name, reference_lif())
            elif type(child) is TimeBatchNorm2d:
                plain = ReferenceTimeBatchNorm2d(child.channels, child.timesteps, child.per_timestep,
                                                 child.momentum, child.eps)
                plain.load_state_dict(child.state_dict())
                setattr(parent, name, plain)
    return twin


def reference_train_epoch(net, dataset, protocol, optimizer, step0, total_steps, generator):
    """The first epoch loop: the loss checked, read and summed on the host after every step."""
    net.train()
    data = dataset.train
    order = torch.randperm(len(data), generator=generator).to(data.labels.device)
    loss_sum, correct, seen, step = 0.0, 0, 0, step0
    warmup = protocol.warmup_epochs * (total_steps // protocol.epochs)
    for start in range(0, len(data) - 1, protocol.batch_size):
        idx = order[start:start + protocol.batch_size]
        if len(idx) < 2:
            break
        images = data.images[idx]
        if protocol.augmentation == "crop_flip":
            images = random_crop_flip(images, dataset.crop_pad, True, generator)
        labels = data.labels[idx]
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, total_steps, warmup, protocol.lr, protocol.lr_min_ratio)
        reset_state(net)
        mean = torch.tensor(dataset.mean, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(dataset.std, device=images.device).view(1, -1, 1, 1)
        logits = net((images.float() / 255.0 - mean) / std)
        loss = F.cross_entropy(logits, labels)
        if not torch.isfinite(loss):
            return None
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if protocol.grad_clip > 0:
            nn.utils.clip_grad_norm_(net.parameters(), protocol.grad_clip)
        optimizer.step()
        loss_sum += float(loss.detach()) * len(idx)
        correct += int((logits.argmax(1) == labels).sum())
        seen += len(idx)
        step += 1
    return loss_sum / seen, 100.0 * correct / seen, step
