"""The VDM family: a pixel-space factorised 3D UNet; known frames by mask, replacement or reconstruction guidance."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from vgen.families.base import PixelFamily, _identity
from vgen.families.vdm.config import VDMConfig


class VDMFamily(PixelFamily):
    name = "vdm"

    def build_networks(self, config: VDMConfig) -> dict[str, nn.Module]:
        from vgen.families.vdm.unet import VDMUNet

        return {"unet": VDMUNet(config)}

    def denoiser(self, model, method, condition, kit):
        from vgen.pipelines.clip import Condition

        if method == "mask":
            from vgen.sampling.guidance import PinnedKnown

            mask = condition.mask_5d()
            raw = self.raw(model, kit.settings, known=condition.latent, mask=mask)
            return PinnedKnown(kit.wrap(raw), kit.schedule, condition.latent, mask), _identity
        if method == "reconstruction" and condition.latent is None:
            # Pixel space: the known frames are latent frames, so use the aligned form (VDM eq. 7).
            condition = Condition.aligned(model, condition.frames, condition.positions)
        return super().denoiser(model, method, condition, kit)

    def diffusion_objective(self, config, networks, schedule, cond_drop_prob):
        from vgen.families.vdm.objectives import vdm_diffusion_objective

        return vdm_diffusion_objective(config, networks, schedule, cond_drop_prob)

    def example_inputs(self, config: VDMConfig, stage: str, networks: dict[str, nn.Module], device: torch.device
                       ) -> tuple[nn.Module, tuple[Tensor, ...], dict[str, Any]]:
        """Joint image-video training appends ``image_frames`` images to each video."""
        k, res = config.image_frames, config.resolution
        video = torch.zeros(1, self.channels, config.frames + k, res, res, device=device)
        return networks["unet"], (video, torch.zeros(1, dtype=torch.long, device=device)), {"image_frames": k}


FAMILY = VDMFamily()
