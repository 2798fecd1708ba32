"""What an SR stage does to its condition: resize it, and noise it (noise conditioning augmentation).

- ``downscale``: the training degradation, R -> R/scale per frame with antialiased bicubic interpolation (close to
  the Lanczos scaling ``vgen upscale`` fits its inputs with).
- ``upscale``: bicubic interpolation (no antialiasing, half-pixel centres) per frame, both for the condition the
  network sees and for the plain bicubic baseline an SR model must beat.
- ``augment``: the condition drawn from the model's own forward process at continuous level s ∈ [0, 1]:
  z_s = sqrt(ᾱ(s))·x + sqrt(1 − ᾱ(s))·ε, where ᾱ(s) interpolates the schedule's table [1, ᾱ_0, ..., ᾱ_{T−1}]
  linearly at position s·T (s = 0 is the clean clip, s = 1 the last diffusion step). The network is told s·T,
  embedded like a timestep (Cascaded Diffusion Models, Ho et al. 2021).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from vgen.diffusion.schedules import Schedule


def _per_frame(video: Tensor, size: tuple[int, int], *, antialias: bool) -> Tensor:
    frames = video.shape[2]
    flat = rearrange(video, "b c t h w -> (b t) c h w")
    out = F.interpolate(flat, size=size, mode="bicubic", align_corners=False, antialias=antialias)
    return rearrange(out, "(b t) c h w -> b c t h w", t=frames)


def downscale(video: Tensor, scale: int) -> Tensor:
    """(B, C, T, H, W) -> (B, C, T, H/scale, W/scale), antialiased bicubic, clamped to [-1, 1]."""
    height, width = video.shape[-2:]
    return _per_frame(video, (height // scale, width // scale), antialias=True).clamp(-1, 1)


def upscale(video: Tensor, size: int) -> Tensor:
    """(B, C, T, h, w) -> (B, C, T, size, size), bicubic (unclamped: bicubic overshoots at edges)."""
    return _per_frame(video, (size, size), antialias=False)


def alpha_bar_at(alphas_cumprod: Tensor, position: Tensor) -> Tensor:
    """ᾱ at fractional positions s·T (B,) of the table [1, ᾱ_0, ..., ᾱ_{T−1}], linearly interpolated; on the
    device and in the dtype of ``position`` (the meta device included)."""
    steps = alphas_cumprod.numel()
    table = torch.cat([torch.ones(1, dtype=alphas_cumprod.dtype), alphas_cumprod]).to(position)
    position = position.clamp(0, steps)
    low = position.floor().long().clamp(max=steps - 1)
    frac = position - low
    return table[low] * (1 - frac) + table[low + 1] * frac


def alpha_bar(schedule: Schedule, level: Tensor) -> Tensor:
    """ᾱ(s) for levels ``level`` (B,) in [0, 1] (float64, on the CPU)."""
    return alpha_bar_at(schedule.alphas_cumprod, level.detach().double().cpu() * schedule.num_timesteps)


def augment(lowres: Tensor, level: Tensor, noise: Tensor, schedule: Schedule) -> Tensor:
    """z_s = sqrt(ᾱ(s))·x + sqrt(1 − ᾱ(s))·ε per sample; ``lowres`` and ``noise`` (B, ...), ``level`` (B,)."""
    ab = alpha_bar(schedule, level).reshape(-1, *([1] * (lowres.ndim - 1)))
    a, s = ab.sqrt().to(lowres), (1 - ab).sqrt().to(lowres)
    return a * lowres + s * noise


def level_timestep(level: Tensor, schedule: Schedule) -> Tensor:
    """The (fractional) timestep s·T the network embeds for augmentation levels ``level`` (B,)."""
    return level.float() * schedule.num_timesteps
