"""PVDM previous-clip conditioning (pvdm.md §2.4, §2.6): eps_theta(z_t^l, z_0^{l−1}, t) with the previous clip's
clean latent concatenated on channels; the null condition is an all-zero latent. Training mixes conditional and
unconditional examples with probability λ (``cond_prob``).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from vgen.diffusion.parameterisation import RawFn
from vgen.families.pvdm.planes import PlaneSizes, join_planes, split_planes
from vgen.sampling.guidance import classifier_free_guidance


def aligned_condition(latent: Tensor, sizes: PlaneSizes, overlap: int) -> Tensor:
    """The previous clip's latent as a clip that overlaps it by ``overlap`` frames is conditioned on: the time rows of
    its yt and xt planes rolled back by S − k, so the k frames both clips share sit in the rows the new clip has them
    in (rows are nearly frame-local: the pvdm-mini-bouncing autoencoder decodes a rolled latent's first 4 frames 3.4
    grey levels from the true last 4, against 3.0 for its plain reconstruction). The xy plane (the projection over
    time) stays. ``overlap`` 0 (the paper's consecutive clips) returns ``latent`` unchanged."""
    if overlap == 0:
        return latent
    xy, yt, xt = split_planes(latent, sizes)
    shift = overlap - sizes.frames
    return join_planes(xy, yt.roll(shift, dims=2), xt.roll(shift, dims=2))


def pvdm_condition_batch(clean_prev: Tensor, p_cond: float, generator: torch.Generator, *,
                         per_sample: bool = False) -> tuple[Tensor, Tensor]:
    """The ``cond`` input for one PVDM training batch, and which rows are conditional (B,) bool.

    With probability ``p_cond`` a row keeps its previous-clip latent, otherwise it gets the null
    (all-zero) condition. PVDM flips one coin for the whole batch (per_sample=False) because its
    conditional and unconditional batches also cut the clips differently; ``per_sample=True`` flips
    one coin per row (lower-variance Monte-Carlo estimate of the same objective).
    """
    batch = clean_prev.shape[0]
    coins = torch.rand(batch if per_sample else 1, generator=generator).to(clean_prev.device)
    is_cond = (coins < p_cond).expand(batch)
    cond = torch.where(is_cond.reshape(-1, *([1] * (clean_prev.ndim - 1))), clean_prev,
                       torch.zeros_like(clean_prev))
    return cond, is_cond


FIT_LR = 0.01  # Adam's step for the xy-plane fit (latents are tanh-bounded, std 0.64-0.8)


def fit_shared_plane(decode: Callable[[Tensor], Tensor], latent: Tensor, known: Tensor, sizes: PlaneSizes,
                     steps: int, lr: float = FIT_LR) -> Tensor:
    """``latent`` with its xy plane (the projection over time, shared by every frame) fitted by ``steps`` Adam steps so
    the clip's first k frames decode to ``known`` (1, 3, k, H, W), the frames of the video they re-make; the yt and xt
    planes (the per-frame rows) are kept. ``decode(latent)`` must give unclamped frames in [-1, 1].

    Why the xy plane: a clip sampled on the time-aligned previous latent gets the shared rows nearly right, but its xy
    plane has to be predicted from the condition, and the decoder is sensitive to it (on the pvdm-mini-bouncing
    overlap model, one-step x0 predictions at t = 100 decode the re-made frames 9.1 grey levels off, 4.7 with the true
    xy plane). Fitting it pulls the whole new clip (background, objects' look) to the video so far, not only the
    re-made frames, so the cut after them shrinks instead of moving into the clip.
    """
    xy, yt, xt = split_planes(latent.detach(), sizes)
    xy = xy.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([xy], lr=lr)
    frames = known.shape[2]
    with torch.enable_grad():
        for _ in range(steps):
            optimiser.zero_grad()
            loss = (decode(join_planes(xy, yt, xt))[:, :, :frames] - known).pow(2).mean()
            loss.backward()
            optimiser.step()
    return join_planes(xy.detach(), yt, xt)


def pvdm_guided_raw(unet: Callable[..., Tensor], z_prev: Tensor, w: float = 0.0, **extra: object) -> RawFn:
    """Raw call conditioned on the previous clip's clean latent, with classifier-free guidance weight
    ``w`` against the null (zero) latent: (1 + w)·eps(z_t, z_prev) − w·eps(z_t, 0) (PVDM's hook)."""
    return classifier_free_guidance(unet, {"cond": z_prev, **extra}, {"cond": torch.zeros_like(z_prev), **extra}, w)
