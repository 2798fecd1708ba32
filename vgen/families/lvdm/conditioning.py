"""LVDM conditional latent perturbation (lvdm-vdm.md §A.4): training masks and batches, and the sampling-time call.

Conditioning latents are noised to a level s and the network is told s; a binary mask (B, 1, T, 1, 1),
1 = conditioning latent, says which latents are given. Unconditional guidance: (1 + w)·eps_cond − w·eps_uncond
with eps_uncond = network(mask all zero, s = None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

from vgen.diffusion.parameterisation import PredictionKind, target_of
from vgen.diffusion.schedules import Schedule
from vgen.sampling.guidance import classifier_free_guidance
from vgen.sampling.noise import randn_per_sample

def lvdm_random_masks(batch: int, frames: int, *, p_interp: float, p_pred: float, n_prevs: Sequence[int],
                      generator: torch.Generator, p_keys: float = 0.0,
                      key_strides: Sequence[int] = (2, 3, 4)) -> Tensor:
    """LVDM's ``random_temporal_masking``: a (B, 1, T, 1, 1) float mask per row, 1 = given latent.

    With probability p_interp the ends are given (interpolation); else with probability p_pred the
    first k latents are given, k drawn uniformly from ``n_prevs`` (prediction); else with probability
    p_keys every r-th latent from the first is given, r drawn uniformly from ``key_strides`` (the
    pattern ``vgen interpolate --factor r`` conditions on; vgen's addition, off by default); else none
    (unconditional). The probabilities apply in that order, as in LVDM. With p_keys = 0 no stride is
    drawn, so the random stream is LVDM's.
    """
    if p_interp + p_pred + p_keys > 1 or min(p_interp, p_pred, p_keys) < 0:
        raise ValueError("mask probabilities must be >= 0 and sum to at most 1")
    if p_pred > 0 and (not n_prevs or max(n_prevs) >= frames or min(n_prevs) < 1):
        raise ValueError(f"n_prevs must lie in [1, {frames - 1}]")
    if p_keys > 0 and (not key_strides or min(key_strides) < 2 or max(key_strides) >= frames):
        raise ValueError(f"key strides must lie in [2, {frames - 1}]")
    mask = torch.zeros(batch, 1, frames, 1, 1)
    kind = torch.rand(batch, generator=generator)
    k_index = torch.randint(0, max(len(n_prevs), 1), (batch,), generator=generator)
    r_index = torch.randint(0, len(key_strides), (batch,), generator=generator) if p_keys > 0 else None
    for row in range(batch):
        if kind[row] < p_interp:
            mask[row, :, [0, frames - 1]] = 1
        elif kind[row] < p_interp + p_pred:
            mask[row, :, : n_prevs[int(k_index[row])]] = 1
        elif r_index is not None and kind[row] < p_interp + p_pred + p_keys:
            mask[row, :, :: key_strides[int(r_index[row])]] = 1
    return mask


@dataclass(frozen=True)
class CLPBatch:
    """Network inputs and target for one LVDM training step with conditional latent perturbation.

    ``pred = unet(x_in, t, mask=mask, s=s)`` and the loss compares ``pred`` with ``target`` on all
    latents (conditioning latents target their own level-s noise)."""

    x_in: Tensor
    target: Tensor
    mask: Tensor
    t: Tensor
    s: Tensor


def clp_training_batch(z0: Tensor, schedule: Schedule, *, generator: torch.Generator, p_interp: float,
                       p_pred: float, n_prevs: Sequence[int] = (1,), max_noise_level: int = 250,
                       prediction: PredictionKind = "eps", p_keys: float = 0.0) -> CLPBatch:
    """LVDM §A.4 training step: t ~ U{0..T−1}, s ~ U{0..max_noise_level−1} (one per row, drawn even
    for unconditional rows), z_t = q(z0, t), z_s = q(z0, s), x_in = (1 − m)·z_t + m·z_s,
    target = (1 − m)·target_t + m·target_s for the chosen prediction kind."""
    batch, device = z0.shape[0], z0.device
    mask = lvdm_random_masks(batch, z0.shape[2], p_interp=p_interp, p_pred=p_pred, n_prevs=n_prevs,
                             generator=generator, p_keys=p_keys).to(device=device, dtype=z0.dtype)
    t = torch.randint(0, schedule.num_timesteps, (batch,), generator=generator).to(device)
    s = torch.randint(0, max_noise_level, (batch,), generator=generator).to(device)
    eps_t = torch.randn(z0.shape, generator=generator, dtype=z0.dtype).to(device)
    eps_s = torch.randn(z0.shape, generator=generator, dtype=z0.dtype).to(device)
    a_t, s_t = schedule.coefficients(t, z0)
    a_s, s_s = schedule.coefficients(s, z0)
    x_in = (1 - mask) * (a_t * z0 + s_t * eps_t) + mask * (a_s * z0 + s_s * eps_s)
    target = (1 - mask) * target_of(prediction, z0, eps_t, a_t, s_t) + mask * target_of(prediction, z0, eps_s, a_s, s_s)
    return CLPBatch(x_in=x_in, target=target, mask=mask, t=t, s=s)


class LVDMConditioned:
    """Raw LVDM call with conditioning latents perturbed to level s, plus unconditional guidance.

    ``c_s = q_sample(c0, s)`` is drawn ONCE from the per-sample generators. Before every network call
    the conditioning positions of the state are overwritten with c_s, and the network gets the mask
    and s; with ``w != 0`` the unconditional branch (mask all zero, s = None) is combined as
    (1 + w)·eps_cond − w·eps_uncond (LVDM ``cfg_original``). ``finalize`` puts c0 back into the
    conditioning positions of the sampled latents.
    """

    def __init__(self, unet: Callable[..., Tensor], schedule: Schedule, c0: Tensor, mask: Tensor, *, s: int,
                 generators: Sequence[torch.Generator], w: float = 0.0, **extra: object) -> None:
        self.c0, self.mask = c0, mask
        self.c_s = schedule.q_sample(c0, s, randn_per_sample(c0, generators))
        s_batch = torch.full((c0.shape[0],), s, dtype=torch.long, device=c0.device)
        self.guided = classifier_free_guidance(
            unet, {"mask": mask, "s": s_batch, **extra}, {"mask": torch.zeros_like(mask), "s": None, **extra}, w)

    def _given(self, like: Tensor) -> Tensor:
        return self.mask.bool().expand_as(like)

    def __call__(self, x_t: Tensor, t: Tensor) -> Tensor:
        return self.guided(torch.where(self._given(x_t), self.c_s, x_t), t)

    def finalize(self, z0: Tensor) -> Tensor:
        """Sampled latents with the conditioning positions set back to the clean c0."""
        return torch.where(self._given(z0), self.c0, z0)
