"""The LVDM family: 3D-conv autoencoder + latent UNet with conditional latent perturbation, hierarchical long video."""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor, nn

from vgen.errors import VgenError
from vgen.families.base import AutoencoderStage, Carry, Family
from vgen.families.lvdm.config import LVDMConfig
from vgen.pipelines.settings import OfficialSampler

# LVDM's prediction model is trained with one given latent (lvdm-vdm.md §A.4, n_prevs=[1]).
CONTEXT_LATENTS = 1

# The official LVDM sampler, YingqingHe/LVDM (read at commit d251dcc): lvdm/samplers/ddim.py ``DDIMSampler``, LDM's.
# - grid: lvdm/models/modules/util.py ``make_ddim_timesteps('uniform')`` = range(0, T, T // S) + 1, and
#   ``make_ddim_sampling_parameters`` gives the last step alphas_prev = alphacums[0], not 1: the sample ends at
#   t = 0 (the ``ldm`` spacing);
# - eta: scripts/sample_uncond.py and scripts/sample_uncond_long_videos.py pass ``--eta``, default 1.0;
# - x0: ``p_sample_ddim`` never clamps pred_x0 (and LatentDiffusion sets clip_denoised = False);
# - steps: the sampling scripts' ``--ddim_steps`` default and the shell scripts' value, 50.
LVDM_OFFICIAL = OfficialSampler(spacing="ldm", eta=1.0, clip_x0=None, recompute_eps=True, steps=50)


class LVDMFamily(Family):
    name = "lvdm"
    official_sampler = LVDM_OFFICIAL

    def build_networks(self, config: LVDMConfig) -> dict[str, nn.Module]:
        from vgen.families.lvdm.autoencoder import LVDMAutoencoder
        from vgen.families.lvdm.unet import LVDMUNet

        return {"autoencoder": LVDMAutoencoder(config.autoencoder), "unet": LVDMUNet(config)}

    def frame_stride(self, config: LVDMConfig) -> int:
        return config.autoencoder.downsample[0]

    def denoiser(self, model, method, condition, kit):
        if method == "mask":
            from vgen.families.lvdm.conditioning import LVDMConditioned
            from vgen.pipelines.clip import label_kwargs

            settings = kit.settings
            w = model.config.uncond_guidance if settings.guidance is None else settings.guidance
            conditioned = LVDMConditioned(model.unet, kit.schedule, condition.latent, condition.mask_5d(),
                                          s=model.config.sample_noise_level, generators=[kit.generator], w=w,
                                          **label_kwargs(model, settings))
            return kit.wrap(conditioned), conditioned.finalize
        return super().denoiser(model, method, condition, kit)

    def context_frames(self, model, method: str) -> int:
        return CONTEXT_LATENTS * self.frame_stride(model.config)

    def carry(self, model, method: str, frames: Tensor, latent: Optional[Tensor] = None) -> Carry:
        if method not in ("mask", "replacement"):
            return super().carry(model, method, frames, latent)
        known = latent[:, :, -CONTEXT_LATENTS:].clone() if latent is not None else model.encode(frames)
        return Carry(frames=frames.clone(), latent=known)

    def long_plan(self, model, method: str, frames: int):
        if method != "hierarchical":
            return None
        from vgen.families.lvdm.hierarchical import hierarchical_steps, plan_for

        plan = plan_for(model, frames)
        return hierarchical_steps(model, plan, frames), len(plan.keys.windows) + len(plan.interpolation.windows)

    def diffusion_objective(self, config, networks, schedule, cond_drop_prob):
        from vgen.families.lvdm.objectives import lvdm_diffusion_objective

        return lvdm_diffusion_objective(config, networks, schedule, cond_drop_prob)

    def autoencoder_stage(self, config, networks, opts, perceptual, device: torch.device,
                          log: Callable[[str], None]) -> AutoencoderStage:
        from vgen.families.lvdm.objectives import lvdm_autoencoder_objective
        from vgen.training.latent_stats import latent_stats_fitter

        if opts.gan_start is not None:
            raise VgenError("--gan-start is available for PVDM autoencoders only; drop it for LVDM")
        autoencoder = networks["autoencoder"]
        return AutoencoderStage(lvdm_autoencoder_objective(autoencoder, perceptual), {"autoencoder": autoencoder},
                                finish=latent_stats_fitter(autoencoder, opts.seed, device, log))


FAMILY = LVDMFamily()


