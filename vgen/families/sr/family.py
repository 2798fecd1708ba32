"""The SR family: a pixel-space spatial super-resolution stage, conditioned on the noise-augmented low-resolution clip.

It only upscales (``vgen upscale``): each window is sampled under the method ``upscale`` from a ``Condition`` whose
``source`` is the low-resolution clip; known full-resolution frames in ``latent``/``latent_mask`` (the overlap with
the previous window) are pasted in by replacement (VDM §3.1), so every sampler works.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn

from vgen.errors import VgenError
from vgen.families.base import UPSCALE, PixelFamily, _identity
from vgen.families.sr.config import SRConfig


class SRFamily(PixelFamily):
    name = "sr"

    def build_networks(self, config: SRConfig) -> dict[str, nn.Module]:
        from vgen.families.sr.unet import SRUNet

        return {"unet": SRUNet(config)}

    def condition_kwargs(self, model, cond: Optional[Tensor]) -> dict[str, Any]:
        """``LoadedModel.denoise``'s ``cond`` is the clean low-resolution clip (augmentation level 0); pass
        ``lowres=``/``aug_t=`` as keywords instead for a noise-augmented one."""
        if cond is None:
            return {}
        return {"lowres": cond}

    def denoiser(self, model, method, condition, kit):
        from vgen.families.sr.augment import augment, level_timestep
        from vgen.sampling.guidance import Replacement

        if method != UPSCALE or condition.source is None:
            raise VgenError(f"{model.config.name} ({self.name}) only upscales a given video; use `vgen upscale`")
        level = model.config.aug_level if condition.source_level is None else condition.source_level
        source = condition.source
        noise = torch.randn(source.shape, generator=kit.generator).to(source.device)
        levels = torch.full((source.shape[0],), float(level))
        lowres = augment(source, levels, noise, kit.schedule)
        aug_t = level_timestep(levels, kit.schedule).to(source.device)
        base = kit.wrap(self.raw(model, kit.settings, lowres=lowres, aug_t=aug_t))
        if condition.latent_mask is None or not bool(condition.latent_mask.any()):
            return base, _identity
        return Replacement(base, kit.schedule, condition.latent, condition.mask_5d(), [kit.generator]), _identity

    def upscale_input(self, model, video: Tensor) -> Tensor:
        from vgen.families.sr.augment import downscale

        return downscale(video, model.config.scale)

    def upscale_baseline(self, model, source: Tensor) -> Tensor:
        from vgen.families.sr.augment import upscale

        return upscale(source, model.resolution)

    def diffusion_objective(self, config, networks, schedule, cond_drop_prob):
        from vgen.families.sr.objectives import sr_diffusion_objective

        return sr_diffusion_objective(config, networks, schedule, cond_drop_prob)

    def example_inputs(self, config: SRConfig, stage: str, networks: dict[str, nn.Module], device: torch.device
                       ) -> tuple[nn.Module, tuple[Tensor, ...], dict[str, Any]]:
        video = torch.zeros(1, self.channels, config.frames, config.resolution, config.resolution, device=device)
        low = config.resolution // config.scale
        lowres = torch.zeros(1, self.channels, config.frames, low, low, device=device)
        t = torch.zeros(1, dtype=torch.long, device=device)
        return networks["unet"], (video, t), {"lowres": lowres, "aug_t": torch.zeros(1, device=device)}


FAMILY = SRFamily()
