"""``sample_clip``: one clip's latent from noise, under one conditioning method.

This is where a model meets the diffusion core: the network is bound to its conditioning, wrapped
into a ``Denoiser`` (x0/eps from the model's parameterisation), guided, and handed to a sampler.
All noise comes from the one ``generator`` of the sample (initial noise, ancestral noise, CLP).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal, Optional

import torch
from torch import Tensor

from vgen.diffusion.parameterisation import Denoiser, DenoiserFn, RawFn
from vgen.diffusion.schedules import Schedule, schedule_from_config
from vgen.errors import VgenError
from vgen.pipelines.model import LoadedModel
from vgen.pipelines.progress import Callback
from vgen.pipelines.settings import SamplerSettings
from vgen.sampling import SAMPLERS, sample
from vgen.sampling.conditioning import LVDMConditioned, pvdm_guided_raw
from vgen.sampling.finite import FiniteGuard
from vgen.sampling.guidance import ReconstructionGuidance, Replacement, classifier_free_guidance

Method = Literal["none", "latent", "mask", "replacement", "reconstruction"]


@dataclass
class Known:
    """What a clip is conditioned on (all optional; which fields a method reads is listed per field).

    latent, latent_mask: a full clip latent (1, *latent_shape) with known latent frames written in,
    and which latent frames (T_latent,) bool are known (``mask``, ``replacement``).
    frames, positions: known video frames (1, 3, k, H, W) and their frame indices in the clip
    (``reconstruction``).
    prev_latent: the previous clip's clean latent (``latent``, PVDM).
    """

    latent: Optional[Tensor] = None
    latent_mask: Optional[Tensor] = None
    frames: Optional[Tensor] = None
    positions: Optional[list[int]] = None
    prev_latent: Optional[Tensor] = None


def check_sampler(settings: SamplerSettings) -> None:
    """Reject bad sampler options before any work starts."""
    if settings.sampler not in SAMPLERS:
        raise VgenError(f"unknown sampler {settings.sampler!r}; choose one of: {', '.join(SAMPLERS)}")
    if settings.steps <= 0:
        raise VgenError(f"--steps must be positive (got {settings.steps})")
    if settings.eta < 0:
        raise VgenError(f"--eta must be >= 0 (got {settings.eta})")


def sample_clip(model: LoadedModel, method: Method, known: Known, *, generator: torch.Generator,
                settings: SamplerSettings, callback: Optional[Callback] = None) -> Tensor:
    """Sample one clip latent (1, *latent_shape) under ``method`` with the sample's generator.

    A network output that is NaN or infinite stops sampling with a ``VgenError`` naming the step.
    """
    check_sampler(settings)
    schedule = schedule_from_config(model.config.diffusion)
    shape = (1, *model.latent_shape())
    x_T = torch.randn(shape, generator=generator).to(model.device)
    guard = FiniteGuard(settings.steps, callback)
    with model.autocast():
        denoiser, finalize = _guided_denoiser(model, method, known, schedule, generator, settings, guard)
        z0 = _run_sampler(settings, denoiser, x_T, schedule, generator, guard.progress)
    return finalize(guard.result(z0.float()))


def class_kwargs(model: LoadedModel, settings: SamplerSettings) -> dict[str, object]:
    """The class-label kwarg of the network (empty for unconditional models)."""
    if settings.class_label is None:
        return {}
    classes = model.config.num_classes
    if not classes:
        raise VgenError(f"{model.config.name} is unconditional; drop --class")
    if not 0 <= settings.class_label < classes:
        raise VgenError(f"--class must lie in [0, {classes - 1}] for {model.config.name} (got {settings.class_label})")
    return {"class_labels": torch.tensor([settings.class_label], device=model.device)}


def _base_raw(model: LoadedModel, settings: SamplerSettings, **cond: object) -> RawFn:
    """The network with its conditioning bound; with a class label and guidance w, classifier-free
    guidance against the null label (Ho & Salimans 2022)."""
    labels = class_kwargs(model, settings)
    w = settings.guidance or 0.0
    if labels and w:
        return classifier_free_guidance(model.unet, {**cond, **labels}, {**cond, "class_labels": None}, w)
    return partial(model.unet, **cond, **labels)


def _guided_denoiser(model: LoadedModel, method: Method, known: Known, schedule: Schedule,
                     generator: torch.Generator, settings: SamplerSettings, guard: FiniteGuard):
    """(denoiser for the sampler, function applied to the sampled latent); every network output
    passes ``guard``'s finite check."""
    diffusion = model.config.diffusion

    def wrap(raw: RawFn) -> Denoiser:
        return Denoiser(guard.raw(raw), schedule=schedule, prediction=diffusion.prediction, clip_x0=diffusion.clip_x0)

    identity = lambda z: z  # noqa: E731
    generators = [generator]

    if method == "none":
        return wrap(_base_raw(model, settings)), identity

    if method == "latent":
        raw = pvdm_guided_raw(model.unet, known.prev_latent, settings.guidance or 0.0, **class_kwargs(model, settings))
        return wrap(raw), identity

    if method == "mask":
        mask = _mask_5d(known)
        if model.family == "vdm":
            return wrap(_base_raw(model, settings, known=known.latent, mask=mask)), identity
        w = model.config.uncond_guidance if settings.guidance is None else settings.guidance
        conditioned = LVDMConditioned(model.unet, schedule, known.latent, mask, s=model.config.sample_noise_level,
                                      generators=generators, w=w, **class_kwargs(model, settings))
        return wrap(conditioned), conditioned.finalize

    base: DenoiserFn = wrap(_base_raw(model, settings))
    if method == "replacement":
        return Replacement(base, schedule, known.latent, _mask_5d(known), generators), identity

    if method == "reconstruction":
        if known.latent is not None:
            guided = ReconstructionGuidance(base, schedule, known.latent, w_r=settings.recon_weight,
                                            mask=_mask_5d(known), generators=generators)
            return guided, identity
        positions = known.positions
        if model.family == "vdm":
            # Pixel space: the known frames are latent frames, so use the aligned form (VDM eq. 7).
            latent = known.frames.new_zeros((1, *model.latent_shape()))
            latent[:, :, positions] = known.frames
            mask = torch.zeros(latent.shape[2], dtype=torch.bool, device=latent.device)
            mask[positions] = True
            return _guided_denoiser(model, method, Known(latent=latent, latent_mask=mask), schedule, generator,
                                    settings, guard)

        def observe(x0_pred: Tensor) -> Tensor:
            return model.decode(x0_pred, clamp=False)[:, :, positions]

        guided = ReconstructionGuidance(base, schedule, known.frames, w_r=settings.recon_weight, observe=observe)
        return guided, identity

    raise VgenError(f"unknown conditioning method {method!r}")


def _mask_5d(known: Known) -> Tensor:
    """The (T_latent,) known-frame mask as (1, 1, T, 1, 1) float, the layout the networks take."""
    return known.latent_mask.to(known.latent.dtype).reshape(1, 1, -1, 1, 1)


def _run_sampler(settings: SamplerSettings, denoiser: DenoiserFn, x_T: Tensor, schedule: Schedule,
                 generator: torch.Generator, callback: Optional[Callback]) -> Tensor:
    knobs = {"eta": settings.eta} if settings.sampler == "ddim" else {}
    return sample(settings.sampler, denoiser, x_T, schedule, steps=settings.steps, generators=[generator],
                  callback=callback, **knobs)
