"""DDIM sampling (Song, Meng & Ermon 2021, eq. 12) with stochasticity eta, and DDIM inversion.

    x_prev = sqrt(alpha_bar_prev)·x0_pred + sqrt(1 − alpha_bar_prev − sigma²)·eps_pred + sigma·z
    sigma  = eta·sqrt((1 − alpha_bar_prev)/(1 − alpha_bar_t))·sqrt(1 − alpha_bar_t/alpha_bar_prev)   (eq. 16)

eta = 0 is the deterministic probability-flow discretisation; eta = 1 has DDPM's posterior variance.

The official PVDM and LDM/LVDM samplers are this update with eta = 1 on their own grids (``spacing="pvdm"`` /
``"ldm"``, see ``Schedule.timesteps``; the ``ldm`` grid's last step lands on alpha_bar_0); PVDM also clamps x0 and
keeps the network's eps (``Denoiser(recompute_eps=False)``). ``--schedule-grid official`` picks all of it
(``vgen.pipelines.settings.SamplerSettings.for_model``).
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


def ddim_step(pred: Prediction, alpha_bar: float, alpha_bar_prev: float, eta: float,
              generators: Sequence[torch.Generator], frame_noise: NoiseSpec = "independent") -> Tensor:
    """Move from level alpha_bar to alpha_bar_prev given (x0_pred, eps_pred); eq. 12."""
    sigma = eta * math.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)) if eta else 0.0
    x_prev = math.sqrt(alpha_bar_prev) * pred.x0 + math.sqrt(max(1 - alpha_bar_prev - sigma**2, 0.0)) * pred.eps
    if sigma > 0:
        x_prev = x_prev + sigma * randn_per_sample(pred.x0, generators, frame_noise)
    return x_prev


@torch.no_grad()
def sample_ddim(denoiser: DenoiserFn, x_T: Tensor, schedule: Schedule, *, steps: int,
                generators: Sequence[torch.Generator], callback: Optional[Callback] = None,
                eta: float = 0.0, spacing: Spacing = "linspace", start: Optional[int] = None,
                frame_noise: NoiseSpec = "independent") -> Tensor:
    """DDIM from x_T with ``steps`` denoiser calls; the last step returns x0_pred. With eta > 0 the fresh noise
    of each step is drawn as ``frame_noise`` says (``vgen.sampling.noise``)."""
    if eta < 0:
        raise ValueError(f"DDIM eta must be >= 0 (got {eta})")
    check_generators(generators, x_T.shape[0])
    pairs = step_pairs(schedule, steps, spacing, start)
    x = x_T
    for done, (t, t_prev) in enumerate(pairs, start=1):
        x = ddim_step(denoiser(x, t), schedule.alpha_bar_of(t), schedule.alpha_bar_of(t_prev), eta, generators,
                      frame_noise)
        report(callback, done, len(pairs), t=t)
    return x


def _step_up(x_u: Tensor, eps: Tensor, alpha_bar_u: float, alpha_bar_t: float) -> Tensor:
    """Eq. 12 from level u up to the noisier level t with a given eps: a_t·(x_u − s_u·eps)/a_u + s_t·eps."""
    x0_pred = (x_u - math.sqrt(1 - alpha_bar_u) * eps) / math.sqrt(alpha_bar_u)
    return ddim_step(Prediction(x0=x0_pred, eps=eps), alpha_bar_u, alpha_bar_t, 0.0, [])


@torch.no_grad()
def ddim_invert(denoiser: DenoiserFn, x0: Tensor, schedule: Schedule, steps: int,
                spacing: Spacing = "linspace", refine: int = 3) -> Tensor:
    """Invert the eta = 0 DDIM sampler: clean x0 -> the x_T from which ``sample_ddim`` (same grid)
    returns x0.

    Each step from level u up to the next noisier level t must find x_t with
    DDIM(x_t) = x_u, i.e. x_t = a_t·(x_u − s_u·e)/a_u + s_t·e with e = eps_pred(x_t, t). Plain DDIM
    inversion uses e = eps_pred(x_u, u) (an O(step) mismatch: 0.30 max error at 50 steps on the
    Gaussian test); ``refine`` fixed-point iterations re-evaluate e at the current x_t (Pan et al.
    2023, AIDI), shrinking the error geometrically (0.004 at 3 iterations). Costs steps·(1 + refine)
    denoiser calls.
    """
    if refine < 0:
        raise ValueError(f"refine must be >= 0 (got {refine})")
    x = x0
    for t, u in reversed(step_pairs(schedule, steps, spacing)):
        alpha_bar_u, alpha_bar_t = schedule.alpha_bar_of(u), schedule.alpha_bar_of(t)
        x_t = _step_up(x, denoiser(x, t if u < 0 else u).eps, alpha_bar_u, alpha_bar_t)
        for _ in range(refine):
            x_t = _step_up(x, denoiser(x_t, t).eps, alpha_bar_u, alpha_bar_t)
        x = x_t
    return x
