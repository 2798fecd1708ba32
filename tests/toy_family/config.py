"""The toy family's torch-free declarations: config class, presets, capabilities."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vgen.config.base import DiffusionConfig, ModelConfigBase
from vgen.families import Capabilities


class ToyConfig(ModelConfigBase):
    family: Literal["toy"] = "toy"
    width: int = Field(8, ge=1)


CONFIG = ToyConfig
PRESETS = {"toy-tiny": ToyConfig(name="toy-tiny", frames=4, resolution=16, fps=4,
                                 diffusion=DiffusionConfig(schedule="cosine", prediction="eps", loss="mse"))}


def capabilities(config: ToyConfig) -> Capabilities:
    return Capabilities("reconstruction", ("reconstruction",), ("reconstruction",), ())
