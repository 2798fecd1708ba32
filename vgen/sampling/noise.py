"""Per-sample randomness, and how a video's noise is spread over its frames.

Each sample of a batch owns one ``torch.Generator``; noise is drawn per sample and stacked, so
sample i of a batch run is reproducible alone with the same generator (EDM's StackedRandomGenerator).

Frame noise (``DiffusionConfig.frame_noise``, ``--frame-noise``): ``independent`` draws every frame's noise on its
own; ``shared-mean`` gives the frames of a clip one shared spatial mean per channel (:func:`share_frame_mean`). Each
frame's noise is still exactly N(0, I), so a per-frame (image) network sees the noise it was trained on; only the
frames' means, one direction out of H·W per frame and channel, become the same. An image model decides a frame's
overall colour from that mean at high noise, so with independent noise an inflated image model's frames flicker in
colour (README, "Inflating an image model").

A video made window by window (long videos, ``extend``) shares the means across its windows too
(:class:`VideoFrameMeans`): the k-th noise draw of every window gets the mean the k-th draw of its first window got,
as if all its frames were one clip. With a mean per window, each new window's frames took another colour than the
known frames they continue.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

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


class VideoFrameMeans:
    """Shared-mean frame noise for one video made of several windows: one spatial mean per channel for all its frames.

    Each window calls :meth:`start_window`, then draws its noise in the same order (start noise, then each
    stochastic step's fresh noise). Draw k of the first window keeps its shared mean (:func:`share_frame_mean`) and
    records it; draw k of every later window gets that recorded mean in place of its own. The mean is N(0, 1/(H·W))
    and independent of the deviations either way, so every frame's noise is still exactly N(0, I).
    """

    def __init__(self) -> None:
        self.means: list[Tensor] = []
        self.index = 0

    def start_window(self) -> None:
        self.index = 0

    def share(self, noise: Tensor) -> Tensor:
        shared = share_frame_mean(noise)
        mean = shared.mean((3, 4), keepdim=True)[:, :, :1]  # the value every frame's mean now has
        if self.index < len(self.means) and self.means[self.index].shape == mean.shape:
            shared = shared - mean + self.means[self.index].to(shared)
        elif self.index == len(self.means):
            self.means.append(mean)
        self.index += 1
        return shared


NoiseSpec = Union[FrameNoise, VideoFrameMeans]  # what samplers take: a frame-noise name, or a video's shared means


def randn_per_sample(like: Tensor, generators: Sequence[torch.Generator],
                     frame_noise: NoiseSpec = "independent") -> Tensor:
    """Standard normal noise shaped like ``like``: row i drawn from ``generators[i]`` on its device; with
    ``frame_noise="shared-mean"`` each row's frames (axis 2 of a (B, C, T, H, W) ``like``) share their mean, and
    with a :class:`VideoFrameMeans` the mean its video's first window had for this draw."""
    check_generators(generators, like.shape[0])
    rows = [torch.randn(like.shape[1:], generator=g, device=g.device, dtype=like.dtype) for g in generators]
    noise = torch.stack(rows).to(like.device)
    if isinstance(frame_noise, VideoFrameMeans):
        return frame_noise.share(noise)
    if frame_noise == "shared-mean":
        return share_frame_mean(noise)
    if frame_noise != "independent":
        raise ValueError(f"unknown frame noise {frame_noise!r}; choose one of: {', '.join(FRAME_NOISE)}")
    return noise


def seeded_generators(seeds: Sequence[int], device: str | torch.device = "cpu") -> list[torch.Generator]:
    """One generator per seed (the usual way to build ``generators`` from a seed list)."""
    return [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]
