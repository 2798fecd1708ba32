"""The DiT family: a transformer denoiser over the latents of a causal 3D autoencoder (GenTron, W.A.L.T., Latte).

Conditioning: known latent frames with a mask channel (``mask``, W.A.L.T.'s prediction/interpolation), plus the
training-free methods every family has (replacement, reconstruction guidance), classifier-free guidance on class
labels and GenTron's motion-free guidance ``(1+w)·out(with temporal attention) − w·out(without)``.

Long videos continue from the video's last ``1 + r_t·k`` frames (k = half the latent frames after the first):
they are encoded as a fresh causal clip, whose first latent frame is the first context frame on its own, so the
known latents mean exactly what they mean in training.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from vgen.families.base import AutoencoderStage, Family, _identity
from vgen.families.dit.config import DiTConfig


class DiTFamily(Family):
    name = "dit"
    motion_free = True

    def build_networks(self, config: DiTConfig) -> dict[str, nn.Module]:
        from vgen.families.dit.autoencoder import CausalAutoencoder
        from vgen.families.dit.denoiser import DiTDenoiser

        return {"autoencoder": CausalAutoencoder(config.autoencoder), "unet": DiTDenoiser(config)}

    def frame_stride(self, config: DiTConfig) -> int:
        """Frames per latent frame after the first (the first latent frame is the first video frame alone)."""
        return config.autoencoder.temporal_downsample

    def raw(self, model, settings, **cond):
        from vgen.pipelines.clip import labelled_raw

        moving = labelled_raw(model, settings, **cond)
        w = settings.motion_guidance
        if not w:
            return moving
        still = labelled_raw(model, settings, **cond, motion=torch.zeros(1, dtype=torch.bool, device=model.device))
        return lambda x_t, t: (1 + w) * moving(x_t, t) - w * still(x_t, t)

    def denoiser(self, model, method, condition, kit):
        if method == "mask":
            from vgen.sampling.guidance import PinnedKnown

            mask = condition.mask_5d()
            raw = self.raw(model, kit.settings, known=condition.latent, mask=mask)
            return PinnedKnown(kit.wrap(raw), kit.schedule, condition.latent, mask), _identity
        return super().denoiser(model, method, condition, kit)

    def context_frames(self, model, method: str) -> int:
        config: DiTConfig = model.config
        known_latents = max(1, (config.latent_frames - 1) // 2)
        return 1 + config.autoencoder.temporal_downsample * known_latents

    def diffusion_objective(self, config, networks, schedule, cond_drop_prob):
        from vgen.families.dit.objectives import dit_diffusion_objective

        return dit_diffusion_objective(config, networks, schedule, cond_drop_prob)

    def autoencoder_stage(self, config: DiTConfig, networks, opts, perceptual, device: torch.device,
                          log: Callable[[str], None]) -> AutoencoderStage:
        from vgen.errors import VgenError
        from vgen.families.dit.objectives import dit_autoencoder_objective
        from vgen.training.latent_stats import latent_stats_fitter

        if opts.gan_start is not None:
            raise VgenError("--gan-start is available for PVDM autoencoders only; drop it for DiT")
        autoencoder = networks["autoencoder"]
        objective = dit_autoencoder_objective(autoencoder, perceptual, kl_weight=config.autoencoder.kl_weight)
        return AutoencoderStage(objective, {"autoencoder": autoencoder},
                                finish=latent_stats_fitter(autoencoder, opts.seed, device, log))


FAMILY = DiTFamily()
