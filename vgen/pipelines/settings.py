"""The one settings object of every generation command, built once and validated once.

``sample``, ``extend``, ``interpolate`` and ``evaluate --model`` build a :class:`SamplerSettings` from their
options (before any model is loaded) and hand it to the library unchanged. Sampler defaults are written
here only. No torch imports: the CLI validates options before importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from vgen.errors import VgenError

SamplerName = Literal["ddpm", "ddim", "langevin", "dpm++"]
SAMPLER_NAMES: tuple[str, ...] = ("ddpm", "ddim", "langevin", "dpm++")
DEFAULT_SAMPLER = "ddim"
DEFAULT_STEPS = 50
# The knobs each sampler takes from the settings (by its keyword name); a knob given to a sampler that
# does not take it is refused instead of being dropped. ``tests`` check this table against the samplers.
SAMPLER_KNOBS: dict[str, tuple[str, ...]] = {"ddpm": (), "ddim": ("eta",), "langevin": (), "dpm++": ()}


@dataclass(frozen=True)
class SamplerSettings:
    """How each clip is denoised.

    ``eta`` is DDIM's stochasticity (None: the sampler's default, 0). ``guidance`` is the family's
    guidance weight w: classifier-free guidance (1+w)·eps_c − w·eps_u on the previous-clip latent
    (PVDM) or the class label, LVDM's unconditional guidance (None = the model's ``uncond_guidance``).
    ``motion_guidance`` is GenTron's motion-free guidance weight (families with a motion-free mode only):
    (1+w)·out(with temporal layers) − w·out(without). ``recon_weight`` is w_r of reconstruction guidance (VDM eq. 7). ``method`` is the conditioning
    method (None: the model's default for the command).
    """

    sampler: SamplerName = DEFAULT_SAMPLER  # type: ignore[assignment]
    steps: int = DEFAULT_STEPS
    eta: Optional[float] = None
    guidance: Optional[float] = None
    recon_weight: float = 2.0
    class_label: Optional[int] = None
    method: Optional[str] = None
    motion_guidance: Optional[float] = None

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLER_NAMES:
            raise VgenError(f"unknown sampler {self.sampler!r}; choose one of: {', '.join(SAMPLER_NAMES)}")
        if self.steps <= 0:
            raise VgenError(f"--steps must be positive (got {self.steps})")
        if self.eta is not None and self.eta < 0:
            raise VgenError(f"--eta must be >= 0 (got {self.eta})")
        for knob, value in (("eta", self.eta),):
            if value is not None and knob not in SAMPLER_KNOBS[self.sampler]:
                users = [name for name, knobs in SAMPLER_KNOBS.items() if knob in knobs]
                raise VgenError(f"--{knob} is a knob of the {' and '.join(users)} sampler(s), not of {self.sampler}; "
                                f"drop --{knob} or use --sampler {users[0]}")

    def knobs(self) -> dict[str, float]:
        """The sampler-specific keyword arguments to pass on (only those given)."""
        return {knob: getattr(self, knob) for knob in SAMPLER_KNOBS[self.sampler] if getattr(self, knob) is not None}
