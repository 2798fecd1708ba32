"""LVDM's hierarchical long video (lvdm-vdm.md §A.4): key latents by prediction, then interpolation.

Keys are made autoregressively, each prediction window conditioned on the last key (CLP at level
``sample_noise_level``, unconditional guidance). Every consecutive key pair is then filled by an
interpolation window with both ends given. The two stages are interleaved: as soon as a key exists,
the gap before it is filled, decoded and handed out, so only the last key latent is carried.
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import torch
from torch import Tensor

from vgen.io.video import tensor_to_frames
from vgen.pipelines.clip import Known, sample_clip
from vgen.pipelines.model import LoadedModel
from vgen.pipelines.progress import Callback, ClipProgress
from vgen.pipelines.settings import SamplerSettings
from vgen.sampling.plans import HierarchicalPlan, hierarchical_plan


def _plan(model: LoadedModel, frames: int) -> HierarchicalPlan:
    latent_frames = model.latent_shape()[1]
    stride = model.frame_stride or 1
    return hierarchical_plan(-(-frames // stride), key_length=latent_frames, key_condition=1,
                             interp_length=latent_frames)


def hierarchical_clips(model: LoadedModel, frames: int) -> int:
    """Sampler runs for a ``frames``-long video: key windows plus interpolation windows."""
    plan = _plan(model, frames)
    return len(plan.keys.windows) + len(plan.interpolation.windows)


def _keys(model: LoadedModel, plan: HierarchicalPlan, generator: torch.Generator, settings: SamplerSettings,
          progress: ClipProgress) -> Iterator[Tensor]:
    """Key latents (1, C, 1, h, w), in order, one prediction window at a time."""
    shape = (1, *model.latent_shape())
    produced = 0
    last: Optional[Tensor] = None
    for window in plan.keys.windows:
        if window.known:  # the plan's key_condition = 1: the previous window's last key
            latent = last.new_zeros(shape)
            latent[:, :, :1] = last
            mask = torch.zeros(shape[2], dtype=torch.bool, device=latent.device)
            mask[list(window.known)] = True
            z = sample_clip(model, "mask", Known(latent=latent, latent_mask=mask), generator=generator,
                            settings=settings, callback=progress.for_clip())
        else:
            z = sample_clip(model, "none", Known(), generator=generator, settings=settings,
                            callback=progress.for_clip())
        for i in window.unknown:
            if produced < plan.keys.keep:
                produced += 1
                yield z[:, :, i : i + 1]
        last = z[:, :, -1:]


def generate_hierarchical(model: LoadedModel, *, frames: int, generator: torch.Generator,
                          settings: SamplerSettings, callback: Optional[Callback]) -> Iterator[np.ndarray]:
    """Yield uint8 chunks of a ``frames``-long LVDM video made by keys + interpolation."""
    plan = _plan(model, frames)
    progress = ClipProgress(callback, len(plan.keys.windows) + len(plan.interpolation.windows))
    stride_frames = plan.stride * (model.frame_stride or 1)
    shape = (1, *model.latent_shape())
    emitted = 0
    previous: Optional[Tensor] = None
    with torch.no_grad():
        for key in _keys(model, plan, generator, settings, progress):
            if previous is None:
                previous = key
                continue
            latent = key.new_zeros(shape)
            latent[:, :, :1], latent[:, :, -1:] = previous, key
            mask = torch.zeros(shape[2], dtype=torch.bool, device=latent.device)
            mask[[0, -1]] = True
            z = sample_clip(model, "mask", Known(latent=latent, latent_mask=mask), generator=generator,
                            settings=settings, callback=progress.for_clip())
            video = model.decode(z)
            last_gap = emitted + video.shape[2] >= frames
            chunk = video if last_gap else video[:, :, :stride_frames]
            chunk = chunk[:, :, : frames - emitted]
            emitted += chunk.shape[2]
            yield tensor_to_frames(chunk)
            if emitted >= frames:
                return
            previous = key
