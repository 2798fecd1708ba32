"""The toy family: a two-layer 3D conv denoiser in pixel space, trained with the shared denoising loss."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vgen.families.base import PixelFamily


class ToyNet(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.inp = nn.Conv3d(4, width, 3, padding=1)
        self.out = nn.Conv3d(width, 3, 3, padding=1)

    def forward(self, x: Tensor, t: Tensor, **_: object) -> Tensor:
        level = (t.float() / 1000).reshape(-1, 1, 1, 1, 1).expand(-1, 1, *x.shape[2:])
        return self.out(torch.relu(self.inp(torch.cat([x, level], dim=1))))


class ToyFamily(PixelFamily):
    name = "toy"

    def build_networks(self, config):
        return {"unet": ToyNet(config.width)}

    def diffusion_objective(self, config, networks, schedule, cond_drop_prob):
        from vgen.training.objectives import denoising_loss

        def objective(batch, generators):
            return {"unet": denoising_loss(networks["unet"], batch.video, schedule, config.diffusion, generators)}

        return objective


FAMILY = ToyFamily()
