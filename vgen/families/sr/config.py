"""Spatial super-resolution (SSR) stages of a cascade: config, presets, capabilities (no torch).

An SR model generates a clip of ``frames`` x ``resolution``² conditioned on the same clip at
``resolution / scale`` (the SSR models of Imagen Video, Ho et al. 2022; the SR stages of Make-A-Video, Singer et
al. 2022): the low-resolution clip is upsampled bicubically to ``resolution`` and concatenated to z_t on the
channels. Noise conditioning augmentation (Cascaded Diffusion Models, Ho et al. 2021; used by Imagen Video):
in training the low-resolution clip is noised with the model's own forward process q(z_s | x) at a level
s ~ U[0, ``aug_max``], in sampling at the fixed level ``aug_level``; s is embedded like a timestep and added to the
time embedding. The level is continuous time: s = 1 is the last diffusion step, s = 0 the clean clip (see
``vgen.families.sr.augment``). The network predicts the residual over bicubic upsampling with EDM's
preconditioning (``vgen.families.sr.unet``); ``residual_std`` is its σ_data, 0.05 by default: the residual of x2
bicubic upsampling has std 0.058 on vgen's bouncing videos and 0.035 on its sky videos at 32² (measured).

No paper-size preset: Imagen Video publishes its cascade's ends, the base model's 16 frames at 40×24 (3 fps) and
the final 128 frames at 1280×768 (24 fps), and that its SSR stages use temporal convolutions instead of temporal
attention; the stage sizes, widths and depths in between are not in any source vgen could check, and the frames
are not square (vgen configs are). Nor does vgen have a checked source for Make-A-Video's SR network sizes. The
presets below are vgen's own, sized for tests and CPU training.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vgen.config.base import DiffusionConfig, ModelConfigBase, StrictModel
from vgen.families import Capabilities


class SRUNetConfig(StrictModel):
    """The factorised space-time UNet (``vgen.models.unet3d``): 1x3x3 convs, spatial then temporal attention at
    ``attention_levels`` (0 = full resolution)."""

    model_channels: int = Field(64, ge=8)
    channel_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = Field(2, ge=1)
    attention_levels: tuple[int, ...] = (2,)
    head_dim: int = Field(32, ge=4)
    max_relative_position: int = Field(16, ge=1, description="Shaw relative-position clip distance (frames)")
    dropout: float = Field(0.0, ge=0, lt=1)
    gradient_checkpointing: bool = False


class SRConfig(ModelConfigBase):
    """``resolution`` is the output size; the model conditions on frames of ``resolution // scale``."""

    family: Literal["sr"] = "sr"
    scale: int = Field(2, ge=2, description="spatial upscaling factor")
    unet: SRUNetConfig = Field(default_factory=SRUNetConfig)
    aug_max: float = Field(0.25, ge=0, le=1, description="training noise-augmentation levels s ~ U[0, aug_max]")
    aug_level: float = Field(0.1, ge=0, le=1, description="noise-augmentation level at sampling (vgen upscale "
                                                           "--aug-level overrides it)")
    residual_std: float = Field(0.05, gt=0, description="σ_data of the EDM preconditioning of the residual over "
                                                         "bicubic upsampling, in [-1, 1] units")

    @model_validator(mode="after")
    def _geometry(self) -> "SRConfig":
        if self.resolution % self.scale:
            raise ValueError(f"resolution {self.resolution} is not a multiple of scale {self.scale}")
        levels = 2 ** (len(self.unet.channel_mult) - 1)
        if self.resolution % levels:
            raise ValueError(f"resolution {self.resolution} is not divisible by the UNet's {levels}x downsampling")
        for level in self.unet.attention_levels:
            if not 0 <= level < len(self.unet.channel_mult):
                raise ValueError(f"attention level {level} is not a level of channel_mult {self.unet.channel_mult}")
            channels = self.unet.channel_mult[level] * self.unet.model_channels
            if channels % self.unet.head_dim:
                raise ValueError(f"head_dim {self.unet.head_dim} must divide the {channels} channels of attention "
                                 f"level {level}")
        return self


# Pixel space like VDM (cosine schedule); v-prediction, which Imagen Video uses for all its models. The
# noise-augmentation range U[0, 0.25] and the sampling level 0.1 are LVDM's published values for its analogous
# conditional latent perturbation (s ~ U{0..249}/1000, s = 100 at sampling).
_SR_DIFFUSION = DiffusionConfig(schedule="cosine", prediction="v", loss="mse", clip_x0=1.0)
_TINY_UNET = SRUNetConfig(model_channels=8, channel_mult=(1, 2), num_res_blocks=1, attention_levels=(1,),
                          head_dim=8, max_relative_position=8)

PRESETS: dict[str, SRConfig] = {
    # Tests: 8 x 16² from 8 x 8².
    "sr-tiny": SRConfig(name="sr-tiny", frames=8, resolution=16, fps=8, scale=2, diffusion=_SR_DIFFUSION,
                        unet=_TINY_UNET),
    # The same network for a cascade's second stage in tests: 16 x 32² from 16 x 16².
    "sr-tiny-32": SRConfig(name="sr-tiny-32", frames=16, resolution=32, fps=8, scale=2, diffusion=_SR_DIFFUSION,
                           unet=_TINY_UNET),
    # CPU training on the synthetic videos: 8 x 32² from 8 x 16² (the bouncing data's 32² at half size).
    "sr-mini": SRConfig(name="sr-mini", frames=8, resolution=32, fps=8, scale=2, diffusion=_SR_DIFFUSION,
                        unet=SRUNetConfig(model_channels=24, channel_mult=(1, 2, 2), num_res_blocks=1,
                                          attention_levels=(2,), head_dim=24, max_relative_position=8)),
}

CONFIG = SRConfig


def capabilities(config: SRConfig) -> Capabilities:
    """An upscaling stage: it needs a video to condition on, so it only upscales (by ``scale`` in space)."""
    return Capabilities("", (), (), (), upscale=(config.scale, 1))
