"""How the FI network sees its known frames, in training and sampling.

Make-A-Video's ↑F (§3.3) takes the masked video (unknown frames zero) and a binary mask, and is told the frame skip.
vgen also gives every frame its *neighbouring keys*: the nearest known frame at or before it (``prev``) and at or after
it (``next``; a frame past the last key, or before the first, holds the nearest one on both sides), its position
``w = (t − t_prev) / (t_next − t_prev)`` between them (0 when they coincide), and their linear blend
``prev + w·(next − prev)``: at key spacing k that is exactly plain frame blending (``vgen.metrics.inbetween.blend``).
The network diffuses the residual ``residual_scale·(video − blend)``; on the static background it is exactly zero.

Layouts: videos (B, C, T, H, W); masks (B, 1, T, 1, 1) float with 1 at known frames; frame skips (B,) long.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor

from vgen.diffusion.parameterisation import DenoiserFn, Prediction, as_timestep_tensor, prediction_from_x0
from vgen.diffusion.schedules import Schedule, Timestep
from vgen.errors import VgenError
from vgen.sampling.noise import randn_per_sample
from vgen.training.objectives import Generators, randint_per_sample, uniform_per_sample

# Share of strided training masks cut to fewer keys than fit, as in the last window of a long interpolation.
PARTIAL_SHARE = 0.25


@dataclass(frozen=True)
class Neighbours:
    """Each frame's nearest known frame before (``prev``) and after (``next``) it, (B, C, T, H, W), its position
    ``w`` (B, 1, T, 1, 1) between them, and their blend."""

    prev: Tensor
    next: Tensor
    w: Tensor

    @property
    def blend(self) -> Tensor:
        return self.prev + self.w * (self.next - self.prev)


def neighbours(known: Tensor, mask: Tensor) -> Neighbours:
    """The neighbouring keys of every frame of a clip whose frames ``known`` are given where ``mask`` is 1."""
    given = mask[:, 0, :, 0, 0] > 0.5  # (B, T)
    if not given.is_meta and not bool(given.any(dim=1).all()):  # (no values on the meta device)
        raise VgenError("an FI network needs at least one known frame per clip")
    frames = given.shape[1]
    index = torch.arange(frames, device=known.device).expand_as(given)
    before = torch.where(given, index, -1).cummax(dim=1).values
    after = torch.where(given, index, frames).flip(1).cummin(dim=1).values.flip(1)
    first = torch.where(given, index, frames).min(dim=1, keepdim=True).values
    last = torch.where(given, index, -1).max(dim=1, keepdim=True).values
    before = torch.where(before < 0, first, before)
    after = torch.where(after >= frames, last, after)
    span = (after - before).clamp(min=1)
    w = torch.where(after > before, (index - before).float() / span, torch.zeros_like(span, dtype=torch.float))

    def gather(at: Tensor) -> Tensor:
        return known.gather(2, at[:, None, :, None, None].expand(-1, known.shape[1], -1, *known.shape[3:]))

    return Neighbours(prev=gather(before), next=gather(after), w=w.to(known.dtype)[:, None, :, None, None])


def frame_skip(mask: Tensor) -> Tensor:
    """(B,) the spacing of each clip's known frames: k for keys every k-th frame, 1 for consecutive known frames
    (extrapolation) or a single one. Known frames at uneven spacing have no frame skip (an error)."""
    skips = []
    for row in mask[:, 0, :, 0, 0] > 0.5:
        gaps = row.nonzero().flatten().diff()
        if len(gaps) and bool((gaps != gaps[0]).any()):
            raise VgenError(f"known frames at {row.nonzero().flatten().tolist()} are not evenly spaced; an FI model "
                            "takes key frames every k-th frame or consecutive ones")
        skips.append(int(gaps[0]) if len(gaps) else 1)
    return torch.tensor(skips, dtype=torch.long, device=mask.device)


def training_masks(generators: Generators, frames: int, p_extrapolate: float, device: torch.device
                   ) -> tuple[Tensor, Tensor]:
    """Random known-frame masks (B, 1, T, 1, 1) and their frame skips (B,), one row per generator.

    Make-A-Video trains ↑F on masked interpolation and extrapolation with variable frame skips. Here a share
    ``p_extrapolate`` of rows gives the first or the last j ∈ [1, T−1] frames (frame skip 1); the others give every
    k-th frame from the first, k ∈ [2, T−1] (the keys of ``interpolate --factor k``, frame skip k), of which
    ``PARTIAL_SHARE`` keep only n ∈ [2, all] keys. Every row draws the same numbers in the same order.
    """
    kind = uniform_per_sample(generators, device)
    k = randint_per_sample(generators, 2, frames, device)
    partial = uniform_per_sample(generators, device) < PARTIAL_SHARE
    keep = uniform_per_sample(generators, device)
    j = randint_per_sample(generators, 1, frames, device)
    backward = uniform_per_sample(generators, device) < 0.5
    position = torch.arange(frames, device=device)[None]
    full = (frames - 1) // k + 1
    # n ∈ [2, full] uniformly from the ``keep`` draw when the row is partial.
    n = torch.where(partial, 2 + (keep * (full - 1)).long().clamp(max=full - 2), full)
    strided = (position % k[:, None] == 0) & (position < (n * k)[:, None] - k[:, None] + 1)
    ends = torch.where(backward[:, None], position >= frames - j[:, None], position < j[:, None])
    extrapolate = kind < p_extrapolate
    mask = torch.where(extrapolate[:, None], ends, strided)
    skip = torch.where(extrapolate, torch.ones_like(k), k)
    return mask.float()[:, None, :, None, None], skip


def augment(known: Tensor, mask: Tensor, schedule: Schedule, level: Tensor, generators: Sequence[torch.Generator]
            ) -> Tensor:
    """Noise conditioning augmentation (Imagen Video, after Cascaded Diffusion): the known frames drawn from
    q(x_s | x_0) at level ``level`` (B,), zero elsewhere; level −1 leaves them clean."""
    return schedule.q_sample(known, level, randn_per_sample(known, generators)) * mask


class PixelBounds:
    """A residual-space denoiser whose x0 is clamped so that every pixel ``base + x0/scale`` stays in [−1, 1] (VDM's
    x0 clipping, per pixel), with eps recomputed from the clamped x0."""

    def __init__(self, denoiser: DenoiserFn, schedule: Schedule, base: Tensor, scale: float) -> None:
        self.denoiser, self.schedule = denoiser, schedule
        self.low, self.high = (-1 - base) * scale, (1 - base) * scale

    def __call__(self, x_t: Tensor, t: Timestep) -> Prediction:
        pred = self.denoiser(x_t, t)
        a, s = self.schedule.coefficients(as_timestep_tensor(t, x_t), x_t)
        return prediction_from_x0(x_t, torch.clamp(pred.x0, self.low, self.high), a, s)


class KeyConditioned:
    """The FI network bound to one clip's known frames for sampling, in residual space.

    Known frames are augmented once at ``aug_sample_level`` (noise from the sample's generator) when the model was
    trained with augmentation; the frame skip is read from the mask. ``finalize`` turns the sampled residual back into
    frames and puts the given frames back where they are known.
    """

    def __init__(self, unet: Callable[..., Tensor], schedule: Schedule, known: Tensor, mask: Tensor, *,
                 residual_scale: float, aug_level: int, generator: torch.Generator) -> None:
        self.unet, self.schedule, self.clean, self.mask, self.scale = unet, schedule, known, mask, residual_scale
        level: Optional[Tensor] = None
        if aug_level:
            level = torch.full((known.shape[0],), aug_level, dtype=torch.long, device=known.device)
            known = augment(known, mask, schedule, level, [generator] * known.shape[0])
        self.base = neighbours(known, mask).blend
        self.kwargs = {"known": known, "mask": mask, "skip": frame_skip(mask), "aug_level": level}

    def __call__(self, r_t: Tensor, t: Tensor) -> Tensor:
        return self.unet(r_t, t, **self.kwargs)

    def bounded(self, denoiser: DenoiserFn) -> PixelBounds:
        return PixelBounds(denoiser, self.schedule, self.base, self.scale)

    def finalize(self, r0: Tensor) -> Tensor:
        """Sampled residual -> frames (B, 3, T, H, W), the given frames kept exactly."""
        return torch.where(self.mask.bool().expand_as(r0), self.clean, self.base + r0 / self.scale)
