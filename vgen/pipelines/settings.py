"""The one settings object of every generation command, built once and validated once.

``sample``, ``extend``, ``interpolate`` and ``evaluate --model`` build a :class:`SamplerSettings` from their
options (before any model is loaded) and hand it to the library unchanged. Sampler defaults are written
here only. No torch imports: the CLI validates options before importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from vgen.frame_noise import FrameNoise, check_frame_noise
from vgen.schedule_grids import SAMPLER_NAMES, SCHEDULE_GRIDS, SamplerName, ScheduleGrid
from vgen.errors import VgenError

if TYPE_CHECKING:  # pragma: no cover
    from vgen.config.base import DiffusionConfig
    from vgen.pipelines.model import LoadedModel

DEFAULT_SAMPLER = "ddim"
DEFAULT_STEPS = 50
# The knobs each sampler takes from the settings (by its keyword name); a knob given to a sampler that
# does not take it is refused instead of being dropped. ``tests`` check this table against the samplers.
SAMPLER_KNOBS: dict[str, tuple[str, ...]] = {"ddpm": (), "ddim": ("eta",), "langevin": (), "dpm++": ()}
DEFAULT_GRID = "linspace"
GRID_CHOICES = "|".join(g for g in SCHEDULE_GRIDS if g != "official")  # every grid but official


@dataclass(frozen=True)
class OfficialSampler:
    """A paper's DDIM as its released code runs it (``--schedule-grid official``): the step grid (a spacing of
    ``Schedule.timesteps``), eta when ``--eta`` is not given, and x0 clamping (``clip_x0``; ``recompute_eps``
    False keeps the network's eps after the clamp), and ``steps``, the step count of the paper's reported samples,
    used when ``--steps`` is not given. A family declares its own as ``Family.official_sampler``."""

    spacing: str
    eta: float
    clip_x0: Optional[float]
    recompute_eps: bool
    steps: int


def model_sampling(diffusion: "DiffusionConfig") -> tuple[str, Optional[int]]:
    """The sampler and step count a model's config asks for when --sampler and --steps are not given: its
    ``diffusion.sampler`` (else DDIM) and ``diffusion.sampling_steps``, else 50, or None for the paper's count when it
    samples DDIM on its family's ``official`` grid. What ``for_model`` runs and what ``vgen models`` shows."""
    sampler = diffusion.sampler or DEFAULT_SAMPLER
    if diffusion.sampling_steps is not None:
        return sampler, diffusion.sampling_steps
    return sampler, None if diffusion.schedule_grid == "official" and sampler == "ddim" else DEFAULT_STEPS


@dataclass(frozen=True)
class SamplerRun:
    """The settings resolved for one model: the grid used (for reports), the step count, the sampler's keyword
    arguments (its knobs and ``spacing``) and the denoiser's x0 handling."""

    grid: str
    steps: int
    knobs: dict[str, Any]
    clip_x0: Optional[float]
    recompute_eps: bool = True
    frame_noise: FrameNoise = "independent"
    sampler: SamplerName = DEFAULT_SAMPLER  # type: ignore[assignment]


@dataclass(frozen=True)
class SamplerSettings:
    """How each clip is denoised.

    ``eta`` is DDIM's stochasticity (None: the sampler's default, 0). ``guidance`` is the family's
    guidance weight w: classifier-free guidance (1+w)·eps_c − w·eps_u on the previous-clip latent
    (PVDM) or the class label, LVDM's unconditional guidance (None = the model's ``uncond_guidance``).
    ``motion_guidance`` is GenTron's motion-free guidance weight (families with a motion-free mode only):
    (1+w)·out(with temporal layers) − w·out(without). ``recon_weight`` is w_r of reconstruction guidance (VDM eq. 7). ``method`` is the conditioning
    method (None: the model's default for the command). ``fit_steps``: for a PVDM model whose clips overlap by k frames
    (``cond_overlap``), the Adam steps that fit each new clip's xy plane so its first k frames decode to the k frames
    they re-make (0: no fit; see ``vgen.families.pvdm.conditioning.fit_shared_plane``). ``schedule_grid`` is the step grid, or ``official`` for the
    family's published DDIM (None: the model's ``diffusion.schedule_grid``, ``official`` for imported checkpoints).
    ``frame_noise`` is how the noise of a clip's frames relates (``vgen.sampling.noise``; None: the model's
    ``diffusion.frame_noise``). ``sampler`` and ``steps`` left None take the model's (``diffusion.sampler``,
    ``diffusion.sampling_steps``, which goes with the model's own sampler only), else vgen's defaults (DDIM, 50 steps;
    the paper's count for an official sampler).
    """

    sampler: Optional[SamplerName] = None
    steps: Optional[int] = None
    eta: Optional[float] = None
    guidance: Optional[float] = None
    recon_weight: float = 2.0
    class_label: Optional[int] = None
    method: Optional[str] = None
    motion_guidance: Optional[float] = None
    schedule_grid: Optional[ScheduleGrid] = None
    strength: Optional[float] = None  # interpolation only: start from the given frames blended, noised to this level
    fit_steps: int = 0  # PVDM clips that overlap: Adam steps fitting the new clip's xy plane to the frames it re-makes
    frame_noise: Optional[FrameNoise] = None

    def __post_init__(self) -> None:
        if self.sampler is not None and self.sampler not in SAMPLER_NAMES:
            raise VgenError(f"unknown sampler {self.sampler!r}; choose one of: {', '.join(SAMPLER_NAMES)}")
        if self.schedule_grid is not None and self.schedule_grid not in SCHEDULE_GRIDS:
            raise VgenError(f"unknown --schedule-grid {self.schedule_grid!r}; choose one of: {', '.join(SCHEDULE_GRIDS)}")
        if self.schedule_grid == "official" and self.sampler not in (None, "ddim"):
            raise VgenError(f"--schedule-grid official is the papers' DDIM sampler, not {self.sampler}; use --sampler "
                            f"ddim, or give {self.sampler} a grid: --schedule-grid {GRID_CHOICES}")
        check_frame_noise(self.frame_noise)
        if self.steps is not None and self.steps <= 0:
            raise VgenError(f"--steps must be positive (got {self.steps})")
        if self.eta is not None and self.eta < 0:
            raise VgenError(f"--eta must be >= 0 (got {self.eta})")
        if self.fit_steps < 0:
            raise VgenError(f"--fit-steps must be >= 0 (got {self.fit_steps}); 0 turns the fit off")
        if self.strength is not None and not 0 < self.strength <= 1:
            raise VgenError(f"--strength must lie in (0, 1] (got {self.strength}); 1 starts from pure noise")
        if self.sampler is not None:
            self.check_knobs(self.sampler)

    def check_knobs(self, sampler: str, whose: str = "") -> None:
        """Refuse a knob (``--eta``) that ``sampler`` does not take; ``whose`` says where the sampler came from."""
        for knob, value in (("eta", self.eta),):
            if value is not None and knob not in SAMPLER_KNOBS[sampler]:
                users = [name for name, knobs in SAMPLER_KNOBS.items() if knob in knobs]
                raise VgenError(f"--{knob} is a knob of the {' and '.join(users)} sampler(s), not of {sampler}{whose}; "
                                f"drop --{knob} or use --sampler {users[0]}")

    def knobs(self, sampler: Optional[str] = None) -> dict[str, float]:
        """The keyword arguments of ``sampler`` (default: the one asked for, else DDIM) to pass on (only those given)."""
        name = sampler or self.sampler or DEFAULT_SAMPLER
        return {knob: getattr(self, knob) for knob in SAMPLER_KNOBS[name] if getattr(self, knob) is not None}

    def sampler_for(self, model: "LoadedModel") -> str:
        """The sampler ``model`` runs with: ``--sampler``, else DDIM for its family's official DDIM grid, else the
        model's ``diffusion.sampler``, else vgen's default (DDIM)."""
        if self.sampler is not None:
            return self.sampler
        if self.schedule_grid == "official":
            return "ddim"
        return model_sampling(model.config.diffusion)[0]

    def for_model(self, model: "LoadedModel") -> SamplerRun:
        """The grid, knobs and x0 handling these settings give ``model``'s sampler.

        ``official`` is the model family's published DDIM: its grid, its eta unless ``--eta`` is given, its x0
        clamping and the paper's step count unless ``--steps`` is given. A model whose config makes ``official`` its
        default samples other samplers on the default grid.
        """
        diffusion = model.config.diffusion
        sampler = self.sampler_for(model)
        if self.sampler is None:
            self.check_knobs(sampler, " (the model's default sampler)")
        frame_noise = self.frame_noise or diffusion.frame_noise
        if frame_noise != "independent" and len(model.latent_shape()) != 4:
            raise VgenError(f"{model.config.name} ({model.family.name}) has no frame axis in its latent "
                            f"{tuple(model.latent_shape())}, so its frames cannot share noise; drop --frame-noise "
                            "(or give independent)")
        # The model's step count goes with its own sampler: another sampler asked for runs vgen's default count (the
        # paper's on the official grid).
        own_steps = diffusion.sampling_steps if sampler == model_sampling(diffusion)[0] else None
        grid = self.schedule_grid or diffusion.schedule_grid
        if grid == "official":
            official = model.family.official_sampler
            if official is None:
                asked = "--schedule-grid official" if self.schedule_grid else "its config's diffusion.schedule_grid"
                raise VgenError(f"{model.config.name} ({model.family.name}) has no official sampler to reproduce "
                                f"({asked}); pick a grid: --schedule-grid {GRID_CHOICES}")
            if sampler == "ddim":
                knobs = {"eta": official.eta, **self.knobs(sampler), "spacing": official.spacing}
                return SamplerRun("official", self.steps or own_steps or official.steps, knobs, official.clip_x0,
                                  official.recompute_eps, frame_noise, sampler)  # type: ignore[arg-type]
            grid = DEFAULT_GRID
        steps = self.steps or own_steps or DEFAULT_STEPS
        return SamplerRun(grid, steps, {**self.knobs(sampler), "spacing": grid}, diffusion.clip_x0,
                          frame_noise=frame_noise, sampler=sampler)  # type: ignore[arg-type]
