"""``sample_clip``: one clip's latent from noise, under one conditioning method.

This is where a model meets the diffusion core: the model's family binds the network to its
conditioning (``Family.denoiser``), the result is wrapped into a ``Denoiser`` (x0/eps from the model's
parameterisation), guided, and handed to the sampler with every knob the settings give it. All noise
comes from the one ``generator`` of the sample (initial noise, ancestral noise, CLP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import torch
from torch import Tensor

from vgen.diffusion.parameterisation import Denoiser, DenoiserFn, RawFn
from vgen.diffusion.schedules import Schedule, schedule_from_config
from vgen.errors import VgenError
from vgen.pipelines.progress import Callback
from vgen.pipelines.settings import SamplerSettings
from vgen.sampling import NoiseSpec, VideoFrameMeans, sample, share_frame_mean
from vgen.sampling.finite import FiniteGuard
from vgen.sampling.steps import step_pairs
from vgen.sampling.guidance import classifier_free_guidance

if TYPE_CHECKING:  # pragma: no cover
    from vgen.pipelines.model import LoadedModel


@dataclass
class Condition:
    """What one clip is conditioned on (all optional; which fields a method reads is listed per field).

    latent, latent_mask: a full clip latent (1, *latent_shape) with known latent frames written in,
    and which latent frames (T_latent,) bool are known (``mask``, ``replacement``, aligned ``reconstruction``).
    frames, positions: known video frames (1, 3, k, H, W) and their frame indices in the clip
    (``reconstruction`` through the decoder).
    prev_latent: the previous clip's clean latent (``latent``, PVDM).
    source, source_level: the lower-resolution clip (1, 3, t, h, w) an upscaling stage enhances, and the
    noise-augmentation level to condition on it at (None: the model's default) (``upscale``).
    """

    latent: Optional[Tensor] = None
    latent_mask: Optional[Tensor] = None
    frames: Optional[Tensor] = None
    positions: Optional[list[int]] = None
    prev_latent: Optional[Tensor] = None
    source: Optional[Tensor] = None
    source_level: Optional[float] = None

    @classmethod
    def aligned(cls, model: "LoadedModel", known: Tensor, positions: Sequence[int]) -> "Condition":
        """Known latent frames ``known`` (1, C, k, ...) written at latent ``positions`` of an otherwise zero clip latent."""
        shape = (1, *model.latent_shape())
        latent = known.new_zeros(shape)
        latent[:, :, list(positions)] = known
        mask = torch.zeros(shape[2], dtype=torch.bool, device=latent.device)
        mask[list(positions)] = True
        return cls(latent=latent, latent_mask=mask)

    def mask_5d(self) -> Tensor:
        """The (T_latent,) known-frame mask as (1, 1, T, 1, 1) float, the layout the networks take."""
        return self.latent_mask.to(self.latent.dtype).reshape(1, 1, -1, 1, 1)


@dataclass
class DenoiseKit:
    """What a family needs to build a clip's denoiser: the schedule, the sample's generator, the settings,
    and ``wrap`` (a raw network call -> a finite-checked ``Denoiser`` with the model's parameterisation)."""

    schedule: Schedule
    generator: torch.Generator
    settings: SamplerSettings
    wrap: Callable[[RawFn], Denoiser]


def sample_clip(model: "LoadedModel", method: str, condition: Condition, *, generator: torch.Generator,
                settings: SamplerSettings, callback: Optional[Callback] = None,
                means: Optional[VideoFrameMeans] = None) -> Tensor:
    """Sample one clip latent (1, *latent_shape) under ``method`` with the sample's generator.

    ``means``: the video's shared noise means across its windows, used when the frame noise is ``shared-mean``
    (``vgen.sampling.noise.VideoFrameMeans``; None: the clip's frames share a mean of their own).

    A network output that is NaN or infinite stops sampling with a ``VgenError`` naming the step.
    """
    schedule = schedule_from_config(model.config.diffusion)
    run = settings.for_model(model)
    x_T = torch.randn((1, *model.latent_shape()), generator=generator)
    noise: NoiseSpec = run.frame_noise
    if run.frame_noise == "shared-mean" and means is not None:
        means.start_window()
        noise = means
        x_T = means.share(x_T)
    elif run.frame_noise == "shared-mean":
        x_T = share_frame_mean(x_T)
    x_T = x_T.to(model.device)
    guard = FiniteGuard(run.steps, callback)
    start = None
    if settings.strength is not None and settings.strength < 1:
        # SDEdit (Meng et al. 2022): the clip the known frames suggest, noised to the level ``strength`` of the
        # schedule, and only the steps from there down.
        start = round(settings.strength * (schedule.num_timesteps - 1))
        first = step_pairs(schedule, run.steps, run.knobs.get("spacing", "linspace"), start)[0][0]
        a = schedule.alpha_bar_of(first)
        x_T = math.sqrt(a) * model.family.blended_start(model, condition).to(x_T) + math.sqrt(1 - a) * x_T

    def wrap(raw: RawFn) -> Denoiser:
        return Denoiser(guard.raw(raw), schedule=schedule, prediction=model.config.diffusion.prediction,
                        clip_x0=run.clip_x0, recompute_eps=run.recompute_eps)

    with model.autocast():
        denoiser, finalize = model.family.denoiser(model, method, condition, DenoiseKit(schedule, generator, settings, wrap))
        z0 = sample(run.sampler, denoiser, x_T, schedule, steps=run.steps, generators=[generator],
                    callback=guard.progress, frame_noise=noise, **run.knobs, **({} if start is None else {"start": start}))
    return finalize(guard.result(z0.float()))


def blended_init(model: "LoadedModel", condition: Condition) -> Tensor:
    """The clip latent the known frames suggest (``--strength``): every unknown frame the linear blend of its
    neighbouring known ones (the nearest one copied past either end), as FI's ``neighbours`` computes it; known latent
    frames for aligned latents, else known video frames blended and encoded."""
    from vgen.families.fi.conditioning import neighbours

    if condition.latent is not None and condition.latent_mask is not None:
        known, mask, encode = condition.latent, condition.mask_5d(), None
    elif condition.frames is not None and condition.positions:
        frames = condition.frames
        known = frames.new_zeros((*frames.shape[:2], model.clip_frames, *frames.shape[3:]))
        known[:, :, condition.positions] = frames
        mask = known.new_zeros((1, 1, model.clip_frames, 1, 1))
        mask[:, :, condition.positions] = 1
        encode = model.encode
    else:
        mask = None
    if mask is None or not bool((mask > 0.5).any()):
        raise VgenError("--strength starts from given frames, and this clip has none (it is for vgen interpolate); "
                        "drop --strength")
    blend = neighbours(known, mask).blend
    return blend if encode is None else encode(blend)


def check_class_label(model: "LoadedModel", label: Optional[int]) -> None:
    """A class label must be one of the model's classes, and only class-conditional models take one."""
    if label is None:
        return
    classes = model.config.num_classes
    if not classes:
        raise VgenError(f"{model.config.name} is unconditional; drop --class")
    if not 0 <= label < classes:
        raise VgenError(f"--class must lie in [0, {classes - 1}] for {model.config.name} (got {label})")


def label_kwargs(model: "LoadedModel", settings: SamplerSettings) -> dict[str, object]:
    """The class-label keyword of the network (empty for unconditional sampling)."""
    check_class_label(model, settings.class_label)
    if settings.class_label is None:
        return {}
    return {"class_labels": torch.tensor([settings.class_label], device=model.device)}


def labelled_raw(model: "LoadedModel", settings: SamplerSettings, **cond: object) -> RawFn:
    """The network with its conditioning bound; with a class label and guidance w, classifier-free
    guidance against the null label (Ho & Salimans 2022)."""
    labels = label_kwargs(model, settings)
    w = settings.guidance or 0.0
    if labels and w:
        return classifier_free_guidance(model.unet, {**cond, **labels}, {**cond, "class_labels": None}, w)
    return partial(model.unet, **cond, **labels)


Finalize = Callable[[Tensor], Tensor]
DenoiserAndFinalize = tuple[DenoiserFn, Finalize]
