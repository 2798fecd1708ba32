"""The one window loop behind ``sample``, ``extend`` and ``interpolate``.

A video is made by a *plan*: a generator of steps. ``Window`` asks for one clip to be sampled under a
conditioning method (the loop sends back a ``Sampled`` with its latent and, unless the window says
otherwise, its decoded frames); ``Emit`` hands frames out. Plans keep only what the next window needs,
so memory does not grow with the video's length. The loop owns the generator every window draws its
noise from, the progress over all windows, and the trimming to the requested length.

Plans here: ``continuation`` (long videos and ``extend``: each window conditioned on the end of the video so
far, the family saying what carries over) and ``interpolation`` (key frames ``between + 1`` apart per
window). A family may bring its own plan (LVDM's hierarchical keys-then-interpolation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator, Iterable, Iterator, Optional, Union

import numpy as np
import torch
from torch import Tensor

from vgen.errors import VgenError
from vgen.io.video import frames_to_tensor, tensor_to_frames
from vgen.pipelines.clip import Condition, sample_clip
from vgen.pipelines.progress import Callback, ClipProgress
from vgen.pipelines.settings import SamplerSettings
from vgen.sampling.noise import VideoFrameMeans


@dataclass
class Window:
    """Sample one clip under ``method`` given ``condition``; ``decode`` off when only its latent is needed.
    ``seed``: draw this window's noise from a generator of its own with that seed (None: the sample's generator)."""

    method: str
    condition: Condition
    decode: bool = True
    seed: Optional[int] = None


@dataclass
class Sampled:
    latent: Tensor
    video: Optional[Tensor]


@dataclass
class Emit:
    """Frames to hand out: float (1, 3, t, H, W) in [-1, 1] or uint8 (t, H, W, 3). Frames that are not
    ``counted`` (``extend`` passing its input through) do not count towards the loop's ``limit``."""

    frames: Union[Tensor, np.ndarray]
    counted: bool = True


Step = Union[Window, Emit]
Steps = Generator[Step, Optional[Sampled], None]  # a plan: the steps that make one video


def make_generator(seed: int) -> torch.Generator:
    """The one generator a sample draws all its noise from (on CPU, so results match across devices)."""
    return torch.Generator(device="cpu").manual_seed(int(seed))


def run(model, plan: Steps, *, settings: SamplerSettings, seed: int, windows: Optional[int] = None,
        limit: Optional[int] = None, callback: Optional[Callback] = None) -> Iterator[np.ndarray]:
    """Run ``plan``: sample its windows with one generator, yield its emitted frames as uint8 chunks, stop after
    ``limit`` frames (the rest of a last window is trimmed). ``windows`` (if known) sizes the progress."""
    generator = make_generator(seed)
    means = VideoFrameMeans()  # shared-mean frame noise: one mean for the whole video, not one per window
    progress = ClipProgress(callback, windows)
    emitted = 0
    with torch.no_grad():
        step = next(plan, None)
        while step is not None:
            if isinstance(step, Window):
                own = make_generator(step.seed) if step.seed is not None else generator
                latent = sample_clip(model, step.method, step.condition, generator=own, settings=settings,
                                     callback=progress.for_clip(), means=means)
                step = plan.send(Sampled(latent, model.decode(latent) if step.decode else None))
                continue
            frames, counted = step.frames, step.counted and limit is not None
            if counted:
                frames = frames[:, :, : limit - emitted] if isinstance(frames, Tensor) else frames[: limit - emitted]
            chunk = tensor_to_frames(frames) if isinstance(frames, Tensor) else frames
            yield chunk
            if counted:
                emitted += len(chunk)
                if emitted >= limit:
                    return
            step = next(plan, None)


# ------------------------------------------------------------------------------------ continuation

def continuation(model, method: str, carry=None, total: Optional[int] = None) -> Steps:
    """Clip after clip, each conditioned on the end of the video so far; starts with a free-running clip
    unless ``carry`` (the end of a given video) is passed. Runs until the loop's limit stops it.

    When the family's windows overlap (PVDM trained with ``cond_overlap`` k), each new clip begins with its own
    estimate of the previous clip's last k frames: those k frames are held back and cross-faded into the new
    clip's first k (weights 1/(k+1) ... k/(k+1) for the new clip), so no frame of the output comes from a hard
    cut. ``total`` (the frames this plan is to emit) lets it hand out the held frames at the end; after a given
    video (``carry``) the first k frames of the first new clip are dropped, never blended into the user's frames.
    """
    family = model.family
    overlap = family.window_overlap(model, method)
    emitted, held = 0, None

    def join(video: Tensor, skip: int):
        """This window's frames to emit now, and the ones to hold for the next cross-fade."""
        nonlocal emitted, held
        if held is not None:
            weight = torch.arange(1, overlap + 1, dtype=video.dtype, device=video.device).div(overlap + 1)
            weight = weight.reshape(1, 1, -1, 1, 1)
            parts = [held * (1 - weight) + video[:, :, :overlap] * weight, video[:, :, overlap:]]
        else:
            parts = [video[:, :, skip:]]
        frames = torch.cat(parts, dim=2)
        if overlap and (total is None or emitted + frames.shape[2] < total):
            frames, held = frames[:, :, :-overlap], frames[:, :, -overlap:]
        else:
            held = None
        emitted += frames.shape[2]
        return frames

    if carry is None:
        sampled = yield Window("none", Condition())
        yield Emit(join(sampled.video, 0))
    else:
        sampled = None
    while True:
        if sampled is not None:
            c = family.context_frames(model, method)
            carry = family.carry(model, method, sampled.video[:, :, -c:], sampled.latent)
        sampled = yield Window(method, _condition(model, method, carry))
        if method == "latent":
            yield Emit(join(sampled.video, overlap))
        else:
            yield Emit(sampled.video[:, :, carry.frames.shape[2]:])


