"""Fitting a latent autoencoder's scale and shift after its training stage (LDM/LVDM's ``scale_factor``).

Diffusion runs on ``scale·(z + shift)``; fitting both on encoded training clips makes those latents zero-mean and
unit-variance, whatever the autoencoder learned.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from vgen.training.order import derive_seed
from vgen.training.trainer import collate

# Clips encoded to fit the latent scale/shift after the autoencoder stage.
STATS_CLIPS = 32


def latent_stats_fitter(autoencoder: nn.Module, seed: int, device: torch.device,
                        log: Callable[[str], None]) -> Callable[[torch.utils.data.Dataset], None]:
    """What runs after an autoencoder stage: set shift = −mean, scale = 1/std of posterior-sample latents of
    ``STATS_CLIPS`` training clips (the autoencoder needs ``posterior`` and ``fit_latent_stats``)."""

    @torch.no_grad()
    def finish(dataset: torch.utils.data.Dataset) -> None:
        count = min(len(dataset), STATS_CLIPS)
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(derive_seed(seed, "stats")))
        autoencoder.eval()
        latents = []
        for start in range(0, count, 4):
            video, _ = collate([dataset[int(i)] for i in order[start:min(start + 4, count)]])
            g = torch.Generator(device=device).manual_seed(derive_seed(seed, "stats", start))
            latents.append(autoencoder.posterior(video.to(device)).sample(g).float().cpu())
        autoencoder.fit_latent_stats(torch.cat(latents))
        log(f"latent statistics from {count} clips: scale {float(autoencoder.scale_factor):.4g}, "
            f"shift {float(autoencoder.shift_factor):.4g}")

    return finish
