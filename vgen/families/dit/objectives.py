"""DiT family training objectives.

- The causal autoencoder stage: L1 reconstruction from a posterior sample drawn with each sample's generator,
  + ``kl_weight`` · KL(q(z|x) || N(0, I)) (summed over latent elements, averaged over the batch; zero for a plain
  latent), + an optional perceptual term (LPIPS on every frame, or a clip distance for a ``per_clip`` module such
  as I3D).
- The diffusion stage: joint image-video training (images are 1-frame videos of the causal latent space), GenTron's
  motion-free dropout, and W.A.L.T.-style known-frame masks (prediction, interpolation, strided keys).
"""

from __future__ import annotations

from typing import Any

import torch
from einops import rearrange
from torch import Tensor, nn

from vgen.config.base import ModelConfigBase
from vgen.diffusion.schedules import Schedule
from vgen.sampling.noise import randn_per_sample
from vgen.training.objectives import KEY_STRIDES, Generators, denoising_loss, drop_labels, randint_per_sample, uniform_per_sample
from vgen.training.trainer import Batch, Objective


def dit_autoencoder_objective(autoencoder: nn.Module, perceptual: nn.Module | None = None,
                              kl_weight: float = 1e-6) -> Objective:
    """The causal autoencoder's loss (``kl_weight`` defaults to ``CausalAutoencoderConfig.kl_weight``)."""

    def objective(batch: Batch, generators: Generators) -> dict[str, Tensor]:
        video = batch.video
        posterior = autoencoder.posterior(video)
        recon = autoencoder.decode_raw(posterior.mean + posterior.std * randn_per_sample(posterior.mean, generators))
        loss = (recon - video).abs().mean() + kl_weight * posterior.kl().mean()
        if perceptual is None:
            return {"autoencoder": loss}
        if getattr(perceptual, "per_clip", False):
            return {"autoencoder": loss + perceptual(video, recon)}
        frames = (rearrange(v, "b c t h w -> (b t) c h w") for v in (video, recon))
        return {"autoencoder": loss + perceptual(*frames).mean()}

    return objective


def _frame_masks(generators: Generators, frames: int, p_pred: float, p_interp: float, p_keys: float,
                 device: torch.device) -> Tensor:
    """Known latent-frame masks (B, 1, T, 1, 1): with p_pred the first k ∈ [1, T/2] frames (prediction), with
    p_interp both ends (interpolation), with p_keys every 2nd/3rd/4th frame from the first, else none."""
    kind = uniform_per_sample(generators, device)
    k = randint_per_sample(generators, 1, max(frames // 2, 1) + 1, device)
    stride = torch.tensor(KEY_STRIDES, device=device)[randint_per_sample(generators, 0, len(KEY_STRIDES), device)]
    position = torch.arange(frames, device=device)[None]
    first_k = position < k[:, None]
    ends = (position == 0) | (position == frames - 1)
    keys = position % stride[:, None] == 0
    mask = torch.where((kind < p_pred)[:, None], first_k,
                       torch.where((kind < p_pred + p_interp)[:, None], ends,
                                   keys & (kind < p_pred + p_interp + p_keys)[:, None]))
    return rearrange(mask.float(), "b t -> b 1 t 1 1")


def dit_diffusion_objective(config: ModelConfigBase, networks: dict[str, nn.Module], schedule: Schedule,
                            cond_drop_prob: float) -> Objective:
    """Joint image-video training with motion-free dropout and known-frame masks (W.A.L.T., GenTron).

    Per sample, in this order from its generator: image or video (``image_ratio``), the image's frame, motion-free
    or not (``motion_free_prob``), label dropout, then (images and videos in two groups) the latent sample, the
    known-frame mask (videos; none for motion-free ones) and the denoising draws. Images are one frame encoded as a 1-frame video (the causal latent space's image latent) and go through
    the denoiser as T = 1; the loss is the mean over all samples, on the frames to generate.
    """
    autoencoder, unet = networks["autoencoder"], networks["unet"]
    cfg: Any = config

    def encode(video: Tensor, generators: Generators) -> Tensor:
        posterior = autoencoder.posterior(video)
        return autoencoder.normalise(posterior.mean + posterior.std * randn_per_sample(posterior.mean, generators)).float()

    def objective(batch: Batch, generators: Generators) -> dict[str, Tensor]:
        video, device = batch.video, batch.video.device
        b, frames = video.shape[0], video.shape[2]
        is_image = uniform_per_sample(generators, device) < cfg.image_ratio
        pick = randint_per_sample(generators, 0, frames, device)
        motion = uniform_per_sample(generators, device) >= cfg.motion_free_prob
        labels = drop_labels(batch.labels, config.num_classes, cond_drop_prob, generators)
        total = video.new_zeros(())
        for images in (False, True):
            rows = (is_image == images).nonzero().flatten().tolist()
            if not rows:
                continue
            g = [generators[i] for i in rows]
            with torch.no_grad():
                if images:
                    x = torch.stack([video[i, :, int(pick[i])] for i in rows])[:, :, None]
                else:
                    x = video[rows]
                z0 = encode(x, g)
            mask = known = weight = None
            move = motion[rows]
            if not images:
                mask = _frame_masks(g, z0.shape[2], cfg.p_pred, cfg.p_interp, cfg.p_keys, device) * move.reshape(-1, 1, 1, 1, 1)
                known, weight = z0, 1 - mask
            lab = labels[rows] if labels is not None else None
            loss = denoising_loss(
                lambda x_t, t: unet(x_t, t, known=known, mask=mask, class_labels=lab, motion=move),
                z0, schedule, config.diffusion, g, weight)
            total = total + loss * len(rows)
        return {"unet": total / b}

    return objective
