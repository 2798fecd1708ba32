"""``generate_video``: a video of any length from a trained model, streamed clip by clip.

Each clip is decoded and handed out as uint8 frames as soon as it is done; only the conditioning
state is kept, so peak memory does not depend on ``frames``. A frame count that is not a whole
number of clips is trimmed from the last clip.
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import torch

from vgen.errors import VgenError
from vgen.pipelines.continuation import clips_for, first_clip, next_clip, resolve_method
from vgen.io.video import tensor_to_frames
from vgen.pipelines.model import LoadedModel
from vgen.pipelines.progress import Callback, ClipProgress
from vgen.pipelines.settings import SamplerSettings

# ``vgen sample --method`` names that run the generic continuation loop under another name.
_CONTINUATION_ALIASES = {"autoregressive": "mask"}


def make_generator(seed: int) -> torch.Generator:
    """The one generator a sample draws all its noise from (on CPU, so results match across devices)."""
    return torch.Generator(device="cpu").manual_seed(int(seed))


def long_video_method(model: LoadedModel, method: Optional[str], frames: int) -> str:
    """The loop that makes ``frames`` frames: the model's long-video method (or the requested one);
    a video of one clip or less is one unconditional clip whatever the method."""
    method = resolve_method(model, method, model.supports.long, "make long videos")
    if method == "hierarchical" and frames <= model.clip_frames:
        return "mask"
    return _CONTINUATION_ALIASES.get(method, method)


def count_clips(model: LoadedModel, frames: int, method: Optional[str] = None) -> int:
    """Clips (sampler runs) ``generate_video`` needs for ``frames`` frames."""
    method = long_video_method(model, method, frames)
    if method == "hierarchical":
        from vgen.pipelines.hierarchical import hierarchical_clips

        return hierarchical_clips(model, frames)
    return clips_for(model, method, frames, first_unconditional=True)


def generate_video(model: LoadedModel, *, frames: int, seed: int, sampler: str = "ddim", steps: int = 50,
                   eta: float = 0.0, guidance: Optional[float] = None, class_label: Optional[int] = None,
                   method: Optional[str] = None, recon_weight: float = 2.0,
                   callback: Optional[Callback] = None) -> Iterator[np.ndarray]:
    """Yield uint8 (t, H, W, 3) chunks, clip by clip, of a ``frames``-long video drawn with ``seed``."""
    if frames <= 0:
        raise VgenError(f"--frames must be positive (got {frames})")
    settings = SamplerSettings(sampler=sampler, steps=steps, eta=eta, guidance=guidance,  # type: ignore[arg-type]
                               recon_weight=recon_weight, class_label=class_label)
    method = long_video_method(model, method, frames)
    if method == "hierarchical":
        from vgen.pipelines.hierarchical import generate_hierarchical

        yield from generate_hierarchical(model, frames=frames, generator=make_generator(seed), settings=settings,
                                         callback=callback)
        return
    yield from _continue(model, method, frames=frames, generator=make_generator(seed), settings=settings,
                         callback=callback)


def _continue(model: LoadedModel, method: str, *, frames: int, generator: torch.Generator,
              settings: SamplerSettings, callback: Optional[Callback]) -> Iterator[np.ndarray]:
    progress = ClipProgress(callback, clips_for(model, method, frames, first_unconditional=True))
    with torch.no_grad():
        video, context = first_clip(model, method, generator=generator, settings=settings,
                                    callback=progress.for_clip())
    emitted = 0
    while True:
        chunk = video[:, :, : frames - emitted]
        emitted += chunk.shape[2]
        yield tensor_to_frames(chunk)
        if emitted >= frames:
            return
        video, context = next_clip(model, method, context, generator=generator, settings=settings,
                                   callback=progress.for_clip())
