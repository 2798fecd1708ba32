"""The library calls of ``sample``, ``extend`` and ``interpolate``: one signature, one settings object, one loop.

Each returns a :class:`Generation`: the resolved method, the number of sampler windows (when known up
front) and ``chunks(callback)``, the uint8 (t, H, W, 3) chunks of the video as they are made. Peak memory
does not depend on the video's length (see ``vgen.pipelines.windows``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

import numpy as np

from vgen.diffusion.schedules import schedule_from_config
from vgen.errors import VgenError
from vgen.pipelines import windows as W
from vgen.pipelines.clip import check_class_label
from vgen.pipelines.model import LoadedModel
from vgen.pipelines.progress import Callback
from vgen.pipelines.settings import SamplerSettings

# ``vgen sample --method`` names that run the generic continuation under another name.
_CONTINUATION_ALIASES = {"autoregressive": "mask"}
_ALIGNED_METHODS = ("mask", "replacement")


@dataclass
class Generation:
    """A video about to be made: ``chunks(callback)`` makes it; ``windows`` sampler runs (None: unknown)."""

    method: str
    windows: Optional[int]
    chunks: Callable[[Optional[Callback]], Iterator[np.ndarray]]


def check_settings(model: LoadedModel, settings: SamplerSettings) -> None:
    """What the settings ask of the model that it may not have: a class label, motion-free guidance, an official
    sampler, a step grid its schedule can give."""
    check_class_label(model, settings.class_label)
    if settings.motion_guidance is not None and not model.family.motion_free:
        raise VgenError(f"{model.config.name} ({model.family.name}) has no motion-free mode; drop --motion-guidance "
                        "(it is for DiT models trained with motion_free_prob > 0)")
    run = settings.for_model(model)
    schedule_from_config(model.config.diffusion).timesteps(run.steps, run.knobs["spacing"])  # fails here, before any output


def resolve_method(model: LoadedModel, method: Optional[str], choices: tuple[str, ...], command: str) -> str:
    """The requested method, or the model's default; a method the model lacks is a user error."""
    name = f"{model.config.name} ({model.family.name})"
    if not choices:
        refuse_upscaler(model)
        hint = model.supports.hint
        raise VgenError(f"{name} cannot {command}" + (f"; {hint}" if hint else ""))
    if method is None:
        return choices[0]
    if method not in choices:
        raise VgenError(f"{name} cannot {command} with --method {method}; choose one of: {', '.join(choices)}")
    return method


def refuse_upscaler(model: LoadedModel) -> None:
    """An upscaling stage makes nothing without a video to enhance: name the command that runs it."""
    if model.supports.upscale is not None:
        raise VgenError(f"{model.config.name} ({model.family.name}) is an upscaling stage: it enhances a given "
                        "video; use `vgen upscale VIDEO --model MODEL`")


def sample_video(model: LoadedModel, settings: SamplerSettings, *, frames: Optional[int] = None,
                 seed: int = 0) -> Generation:
    """A ``frames``-long video (default: one clip) drawn with ``seed``, clip by clip."""
    frames = model.clip_frames if frames is None else frames
    if frames <= 0:
        raise VgenError(f"--frames must be positive (got {frames})")
    check_settings(model, settings)
    method = long_video_method(model, settings.method, frames)
    own = model.family.long_plan(model, method, frames)
    if own is not None:
        plan, windows = own
        return Generation(method, windows, lambda cb: W.run(model, plan, settings=settings, seed=seed, limit=frames,
                                                            windows=windows, callback=cb))
    windows = W.continuation_windows(model, method, frames, first_unconditional=True)
    return Generation(method, windows, lambda cb: W.run(model, W.continuation(model, method, total=frames),
                                                        settings=settings, seed=seed, limit=frames, windows=windows,
                                                        callback=cb))


def long_video_method(model: LoadedModel, method: Optional[str], frames: int) -> str:
    """The method that makes a ``frames``-long video: the requested one or the model's default; a video of one
    clip or less is one free-running window whatever the method."""
    if not model.supports.long:
        uses = [f"vgen {command}" for command, methods in (("interpolate", model.supports.interpolate),
                                                           ("extend", model.supports.extend)) if methods]
        if not uses:
            refuse_upscaler(model)
        raise VgenError(f"{model.config.name} ({model.family.name}) cannot sample videos from noise; it fills in "
                        f"frames around given ones: use {' or '.join(uses)}")
    method = resolve_method(model, method, model.supports.long, "make long videos")
    if method == "hierarchical" and frames <= model.clip_frames:
        method = "mask"
    return _CONTINUATION_ALIASES.get(method, method)


def extend_video(model: LoadedModel, chunks: Iterable[np.ndarray], settings: SamplerSettings, *,
                 frames: Optional[int] = None, seed: int = 0, only_new: bool = False) -> Generation:
    """The input frames (unless ``only_new``), then ``frames`` new ones (default: one clip).

    ``chunks`` are uint8 (t, H, W, 3) at the model's resolution and frame rate; only the last conditioning
    window is kept. Nothing is yielded before the input is known to hold a full window.
    """
    frames = model.clip_frames if frames is None else frames
    if frames <= 0:
        raise VgenError(f"--frames must be positive (got {frames})")
    check_settings(model, settings)
    method = extend_method(model, settings.method)
    windows = W.continuation_windows(model, method, frames, first_unconditional=False)
    plan = W.passthrough_then_continue(model, method, chunks, only_new=only_new, total=frames)
    return Generation(method, windows, lambda cb: W.run(model, plan, settings=settings, seed=seed, limit=frames,
                                                        windows=windows, callback=cb))


def extend_method(model: LoadedModel, method: Optional[str]) -> str:
    return resolve_method(model, method, model.supports.extend, "extend videos")


def min_input_frames(model: LoadedModel, method: Optional[str] = None) -> int:
    """The shortest input (after fps fitting) that ``method`` can condition on."""
    return model.family.context_frames(model, extend_method(model, method))


def interpolate_video(model: LoadedModel, keys: Iterable[np.ndarray], settings: SamplerSettings, *, between: int,
                      seed: int = 0, keep: bool = True, total_keys: Optional[int] = None) -> Generation:
    """The key frames with ``between`` new frames between each consecutive pair: (keys − 1)·(between + 1) + 1 frames.

    ``keys`` yields uint8 (t, H, W, 3) chunks at the model's resolution; ``total_keys`` (if known) sizes the
    progress. The given keys are pasted back unchanged unless ``keep`` is off.
    """
    method = interpolate_method(model, settings.method)
    check_between(model, between)
    check_settings(model, settings)
    windows = W.interpolation_windows(model, total_keys, between) if total_keys and total_keys >= 2 else None
    plan = W.interpolation(model, method, keys, between=between, keep=keep)
    return Generation(method, windows, lambda cb: W.run(model, plan, settings=settings, seed=seed, windows=windows,
                                                        callback=cb))


def interpolate_method(model: LoadedModel, method: Optional[str]) -> str:
    """The requested method, or the model's default (capabilities exclude methods that need one latent per key
    frame when latents span several frames)."""
    choices = model.supports.interpolate
    if not choices:
        refuse_upscaler(model)
        reason = model.supports.hint or ("its latents are not frame-aligned; use a VDM or LVDM model (e.g. one "
                                          "trained from the vdm-tiny or lvdm-tiny preset)")
        raise VgenError(f"{model.config.name} ({model.family.name}) cannot interpolate: {reason}")
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
