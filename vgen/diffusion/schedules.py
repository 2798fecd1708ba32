"""Discrete variance-preserving noise schedules: q(x_t | x0) = N(sqrt(alpha_bar_t)·x0, (1 − alpha_bar_t)·I).

Timesteps are integers ``t = 0 .. T−1``; ``t = 0`` is the first (least noisy) step and ``t = −1`` is
used by samplers to mean "clean data" (alpha_bar = 1). Coefficients are kept in float64 and cast to
the dtype and device of the tensor they multiply.

Schedules:
- ``linear``: DDPM (Ho et al. 2020) betas linear in beta, with the endpoints scaled by 1000/T as in
  Nichol & Dhariwal (2021) so one pair of endpoints (1e-4, 0.02) works for any T.
- ``scaled_linear``: linear in sqrt(beta) (LDM, PVDM 0.0015..0.0195, LVDM 0.0015..0.0155), no T scaling.
- ``cosine``: Nichol & Dhariwal (2021) eq. 17, alpha_bar(t) = cos²(((t/T + s)/(1 + s))·π/2) / f(0),
  s = 0.008, betas clipped at 0.999.
"""

from __future__ import annotations

import math
from typing import Callable, Literal, Union

import torch
from torch import Tensor

from vgen.config.base import DiffusionConfig
from vgen.errors import VgenError

ScheduleKind = Literal["linear", "scaled_linear", "cosine"]
Spacing = Literal["leading", "trailing", "linspace", "pvdm", "ldm"]
Timestep = Union[int, Tensor]

SPACINGS: tuple[str, ...] = ("linspace", "leading", "trailing", "pvdm", "ldm")


