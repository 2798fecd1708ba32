"""Per-family training objectives: one function per (family, stage), each returning an ``Objective``.

An objective maps a micro-batch and one ``torch.Generator`` per sample to named per-sample-mean
losses (one per trained module). Every random choice of a sample (label dropout, masks, windows,
timesteps, noise) is drawn from that sample's generator in a fixed order, so a sample's loss does
not depend on which rank or micro-batch it lands in.

- PVDM diffusion (pvdm.md §2.4–2.6): clips of 2·S frames; with probability λ = ``cond_prob`` the
  first S frames' clean latent conditions the last S, otherwise a random S-frame window is the
  target and the condition is the null (all-zero) latent. Eps-MSE on the flat triplane latent.
- VDM (Ho et al. 2022, §3.1 and §3.2): joint image-video training appends ``image_frames`` frames of
  another video of the batch after each video (temporal attention masks them off); with
  ``conditional_frames`` a random known-frame mask (none / first k / both ends) conditions the rest,
  and the loss covers the frames to generate.
- LVDM (He et al. 2022, §A.4): prediction/interpolation masks over latent frames with conditional
  latent perturbation (``vgen.sampling.conditioning.clp_training_batch``): conditioning latents are
  noised to s ~ U{0..max_noise_level−1} and target their own noise; L1 on eps over all latents.
- Class labels are replaced by the null label ``num_classes`` with probability ``cond_drop_prob``
  (classifier-free guidance, Ho & Salimans 2021).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from einops import rearrange
from torch import Tensor, nn

from vgen.config.base import DiffusionConfig, ModelConfigBase
from vgen.diffusion.losses import min_snr_weight, regression_loss
from vgen.diffusion.parameterisation import target_of
from vgen.diffusion.schedules import Schedule
from vgen.sampling.conditioning import clp_training_batch, pvdm_condition_batch
from vgen.sampling.noise import randn_per_sample
from vgen.training.trainer import Batch, Objective

Generators = Sequence[torch.Generator]


# ---------------------------------------------------------------------------------- per-sample draws

def uniform_per_sample(generators: Generators, device: torch.device) -> Tensor:
    """(B,) floats in [0, 1), entry i from ``generators[i]``."""
    return torch.cat([torch.rand(1, generator=g, device=g.device) for g in generators]).to(device)


def randint_per_sample(generators: Generators, low: int, high: int, device: torch.device) -> Tensor:
    """(B,) longs in [low, high), entry i from ``generators[i]``."""
    return torch.cat([torch.randint(low, high, (1,), generator=g, device=g.device) for g in generators]).to(device)


def drop_labels(labels: Tensor | None, num_classes: int, p: float, generators: Generators) -> Tensor | None:
    """Replace each label by the null label ``num_classes`` with probability ``p`` (CFG training)."""
    if labels is None or num_classes == 0:
        return None
    drop = uniform_per_sample(generators, labels.device) < p
    return torch.where(drop, torch.full_like(labels, num_classes), labels)


def denoising_loss(
    raw: Callable[[Tensor, Tensor], Tensor], x0: Tensor, schedule: Schedule, diffusion: DiffusionConfig,
    generators: Generators, weight: Tensor | None = None,
) -> Tensor:
    """DDPM simple loss with per-sample t ~ U{0..T−1} and noise, then ``vgen.diffusion.losses`` pieces.

    Same estimate as ``vgen.diffusion.losses.diffusion_loss`` but sample i draws t and eps from
    ``generators[i]`` (needed for rank-independent randomness under DDP).
    """
    t = randint_per_sample(generators, 0, schedule.num_timesteps, x0.device)
    eps = randn_per_sample(x0, generators)
    a, s = schedule.coefficients(t, x0)
    per_sample = regression_loss(raw(a * x0 + s * eps, t), target_of(diffusion.prediction, x0, eps, a, s),
                                 diffusion.loss, weight)
    if diffusion.min_snr_gamma is not None:
        per_sample = per_sample * min_snr_weight(schedule.snr(t), diffusion.min_snr_gamma,
                                                 diffusion.prediction).to(per_sample.dtype)
    return per_sample.mean()


# ---------------------------------------------------------------------------------- autoencoders

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


# ---------------------------------------------------------------------------------- diffusion

def pvdm_diffusion_objective(config: ModelConfigBase, networks: dict[str, nn.Module], schedule: Schedule,
                             cond_drop_prob: float) -> Objective:
    """PVDM (pvdm.md §2.6) on 2·S-frame clips, λ-mixed per sample between previous-clip and null conditioning."""
    autoencoder, unet = networks["autoencoder"], networks["unet"]
    frames, cond_prob = config.frames, getattr(config, "cond_prob")

    def objective(batch: Batch, generators: Generators) -> dict[str, Tensor]:
        clip = batch.video  # (B, 3, 2S, H, W)
        b, device = clip.shape[0], clip.device
        with torch.no_grad():
            previous = autoencoder.encode(clip[:, :, :frames]).float()
            rows = [pvdm_condition_batch(previous[i:i + 1], cond_prob, g) for i, g in enumerate(generators)]
            cond = torch.cat([c for c, _ in rows])
            conditioned = torch.cat([is_cond for _, is_cond in rows]).to(device)
            # Conditioned samples denoise the second clip; the others a random S-frame window r ∈ [0, S].
            start = torch.where(conditioned, torch.full((b,), frames, device=device),
                                randint_per_sample(generators, 0, frames + 1, device))
            offsets = start[:, None] + torch.arange(frames, device=device)[None]
            target = rearrange(clip[torch.arange(b, device=device)[:, None], :, offsets], "b s c h w -> b c s h w")
            z0 = autoencoder.encode(target).float()
        labels = drop_labels(batch.labels, config.num_classes, cond_drop_prob, generators)
        loss = denoising_loss(lambda x_t, t: unet(x_t, t, cond=cond, class_labels=labels), z0, schedule,
                              config.diffusion, generators)
        return {"unet": loss}

    return objective


KEY_STRIDES = (2, 3, 4)


def known_frame_mask(generators: Generators, frames: int, device: torch.device, *, p_keys: float = 0.0) -> Tensor:
    """VDM conditioning masks (B, 1, T, 1, 1): ½ none, ¼ first k ∈ [1, T/2] frames (prediction), ¼ both ends
    (interpolation). With ``p_keys > 0`` that share of rows instead gives every r-th frame from the first,
    r ∈ {2, 3, 4} (the key frames of ``interpolate --factor r``); those draws come after VDM's, so
    ``p_keys = 0`` leaves every mask and every later draw unchanged."""
    kind = uniform_per_sample(generators, device)
    k = randint_per_sample(generators, 1, max(frames // 2, 1) + 1, device)
    position = torch.arange(frames, device=device)[None]
    first_k = position < k[:, None]
    ends = (position == 0) | (position == frames - 1)
    mask = torch.where((kind < 0.75)[:, None], first_k, ends) & (kind >= 0.5)[:, None]
    if p_keys > 0:
        keyed = uniform_per_sample(generators, device) < p_keys
        stride = torch.tensor(KEY_STRIDES, device=device)[randint_per_sample(generators, 0, len(KEY_STRIDES), device)]
        mask = torch.where(keyed[:, None], position % stride[:, None] == 0, mask)
    return rearrange(mask.float(), "b t -> b 1 t 1 1")


def vdm_diffusion_objective(config: ModelConfigBase, networks: dict[str, nn.Module], schedule: Schedule,
                            cond_drop_prob: float) -> Objective:
    """VDM in pixel space with joint image-video training and known-frame masks."""
    unet = networks["unet"]
    image_frames = getattr(config, "image_frames")
    conditional = getattr(config, "unet").conditional_frames

    def objective(batch: Batch, generators: Generators) -> dict[str, Tensor]:
        video = batch.video  # (B, 3, T, H, W)
        b, _, frames = video.shape[:3]
        x0 = video
        if image_frames:
            # Sample i takes k random frames of video i+1 (mod B) of its micro-batch as independent images.
            picks = randint_per_sample([g for g in generators for _ in range(image_frames)], 0, frames, video.device)
            source = torch.arange(b, device=video.device).roll(-1).repeat_interleave(image_frames)
            images = rearrange(video[source, :, picks], "(b k) c h w -> b c k h w", k=image_frames)
            x0 = torch.cat([video, images], dim=2)
        mask = known = weight = None
        if conditional:
            mask = torch.cat([known_frame_mask(generators, frames, video.device, p_keys=getattr(config, "p_keys", 0.0)),
                              x0.new_zeros(b, 1, image_frames, 1, 1)], dim=2)
            known, weight = x0, 1 - mask
        labels = drop_labels(batch.labels, config.num_classes, cond_drop_prob, generators)
        loss = denoising_loss(
            lambda x_t, t: unet(x_t, t, known=known, mask=mask, class_labels=labels, image_frames=image_frames),
            x0, schedule, config.diffusion, generators, weight,
        )
        return {"unet": loss}

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
