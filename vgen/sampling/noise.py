"""Per-sample randomness, and how a video's noise is spread over its frames.

Each sample of a batch owns one ``torch.Generator``; noise is drawn per sample and stacked, so
sample i of a batch run is reproducible alone with the same generator (EDM's StackedRandomGenerator).

Frame noise (``DiffusionConfig.frame_noise``, ``--frame-noise``): ``independent`` draws every frame's noise on its
own; ``shared-mean`` gives the frames of a clip one shared spatial mean per channel (:func:`share_frame_mean`). Each
frame's noise is still exactly N(0, I), so a per-frame (image) network sees the noise it was trained on; only the
frames' means, one direction out of H·W per frame and channel, become the same. An image model decides a frame's
overall colour from that mean at high noise, so with independent noise an inflated image model's frames flicker in
colour (README, "Inflating an image model").
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from vgen.frame_noise import FRAME_NOISE, FrameNoise


def check_generators(generators: Sequence[torch.Generator], batch: int) -> None:
    """Samplers need exactly one generator per sample."""
    if len(generators) != batch:
        raise ValueError(f"got {len(generators)} generators for a batch of {batch}; pass one per sample")


def share_frame_mean(noise: Tensor) -> Tensor:
    """(B, C, T, H, W) standard normal noise -> the same noise with one spatial mean per sample and channel shared by
    its T frames.

    Each frame's own mean m_t (over H, W) is replaced by sqrt(T)·mean_t(m_t): the T means are independent
    N(0, 1/(H·W)) and their scaled average is again N(0, 1/(H·W)) and independent of every frame's deviations from
    its mean, so every frame is still exactly N(0, I); the deviations are left untouched.
    """
    if noise.ndim != 5:
        raise ValueError(f"shared-mean frame noise needs (B, C, T, H, W) noise, got shape {tuple(noise.shape)}")
    means = noise.mean((3, 4), keepdim=True)
    return noise - means + means.mean(2, keepdim=True) * math.sqrt(noise.shape[2])


def randn_per_sample(like: Tensor, generators: Sequence[torch.Generator],
                     frame_noise: FrameNoise = "independent") -> Tensor:
    """Standard normal noise shaped like ``like``: row i drawn from ``generators[i]`` on its device; with
    ``frame_noise="shared-mean"`` each row's frames (axis 2 of a (B, C, T, H, W) ``like``) share their mean."""
    check_generators(generators, like.shape[0])
    rows = [torch.randn(like.shape[1:], generator=g, device=g.device, dtype=like.dtype) for g in generators]
    noise = torch.stack(rows).to(like.device)
    if frame_noise == "shared-mean":
        return share_frame_mean(noise)
    if frame_noise != "independent":
        raise ValueError(f"unknown frame noise {frame_noise!r}; choose one of: {', '.join(FRAME_NOISE)}")
    return noise


def seeded_generators(seeds: Sequence[int], device: str | torch.device = "cpu") -> list[torch.Generator]:
    """One generator per seed (the usual way to build ``generators`` from a seed list)."""
    return [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]
