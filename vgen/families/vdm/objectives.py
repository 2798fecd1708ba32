"""VDM training objective (Ho et al. 2022, §3.1–3.2) in pixel space: joint image-video training appends
``image_frames`` frames of another video of the batch after each video (temporal attention masks them off); with
``conditional_frames`` a random known-frame mask conditions the rest and the loss covers the frames to generate.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from vgen.config.base import ModelConfigBase
from vgen.diffusion.schedules import Schedule
from vgen.training.objectives import (KEY_STRIDES, Generators, denoising_loss, drop_labels, randint_per_sample,
                                      uniform_per_sample)
from vgen.training.trainer import Batch, Objective

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
