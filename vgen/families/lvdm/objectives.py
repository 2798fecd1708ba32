"""LVDM training objectives: the 3D-conv autoencoder (§A.2) and the latent UNet with prediction/interpolation masks
and conditional latent perturbation (§A.4): conditioning latents are noised to s ~ U{0..max_noise_level−1} and
target their own noise.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from vgen.config.base import ModelConfigBase
from vgen.diffusion.losses import min_snr_weight, regression_loss
from vgen.diffusion.schedules import Schedule
from vgen.families.lvdm.conditioning import clp_training_batch
from vgen.sampling.noise import randn_per_sample
from vgen.training.objectives import Generators, drop_labels
from vgen.training.trainer import Batch, Objective

def lvdm_autoencoder_objective(autoencoder: nn.Module, perceptual: nn.Module | None = None) -> Objective:
    """LVDM AE (§A.2): L1 reconstruction from a posterior sample (KL weight 0), + LPIPS on every frame or an
    I3D distance on the clip if given."""

    def objective(batch: Batch, generators: Generators) -> dict[str, Tensor]:
        video = batch.video
        posterior = autoencoder.posterior(video)
        z = posterior.mean + posterior.std * randn_per_sample(posterior.mean, generators)
        recon = autoencoder.decode_raw(z)
        loss = (recon - video).abs().mean()
        if perceptual is not None and getattr(perceptual, "per_clip", False):
            loss = loss + perceptual(video, recon)
        elif perceptual is not None:
            frames = [rearrange(v, "b c t h w -> (b t) c h w") for v in (video, recon)]
            loss = loss + perceptual(*frames).mean()
        return {"autoencoder": loss}

    return objective


def lvdm_diffusion_objective(config: ModelConfigBase, networks: dict[str, nn.Module], schedule: Schedule,
                             cond_drop_prob: float) -> Objective:
    """LVDM with prediction/interpolation masks and conditional latent perturbation (CLP); loss per config."""
    autoencoder, unet = networks["autoencoder"], networks["unet"]
    unet_cfg = getattr(config, "unet")
    p_interp, p_pred, p_keys = (getattr(config, name) for name in ("p_interp", "p_pred", "p_keys"))
    diffusion = config.diffusion

    def objective(batch: Batch, generators: Generators) -> dict[str, Tensor]:
        with torch.no_grad():
            posterior = autoencoder.posterior(batch.video)
            z0 = autoencoder.normalise(posterior.mean + posterior.std * randn_per_sample(posterior.mean, generators))
            z0 = z0.float()
        latent_frames = z0.shape[2]
        # One generator per sample: the helper runs row by row so a row's draws do not depend on its batch.
        rows = [
            clp_training_batch(z0[i:i + 1], schedule, generator=g, p_interp=p_interp, p_pred=p_pred,
                               n_prevs=tuple(range(1, max(latent_frames // 2, 1) + 1)),
                               max_noise_level=unet_cfg.max_noise_level, prediction=diffusion.prediction,
                               p_keys=p_keys)
            for i, g in enumerate(generators)
        ]
        x_in, target, mask, t, s = (torch.cat([getattr(r, f) for r in rows]) for f in ("x_in", "target", "mask", "t", "s"))
        labels = drop_labels(batch.labels, config.num_classes, cond_drop_prob, generators)
        per_sample = regression_loss(unet(x_in, t, mask=mask, s=s, class_labels=labels), target, diffusion.loss)
        if diffusion.min_snr_gamma is not None:
            per_sample = per_sample * min_snr_weight(schedule.snr(t), diffusion.min_snr_gamma,
                                                     diffusion.prediction).to(per_sample.dtype)
        return {"unet": per_sample.mean()}

    return objective
