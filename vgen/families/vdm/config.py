"""VDM (Ho et al., 2022): factorised space-time 3D UNet in pixel space."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vgen.families import Capabilities
from vgen.config.base import DiffusionConfig, ModelConfigBase, StrictModel, check_heads_divide


class VDMUNetConfig(StrictModel):
    """1x3x3 convolutions, spatial attention, temporal attention with relative positions (lvdm-vdm.md §B.2)."""

    model_channels: int = Field(128, ge=8)
    channel_mult: tuple[int, ...] = (1, 2, 4, 8)
    num_res_blocks: int = Field(2, ge=1)
    attention_levels: tuple[int, ...] = Field((1, 2, 3), description="levels (0 = full res) with space+time attention")
    head_dim: int = Field(64, ge=4)
    max_relative_position: int = Field(32, ge=1, description="Shaw relative-position clip distance (frames)")
    dropout: float = Field(0.1, ge=0, lt=1)
    conditional_frames: bool = Field(True, description="extra input channels for known frames plus a mask")
    gradient_checkpointing: bool = False

    @model_validator(mode="after")
    def _heads_divide_channels(self) -> "VDMUNetConfig":
        check_heads_divide(self.model_channels, self.channel_mult, self.head_dim)
        return self


class VDMConfig(ModelConfigBase):
    family: Literal["vdm"] = "vdm"
    unet: VDMUNetConfig = Field(default_factory=VDMUNetConfig)
    image_frames: int = Field(4, ge=0, description="independent images appended per video in joint training")
    cond_drop_prob: float = Field(0.1, ge=0, le=1, description="class-label dropout for classifier-free guidance")
    p_keys: float = Field(0.0, ge=0, le=1, description="share of training masks giving every 2nd/3rd/4th frame "
                                                       "(what `interpolate --factor 2..4` asks); the rest keep VDM's masks")


_VDM_DIFFUSION = DiffusionConfig(schedule="cosine", prediction="eps", loss="mse", clip_x0=1.0)

PRESETS: dict[str, VDMConfig] = {
    "vdm": VDMConfig(name="vdm", frames=16, resolution=64, fps=8, diffusion=_VDM_DIFFUSION),
    "vdm-tiny": VDMConfig(
        name="vdm-tiny", frames=8, resolution=16, fps=8, diffusion=_VDM_DIFFUSION, image_frames=2,
        unet=VDMUNetConfig(model_channels=16, channel_mult=(1, 2), num_res_blocks=1, attention_levels=(1,),
                           head_dim=8, max_relative_position=8, dropout=0.0),
    ),
    # Frame-aligned, in pixel space and sized for a 2-core CPU: the bundled interpolation model (8-frame clips,
    # v-prediction, half of its training masks are the strided key frames `interpolate` gives it).
    "vdm-mini": VDMConfig(
        name="vdm-mini", frames=8, resolution=32, fps=8, image_frames=0, p_keys=0.5,
        diffusion=_VDM_DIFFUSION.model_copy(update={"prediction": "v"}),
        unet=VDMUNetConfig(model_channels=32, channel_mult=(1, 2, 2), num_res_blocks=1, attention_levels=(1, 2),
                           head_dim=16, max_relative_position=8, dropout=0.0),
    ),
}

CONFIG = VDMConfig


def capabilities(config: VDMConfig) -> Capabilities:
    """A network trained with known-frame masks conditions on them directly (its default); without them, the
    training-free methods (reconstruction guidance first, VDM §3.1's better one)."""
    masked = ("mask",) if config.unet.conditional_frames else ()
    free = ("reconstruction", "replacement")
    return Capabilities((masked + free)[0], masked + free, masked + free, masked + free)
