"""One denoiser contract for every sampler: ``denoiser(x_t, t) -> Prediction(x0, eps)``.

A network predicts eps (DDPM), v (Salimans & Ho 2022; Imagen Video: v = a·eps − s·x0) or x0.
``Denoiser`` converts its raw output into both x0 and eps, so samplers never care which. A
``Prediction`` handed to a sampler satisfies ``x_t = a_t·x0 + s_t·eps`` for the x_t it was asked
about, also after x0 clipping (eps is then recomputed from the clipped x0, the convention of
guided-diffusion's DDIM), unless the denoiser is told to keep the network's eps as PVDM's official
DDIM does (``recompute_eps=False``).

Conditioning kwargs are bound before wrapping, e.g. ``Denoiser(partial(unet, cond=z_prev), ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Optional, Protocol

import torch
from torch import Tensor

from vgen.diffusion.schedules import Schedule, Timestep

PredictionKind = Literal["eps", "v", "x0"]
RawFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Prediction:
    """The denoiser's estimate of the clean sample ``x0`` and of the noise ``eps`` in x_t."""

    x0: Tensor
    eps: Tensor


class DenoiserFn(Protocol):
    """What samplers call: ``t`` is an int or an integer tensor of shape (B,)."""

    def __call__(self, x_t: Tensor, t: Timestep) -> Prediction: ...


def as_timestep_tensor(t: Timestep, x: Tensor) -> Tensor:
    """``t`` as a long tensor of shape (B,) on x's device (the form networks receive)."""
    t = torch.as_tensor(t, dtype=torch.long, device=x.device)
    return t.expand(x.shape[0]).contiguous() if t.ndim == 0 else t


def prediction_from_x0(x_t: Tensor, x0: Tensor, a: Tensor, s: Tensor) -> Prediction:
    """Pair an x0 estimate with the eps that makes ``x_t = a·x0 + s·eps`` hold."""
    return Prediction(x0=x0, eps=(x_t - a * x0) / s)


def to_prediction(raw: Tensor, x_t: Tensor, a: Tensor, s: Tensor, kind: PredictionKind) -> Prediction:
    """Convert a network output of the given kind to (x0, eps) (Salimans & Ho 2022, §4 and App. D)."""
    if kind == "eps":
        return Prediction(x0=(x_t - s * raw) / a, eps=raw)
    if kind == "v":
        return Prediction(x0=a * x_t - s * raw, eps=s * x_t + a * raw)
    if kind == "x0":
        return prediction_from_x0(x_t, raw, a, s)
    raise ValueError(f"unknown prediction kind {kind!r}")


def target_of(kind: PredictionKind, x0: Tensor, eps: Tensor, a: Tensor, s: Tensor) -> Tensor:
    """What a network of the given kind should output for x_t = a·x0 + s·eps (its training target)."""
    if kind == "eps":
        return eps
    if kind == "v":
        return a * eps - s * x0
    if kind == "x0":
        return x0
    raise ValueError(f"unknown prediction kind {kind!r}")


class Denoiser:
    """Wrap ``raw(x_t, t) -> network output`` into ``(x_t, t) -> Prediction``.

    ``clip_x0 = c`` clamps x0 to [−c, c] (sensible when data or latents are bounded, e.g. PVDM's
    tanh latents or VDM pixels) and recomputes eps from the clamped x0; with ``recompute_eps=False``
    eps stays the network's (the official PVDM DDIM: sihyun-yu/PVDM losses/ddpm.py,
    ``DDPM.model_predictions`` clamps ``x_start`` in place and returns the unclamped ``pred_noise``,
    which ``ddim_sample`` then uses for the direction term).
    """

    def __init__(self, raw: RawFn, schedule: Schedule, prediction: PredictionKind = "eps",
                 clip_x0: Optional[float] = None, recompute_eps: bool = True) -> None:
        if prediction not in ("eps", "v", "x0"):
            raise ValueError(f"unknown prediction kind {prediction!r}")
        self.raw = raw
        self.schedule = schedule
        self.prediction = prediction
        self.clip_x0 = clip_x0
        self.recompute_eps = recompute_eps

    def __call__(self, x_t: Tensor, t: Timestep) -> Prediction:
        t = as_timestep_tensor(t, x_t)
        if bool((t < 0).any()):
            raise ValueError("a denoiser is only defined for noisy timesteps t >= 0")
        a, s = self.schedule.coefficients(t, x_t)
        pred = to_prediction(self.raw(x_t, t), x_t, a, s, self.prediction)
        if self.clip_x0 is None:
            return pred
        x0 = pred.x0.clamp(-self.clip_x0, self.clip_x0)
        return prediction_from_x0(x_t, x0, a, s) if self.recompute_eps else Prediction(x0=x0, eps=pred.eps)
