"""The names of the sampling step grids, in a module of their own so that the CLI can validate ``--schedule-grid``
without importing pydantic and every family's config (``vgen --help`` stays fast)."""

from __future__ import annotations

from typing import Literal, get_args

# The step grids a sampler can run on (``vgen.diffusion.schedules.Schedule.timesteps``), and ``official``: the model
# family's own published DDIM (its grid, eta and x0 clamping; ``vgen.pipelines.settings.OfficialSampler``).
ScheduleGrid = Literal["linspace", "leading", "trailing", "pvdm", "ldm", "official"]
SCHEDULE_GRIDS: tuple[str, ...] = get_args(ScheduleGrid)
