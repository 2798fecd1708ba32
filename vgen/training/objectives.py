"""What every family's training objectives share: per-sample random draws, label dropout, the denoising loss.

The objectives themselves live with their family (``vgen.families.<family>.objectives``). An objective
maps a micro-batch and one ``torch.Generator`` per sample to named per-sample-mean losses (one per
trained module). Every random choice of a sample (label dropout, masks, windows, timesteps, noise) is
drawn from that sample's generator in a fixed order, so a sample's loss does not depend on which rank
or micro-batch it lands in.

- Class labels are replaced by the null label ``num_classes`` with probability ``cond_drop_prob``
  (classifier-free guidance, Ho & Salimans 2021).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from vgen.config.base import DiffusionConfig
from vgen.diffusion.losses import min_snr_weight, regression_loss
from vgen.diffusion.parameterisation import target_of
from vgen.diffusion.schedules import Schedule
from vgen.sampling.noise import randn_per_sample

Generators = Sequence[torch.Generator]
# Key-frame strides of the strided known-frame masks (what ``interpolate --factor 2..4`` gives a model).
KEY_STRIDES = (2, 3, 4)


# ---------------------------------------------------------------------------------- per-sample draws

def uniform_per_sample(generators: Generators, device: torch.device) -> Tensor:
    """(B,) floats in [0, 1), entry i from ``generators[i]``."""
    return torch.cat([torch.rand(1, generator=g, device=g.device) for g in generators]).to(device)


def randint_per_sample(generators: Generators, low: int, high: int, device: torch.device) -> Tensor:
    """(B,) longs in [low, high), entry i from ``generators[i]``."""
    return torch.cat([torch.randint(low, high, (1,), generator=g, device=g.device) for g in generators]).to(device)


def drop_labels(labels: Tensor | None, num_classes: int, p: float, generators: Generators) -> Tensor | None:
    """Replace each label by the null label ``num_classes`` with probability ``p`` (CFG training)."""
    if labels is None or num_classes == 0:
        return None
    drop = uniform_per_sample(generators, labels.device) < p
    return torch.where(drop, torch.full_like(labels, num_classes), labels)


def denoising_loss(
    raw: Callable[[Tensor, Tensor], Tensor], x0: Tensor, schedule: Schedule, diffusion: DiffusionConfig,
    generators: Generators, weight: Tensor | None = None,
) -> Tensor:
    """DDPM simple loss with per-sample t ~ U{0..T−1} and noise, then ``vgen.diffusion.losses`` pieces.

    Same estimate as ``vgen.diffusion.losses.diffusion_loss`` but sample i draws t and eps from
    ``generators[i]`` (needed for rank-independent randomness under DDP).
    """
    t = randint_per_sample(generators, 0, schedule.num_timesteps, x0.device)
    eps = randn_per_sample(x0, generators, diffusion.frame_noise)
    a, s = schedule.coefficients(t, x0)
    per_sample = regression_loss(raw(a * x0 + s * eps, t), target_of(diffusion.prediction, x0, eps, a, s),
                                 diffusion.loss, weight)
    if diffusion.min_snr_gamma is not None:
        per_sample = per_sample * min_snr_weight(schedule.snr(t), diffusion.min_snr_gamma,
                                                 diffusion.prediction).to(per_sample.dtype)
    return per_sample.mean()
