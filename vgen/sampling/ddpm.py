"""DDPM ancestral sampling (Ho et al. 2020, Algorithm 2) on any descending sub-grid of timesteps.

A step from t to t_prev < t draws x_prev from the posterior q(x_prev | x_t, x0 = x0_pred) of the
respaced process whose betas are 1 − alpha_bar_t / alpha_bar_prev (Nichol & Dhariwal 2021, §4):

    mean = sqrt(alpha_bar_prev)·beta/(1 − alpha_bar_t)·x0 + sqrt(1 − beta)·(1 − alpha_bar_prev)/(1 − alpha_bar_t)·x_t
    var  = beta_tilde = beta·(1 − alpha_bar_prev)/(1 − alpha_bar_t)        (DDPM eq. 6-7)

With all T steps this is the original sampler; the last step returns x0_pred (no noise at t = 0).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor

from vgen.diffusion.parameterisation import DenoiserFn, Prediction
from vgen.diffusion.schedules import Schedule, Spacing
from vgen.sampling.noise import NoiseSpec, check_generators, randn_per_sample
from vgen.sampling.steps import Callback, report, step_pairs


def ancestral_step(x_t: Tensor, pred: Prediction, schedule: Schedule, t: int, t_prev: int,
                   generators: Sequence[torch.Generator], frame_noise: NoiseSpec = "independent") -> Tensor:
    """One draw from q(x_{t_prev} | x_t, x0_pred) (its noise drawn as ``frame_noise`` says); ``t_prev = −1``
    returns x0_pred exactly."""
    if t_prev < 0:
        return pred.x0
    alpha_bar, alpha_bar_prev = schedule.alpha_bar_of(t), schedule.alpha_bar_of(t_prev)
    beta = 1 - alpha_bar / alpha_bar_prev
    coef_x0 = math.sqrt(alpha_bar_prev) * beta / (1 - alpha_bar)
    coef_xt = math.sqrt(1 - beta) * (1 - alpha_bar_prev) / (1 - alpha_bar)
    beta_tilde = beta * (1 - alpha_bar_prev) / (1 - alpha_bar)
    return coef_x0 * pred.x0 + coef_xt * x_t + math.sqrt(beta_tilde) * randn_per_sample(x_t, generators, frame_noise)


@torch.no_grad()
def sample_ddpm(denoiser: DenoiserFn, x_T: Tensor, schedule: Schedule, *, steps: int,
                generators: Sequence[torch.Generator], callback: Optional[Callback] = None,
                spacing: Spacing = "linspace", start: Optional[int] = None,
                frame_noise: NoiseSpec = "independent") -> Tensor:
    """Ancestral sampling from x_T ~ N(0, I) with ``steps`` denoiser calls; returns x_0."""
    check_generators(generators, x_T.shape[0])
    pairs = step_pairs(schedule, steps, spacing, start)
    x = x_T
    for done, (t, t_prev) in enumerate(pairs, start=1):
        x = ancestral_step(x, denoiser(x, t), schedule, t, t_prev, generators, frame_noise)
        report(callback, done, len(pairs), t=t)
    return x
