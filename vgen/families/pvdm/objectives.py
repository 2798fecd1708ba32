"""PVDM training objectives: the projected autoencoder (pvdm.md §1.5–1.6) and the plane UNet on (2·S − k)-frame
clips (§2.4–2.6): with probability λ = ``cond_prob`` the first S frames' clean latent conditions the S frames from
S − k on, otherwise a random S-frame window is the target and the condition is the null (all-zero) latent. k is
``cond_overlap``: 0 in the paper (consecutive clips); k > 0 makes every conditioned clip begin with the last k frames
of its condition, which long videos use to join clips (see ``vgen.pipelines.windows``), and lays the condition out
time-aligned with the clip it conditions (``aligned_condition``).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from vgen.config.base import ModelConfigBase
from vgen.diffusion.schedules import Schedule
from vgen.families.pvdm.conditioning import aligned_condition, pvdm_condition_batch
from vgen.training.objectives import Generators, denoising_loss, drop_labels, randint_per_sample
from vgen.training.trainer import Batch, Objective

def pvdm_autoencoder_objective(autoencoder: nn.Module, loss: nn.Module, gan_start: int | None) -> Objective:
    """PVDM AE (pvdm.md §1.5–1.6) with the PVDM loss module: 4·L1 (+4·LPIPS on a random frame), and from step
    ``gan_start`` the 2D/3D PatchGAN terms; the discriminators then get their hinge loss."""

    def objective(batch: Batch, generators: Generators) -> dict[str, Tensor]:
        video = batch.video
        recon = autoencoder(video)
        use_gan = gan_start is not None and batch.step >= gan_start
        # The loss module draws the random frame index from one generator; the micro-batch's first one.
        g_loss, _ = loss.generator_loss(video, recon, use_gan=use_gan, generator=generators[0])
        losses = {"autoencoder": g_loss}
        if use_gan:
            losses["discriminator"] = loss.discriminator_loss(video, recon, generator=generators[0])[0]
        return losses

    return objective


def pvdm_diffusion_objective(config: ModelConfigBase, networks: dict[str, nn.Module], schedule: Schedule,
                             cond_drop_prob: float) -> Objective:
    """PVDM (pvdm.md §2.6) on (2·S − k)-frame clips, λ-mixed per sample between previous-clip and null conditioning."""
    autoencoder, unet = networks["autoencoder"], networks["unet"]
    frames, cond_prob = config.frames, getattr(config, "cond_prob")
    overlap = getattr(config, "cond_overlap", 0)
    step = frames - overlap  # where the conditioned clip starts

    def objective(batch: Batch, generators: Generators) -> dict[str, Tensor]:
        clip = batch.video  # (B, 3, S + step, H, W)
        b, device = clip.shape[0], clip.device
        with torch.no_grad():
            previous = aligned_condition(autoencoder.encode(clip[:, :, :frames]).float(), unet.sizes, overlap)
            rows = [pvdm_condition_batch(previous[i:i + 1], cond_prob, g) for i, g in enumerate(generators)]
            cond = torch.cat([c for c, _ in rows])
            conditioned = torch.cat([is_cond for _, is_cond in rows]).to(device)
            # Conditioned samples denoise the clip from ``step`` on; the others a random S-frame window r ∈ [0, step].
            start = torch.where(conditioned, torch.full((b,), step, device=device),
                                randint_per_sample(generators, 0, step + 1, device))
            offsets = start[:, None] + torch.arange(frames, device=device)[None]
            target = rearrange(clip[torch.arange(b, device=device)[:, None], :, offsets], "b s c h w -> b c s h w")
            z0 = autoencoder.encode(target).float()
        labels = drop_labels(batch.labels, config.num_classes, cond_drop_prob, generators)
        loss = denoising_loss(lambda x_t, t: unet(x_t, t, cond=cond, class_labels=labels), z0, schedule,
                              config.diffusion, generators)
        return {"unet": loss}

    return objective
