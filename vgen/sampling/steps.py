"""What every sampler loop shares besides noise: the descending step grid and progress reporting."""

from __future__ import annotations

from typing import Callable, Optional

from vgen.diffusion.schedules import Schedule, Spacing

Callback = Callable[[int, int, dict], None]


def step_pairs(schedule: Schedule, steps: int, spacing: Spacing) -> list[tuple[int, int]]:
    """Consecutive (t, t_prev) pairs of the descending grid, ending with (t_last, −1) = clean data."""
    grid = schedule.timesteps(steps, spacing)
    return list(zip(grid, grid[1:] + [-1]))


def report(callback: Optional[Callback], done: int, total: int, **info: object) -> None:
    """Forward progress to the caller's ``callback(done, total, info)`` if there is one."""
    if callback is not None:
        callback(done, total, info)
