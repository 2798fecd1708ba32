"""``interpolate_frames``: in-between frames for a sequence of key frames, window by window.

Key frames are placed ``between + 1`` frames apart inside a model clip; as many as fit share one
clip, and consecutive clips share their boundary key. Conditioning:
- ``mask``: a network trained with known-frame masks (VDM ``conditional_frames``);
- ``replacement``: known frames pasted in, re-noised, at every step (VDM §4);
- ``reconstruction``: reconstruction guidance (VDM eq. 7) through the decoder, so it works on
  latent models whose latents span several frames (LVDM).
Mask and replacement need one latent per frame; LVDM latents cover several frames each, so a single
key frame cannot fill one, and LVDM interpolates by reconstruction guidance. PVDM's triplane latents
are not frame-aligned at all (see ``capabilities``).
The given key frames are pasted back into the output unchanged unless ``keep`` is off.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Optional

import numpy as np
import torch

from vgen.errors import VgenError
from vgen.io.video import frames_to_tensor, tensor_to_frames
from vgen.pipelines.clip import Known, sample_clip
from vgen.pipelines.continuation import resolve_method
from vgen.pipelines.generate import make_generator
from vgen.pipelines.model import LoadedModel
from vgen.pipelines.progress import Callback, ClipProgress
from vgen.pipelines.settings import SamplerSettings

_ALIGNED_METHODS = ("mask", "replacement")


def interpolate_method(model: LoadedModel, method: Optional[str]) -> str:
    """The requested method, or the model's default (``capabilities`` already excludes methods that need
    one latent per key frame when latents span several frames)."""
    choices = model.supports.interpolate
    if not choices:
        raise VgenError(
            f"{model.config.name} ({model.family}) cannot interpolate: its latents are not frame-aligned; "
            "use a VDM or LVDM model (e.g. one trained from the vdm-tiny or lvdm-tiny preset)"
        )
    if method in _ALIGNED_METHODS and method not in choices and model.frame_stride != 1:
        raise VgenError(
            f"--method {method} needs one latent per frame, but {model.config.name} latents span "
            f"{model.frame_stride} frames; use --method {' or '.join(choices)}"
        )
    return resolve_method(model, method, choices, "interpolate")


def max_between(model: LoadedModel) -> int:
    """The most in-between frames per key pair: both keys must fit in one clip."""
    return model.clip_frames - 2


def check_between(model: LoadedModel, between: int) -> None:
    """In-between counts must be positive and leave room for both keys in one clip."""
    if between < 1:
        raise VgenError(f"need at least one in-between frame per pair (got {between})")
    if between > max_between(model):
        raise VgenError(
            f"{between} in-betweens do not fit in one {model.clip_frames}-frame clip with both keys; "
            f"use at most {max_between(model)} (--frames) or --factor at most {max_between(model) + 1}"
        )


def count_windows(model: LoadedModel, keys: int, between: int) -> int:
    """Clips needed to interpolate ``keys`` key frames."""
    per_window = (model.clip_frames - 1) // (between + 1)
    return -(-(keys - 1) // per_window)


def interpolate_frames(model: LoadedModel, keys: Iterable[np.ndarray], *, between: int, seed: int,
                       settings: SamplerSettings, method: Optional[str] = None, keep: bool = True,
                       total_keys: Optional[int] = None,
                       callback: Optional[Callback] = None) -> Iterator[np.ndarray]:
    """Yield uint8 chunks of the key frames with ``between`` new frames between each consecutive pair.

    ``keys`` yields uint8 (t, H, W, 3) chunks at the model's resolution; ``total_keys`` (if known)
    sizes the progress bar. The output has (keys − 1)·(between + 1) + 1 frames.
    """
    method = interpolate_method(model, method)
    check_between(model, between)
    step = between + 1
    per_window = (model.clip_frames - 1) // step + 1
    generator = make_generator(seed)
    windows = count_windows(model, total_keys, between) if total_keys and total_keys >= 2 else None
    progress = ClipProgress(callback, windows)

    pending: list[np.ndarray] = []
    first = True
    for chunk in keys:
        for frame in chunk:
            pending.append(frame)
            if len(pending) == per_window:
                yield _window(model, method, pending, step, first, keep, generator, settings, progress)
                pending, first = pending[-1:], False
    if first and len(pending) < 2:
        raise VgenError(f"interpolation needs at least two key frames (got {len(pending)})")
    if len(pending) >= 2:
        yield _window(model, method, pending, step, first, keep, generator, settings, progress)


def _window(model: LoadedModel, method: str, keys: list[np.ndarray], step: int, first: bool, keep: bool,
            generator: torch.Generator, settings: SamplerSettings, progress: ClipProgress) -> np.ndarray:
    """Fill one clip whose key frames sit at positions 0, step, 2·step, ...; return its output frames."""
    positions = [i * step for i in range(len(keys))]
    key_video = frames_to_tensor(np.stack(keys)).to(model.device)
    if method in _ALIGNED_METHODS:
        shape = (1, *model.latent_shape())
        latent = key_video.new_zeros(shape)
        latent[:, :, positions] = model.encode(key_video)
        mask = torch.zeros(shape[2], dtype=torch.bool, device=latent.device)
        mask[positions] = True
        known = Known(latent=latent, latent_mask=mask)
    else:
        known = Known(frames=key_video, positions=positions)
    with torch.no_grad():
        latent = sample_clip(model, method, known, generator=generator, settings=settings,
                             callback=progress.for_clip())
        video = model.decode(latent)[:, :, : positions[-1] + 1]
    frames = tensor_to_frames(video)
    if keep:
        frames[positions] = np.stack(keys)
    return frames if first else frames[1:]