def _condition(model, method: str, carry) -> Condition:
    """The next window's condition from the carried end of the video."""
    if method == "latent":
        # Clips that overlap re-make the video's last frames, which come along (PVDM fits them: --fit-steps).
        known = carry.frames if model.family.window_overlap(model, method) else None
        return Condition(prev_latent=carry.latent if carry.latent is not None else model.encode(carry.frames),
                         frames=known)
    if method == "reconstruction":
        return Condition(frames=carry.frames, positions=list(range(carry.frames.shape[2])))
    if model.frame_stride is None:
        raise VgenError(f"{model.family.name} latents are not frame-aligned; use --method latent or reconstruction")
    known = carry.latent if carry.latent is not None else model.encode(carry.frames)
    return Condition.aligned(model, known, range(known.shape[2]))


def new_frames_per_window(model, method: str) -> int:
    """Frames each conditioned window adds to the video."""
    if method == "latent":
        return model.clip_frames - model.family.window_overlap(model, method)
    return model.clip_frames - model.family.context_frames(model, method)


def continuation_windows(model, method: str, frames: int, *, first_unconditional: bool) -> int:
    """Windows needed for ``frames`` new frames (the first is free-running for ``sample``)."""
    per_window = new_frames_per_window(model, method)
    if first_unconditional:
        return 1 + max(0, -(-(frames - model.clip_frames) // per_window))
    return -(-frames // per_window)


def passthrough_then_continue(model, method: str, chunks: Iterable[np.ndarray], *, only_new: bool,
                              total: Optional[int] = None) -> Steps:
    """``extend``: hand the input through (unless ``only_new``), keeping only its last conditioning window,
    then continue from it. Nothing is emitted before the input is known to hold a full window."""
    c = model.family.context_frames(model, method)
    tail: list[np.ndarray] = []
    held: list[np.ndarray] = []
    seen = 0
    for chunk in chunks:
        tail = (tail + list(chunk))[-c:]
        seen += len(chunk)
        if only_new:
            continue
        if held or seen < c:
            held.append(chunk)
            if seen >= c:
                yield Emit(np.concatenate(held), counted=False)
                held.clear()
        else:
            yield Emit(chunk, counted=False)
    if seen < c:
        raise VgenError(f"the input has {seen} frame(s) at {model.fps} fps but {method} extension needs at least {c}; "
                        "give a longer video")
    frames = frames_to_tensor(np.stack(tail)).to(model.device)
    yield from continuation(model, method, model.family.carry(model, method, frames), total)


# ------------------------------------------------------------------------------------ interpolation

def interpolation(model, method: str, keys: Iterable[np.ndarray], *, between: int, keep: bool) -> Steps:
    """Key frames placed ``between + 1`` apart in a clip, as many per window as fit; consecutive windows share
    their boundary key. The given keys are pasted back into the output unless ``keep`` is off."""
    step = between + 1
    per_window = (model.clip_frames - 1) // step + 1
    pending: list[np.ndarray] = []
    first = True
    for chunk in keys:
        for frame in chunk:
            pending.append(frame)
            if len(pending) == per_window:
                yield from _fill(model, method, pending, step, first, keep)
                pending, first = pending[-1:], False
    if first and len(pending) < 2:
        raise VgenError(f"interpolation needs at least two key frames (got {len(pending)})")
    if len(pending) >= 2:
        yield from _fill(model, method, pending, step, first, keep)


def _fill(model, method: str, keys: list[np.ndarray], step: int, first: bool, keep: bool) -> Steps:
    """One window whose key frames sit at positions 0, step, 2·step, ...; emit its output frames."""
    positions = [i * step for i in range(len(keys))]
    key_video = frames_to_tensor(np.stack(keys)).to(model.device)
    if method in ("mask", "replacement"):
        condition = Condition.aligned(model, model.encode(key_video), positions)
    else:
        condition = Condition(frames=key_video, positions=positions)
    sampled = yield Window(method, condition)
    frames = tensor_to_frames(sampled.video[:, :, : positions[-1] + 1])
    if keep:
        frames[positions] = np.stack(keys)
    yield Emit(frames if first else frames[1:])


def interpolation_windows(model, keys: int, between: int) -> int:
    """Windows needed to interpolate ``keys`` key frames."""
    per_window = (model.clip_frames - 1) // (between + 1)
    return -(-(keys - 1) // per_window)
