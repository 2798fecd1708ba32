"""``upscale_video``: one upscaling stage of a cascade applied to any video, window by window.

The family says by how much a model upscales (``Family.upscale_factors``) and may bring its own plan
(``Family.upscale_plan``); otherwise the generic plan here slides a window of the model's clip length over the
input, one output frame per input frame (spatial upscaling):

- each window is conditioned on ``clip`` consecutive input frames (``Condition.source``); a last, partial window is
  padded by repeating the last input frame, and the padding is dropped from the output;
- consecutive windows share ``overlap`` frames: the next window starts ``clip − overlap`` frames later, its first
  ``overlap`` output frames are the previous window's last ones, pasted in by replacement (so every sampler
  works), and only its new frames are written;
- every window draws its noise from a generator of its own seeded with the run's seed, so all windows start from
  the same noise (Make-A-Video's SR_h uses one initial noise for all frames against flicker). Same seed, same video.

Only the input frames of the current window and the overlap are held, so memory does not grow with the video.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Generator, Iterable, Optional

import numpy as np
from torch import Tensor

from vgen.errors import VgenError
from vgen.families.base import UPSCALE
from vgen.io.video import frames_to_tensor
from vgen.pipelines import windows as W
from vgen.pipelines.clip import Condition
from vgen.pipelines.generate import Generation, check_settings
from vgen.pipelines.model import LoadedModel
from vgen.pipelines.settings import SamplerSettings


@dataclass(frozen=True)
class UpscaleOptions:
    """``overlap``: output frames each window shares with the previous one (None: a quarter of the model's clip);
    ``aug_level``: the noise-augmentation level of the input, in [0, 1] (None: the model's default)."""

    overlap: Optional[int] = None
    aug_level: Optional[float] = None


def default_overlap(model: LoadedModel) -> int:
    return model.clip_frames // 4


def check_options(model: LoadedModel, options: UpscaleOptions) -> int:
    """The overlap in frames, once the options are known to fit the model (one-line errors otherwise)."""
    overlap = default_overlap(model) if options.overlap is None else options.overlap
    if not 0 <= overlap < model.clip_frames:
        raise VgenError(f"--overlap must lie in [0, {model.clip_frames - 1}] for {model.config.name}'s "
                        f"{model.clip_frames}-frame windows (got {overlap})")
    if options.aug_level is not None and not 0 <= options.aug_level < 1:
        raise VgenError(f"--aug-level must lie in [0, 1) (got {options.aug_level}; 1 would drown the input in noise)")
    return overlap


def upscale_video(model: LoadedModel, chunks: Iterable[np.ndarray], settings: SamplerSettings, *, seed: int = 0,
                  options: UpscaleOptions = UpscaleOptions(), total_frames: Optional[int] = None) -> Generation:
    """The upscaled video of ``chunks`` (uint8 (t, h, w, 3) at the model's input size); ``total_frames`` (if known)
    sizes the progress. Non-upscaling models and bad options are refused before anything is made."""
    _, temporal = model.family.upscale_factors(model.config)
    check_settings(model, settings)
    overlap = check_options(model, options)
    own = model.family.upscale_plan(model, chunks, options, total_frames)
    if own is not None:
        plan, windows = own
    elif temporal != 1:
        raise VgenError(f"{model.family.name} upscales time by {temporal} but brings no upscale_plan; the generic "
                        "sliding windows make one output frame per input frame")
    else:
        plan = sliding_windows(model, chunks, overlap=overlap, level=options.aug_level, seeds=lambda index: seed)
        windows = window_count(model, total_frames, overlap) if total_frames else None
    return Generation(UPSCALE, windows, lambda cb: W.run(model, plan, settings=settings, seed=seed, windows=windows,
                                                         callback=cb))


def window_count(model: LoadedModel, frames: int, overlap: int) -> int:
    """Windows the sliding plan needs for ``frames`` input frames."""
    clip = model.clip_frames
    return 1 + max(0, -(-(frames - clip) // (clip - overlap)))


def sliding_windows(model: LoadedModel, chunks: Iterable[np.ndarray], *, overlap: int, level: Optional[float],
                    seeds: Callable[[int], int]) -> W.Steps:
    """The generic plan (see the module docstring); window ``k`` (0-based) draws its noise with seed ``seeds(k)``."""
    clip = model.clip_frames
    index = 0
    pending: list[np.ndarray] = []  # input frames from the start of the next window on
    tail: Optional[Tensor] = None  # the output frames of ``pending[:overlap]`` (after the first window)
    for chunk in chunks:
        pending.extend(chunk)
        while len(pending) >= clip:
            video = yield from _window(model, pending[:clip], tail, level, seeds(index))
            index += 1
            yield W.Emit(video[:, :, 0 if tail is None else overlap:])
            tail = video[:, :, clip - overlap:] if overlap else None
            pending = pending[clip - overlap:]
    done = 0 if tail is None else overlap
    if len(pending) > done:
        padded = pending + [pending[-1]] * (clip - len(pending))
        video = yield from _window(model, padded, tail, level, seeds(index))
        yield W.Emit(video[:, :, done:len(pending)])


def _window(model: LoadedModel, frames: list[np.ndarray], known: Optional[Tensor], level: Optional[float],
            seed: int) -> Generator[W.Step, Optional[W.Sampled], Tensor]:
    """Sample one window conditioned on input ``frames``, its first frames fixed to ``known``; its output video."""
    source = frames_to_tensor(np.stack(frames)).to(model.device)
    condition = Condition() if known is None else Condition.aligned(model, known, range(known.shape[2]))
    sampled = yield W.Window(UPSCALE, replace(condition, source=source, source_level=level), seed=seed)
    assert sampled is not None and sampled.video is not None
    return sampled.video
