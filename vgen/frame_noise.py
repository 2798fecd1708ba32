"""The ways the noise of a clip's frames may relate (``vgen.sampling.noise``), importable without pydantic or torch
(the CLI checks ``--frame-noise`` before loading either)."""

from __future__ import annotations

from typing import Literal, Optional, get_args

from vgen.errors import VgenError

# independent: every frame's noise drawn on its own; shared-mean: the frames share one spatial mean per channel.
FrameNoise = Literal["independent", "shared-mean"]
FRAME_NOISE: tuple[str, ...] = get_args(FrameNoise)


def check_frame_noise(value: Optional[str]) -> None:
    """A ``--frame-noise`` value that is neither None nor a known kind is one error line."""
    if value is not None and value not in FRAME_NOISE:
        raise VgenError(f"unknown --frame-noise {value!r}; choose one of: {', '.join(FRAME_NOISE)}")
