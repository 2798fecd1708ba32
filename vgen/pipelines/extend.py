"""``extend_video``: continue a given video with a trained model, streaming the input through.

The input is fitted to the model (its fps, then shorter side + centre crop to its resolution) by the
reader. Its frames are handed on as they are read; only the last conditioning window is kept. The
continuation then runs the same clip-by-clip loop as long-video sampling, starting from that window.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Iterator, Optional

import numpy as np
import torch

from vgen.errors import VgenError
from vgen.io.video import frames_to_tensor, tensor_to_frames
from vgen.pipelines.continuation import clips_for, context_frames, context_from_frames, next_clip, resolve_method
from vgen.pipelines.generate import make_generator
from vgen.pipelines.model import LoadedModel
from vgen.pipelines.progress import Callback, ClipProgress
from vgen.pipelines.settings import SamplerSettings


def extend_method(model: LoadedModel, method: Optional[str]) -> str:
    """The extension method: the requested one, or the model's default."""
    return resolve_method(model, method, model.supports.extend, "extend videos")


def min_input_frames(model: LoadedModel, method: Optional[str] = None) -> int:
    """The shortest input (after fps fitting) that ``method`` can condition on."""
    return context_frames(model, extend_method(model, method))


def extend_video(model: LoadedModel, chunks: Iterable[np.ndarray], *, frames: int, seed: int,
                 settings: SamplerSettings, method: Optional[str] = None, only_new: bool = False,
                 callback: Optional[Callback] = None) -> Iterator[np.ndarray]:
    """Yield the input frames (unless ``only_new``), then ``frames`` generated ones, as uint8 chunks.

    ``chunks`` are uint8 (t, H, W, 3) at the model's resolution and frame rate. Nothing is yielded
    before the input is known to hold a full conditioning window, so a too-short input fails cleanly.
    """
    if frames <= 0:
        raise VgenError(f"--frames must be positive (got {frames})")
    method = extend_method(model, method)
    c = context_frames(model, method)
    window: deque[np.ndarray] = deque(maxlen=c)
    held: list[np.ndarray] = []   # input frames not yet passed on, until the window is full once
    seen = 0
    for chunk in chunks:
        for frame in chunk:
            window.append(frame)
        seen += len(chunk)
        if only_new:
            continue
        if held or seen < c:
            held.append(chunk)
            if seen >= c:
                yield np.concatenate(held)
                held.clear()
        else:
            yield chunk
    if seen < c:
        raise VgenError(
            f"the input has {seen} frame(s) at {model.fps} fps but {method} extension needs at least {c}; "
            "give a longer video"
        )

    generator = make_generator(seed)
    progress = ClipProgress(callback, clips_for(model, method, frames, first_unconditional=False))
    with torch.no_grad():
        context = context_from_frames(model, method, frames_to_tensor(np.stack(window)).to(model.device))
        emitted = 0
        while emitted < frames:
            video, context = next_clip(model, method, context, generator=generator, settings=settings,
                                       callback=progress.for_clip())
            chunk = video[:, :, : frames - emitted]
            emitted += chunk.shape[2]
            yield tensor_to_frames(chunk)
