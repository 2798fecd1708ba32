"""The FI family: Make-A-Video's masked frame interpolation network in pixel space (interpolate, extend, and
temporal super-resolution as an upscaling stage: ``vgen upscale``, cascades; ``upscale.py``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from vgen.errors import VgenError
from vgen.families.base import PixelFamily
from vgen.families.fi.config import FIConfig


class FIFamily(PixelFamily):
    name = "fi"

    def upscale_plan(self, model, chunks, options, total_frames=None):
        """Temporal super-resolution by ``upscale_factor`` k: every input frame is followed by k − 1 new ones, so n
        frames become n·k (Imagen Video's TSR / Make-A-Video's ↑F). The keys are interpolated k apart (the plan of
        ``interpolate --factor k``); the k − 1 frames after the last key are extrapolated from the video's last
        frames, as the network was trained to (its extrapolation masks)."""
        from vgen.families.fi.upscale import frame_rate_plan, frame_rate_windows

        if options.overlap is not None or options.aug_level is not None:
            raise VgenError(f"--overlap and --aug-level are for spatial SR stages; {model.config.name} raises the "
                            "frame rate in its own interpolation windows (its known frames' noise level is the "
                            "config's aug_sample_level)")
        factor = model.config.upscale_factor
        windows = frame_rate_windows(model, total_frames, factor) if total_frames else None
        return frame_rate_plan(model, chunks, factor), windows

    def build_networks(self, config: FIConfig) -> dict[str, nn.Module]:
        from vgen.families.fi.unet import FIUNet

        return {"unet": FIUNet(config)}

    def denoiser(self, model, method, condition, kit):
        from vgen.families.fi.conditioning import KeyConditioned

        if method != "mask" or condition.latent is None:
            raise VgenError(f"{model.config.name} (fi) fills in frames around known ones (--method mask); it cannot "
                            "sample without them")
        config: FIConfig = model.config
        bound = KeyConditioned(model.unet, kit.schedule, condition.latent, condition.mask_5d(),
                               residual_scale=config.residual_scale, aug_level=config.aug_sample_level,
                               generator=kit.generator)
        return bound.bounded(kit.wrap(bound)), bound.finalize

    def blended_start(self, model, condition):
        """FI diffuses the residual from blending the neighbouring keys, so the blended clip is a zero state."""
        return torch.zeros((1, *model.latent_shape()), device=model.device)

    def diffusion_objective(self, config, networks, schedule, cond_drop_prob):
        from vgen.families.fi.objectives import fi_diffusion_objective

        return fi_diffusion_objective(config, networks, schedule)

    def example_inputs(self, config: FIConfig, stage: str, networks: dict[str, nn.Module], device: torch.device
                       ) -> tuple[nn.Module, tuple[Tensor, ...], dict[str, Any]]:
        """A training-shaped input: keys every 2nd frame."""
        video = torch.zeros(1, self.channels, config.frames, config.resolution, config.resolution, device=device)
        mask = (torch.arange(config.frames, device=device) % 2 == 0).float().reshape(1, 1, -1, 1, 1)
        level = torch.zeros(1, dtype=torch.long, device=device) if config.aug_max_level else None
        kwargs = {"known": video, "mask": mask, "skip": torch.full((1,), 2, dtype=torch.long, device=device),
                  "aug_level": level}
        return networks["unet"], (video, torch.zeros(1, dtype=torch.long, device=device)), kwargs


FAMILY = FIFamily()
