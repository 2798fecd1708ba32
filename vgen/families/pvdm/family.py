"""The PVDM family: projected autoencoder + plane UNet, clip-by-clip generation on the previous clip's latent."""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor, nn

from vgen.families.base import AutoencoderStage, Carry, Family, _identity
from vgen.families.pvdm.config import PVDMConfig
from vgen.pipelines.settings import OfficialSampler

# The official PVDM sampler, sihyun-yu/PVDM losses/ddpm.py (read at commit 793172f):
# - grid: ``DDPM.ddim_sample`` steps through ``torch.linspace(-1, T - 1, sampling_timesteps + 1).int()`` reversed,
#   the last step to -1 returning x_start (the ``pvdm`` spacing of ``Schedule.timesteps``);
# - eta: ``ddim_sampling_eta = 1.`` (the constructor's default; evals/eval.py does not change it, and the README's
#   checkpoint table says "eta=1");
# - x0: ``model_predictions(..., clip_x_start=True)`` clamps x_start to [-1, 1] in place and returns the network's
#   unclamped ``pred_noise``, which the update uses as eps (x0 clamped, eps not recomputed);
# - steps: 400, the paper's reported setting (README checkpoint table "400/400-s, eta=1"; evals/eval.py's in-training
#   FVD uses 100, which the README calls noisy and not the reported values).
PVDM_OFFICIAL = OfficialSampler(spacing="pvdm", eta=1.0, clip_x0=1.0, recompute_eps=False, steps=400)


class PVDMFamily(Family):
    name = "pvdm"
    official_sampler = PVDM_OFFICIAL

    def build_networks(self, config: PVDMConfig) -> dict[str, nn.Module]:
        from vgen.families.pvdm.autoencoder import PVDMAutoencoder
        from vgen.families.pvdm.unet import PVDMUNet

        return {"autoencoder": PVDMAutoencoder(config.autoencoder, config.frames, config.resolution),
                "unet": PVDMUNet(config)}

    def condition_kwargs(self, model, cond: Optional[Tensor]) -> dict:
        """The previous clip's clean latent; None is the null condition (all zeros), as in training."""
        return {"cond": cond}

    def denoiser(self, model, method, condition, kit):
        if method == "latent":
            from vgen.families.pvdm.conditioning import aligned_condition, pvdm_guided_raw
            from vgen.pipelines.clip import label_kwargs

            overlap = model.config.cond_overlap
            prev = aligned_condition(condition.prev_latent, model.unet.sizes, overlap)
            raw = pvdm_guided_raw(model.unet, prev, kit.settings.guidance or 0.0,
                                  **label_kwargs(model, kit.settings))
            if overlap and condition.frames is not None and kit.settings.fit_steps:
                from vgen.families.pvdm.conditioning import fit_shared_plane

                known = condition.frames[:, :, -overlap:]
                return kit.wrap(raw), lambda z: fit_shared_plane(lambda x: model.decode(x, clamp=False), z, known,
                                                                 model.unet.sizes, kit.settings.fit_steps)
            return kit.wrap(raw), _identity
        return super().denoiser(model, method, condition, kit)

    def context_frames(self, model, method: str) -> int:
        return model.clip_frames if method == "latent" else super().context_frames(model, method)

    def window_overlap(self, model, method: str) -> int:
        """A model trained with ``cond_overlap`` k re-makes the previous clip's last k frames under ``latent``."""
        return model.config.cond_overlap if method == "latent" else 0

    def carry(self, model, method: str, frames: Tensor, latent: Optional[Tensor] = None) -> Carry:
        if method != "latent":
            return super().carry(model, method, frames, latent)
        return Carry(frames=frames.clone(), latent=latent.clone() if latent is not None else model.encode(frames))

    def clip_frames(self, config: PVDMConfig, stage: str) -> int:
        """PVDM diffusion loads a clip and the next (previous-clip conditioning), overlapping by ``cond_overlap``."""
        return 2 * config.frames - config.cond_overlap if stage == "diffusion" else config.frames

    def diffusion_objective(self, config, networks, schedule, cond_drop_prob):
        from vgen.families.pvdm.objectives import pvdm_diffusion_objective

        return pvdm_diffusion_objective(config, networks, schedule, cond_drop_prob)

    def autoencoder_stage(self, config, networks, opts, perceptual, device: torch.device,
                          log: Callable[[str], None]) -> AutoencoderStage:
        from vgen.families.pvdm.losses import AutoencoderLoss
        from vgen.families.pvdm.objectives import pvdm_autoencoder_objective
        from vgen.training.order import derive_seed

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(opts.seed, "discriminator"))
            loss = AutoencoderLoss(perceptual=perceptual, gan=opts.gan_start is not None).to(device)
        trainable: dict[str, nn.Module] = {"autoencoder": networks["autoencoder"]}
        if opts.gan_start is not None:
            trainable["discriminator"] = nn.ModuleList([loss.disc_2d, loss.disc_3d])
            log(f"adversarial loss (2D + 3D PatchGAN) from autoencoder step {opts.gan_start}")
        return AutoencoderStage(pvdm_autoencoder_objective(networks["autoencoder"], loss, opts.gan_start), trainable)


FAMILY = PVDMFamily()
