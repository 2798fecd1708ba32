"""What every sampler loop shares besides noise: the descending step grid and progress reporting."""

from __future__ import annotations

from typing import Callable, Optional

from vgen.diffusion.schedules import Schedule, Spacing

Callback = Callable[[int, int, dict], None]


def step_pairs(schedule: Schedule, steps: int, spacing: Spacing, start: Optional[int] = None) -> list[tuple[int, int]]:
    """Consecutive (t, t_prev) pairs of the descending grid, ending with (t_last, −1) = clean data; with ``start``,
    only the pairs from timestep ``start`` down (sampling from a partly noised input, SDEdit), at least the last one.

    The ``ldm`` grid ends with (1, 0) instead: the official LDM/LVDM DDIM moves its last step to alpha_bar_0, not
    to 1, and returns that sample as it is (LVDM lvdm/models/modules/util.py, ``make_ddim_sampling_parameters``:
    ``alphas_prev = [alphacums[0]] + alphacums[ddim_timesteps[:-1]]``).
    """
    grid = schedule.timesteps(steps, spacing)
    end = 0 if spacing == "ldm" else -1
    pairs = list(zip(grid, grid[1:] + [end]))
    if start is None:
        return pairs
    return [p for p in pairs if p[0] <= start] or pairs[-1:]


def report(callback: Optional[Callback], done: int, total: int, **info: object) -> None:
    """Forward progress to the caller's ``callback(done, total, info)`` if there is one."""
    if callback is not None:
        callback(done, total, info)
