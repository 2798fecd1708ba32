"""Per-sample randomness and the small pieces every sampler loop shares.

Each sample of a batch owns one ``torch.Generator``; noise is drawn per sample and stacked, so
sample i of a batch run is reproducible alone with the same generator (EDM's StackedRandomGenerator).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch import Tensor

from vgen.diffusion.schedules import Schedule, Spacing

Callback = Callable[[int, int, dict], None]


def check_generators(generators: Sequence[torch.Generator], batch: int) -> None:
    """Samplers need exactly one generator per sample."""
    if len(generators) != batch:
        raise ValueError(f"got {len(generators)} generators for a batch of {batch}; pass one per sample")


def randn_per_sample(like: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
    """Standard normal noise shaped like ``like``: row i drawn from ``generators[i]`` on its device."""
    check_generators(generators, like.shape[0])
    rows = [torch.randn(like.shape[1:], generator=g, device=g.device, dtype=like.dtype) for g in generators]
    return torch.stack(rows).to(like.device)


def seeded_generators(seeds: Sequence[int], device: str | torch.device = "cpu") -> list[torch.Generator]:
    """One generator per seed (the usual way to build ``generators`` from a seed list)."""
    return [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]


def step_pairs(schedule: Schedule, steps: int, spacing: Spacing) -> list[tuple[int, int]]:
    """Consecutive (t, t_prev) pairs of the descending grid, ending with (t_last, −1) = clean data."""
    grid = schedule.timesteps(steps, spacing)
    return list(zip(grid, grid[1:] + [-1]))


def report(callback: Optional[Callback], done: int, total: int, **info: object) -> None:
    """Forward progress to the caller's ``callback(done, total, info)`` if there is one."""
    if callback is not None:
        callback(done, total, info)
