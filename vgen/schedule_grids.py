"""The names of the samplers and of the sampling step grids, in a module of their own so that the CLI can validate
``--sampler`` and ``--schedule-grid`` and model configs can name them without importing pydantic, torch and every
family's config (``vgen --help`` stays fast)."""

from __future__ import annotations

from typing import Literal, get_args

# The step grids a sampler can run on (``vgen.diffusion.schedules.Schedule.timesteps``), and ``official``: the model
# family's own published DDIM (its grid, eta and x0 clamping; ``vgen.pipelines.settings.OfficialSampler``).
ScheduleGrid = Literal["linspace", "leading", "trailing", "pvdm", "ldm", "official"]
SCHEDULE_GRIDS: tuple[str, ...] = get_args(ScheduleGrid)

# The samplers of ``vgen.sampling.SAMPLERS`` (a test checks that the two agree).
SamplerName = Literal["ddpm", "ddim", "langevin", "dpm++"]
SAMPLER_NAMES: tuple[str, ...] = get_args(SamplerName)
