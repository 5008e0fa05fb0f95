"""Training on several CPU cores: each batch split between threads, each with its own copy of the network.

Measured on the 2-core machine (QuickNAT with 16 filters, batches of 8 windows of 128 x 256):
one training step took 1.35-1.53 s with torch's two intra-op threads sharing every layer,
and 0.89-0.98 s with two threads each running half of the batch through its own copy on one
torch thread. The layers of these small networks are too short to be split well between
threads (as at inference: networks.threads); the two halves of a batch are independent until
their gradients are added.

One step: every copy takes its part of the batch forward and backward, the gradients are
added into the first copy (the network the optimizer holds) weighted by the size of each
part, the optimizer steps, and the other copies take the new weights. Each copy's batch-norm
layers see only their part; their running statistics are averaged over the copies. Each copy
draws its dropout masks from a generator of its own (ChannelDropout), so that a seeded run
gives the same weights every time, whichever thread happens to run first.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from networks.threads import in_threads


class ChannelDropout(nn.Dropout2d):
    """nn.Dropout2d (whole channels, kept ones scaled by 1 / (1 - p)) drawing from ``self.generator``.

    With ``generator`` None it draws from torch's global generator, as nn.Dropout2d does.
    """

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.empty(x.shape[:2] + (1,) * (x.dim() - 2), dtype=x.dtype, device=x.device)
        keep.bernoulli_(1 - self.p, generator=self.generator)
        return x * keep / (1 - self.p)


class Replicas:
    """``threads`` copies of ``net`` (the first is ``net`` itself) that share each batch."""

    def __init__(self, net: nn.Module, threads: int, seed: int = 0):
        self._dropout_generators(net, None)  # a generator is not copied
        self.copies = [net] + [copy.deepcopy(net) for _ in range(max(threads, 1) - 1)]
        self.used = 1  # copies the last training step ran on
        if len(self.copies) > 1:
            for index, replica in enumerate(self.copies):
                self._dropout_generators(replica, torch.Generator().manual_seed(seed * 1000 + index))

    @staticmethod
    def _dropout_generators(net: nn.Module, generator: torch.Generator | None) -> None:
        for module in net.modules():
            if isinstance(module, ChannelDropout):
                module.generator = generator

    @classmethod
    def of(cls, net) -> "Replicas":
        """``net`` itself if it is Replicas already, else the one copy of ``net``."""
        return net if isinstance(net, cls) else cls(net, 1)

    @property
    def net(self) -> nn.Module:
        return self.copies[0]

    def run(self, work, *batch: torch.Tensor, train: bool) -> list:
        """``work(copy, *part)`` for each copy on its part of ``batch`` (split along the first axis), in threads.

        ``work`` returns (loss, anything); with ``train``, the losses are backpropagated
        and the gradients added into ``net``, weighted by the part's share of the batch.
        Returns what each call of ``work`` returned, in the order of the parts.
        """
        size = len(batch[0])
        parts = list(zip(*(torch.tensor_split(tensor, min(len(self.copies), size)) for tensor in batch)))
        for replica in self.copies[1:]:  # the same train/eval mode, layer by layer (frozen blocks, batch norm)
            for mine, theirs in zip(self.net.modules(), replica.modules()):
                theirs.training = mine.training

        def one(index: int):
            replica, part = self.copies[index], parts[index]
            with torch.set_grad_enabled(train):
                result = work(replica, *part)
                if train:
                    replica.zero_grad(set_to_none=True)
                    (result[0] * (len(part[0]) / size)).backward()
            return result

        results = in_threads(one, range(len(parts)), len(parts))
        if train:
            self.used = len(parts)
            for params in zip(*(replica.parameters() for replica in self.copies[:self.used])):
                for other in params[1:]:
                    if params[0].grad is not None and other.grad is not None:
                        params[0].grad += other.grad
        return results

    def step(self, work, *batch: torch.Tensor, optimizer=None) -> list:
        """``run`` on ``batch``; with ``optimizer``, trains: backpropagates, steps and synchronises.

        No ``optimizer.zero_grad()`` is needed: ``run`` sets every copy's gradients to None
        before its backward pass. Returns what each call of ``work`` returned.
        """
        parts = self.run(work, *batch, train=optimizer is not None)
        if optimizer is not None:
            optimizer.step()
            self.synchronise()
        return parts

    def synchronise(self) -> None:
        """After an optimizer step: average the batch-norm statistics and hand ``net``'s weights to the copies."""
        if len(self.copies) == 1:
            return
        with torch.no_grad():
            for buffers in zip(*(replica.buffers() for replica in self.copies[:self.used])):
                if buffers[0].is_floating_point():
                    buffers[0].copy_(torch.stack(buffers).mean(dim=0))
            state = self.net.state_dict()
            for replica in self.copies[1:]:
                replica.load_state_dict(state)
