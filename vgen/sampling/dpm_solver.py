"""DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2): multistep second-order solver of
the probability-flow ODE in data prediction form, stepping in lambda = log(a_t / s_t).

With h_i = lambda_{t_i} − lambda_{t_{i−1}} and D the x0 prediction:
    first step:  x_i = (s_i/s_{i−1})·x_{i−1} − a_i·(e^{−h_i} − 1)·x0_{i−1}
    later steps: r_i = h_{i−1}/h_i,  D_i = (1 + 1/(2r_i))·x0_{i−1} − (1/(2r_i))·x0_{i−2}
                 x_i = (s_i/s_{i−1})·x_{i−1} − a_i·(e^{−h_i} − 1)·D_i
The final step to clean data (lambda = +inf) is first order, i.e. returns the last x0 prediction.
Deterministic: ``generators`` are accepted for the common signature and not consumed.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor

from vgen.diffusion.parameterisation import DenoiserFn
from vgen.diffusion.schedules import Schedule, Spacing
from vgen.sampling.noise import check_generators
from vgen.sampling.steps import Callback, report, step_pairs


@torch.no_grad()
def sample_dpmpp_2m(denoiser: DenoiserFn, x_T: Tensor, schedule: Schedule, *, steps: int,
                    generators: Sequence[torch.Generator], callback: Optional[Callback] = None,
                    spacing: Spacing = "linspace", start: Optional[int] = None) -> Tensor:
    """DPM-Solver++(2M) from x_T with ``steps`` denoiser calls; good samples in 10-25 steps."""
    check_generators(generators, x_T.shape[0])
    pairs = step_pairs(schedule, steps, spacing, start)
    x = x_T
    x0_older: Optional[Tensor] = None
    h_older = 0.0
    for done, (t, t_next) in enumerate(pairs, start=1):
        x0_pred = denoiser(x, t).x0
        if t_next < 0:
            x = x0_pred
        else:
            h = schedule.lambda_of(t_next) - schedule.lambda_of(t)
            if x0_older is None:
                d = x0_pred
            else:
                half_inv_r = h / (2 * h_older)
                d = (1 + half_inv_r) * x0_pred - half_inv_r * x0_older
            s_t, s_next = math.sqrt(1 - schedule.alpha_bar_of(t)), math.sqrt(1 - schedule.alpha_bar_of(t_next))
            x = (s_next / s_t) * x - math.sqrt(schedule.alpha_bar_of(t_next)) * math.expm1(-h) * d
            x0_older, h_older = x0_pred, h
        report(callback, done, len(pairs), t=t)
    return x
