"""Stop sampling at the first step where the model's output stops being a finite number.

A model whose weights are broken (a training run that diverged, an overflow in half precision)
predicts NaN or ±inf. Left alone, the sampler carries them to the end: x0 clipping hides an
infinite prediction and NaN decodes to an all-black video, with exit 0. ``FiniteGuard`` checks every
raw network output and the sampled result, and raises a ``VgenError`` that names the sampler step
and the timestep. One ``isfinite(...).all()`` per network call; nothing else changes, so sampling
stays bit-identical.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from vgen.diffusion.parameterisation import RawFn
from vgen.errors import VgenError
from vgen.sampling.steps import Callback


class FiniteGuard:
    """Tracks the sampler's step through its progress callback and checks outputs for NaN/inf.

    Hand ``guard.progress`` to the sampler as its callback (it forwards to ``callback``), wrap each
    raw network function with ``guard.raw`` and pass the sampler's result through ``guard.result``.
    """

    def __init__(self, steps: int, callback: Optional[Callback] = None) -> None:
        self.done = 0
        self.total = steps
        self._callback = callback

    def progress(self, done: int, total: int, info: dict[str, Any]) -> None:
        """The sampler's callback: remember how many steps are finished, then forward."""
        self.done, self.total = done, total
        if self._callback is not None:
            self._callback(done, total, info)

    def raw(self, fn: RawFn) -> RawFn:
        """``fn`` with its output checked: a non-finite value stops sampling at the current step."""

        def checked(x_t: Tensor, t: Tensor, *args: Any, **kwargs: Any) -> Tensor:
            out = fn(x_t, t, *args, **kwargs)
            if not bool(torch.isfinite(out).all()):
                timestep = int(torch.as_tensor(t).flatten()[0])
                raise VgenError(f"the model's output is not finite (NaN or infinity) at sampling step "
                                f"{self.done + 1} of {self.total} (t={timestep}): its weights are broken, e.g. by a "
                                "diverged training run; use an earlier checkpoint or retrain it")
            return out

        return checked

    def result(self, x: Tensor) -> Tensor:
        """The sampled clip, refused if any value is NaN or infinite (e.g. an overflow in guidance)."""
        if not bool(torch.isfinite(x).all()):
            raise VgenError(f"sampling produced non-finite values (NaN or infinity) by step {self.done} of "
                            f"{self.total}; lower --guidance or --recon-weight, or use an earlier checkpoint")
        return x
