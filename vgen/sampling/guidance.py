"""Guidance that works with every sampler: wrappers around a raw network or around a denoiser.

- ``classifier_free_guidance`` (Ho & Salimans 2022; VDM §3; LVDM's unconditional guidance):
  out = (1 + w)·out(x, cond) − w·out(x, null), with both branches in one batched forward.
- ``PinnedKnown``: x0_a = x_a, for networks that see the known frames themselves (a mask channel) and were trained
  on z_t drawn from q(z_t | x) over every frame, known ones included; pinning keeps the sampler's z_t^a on that
  distribution instead of wherever the network's untrained output there takes it.
- ``Replacement`` (VDM §3.1 baseline): known entries of z_t are replaced by a fresh draw from
  q(z_t | x_a) before every denoiser call, and x0_a = x_a.
- ``ReconstructionGuidance`` (VDM §3.1 eq. 7; seed 004 eq. 1):
  x~_b = x^_b − (w_r·a_t/2)·grad_{z_t^b} ||x_a − x^_a(z_t)||²,  x~_a = x_a,  a_t = sqrt(alpha_bar_t),
  also through an ``observe`` map (e.g. decode a PVDM latent then select frames).

Both denoiser wrappers return a ``Prediction`` whose eps is consistent with the sampler's own x_t
(x_t = a·x0 + s·eps), so the sampler updates need no knowledge of the guidance.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import torch
from torch import Tensor

from vgen.diffusion.parameterisation import DenoiserFn, Prediction, RawFn, as_timestep_tensor, prediction_from_x0
from vgen.diffusion.schedules import Schedule, Timestep
from vgen.sampling.noise import randn_per_sample

ConditionalRawFn = Callable[..., Tensor]


def _batch_kwargs(cond: Mapping[str, Any], null: Mapping[str, Any], batch: int) -> Optional[dict[str, Any]]:
    """cond and null kwargs stacked along the batch, or None when some pair cannot be stacked
    (e.g. a tensor on one side and ``None`` on the other)."""
    stacked: dict[str, Any] = {}
    for key, c in cond.items():
        n = null[key]
        if isinstance(c, Tensor) and isinstance(n, Tensor):
            if c.shape != n.shape or c.ndim == 0 or c.shape[0] != batch:
                return None
            stacked[key] = torch.cat([c, n])
        elif isinstance(c, Tensor) or isinstance(n, Tensor) or c != n:
            return None
        else:
            stacked[key] = c
    return stacked


def classifier_free_guidance(raw: ConditionalRawFn, cond: Mapping[str, Any], null: Mapping[str, Any],
                             w: float) -> RawFn:
    """Build ``(x_t, t) -> (1 + w)·raw(x_t, t, **cond) − w·raw(x_t, t, **null)``.

    The conditional and unconditional branches run as ONE forward on the concatenated batch
    [x_t; x_t] with [cond; null] kwargs; kwargs that cannot be concatenated (a tensor paired with
    None, like LVDM's s) fall back to two forwards. Non-tensor kwargs must agree on both sides or
    are treated the same way. w = 0 calls only the conditional branch, so it equals plain
    conditional sampling bit for bit. The same affine combination is right for eps, v and x0
    outputs, since each is an affine function of the others with weights summing to one.
    """
    if set(cond) != set(null):
        raise ValueError(f"cond keys {sorted(cond)} and null keys {sorted(null)} differ")

    def guided(x_t: Tensor, t: Tensor) -> Tensor:
        if w == 0:
            return raw(x_t, t, **cond)
        batch = x_t.shape[0]
        stacked = _batch_kwargs(cond, null, batch)
        if stacked is None:
            out_cond, out_null = raw(x_t, t, **cond), raw(x_t, t, **null)
        else:
            t = as_timestep_tensor(t, x_t)
            out_cond, out_null = raw(torch.cat([x_t, x_t]), torch.cat([t, t]), **stacked).split(batch)
        return (1 + w) * out_cond - w * out_null

    return guided


def _known_mask(mask: Tensor, like: Tensor) -> Tensor:
    return mask.to(device=like.device).bool().expand_as(like)


class PinnedKnown:
    """The known entries of the clean estimate set to x_a (every sampler, every parameterisation).

    ``known`` (shaped like the state) holds x_a where ``mask`` (broadcastable, 1 = known) is set. The returned
    x0 equals x_a there and eps is the noise that z_t holds there (z_t = a_t·x_a + s_t·eps), so every sampler
    step keeps z_t^a a draw of q(z_t^a | x_a) along the path: exactly so for DDPM's posterior and for DDIM,
    which carries that noise to the next level. Used alone for networks conditioned on the known frames (VDM's
    and the DiT's mask channel), which were trained on such z_t and never on what their own output at the known
    positions (not in their loss) would make of it.
    """

    def __init__(self, denoiser: DenoiserFn, schedule: Schedule, known: Tensor, mask: Tensor) -> None:
        self.denoiser, self.schedule, self.known, self.mask = denoiser, schedule, known, mask

    def pin(self, pred: Prediction, x_t: Tensor, t: Tensor) -> Prediction:
        a, s = self.schedule.coefficients(t, x_t)
        known = _known_mask(self.mask, x_t)
        return Prediction(x0=torch.where(known, self.known, pred.x0),
                          eps=torch.where(known, (x_t - a * self.known) / s, pred.eps))

    def __call__(self, x_t: Tensor, t: Timestep) -> Prediction:
        t = as_timestep_tensor(t, x_t)
        return self.pin(self.denoiser(x_t, t), x_t, t)


class Replacement(PinnedKnown):
    """VDM's replacement method as a denoiser wrapper (every sampler, every parameterisation).

    ``known`` (shaped like the state) holds x_a where ``mask`` (broadcastable, 1 = known) is set.
    Before each call the known entries of z_t become a_t·x_a + s_t·eps' with fresh eps' from the
    per-sample ``generators``; the returned x0 equals x_a there, so the sampler's last step (which
    returns x0_pred) sets the known entries to x_a exactly.
    """

    def __init__(self, denoiser: DenoiserFn, schedule: Schedule, known: Tensor, mask: Tensor,
                 generators: Sequence[torch.Generator]) -> None:
        super().__init__(denoiser, schedule, known, mask)
        self.generators = generators

    def paste(self, x_t: Tensor, t: Tensor) -> Tensor:
        """z_t with its known entries replaced by a fresh sample of q(z_t^a | x_a)."""
        noisy_known = self.schedule.q_sample(self.known, t, randn_per_sample(x_t, self.generators))
        return torch.where(_known_mask(self.mask, x_t), noisy_known, x_t)

    def __call__(self, x_t: Tensor, t: Timestep) -> Prediction:
        t = as_timestep_tensor(t, x_t)
        return self.pin(self.denoiser(self.paste(x_t, t), t), x_t, t)


class ReconstructionGuidance:
    """VDM reconstruction guidance as a denoiser wrapper.

    Aligned case (``observe=None``): ``target`` is shaped like the state, ``mask`` marks the known
    entries x_a; z_t^a is replaced as in ``Replacement`` (needs ``generators``), the gradient is
    taken w.r.t. the unknown entries z_t^b only, and x~_a = x_a.

    Observed case (``observe`` given): the known data live elsewhere, e.g. frames of a video while
    the state is a PVDM latent; ``observe(x0_pred)`` maps the predicted x0 into that space (decode,
    then select frames), ``target`` and the optional ``mask`` live there, and the gradient is taken
    w.r.t. all of z_t.

    The gradient goes through the network by autograd (grad mode is switched on inside, so the
    wrapper works under ``torch.no_grad``): one extra backward pass per call.
    """

    def __init__(self, denoiser: DenoiserFn, schedule: Schedule, target: Tensor, *, w_r: float,
                 mask: Optional[Tensor] = None, observe: Optional[Callable[[Tensor], Tensor]] = None,
                 generators: Optional[Sequence[torch.Generator]] = None) -> None:
        if observe is None and (mask is None or generators is None):
            raise ValueError("aligned reconstruction guidance needs the known-entry mask and per-sample generators")
        self.denoiser, self.schedule, self.target, self.w_r = denoiser, schedule, target, w_r
        self.mask, self.observe = mask, observe
        self.replacement = None if observe is not None else Replacement(denoiser, schedule, target, mask, generators)

    def gradient(self, z_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """(x0_pred(z_t), grad_{z_t} ||mask·(target − observe(x0_pred(z_t)))||²), summed per sample."""
        with torch.enable_grad():
            z = z_t.detach().requires_grad_(True)
            x0_pred = self.denoiser(z, t).x0
            observed = x0_pred if self.observe is None else self.observe(x0_pred)
            residual = self.target - observed
            if self.mask is not None:
                residual = residual * self.mask.to(residual)
            (grad,) = torch.autograd.grad(residual.square().sum(), z)
        return x0_pred.detach(), grad

    def __call__(self, x_t: Tensor, t: Timestep) -> Prediction:
        t = as_timestep_tensor(t, x_t)
        z_t = x_t if self.replacement is None else self.replacement.paste(x_t, t)
        x0_pred, grad = self.gradient(z_t, t)
        a, s = self.schedule.coefficients(t, x_t)
        x0_guided = x0_pred - (self.w_r * a / 2) * grad
        if self.replacement is not None:
            x0_guided = torch.where(_known_mask(self.mask, x_t), self.target, x0_guided)
        return prediction_from_x0(x_t, x0_guided, a, s)
