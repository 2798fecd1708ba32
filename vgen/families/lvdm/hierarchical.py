"""LVDM's hierarchical long video (lvdm-vdm.md §A.4) as a window plan: key latents by prediction, then interpolation.

Keys are made autoregressively, each prediction window conditioned on the last key (CLP at level
``sample_noise_level``, unconditional guidance). Every consecutive key pair is then filled by an
interpolation window with both ends given. The two stages are interleaved: as soon as a key exists,
the gap before it is filled, decoded and handed out, so only the last key latent is carried.
"""

from __future__ import annotations

from typing import Generator, Optional

import torch
from torch import Tensor

from vgen.pipelines.clip import Condition
from vgen.pipelines.windows import Emit, Steps, Sampled, Window
from vgen.sampling.plans import HierarchicalPlan, hierarchical_plan


def plan_for(model, frames: int) -> HierarchicalPlan:
    latent_frames = model.latent_shape()[1]
    stride = model.frame_stride or 1
    return hierarchical_plan(-(-frames // stride), key_length=latent_frames, key_condition=1,
                             interp_length=latent_frames)


def _keys(model, plan: HierarchicalPlan) -> Generator[object, Optional[Sampled], None]:
    """Key latents (1, C, 1, h, w) in order, one prediction window at a time: yields ``Window`` steps (whose
    results it is sent) and ``Tensor`` keys."""
    produced = 0
    last: Optional[Tensor] = None
    for window in plan.keys.windows:
        if window.known:  # the plan's key_condition = 1: the previous window's last key
            sampled = yield Window("mask", Condition.aligned(model, last, list(window.known)), decode=False)
        else:
            sampled = yield Window("none", Condition(), decode=False)
        z = sampled.latent
        for i in window.unknown:
            if produced < plan.keys.keep:
                produced += 1
                yield z[:, :, i : i + 1]
        last = z[:, :, -1:]


def hierarchical_steps(model, plan: HierarchicalPlan, frames: int) -> Steps:
    """The plan's steps: each key window, then the interpolation window before each new key, decoded and emitted
    (a gap's last frame is emitted by the next gap, except for the video's end)."""
    stride_frames = plan.stride * (model.frame_stride or 1)
    latent_frames = model.latent_shape()[1]
    emitted = 0
    previous: Optional[Tensor] = None
    keys = _keys(model, plan)
    item = next(keys, None)
    while item is not None:
        if isinstance(item, Window):
            item = keys.send((yield item))
            continue
        key, item = item, None
        if previous is not None:
            sampled = yield Window("mask", Condition.aligned(model, _pair(previous, key), [0, latent_frames - 1]))
            video = sampled.video
            last_gap = emitted + video.shape[2] >= frames
            chunk = video if last_gap else video[:, :, :stride_frames]
            emitted += min(chunk.shape[2], frames - emitted)
            yield Emit(chunk)
        previous = key
        item = next(keys, None)


def _pair(first: Tensor, last: Tensor) -> Tensor:
    return torch.cat([first, last], dim=2)
