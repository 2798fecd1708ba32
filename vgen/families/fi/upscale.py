"""Temporal super-resolution with an FI model: n frames -> n·k frames (the FI family's ``upscale_plan``)."""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from vgen.io.video import frames_to_tensor, tensor_to_frames
from vgen.pipelines import windows as W
from vgen.pipelines.clip import Condition


def frame_rate_windows(model, frames: int, factor: int) -> int:
    """Sampler windows for ``frames`` input frames: the interpolation's, plus one to extrapolate the end."""
    return W.interpolation_windows(model, frames, factor - 1) + 1


def frame_rate_plan(model, chunks: Iterable[np.ndarray], factor: int) -> W.Steps:
    """The interpolation plan of ``interpolate --factor k`` over the input frames as keys, passed through while its
    last output frames are kept; then one window that knows the last ``clip − (k − 1)`` output frames (at positions
    0, 1, ...; fewer when the whole output is shorter) and makes the k − 1 frames after them."""
    known = model.clip_frames - (factor - 1)
    tail: Optional[np.ndarray] = None
    keys = W.interpolation(model, "mask", chunks, between=factor - 1, keep=True)
    sent: Optional[W.Sampled] = None
    while True:
        try:
            step = keys.send(sent)
        except StopIteration:
            break
        if isinstance(step, W.Emit):
            frames = step.frames if isinstance(step.frames, np.ndarray) else tensor_to_frames(step.frames)
            tail = frames[-known:] if tail is None else np.concatenate([tail, frames])[-known:]
            sent = None
            yield W.Emit(frames)
        else:
            sent = yield step
    assert tail is not None  # W.interpolation refuses fewer than two frames
    given = len(tail)  # all the last `known` frames, or the whole (shorter) video
    video = frames_to_tensor(tail).to(model.device)
    condition = Condition.aligned(model, model.encode(video), range(given))
    sampled = yield W.Window("mask", condition)
    assert sampled is not None and sampled.video is not None
    yield W.Emit(tensor_to_frames(sampled.video[:, :, given:given + factor - 1]))
