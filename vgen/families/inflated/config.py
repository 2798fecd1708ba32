"""The inflated family's torch-free declarations: config classes, presets and what the family can do.

A config with ``temporal: false`` is the image model (a 2D UNet; the frames of a video are independent images); with
``temporal: true`` the same UNet with a temporal layer after every spatial one (see ``vgen.models.inflated``). A preset
describes the video model; ``vgen train --stage image`` trains its image model and ``--stage temporal`` inflates a
trained image model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vgen.config.base import DiffusionConfig, ModelConfigBase, StrictModel, check_heads_divide
from vgen.families import Capabilities


class InflatedUNetConfig(StrictModel):
    """An ADM-style UNet of (2+1)D ResBlocks and spatial(+temporal) attention."""

    model_channels: int = Field(64, ge=8)
    channel_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = Field(2, ge=1)
    attention_levels: tuple[int, ...] = Field((1, 2), description="levels (0 = full res) with attention")
    head_dim: int = Field(32, ge=4, description="channels per attention head")
    max_relative_position: int = Field(16, ge=1, description="temporal attention: Shaw relative-position clip (frames)")
    dropout: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _heads_divide_channels(self) -> "InflatedUNetConfig":
        check_heads_divide(self.model_channels, self.channel_mult, self.head_dim)
        if any(not 0 <= level < len(self.channel_mult) for level in self.attention_levels):
            raise ValueError(f"attention_levels must index channel_mult (0..{len(self.channel_mult) - 1})")
        return self


class InflatedConfig(ModelConfigBase):
    family: Literal["inflated"] = "inflated"
    unet: InflatedUNetConfig = Field(default_factory=InflatedUNetConfig)
    temporal: bool = Field(True, description="with temporal layers (the video model); false = the image model")
    cond_drop_prob: float = Field(0.1, ge=0, le=1, description="class-label dropout for classifier-free guidance")

    @model_validator(mode="after")
    def _resolution_fits(self) -> "InflatedConfig":
        factor = 2 ** (len(self.unet.channel_mult) - 1)
        if self.resolution % factor:
            raise ValueError(f"resolution {self.resolution} must be a multiple of {factor} (the UNet halves it "
                             f"{len(self.unet.channel_mult) - 1} times)")
        return self


CONFIG = InflatedConfig

_PIXEL = DiffusionConfig(schedule="cosine", prediction="v", loss="mse")

PRESETS: dict[str, InflatedConfig] = {
    # Tests and demos: seconds per step on one CPU thread.
    "inflated-tiny": InflatedConfig(
        name="inflated-tiny", frames=8, resolution=16, fps=8, diffusion=_PIXEL,
        unet=InflatedUNetConfig(model_channels=16, channel_mult=(1, 2), num_res_blocks=1, attention_levels=(1,),
                                head_dim=8, max_relative_position=8),
    ),
    # Sized for a 2-core CPU: both stages train about 1,000 steps in minutes (README, "Inflating an image model").
    "inflated-mini": InflatedConfig(
        name="inflated-mini", frames=8, resolution=32, fps=8, diffusion=_PIXEL,
        unet=InflatedUNetConfig(model_channels=32, channel_mult=(1, 2, 2), num_res_blocks=1, attention_levels=(2,),
                                head_dim=32, max_relative_position=8),
    ),
    # Make-A-Video's spatiotemporal decoder D^t makes 16 frames of 64x64 in pixel space (Singer et al. 2022); the
    # paper does not publish its channel counts, so the image UNet is ADM's published 64x64 layout (Dhariwal &
    # Nichol 2021, guided-diffusion's 64x64 flags: 192 channels, mult 1,2,3,4, 3 ResBlocks per level, attention at
    # 32/16/8 px, 64-channel heads, dropout 0.1, cosine schedule). Not published and vgen's choice: v-prediction and
    # the temporal attention's 16-frame relative-position clip, 8 fps. Make-A-Video's text and fps conditioning are
    # not here.
    "make-a-video": InflatedConfig(
        name="make-a-video", frames=16, resolution=64, fps=8,
        diffusion=DiffusionConfig(schedule="cosine", prediction="v", loss="mse"),
        unet=InflatedUNetConfig(model_channels=192, channel_mult=(1, 2, 3, 4), num_res_blocks=3,
                                attention_levels=(1, 2, 3), head_dim=64, max_relative_position=16, dropout=0.1),
    ),
}


def capabilities(config: InflatedConfig) -> Capabilities:
    """The video model has the training-free methods (reconstruction guidance first, VDM §3.1's better one); the
    image model makes every frame independently, so it can neither extend nor interpolate."""
    if not config.temporal:
        return Capabilities("independent", ("independent",), (), (),
                            hint="an image model makes independent frames; inflate it first with "
                                 "vgen train --stage temporal --from MODEL")
    free = ("reconstruction", "replacement")
    return Capabilities(free[0], free, free, free)
