"""Samplers (pure functions over a denoiser callable), guidance wrappers and long-video plans.

Every sampler has the signature
``sample_x(denoiser, x_T, schedule, *, steps, generators, callback=None, **knobs) -> x_0``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import inspect

import torch
from torch import Tensor

from vgen.diffusion.parameterisation import DenoiserFn
from vgen.diffusion.schedules import Schedule
from vgen.errors import VgenError
from vgen.sampling.ddim import ddim_invert, sample_ddim
from vgen.sampling.ddpm import sample_ddpm
from vgen.sampling.dpm_solver import sample_dpmpp_2m
from vgen.sampling.langevin import sample_langevin
from vgen.sampling.noise import (FRAME_NOISE, FrameNoise, NoiseSpec, VideoFrameMeans, randn_per_sample, seeded_generators,
                                 share_frame_mean)
from vgen.sampling.steps import Callback
from vgen.schedule_grids import SamplerName

SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "ddpm": sample_ddpm,
    "ddim": sample_ddim,
    "langevin": sample_langevin,
    "dpm++": sample_dpmpp_2m,
}


def sample(name: SamplerName, denoiser: DenoiserFn, x_T: Tensor, schedule: Schedule, *, steps: int,
           generators: Sequence[torch.Generator], callback: Optional[Callback] = None,
           frame_noise: NoiseSpec = "independent", **knobs: Any) -> Tensor:
    """Run the sampler called ``name`` (see ``SAMPLERS``) with its own knobs (eta, delta, spacing...); samplers
    that draw fresh noise draw it as ``frame_noise`` says (``vgen.sampling.noise``)."""
    if name not in SAMPLERS:
        raise VgenError(f"unknown sampler {name!r}; choose one of: {', '.join(SAMPLERS)}")
    accepted = inspect.signature(SAMPLERS[name]).parameters
    unknown = sorted(k for k in knobs if k not in accepted)
    if unknown:
        raise VgenError(f"sampler {name!r} takes no option(s) {', '.join(unknown)}; drop them or pick another sampler")
    if "frame_noise" in accepted:
        knobs["frame_noise"] = frame_noise
    return SAMPLERS[name](denoiser, x_T, schedule, steps=steps, generators=generators, callback=callback, **knobs)


__all__ = [
    "FRAME_NOISE", "FrameNoise", "NoiseSpec", "SAMPLERS", "SamplerName", "VideoFrameMeans", "ddim_invert",
    "randn_per_sample", "sample", "sample_ddim", "sample_ddpm", "sample_dpmpp_2m", "sample_langevin", "seeded_generators",
    "share_frame_mean",
]
