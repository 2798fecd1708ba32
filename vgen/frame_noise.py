"""The ways the noise of a clip's frames may relate (``vgen.sampling.noise``), importable without pydantic or torch
(the CLI checks ``--frame-noise`` before loading either)."""

from __future__ import annotations

from typing import Literal, get_args

# independent: every frame's noise drawn on its own; shared-mean: the frames share one spatial mean per channel.
FrameNoise = Literal["independent", "shared-mean"]
FRAME_NOISE: tuple[str, ...] = get_args(FrameNoise)
