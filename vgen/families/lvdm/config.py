"""LVDM (He et al., 2022): 3D-conv video autoencoder + latent 3D UNet (prediction and interpolation)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from vgen.families import Capabilities
from vgen.config.base import DiffusionConfig, ModelConfigBase, StrictModel


class LVDMAutoencoderConfig(StrictModel):
    """3D convolutions with replicate padding; 4x down in time, 8x in space (lvdm-vdm.md §A.2).

    ``decoder_strides`` is the one place the official LVDM autoencoder computes differently (issue #13): set it to
    "encoder" for imported official weights, whose decoder upsamples time in its first stages.
    """

    hidden: int = Field(32, ge=4)
    downsample: tuple[int, int, int] = (4, 8, 8)
    latent_channels: int = Field(4, ge=1)
    norm_groups: int = Field(32, ge=1)
    decoder_strides: Literal["mirrored", "encoder"] = Field(
        "mirrored",
        description="decoder stage strides: 'mirrored' undoes the encoder stages in reverse order (vgen); 'encoder' "
                    "reuses the encoder's order, so an axis that is downsampled fewer times is upsampled in the "
                    "first stages (official LVDM Decoder)")

    @field_validator("downsample")
    @classmethod
    def _powers_of_two(cls, factors: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(f < 1 or f & (f - 1) for f in factors):
            raise ValueError(f"downsample factors must be powers of two, got {factors}")
        return factors


class LVDMUNetConfig(StrictModel):
    """1x3x3 convs, factorised spatial/temporal attention with Shaw relative positions, AdaGN (§A.3)."""

    model_channels: int = Field(256, ge=8)
    channel_mult: tuple[int, ...] = (1, 2, 3, 4)
    num_res_blocks: int = Field(3, ge=1)
    attention_levels: tuple[int, ...] = Field((1, 2, 3), description="levels (0 = full res) with space+time attention")
    num_heads: int = Field(4, ge=1)
    temporal_length: int = Field(5, ge=1, description="relative-position clip distance L")
    max_noise_level: int = Field(250, ge=1, description="conditional latent perturbation: s ~ U{0..max-1}")
    dropout: float = Field(0.0, ge=0, lt=1)
    gradient_checkpointing: bool = False
    # How conditioning enters. vgen: mask channel + per-frame noise-level embedding (null token for s=None).
    # Official LVDM: the released short-video models are unconditional (no mask channel, no s); the long-video
    # configs concatenate the mask and add an nn.Embedding of s to the clip embedding ("class").
    mask_channel: bool = Field(True, description="concatenate the conditioning mask to the input as one channel")
    noise_level_embedding: Literal["per_frame", "class", "none"] = Field(
        "per_frame",
        description="how the conditioning noise level s enters: 'per_frame' (an MLP of s replaces emb(t) on "
                    "conditioning frames; vgen), 'class' (an embedding table of max_noise_level + 1 rows added to the "
                    "clip's emb(t); official long-video LVDM), 'none' (s is not used; official short-video LVDM)")
    # Official-numerics options (issue #13); the defaults are vgen's own layout and keep its presets bit-identical.
    norm_groups: int = Field(32, ge=1, description="GroupNorm groups (the largest count <= this dividing the channels)")
    norm_eps: float = Field(1e-6, gt=0, description="GroupNorm epsilon; the official LVDM UNet uses 1e-5")
    block_norm: Literal["frame", "clip"] = Field(
        "frame", description="ResBlock and output-head GroupNorm statistics: per frame (vgen; keeps frames separable) "
                             "or over the whole clip (official LVDM)")
    temporal_norm: Literal["frame", "position"] = Field(
        "frame", description="temporal-attention pre-norm statistics: per frame (vgen) or per spatial position over "
                             "the clip's frames (official LVDM norm_t)")
    relative_position: Literal["shaw", "official"] = Field(
        "shaw", description="relative-position key term: Shaw et al. (vgen) or the official LVDM QKVAttention, which "
                            "gives logit (i, j) the product q_j·R_K[i-j] scaled by d^-1/4")

    @model_validator(mode="after")
    def _heads_divide_channels(self) -> "LVDMUNetConfig":
        for mult in self.channel_mult:
            if (mult * self.model_channels) % self.num_heads:
                raise ValueError(f"num_heads {self.num_heads} must divide every level's channels")
        if not self.mask_channel and self.noise_level_embedding != "none":
            raise ValueError("a UNet without a mask channel takes no conditioning latents: "
                             "set noise_level_embedding to 'none'")
        return self


class LVDMConfig(ModelConfigBase):
    family: Literal["lvdm"] = "lvdm"
    autoencoder: LVDMAutoencoderConfig = Field(default_factory=LVDMAutoencoderConfig)
    unet: LVDMUNetConfig = Field(default_factory=LVDMUNetConfig)
    p_interp: float = Field(0.45, ge=0, le=1, description="share of training samples with an interpolation mask")
    p_pred: float = Field(0.35, ge=0, le=1, description="share with a prediction mask (first latents given)")
    p_keys: float = Field(0.0, ge=0, le=1, description="share with every 2nd/3rd/4th latent given (interpolate --factor)")
    sample_noise_level: int = Field(100, ge=0, description="s used for conditioning latents while sampling")
    uncond_guidance: float = Field(0.1, description="w in (1+w)·eps_cond − w·eps_uncond")

    @model_validator(mode="after")
    def _unconditional_trains_unmasked(self) -> "LVDMConfig":
        if not self.unet.mask_channel and self.p_interp + self.p_pred + self.p_keys > 0:
            raise ValueError("a UNet without a mask channel is unconditional: set p_interp, p_pred and p_keys to 0")
        return self


_LVDM_DIFFUSION = DiffusionConfig(schedule="scaled_linear", beta_start=0.0015, beta_end=0.0155, loss="l1")

PRESETS: dict[str, LVDMConfig] = {
    "lvdm": LVDMConfig(name="lvdm", frames=16, resolution=256, fps=8, diffusion=_LVDM_DIFFUSION),
    # Frame-aligned (no temporal downsampling) and sized for a 2-core CPU: the bundled interpolation model.
    "lvdm-mini": LVDMConfig(
        name="lvdm-mini", frames=16, resolution=32, fps=8, p_interp=0.2, p_pred=0.3, p_keys=0.3,
        diffusion=_LVDM_DIFFUSION.model_copy(update={"prediction": "v"}),
        autoencoder=LVDMAutoencoderConfig(hidden=8, downsample=(1, 4, 4), norm_groups=4),
        unet=LVDMUNetConfig(model_channels=64, channel_mult=(1, 2), num_res_blocks=1, attention_levels=(0, 1),
                            num_heads=4, temporal_length=8),
    ),
    "lvdm-tiny": LVDMConfig(
        name="lvdm-tiny", frames=8, resolution=32, fps=8, diffusion=_LVDM_DIFFUSION,
        autoencoder=LVDMAutoencoderConfig(hidden=8, downsample=(2, 4, 4), norm_groups=8),
        unet=LVDMUNetConfig(model_channels=32, channel_mult=(1, 2), num_res_blocks=1, attention_levels=(0, 1),
                            num_heads=2, temporal_length=4),
    ),
}

CONFIG = LVDMConfig


def capabilities(config: LVDMConfig) -> Capabilities:
    """When each latent spans several frames, single key *frames* cannot fill a latent for the mask or
    replacement paths; frame-level interpolation then goes through reconstruction guidance on the decoder."""
    frame_aligned = config.autoencoder.downsample[0] == 1
    if not config.unet.mask_channel:  # unconditional (official short-video weights): training-free methods only
        return Capabilities("autoregressive", ("autoregressive",), ("reconstruction", "replacement"),
                            ("reconstruction", "replacement") if frame_aligned else ("reconstruction",))
    return Capabilities(
        "hierarchical",
        ("hierarchical", "autoregressive"),
        ("mask", "reconstruction", "replacement"),
        ("mask", "reconstruction", "replacement") if frame_aligned else ("reconstruction",),
    )
