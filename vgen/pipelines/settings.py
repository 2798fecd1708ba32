"""The sampling options every generation pipeline shares (what ``--sampler``, ``--steps`` ... set)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from vgen.sampling import SamplerName


@dataclass(frozen=True)
class SamplerSettings:
    """How each clip is denoised.

    ``guidance`` is the family's guidance weight w: classifier-free guidance (1+w)·eps_c − w·eps_u on
    the previous-clip latent (PVDM) or the class label, LVDM's unconditional guidance (None = the
    model's ``uncond_guidance``). ``recon_weight`` is w_r of reconstruction guidance (VDM eq. 7).
    """

    sampler: SamplerName = "ddim"
    steps: int = 50
    eta: float = 0.0
    guidance: Optional[float] = None
    recon_weight: float = 2.0
    class_label: Optional[int] = None
