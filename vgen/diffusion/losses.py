"""Denoising training losses (DDPM "simple" loss on the eps, v or x0 target, optional min-SNR-gamma).

Per-sample timesteps ``t ~ U{0..T−1}`` and noise are drawn from one ``torch.Generator``; the loss of
each sample is the (optionally weighted) mean over its elements, and the batch loss is the mean of
the per-sample losses, each multiplied by its min-SNR weight when ``min_snr_gamma`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import Tensor

from vgen.diffusion.parameterisation import PredictionKind, RawFn, target_of
from vgen.diffusion.schedules import Schedule

LossKind = Literal["mse", "l1"]


@dataclass(frozen=True)
class LossOutput:
    """``loss``: scalar to backpropagate; ``per_sample``: (B,) weighted losses; ``t``: (B,) timesteps."""

    loss: Tensor
    per_sample: Tensor
    t: Tensor


def min_snr_weight(snr: Tensor, gamma: float, target: PredictionKind) -> Tensor:
    """Min-SNR-gamma loss weight (Hang et al. 2023, eq. 9 and §3.4).

    The weight on the x0-space error is min(SNR, gamma); expressed for the loss on each target:
    x0: min(SNR, gamma); eps: min(SNR, gamma) / SNR; v: min(SNR, gamma) / (SNR + 1).
    """
    clipped = snr.clamp(max=gamma)
    if target == "x0":
        return clipped
    if target == "eps":
        return clipped / snr
    if target == "v":
        return clipped / (snr + 1)
    raise ValueError(f"unknown prediction kind {target!r}")


def regression_loss(pred: Tensor, target: Tensor, kind: LossKind = "mse",
                    mask: Optional[Tensor] = None) -> Tensor:
    """Per-sample (B,) mean of the squared (mse) or absolute (l1) error.

    ``mask`` holds non-negative per-element weights broadcastable to ``pred``; each sample's loss is
    then the weighted mean sum(w·err) / sum(w).
    """
    if kind not in ("mse", "l1"):
        raise ValueError(f"unknown loss kind {kind!r}")
    err = (pred - target).square() if kind == "mse" else (pred - target).abs()
    if mask is None:
        return err.flatten(1).mean(dim=1)
    weight = mask.to(err.dtype).expand_as(err)
    return (err * weight).flatten(1).sum(dim=1) / weight.flatten(1).sum(dim=1).clamp(min=1e-12)


def diffusion_loss(raw: RawFn, x0: Tensor, schedule: Schedule, *, generator: torch.Generator,
                   prediction: PredictionKind = "eps", loss: LossKind = "mse",
                   min_snr_gamma: Optional[float] = None, mask: Optional[Tensor] = None) -> LossOutput:
    """One Monte-Carlo estimate of the denoising loss for a batch of clean samples ``x0`` (B, ...).

    Conditioning kwargs are bound into ``raw`` (e.g. ``partial(unet, cond=c)``). ``generator``
    draws both the timesteps and the noise (on CPU, then moved to x0's device).
    """
    batch = x0.shape[0]
    t = torch.randint(0, schedule.num_timesteps, (batch,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    a, s = schedule.coefficients(t, x0)
    x_t = a * x0 + s * noise
    per_sample = regression_loss(raw(x_t, t), target_of(prediction, x0, noise, a, s), loss, mask)
    if min_snr_gamma is not None:
        per_sample = per_sample * min_snr_weight(schedule.snr(t), min_snr_gamma, prediction).to(per_sample.dtype)
    return LossOutput(loss=per_sample.mean(), per_sample=per_sample, t=t)
