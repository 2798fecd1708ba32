"""Exponential moving average of network weights (Polyak averaging, as in DDPM/LDM training).

Decay warms up as ``min(decay, (1 + n) / (10 + n))`` where ``n`` counts EMA updates, so early
averages are not dominated by the random initialisation (LDM ``LitEma``).
"""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """Shadow copies of every floating-point parameter and buffer of ``network``."""

    def __init__(self, network: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow: dict[str, torch.Tensor] = {
            name: value.detach().clone() for name, value in network.state_dict().items() if value.is_floating_point()
        }

    def current_decay(self) -> float:
        n = self.updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        """shadow <- d·shadow + (1-d)·weights, with the warm-up decay d of this update."""
        d = self.current_decay()
        for name, value in network.state_dict().items():
            if name in self.shadow:
                self.shadow[name].lerp_(value.detach(), 1.0 - d)
        self.updates += 1

    def state_dict(self, network: nn.Module) -> dict[str, torch.Tensor]:
        """The network's full state dict with EMA values for the averaged entries."""
        return {name: self.shadow.get(name, value).detach().clone() for name, value in network.state_dict().items()}

    def load(self, shadow: dict[str, torch.Tensor], updates: int) -> None:
        """Take over a saved average; its entries must be exactly this network's (names and shapes)."""
        if shadow.keys() != self.shadow.keys():
            raise KeyError(f"the saved EMA averages {len(shadow)} tensors, the network has {len(self.shadow)}")
        for name, value in shadow.items():
            if value.shape != self.shadow[name].shape:
                raise ValueError(f"EMA entry {name} has shape {tuple(value.shape)}, the network "
                                 f"{tuple(self.shadow[name].shape)}")
        for name, value in shadow.items():
            self.shadow[name].copy_(value)
        self.updates = updates
