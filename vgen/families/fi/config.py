"""FI: Make-A-Video's masked frame interpolation and extrapolation network (Singer et al. 2022, §3.3), in pixel space.

Torch-free declarations: the config classes, the presets and what the family can do.

What Make-A-Video publishes about its FI network ↑F (§3.3): it is its spatiotemporal decoder D^t (16 frames at 64x64)
fine-tuned on masked frame interpolation, with 4 extra input channels (3 for the RGB masked video, the missing frames
zero-padded, and 1 binary channel saying which frames are masked), trained with variable frame skips and fps
conditioning so one network serves several temporal upsampling rates; every experiment applies it with frame skip 5,
16 frames -> 76 = (16 − 1)·5 + 1. The paper gives no step counts, learning rates or mask probabilities for it.

What vgen adds so that a small network beats frame blending (see the README's FI section for the measurements):
- every frame is also given its neighbouring key frames (the nearest known frame before and after it), its position
  between them, and their linear blend;
- the network diffuses the *residual* from that blend, scaled by ``residual_scale`` (the static background's residual is
  exactly 0, so the network only learns the correction where things move);
- v-prediction (Imagen Video, for all of its models) and sampling with deterministic DDIM and few steps;
- optional noise conditioning augmentation of the known frames (Imagen Video's TSR/SSR models; Cascaded Diffusion):
  trained at a level s ~ U{0..aug_max_level−1} told to the network, sampled at ``aug_sample_level``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vgen.config.base import DiffusionConfig, ModelConfigBase, StrictModel, check_heads_divide
from vgen.families import Capabilities


class FIUNetConfig(StrictModel):
    """The factorised space-time UNet (1x3x3 convs, spatial then temporal attention at ``attention_levels``); the
    fields are those of ``vgen.models.unet3d.UNet3DSpec``."""

    model_channels: int = Field(64, ge=8)
    channel_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = Field(2, ge=1)
    attention_levels: tuple[int, ...] = Field((1, 2), description="levels (0 = full res) with space+time attention")
    head_dim: int = Field(32, ge=4)
    max_relative_position: int = Field(16, ge=1, description="Shaw relative-position clip distance (frames)")
    dropout: float = Field(0.0, ge=0, lt=1)
    gradient_checkpointing: bool = False

    @model_validator(mode="after")
    def _heads_divide_channels(self) -> "FIUNetConfig":
        check_heads_divide(self.model_channels, self.channel_mult, self.head_dim)
        return self


class FIConfig(ModelConfigBase):
    family: Literal["fi"] = "fi"
    unet: FIUNetConfig = Field(default_factory=FIUNetConfig)
    residual_scale: float = Field(4.0, gt=0, description="the diffused signal is residual_scale·(video − blend of its "
                                                         "neighbouring keys)")
    p_extrapolate: float = Field(0.2, ge=0, lt=1, description="share of training masks giving the first or last j "
                                                              "frames (extrapolation); the rest give every k-th frame")
    aug_max_level: int = Field(0, ge=0, description="noise conditioning augmentation of the known frames: training "
                                                    "level s ~ U{0..aug_max_level−1}; 0 = off")
    aug_sample_level: int = Field(0, ge=0, description="the augmentation level the known frames get when sampling")
    upscale_factor: int = Field(2, ge=2, description="frame-rate factor of the model as a temporal super-resolution "
                                                     "stage (`vgen upscale`, cascades): k − 1 new frames per input frame")

    @model_validator(mode="after")
    def _check(self) -> "FIConfig":
        if self.frames < 3:
            raise ValueError(f"an FI clip needs at least 3 frames (two keys and one between), got {self.frames}")
        if self.upscale_factor > self.frames - 2:
            raise ValueError(f"upscale_factor {self.upscale_factor} leaves too few known frames in a {self.frames}-frame "
                             f"clip to extrapolate the last ones; use at most {self.frames - 2}")
        if self.num_classes:
            raise ValueError("FI models are unconditional; set num_classes to 0")
        if self.aug_sample_level and self.aug_sample_level >= self.aug_max_level:
            raise ValueError(f"aug_sample_level {self.aug_sample_level} must be below aug_max_level "
                             f"{self.aug_max_level} (the levels the network was trained on)")
        if self.aug_max_level > self.diffusion.timesteps:
            raise ValueError(f"aug_max_level {self.aug_max_level} exceeds the schedule's {self.diffusion.timesteps} steps")
        return self


# The residual spans [-2, 2] per pixel before scaling; the family clamps x0 to each pixel's own range instead.
_FI_DIFFUSION = DiffusionConfig(schedule="cosine", prediction="v", loss="mse")

PRESETS: dict[str, FIConfig] = {
    "fi-tiny": FIConfig(
        name="fi-tiny", frames=5, resolution=16, fps=8, diffusion=_FI_DIFFUSION,
        unet=FIUNetConfig(model_channels=8, channel_mult=(1, 2), num_res_blocks=1, attention_levels=(1,), head_dim=8,
                          max_relative_position=4),
    ),
    # Sized for a 2-core CPU: 5-frame clips hold the keys of `interpolate --factor 2, 3, 4` (frame skips 2-4);
    # temporal attention only at 8x8, where it is cheap (the neighbouring keys reach every frame at full resolution).
    "fi-mini": FIConfig(
        name="fi-mini", frames=5, resolution=32, fps=8, diffusion=_FI_DIFFUSION, p_extrapolate=0.1,
        unet=FIUNetConfig(model_channels=16, channel_mult=(1, 2, 2), num_res_blocks=1, attention_levels=(2,),
                          head_dim=16, max_relative_position=4),
    ),
}

CONFIG = FIConfig


def capabilities(config: FIConfig) -> Capabilities:
    """Fills in frames around given ones: interpolation (its purpose), extension by extrapolation and temporal
    super-resolution by ``upscale_factor``; it never samples from nothing."""
    return Capabilities("", (), ("mask",), ("mask",), upscale=(1, config.upscale_factor))
