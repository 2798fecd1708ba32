"""Clip-by-clip continuation: the one loop behind ``sample`` (long videos) and ``extend``.

A video grows one clip at a time. Only the conditioning state (the last few frames, or the last
clip's latent) is carried from clip to clip, so memory does not grow with the video's length.

Methods (``vgen.pipelines.capabilities``):
- ``latent`` (PVDM, seed paper Algorithm 1): the next clip is conditioned on the previous clip's
  clean latent; no frames overlap.
- ``mask`` / ``replacement`` (frame-aligned latents: VDM pixels, LVDM latents): the first latent
  frames of the next clip are the last ones of the video, given to a mask-trained network or pasted
  in re-noised at every step (VDM §4 "replacement").
- ``reconstruction`` (every family): the first frames of the next clip must reproduce the last
  frames of the video through the decoder; reconstruction guidance (VDM eq. 7) pulls them there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from vgen.errors import VgenError
from vgen.pipelines.clip import Known, sample_clip
from vgen.pipelines.model import LoadedModel
from vgen.pipelines.progress import Callback
from vgen.pipelines.settings import SamplerSettings

# LVDM's prediction model is trained with one given latent (lvdm-vdm.md §A.4, n_prevs=[1]).
LVDM_CONTEXT_LATENTS = 1


@dataclass
class Context:
    """What the next clip is conditioned on: the video's last ``frames`` (1, 3, c, H, W) and, when
    the method works in latent space, their latent (PVDM: the whole last clip's latent)."""

    frames: Tensor
    latent: Optional[Tensor] = None


def resolve_method(model: LoadedModel, method: Optional[str], choices: tuple[str, ...], command: str) -> str:
    """The requested method, or the model's default; a method the model lacks is a user error."""
    if not choices:
        raise VgenError(f"{model.config.name} ({model.family}) cannot {command}")
    if method is None:
        return choices[0]
    if method not in choices:
        raise VgenError(
            f"{model.config.name} ({model.family}) cannot {command} with --method {method}; "
            f"choose one of: {', '.join(choices)}"
        )
    return method


def context_frames(model: LoadedModel, method: str) -> int:
    """How many trailing frames of the video the next clip is conditioned on."""
    if method == "latent":
        return model.clip_frames
    if model.family == "lvdm":
        return LVDM_CONTEXT_LATENTS * (model.frame_stride or 1)
    return model.clip_frames // 2


def new_frames_per_clip(model: LoadedModel, method: str) -> int:
    """Frames each conditioned clip adds to the video."""
    return model.clip_frames if method == "latent" else model.clip_frames - context_frames(model, method)


def clips_for(model: LoadedModel, method: str, frames: int, *, first_unconditional: bool) -> int:
    """Clips needed for ``frames`` new frames (the first clip is free-running for ``sample``)."""
    per_clip = new_frames_per_clip(model, method)
    if first_unconditional:
        return 1 + max(0, -(-(frames - model.clip_frames) // per_clip))
    return -(-frames // per_clip)


def first_clip(model: LoadedModel, method: str, *, generator: torch.Generator, settings: SamplerSettings,
               callback: Optional[Callback]) -> tuple[Tensor, Context]:
    """An unconditional clip: its frames (1, 3, F, H, W) and the context for the next clip."""
    latent = sample_clip(model, "none", Known(), generator=generator, settings=settings, callback=callback)
    video = model.decode(latent)
    return video, _context_after(model, method, video, latent)


def next_clip(model: LoadedModel, method: str, context: Context, *, generator: torch.Generator,
              settings: SamplerSettings, callback: Optional[Callback]) -> tuple[Tensor, Context]:
    """The next clip's new frames (1, 3, n, H, W) given the video so far, and the updated context."""
    c = context.frames.shape[2]
    if method == "latent":
        prev = context.latent if context.latent is not None else model.encode(context.frames)
        latent = sample_clip(model, method, Known(prev_latent=prev), generator=generator, settings=settings,
                             callback=callback)
        video = model.decode(latent)
        return video, _context_after(model, method, video, latent)

    if method == "reconstruction":
        known = Known(frames=context.frames, positions=list(range(c)))
    else:
        known = _aligned_known(model, context)
    latent = sample_clip(model, method, known, generator=generator, settings=settings, callback=callback)
    video = model.decode(latent)
    return video[:, :, c:], _context_after(model, method, video, latent)


def context_from_frames(model: LoadedModel, method: str, frames: Tensor) -> Context:
    """The context for continuing a given video whose last frames are ``frames`` (1, 3, c, H, W)."""
    needs_latent = method == "latent" or (method in ("mask", "replacement") and model.family == "lvdm")
    return Context(frames=frames, latent=model.encode(frames) if needs_latent else None)


def _aligned_known(model: LoadedModel, context: Context) -> Known:
    """Known latents at the start of the next clip, for methods that work on frame-aligned latents."""
    stride = model.frame_stride
    if stride is None:
        raise VgenError(f"{model.family} latents are not frame-aligned; use --method latent or reconstruction")
    prev = context.latent if context.latent is not None else model.encode(context.frames)
    k = prev.shape[2]
    shape = (1, *model.latent_shape())
    latent = prev.new_zeros(shape)
    latent[:, :, :k] = prev
    mask = torch.zeros(shape[2], dtype=torch.bool, device=prev.device)
    mask[:k] = True
    return Known(latent=latent, latent_mask=mask)


def _context_after(model: LoadedModel, method: str, video: Tensor, latent: Tensor) -> Context:
    """Carry only what the next clip needs: the last frames and, for latent methods, latents."""
    c = context_frames(model, method)
    frames = video[:, :, -c:].clone()
    if method == "latent":
        return Context(frames=frames, latent=latent.clone())
    if method in ("mask", "replacement") and model.family == "lvdm":
        return Context(frames=frames, latent=latent[:, :, -LVDM_CONTEXT_LATENTS:].clone())
    return Context(frames=frames)