def linear_betas(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """DDPM betas, linear in beta, endpoints scaled by 1000/T (Nichol & Dhariwal 2021, §3.2 code)."""
    scale = 1000.0 / num_timesteps
    return torch.linspace(scale * beta_start, scale * beta_end, num_timesteps, dtype=torch.float64)


def scaled_linear_betas(num_timesteps: int, beta_start: float = 0.0015, beta_end: float = 0.0195) -> Tensor:
    """LDM betas: ``linspace(sqrt(beta_start), sqrt(beta_end), T) ** 2``."""
    return torch.linspace(math.sqrt(beta_start), math.sqrt(beta_end), num_timesteps, dtype=torch.float64) ** 2


def cosine_betas(num_timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Nichol & Dhariwal (2021) eq. 17: beta_t = min(1 − alpha_bar(t+1)/alpha_bar(t), 0.999)."""
    steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


class Schedule:
    """The forward process of a discrete VP diffusion, defined by its betas.

    Attributes (float64, shape (T,)): ``betas``, ``alphas`` (1 − beta), ``alphas_cumprod``
    (alpha_bar), ``sqrt_alpha_bar`` (the signal scale a_t), ``sigma`` (the noise scale
    s_t = sqrt(1 − alpha_bar_t)) and ``log_snr`` (log(alpha_bar / (1 − alpha_bar))).
    """

    def __init__(self, betas: Tensor) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64).flatten()
        if betas.numel() < 2 or not bool(((betas > 0) & (betas < 1)).all()):
            raise VgenError("diffusion betas must number at least 2 and lie in (0, 1); fix the schedule config")
        self.betas = betas
        self.alphas = 1 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self.sqrt_alpha_bar = self.alphas_cumprod.sqrt()
        self.sigma = (1 - self.alphas_cumprod).sqrt()
        self.log_snr = self.alphas_cumprod.log() - (1 - self.alphas_cumprod).log()

    @property
    def num_timesteps(self) -> int:
        return self.betas.numel()

    def __repr__(self) -> str:
        return (f"Schedule(T={self.num_timesteps}, alpha_bar[0]={self.alphas_cumprod[0].item():.6g}, "
                f"alpha_bar[T-1]={self.alphas_cumprod[-1].item():.6g})")

    # ----------------------------------------------------------------------------------- lookups
    def alpha_bar_of(self, t: int) -> float:
        """alpha_bar at one integer timestep as a Python float; ``t = −1`` (clean data) gives 1.0."""
        self._check_index(t)
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def lambda_of(self, t: int) -> float:
        """Half log-SNR, lambda_t = log(a_t / s_t) (Lu et al. 2022), as a Python float."""
        self._check_index(t)
        return 0.5 * float(self.log_snr[t])

    def coefficients(self, t: Timestep, like: Tensor) -> tuple[Tensor, Tensor]:
        """(a_t, s_t) = (sqrt(alpha_bar_t), sqrt(1 − alpha_bar_t)) shaped to broadcast against ``like``.

        ``t`` is an int or an integer tensor of shape () or (B,) with ``B = like.shape[0]``; entries
        of −1 mean clean data (a = 1, s = 0).
        """
        t = torch.as_tensor(t, dtype=torch.long)
        if t.ndim > 1 or (t.ndim == 1 and t.numel() not in (1, like.shape[0])):
            raise ValueError(f"timesteps of shape {tuple(t.shape)} do not match a batch of {like.shape[0]}")
        if bool((t < -1).any()) or bool((t >= self.num_timesteps).any()):
            raise ValueError(f"timesteps must lie in [-1, {self.num_timesteps - 1}]")
        t = t.cpu()
        alpha_bar = torch.where(t < 0, torch.ones((), dtype=torch.float64),
                                self.alphas_cumprod[t.clamp(min=0)])
        shape = (-1,) + (1,) * (like.ndim - 1) if t.ndim == 1 else ()
        a = alpha_bar.sqrt().reshape(shape).to(device=like.device, dtype=like.dtype)
        s = (1 - alpha_bar).sqrt().reshape(shape).to(device=like.device, dtype=like.dtype)
        return a, s

    def q_sample(self, x0: Tensor, t: Timestep, noise: Tensor) -> Tensor:
        """Draw from q(x_t | x0): ``a_t·x0 + s_t·noise`` (DDPM eq. 4)."""
        a, s = self.coefficients(t, x0)
        return a * x0 + s * noise

    def snr(self, t: Tensor) -> Tensor:
        """SNR_t = alpha_bar_t / (1 − alpha_bar_t) for an integer tensor of timesteps (float64)."""
        return self.log_snr[t.cpu().long()].exp().to(t.device)

    # -------------------------------------------------------------------------------- sub-grids
    def timesteps(self, steps: int, spacing: Spacing = "linspace") -> list[int]:
        """A descending grid of integer timesteps for few-step sampling (``steps`` of them; ``ldm`` may give more).

        Conventions (``leading``/``trailing``/``linspace`` as in diffusers' ``timestep_spacing``), e.g. T = 1000,
        steps = 10:
        - ``leading``:  ``arange(steps)·(T // steps)`` reversed -> [900, 800, ..., 0]
        - ``trailing``: ``round(arange(T, 0, −T/steps)) − 1`` -> [999, 899, ..., 99]
        - ``linspace``: ``round(linspace(0, T−1, steps))`` reversed -> [999, 888, ..., 111, 0]
        - ``pvdm``: the official PVDM DDIM grid (sihyun-yu/PVDM losses/ddpm.py, ``DDPM.ddim_sample``):
          ``torch.linspace(−1, T−1, steps+1)`` in float32, truncated by ``.int()``, reversed, without its final −1
          (clean data) -> [999, 899, ..., 99]. Trailing-like, but it truncates where ``trailing`` rounds, and the
          float32 ``linspace`` sometimes lands just below an integer: it differs from ``trailing`` for 984 of the
          1000 step counts at T = 1000 (steps = 7: [999, 856, 713, 570, 427, 284, 141] against [..., 428, 285, 142]).
        - ``ldm``: the LDM/LVDM DDIM grid (YingqingHe/LVDM lvdm/models/modules/util.py, ``make_ddim_timesteps``
          'uniform'): ``range(0, T, T // steps) + 1`` reversed -> [901, 801, ..., 1]. Its stride is T // steps, so
          it has more than ``steps`` entries when ``steps`` does not divide T (30 -> 31 at T = 1000), as in the
          official code. Its last step ends at t = 0, not at clean data (``vgen.sampling.steps.step_pairs``).
        ``linspace`` (the samplers' default) spans both ends. ``trailing`` also starts at the noisiest step but its
        last step jumps from t = T/steps − 1 to clean data, which loses variance in low-variance directions
        (Gaussian test: DDIM-50 exact KL 0.083 vs 0.044 with linspace).
        """
        T = self.num_timesteps
        if not 1 <= steps <= T:
            raise VgenError(f"sampling steps must be between 1 and {T} (got {steps}); pass a valid --steps")
        if spacing not in _GRIDS:
            raise VgenError(f"unknown timestep spacing {spacing!r}; choose one of: {', '.join(SPACINGS)}")
        return sorted(set(_GRIDS[spacing](T, steps)), reverse=True)

    def _check_index(self, t: int) -> None:
        if not -1 <= t < self.num_timesteps:
            raise ValueError(f"timestep {t} outside [-1, {self.num_timesteps - 1}]")


def _ldm_grid(T: int, steps: int) -> list[int]:
    grid = [t + 1 for t in range(0, T, T // steps)]
    if grid[-1] > T - 1:
        raise VgenError(f"the LDM grid for {steps} steps reaches t = {grid[-1]}, past the last timestep {T - 1} (the "
                        f"official make_ddim_timesteps fails there too); pass another --steps, e.g. one that divides {T}")
    return grid


# Each spacing's grid for (T, steps), ascending or in any order (``Schedule.timesteps`` sorts; see its docstring).
_GRIDS: dict[str, Callable[[int, int], list[int]]] = {
    "linspace": lambda T, steps: [round(i * (T - 1) / (steps - 1)) for i in range(steps)] if steps > 1 else [T - 1],
    "leading": lambda T, steps: [i * (T // steps) for i in range(steps)],
    "trailing": lambda T, steps: [round(T - i * T / steps) - 1 for i in range(steps)],
    "pvdm": lambda T, steps: torch.linspace(-1, T - 1, steps + 1, dtype=torch.float32).int().tolist()[1:],
    "ldm": _ldm_grid,
}


def make_schedule(kind: ScheduleKind, num_timesteps: int = 1000, *, beta_start: float | None = None,
                  beta_end: float | None = None) -> Schedule:
    """A schedule by name; beta endpoints default to DDPM's (linear) or PVDM's (scaled_linear)."""
    if kind == "linear":
        return Schedule(linear_betas(num_timesteps, beta_start or 1e-4, beta_end or 0.02))
    if kind == "scaled_linear":
        return Schedule(scaled_linear_betas(num_timesteps, beta_start or 0.0015, beta_end or 0.0195))
    if kind == "cosine":
        return Schedule(cosine_betas(num_timesteps))
    raise VgenError(f"unknown noise schedule {kind!r}; choose linear, scaled_linear or cosine")


def schedule_from_config(config: DiffusionConfig) -> Schedule:
    """The schedule a model config describes (``beta_start``/``beta_end`` are ignored for cosine)."""
    return make_schedule(config.schedule, config.timesteps, beta_start=config.beta_start, beta_end=config.beta_end)
