"""The DiT family (GenTron, W.A.L.T., Latte): a latent video transformer over a causal 3D autoencoder.

Torch-free declarations: the config classes, the presets and what the family can do.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vgen.config.base import DiffusionConfig, ModelConfigBase, StrictModel
from vgen.families import Capabilities


class CausalAutoencoderConfig(StrictModel):
    """Causal 3D-conv autoencoder (W.A.L.T. / MAGVIT-v2 style): convolutions pad only the past side in time, and the
    first frame is encoded on its own, so T frames give 1 + (T − 1)/r_t latent frames and an image is a 1-frame video."""

    hidden: int = Field(64, ge=4, description="channels of the first stage")
    channel_mult: tuple[int, ...] = Field((1, 2, 4, 4), description="channel multiplier per resolution stage")
    num_res_blocks: int = Field(1, ge=1)
    spatial_downsample: int = Field(8, ge=1, description="H and W shrink by this (a power of two)")
    temporal_downsample: int = Field(4, ge=1, description="frames after the first shrink by this (a power of two)")
    latent_channels: int = Field(8, ge=1)
    kl: bool = Field(True, description="a KL (diagonal Gaussian) latent; off: a plain latent")
    kl_weight: float = Field(1e-6, ge=0, description="weight of the KL term in the autoencoder loss")
    norm_groups: int = Field(32, ge=1)

    @model_validator(mode="after")
    def _powers_of_two(self) -> "CausalAutoencoderConfig":
        for name in ("spatial_downsample", "temporal_downsample"):
            value = getattr(self, name)
            if value & (value - 1):
                raise ValueError(f"{name} must be a power of two, got {value}")
        if self.spatial_downsample > 2 ** (len(self.channel_mult) - 1):
            raise ValueError(f"spatial_downsample {self.spatial_downsample} needs at least "
                             f"{self.spatial_downsample.bit_length()} channel_mult stages")
        if self.temporal_downsample > self.spatial_downsample:
            raise ValueError("temporal_downsample must not exceed spatial_downsample (time halves at spatial stages)")
        return self


class DiTDenoiserConfig(StrictModel):
    """Transformer denoiser (DiT blocks with AdaLN-Zero) over patchified latents, with three attention layouts:

    - ``factorised``: spatial self-attention, then temporal self-attention, in every block (GenTron, Latte);
    - ``windowed``: blocks alternate spatial windows (1 × H × W) and spatio-temporal windows (T × p × p) (W.A.L.T.);
    - ``full``: joint space-time attention over every token (the reference, for small inputs).
    """

    hidden: int = Field(384, ge=8)
    depth: int = Field(12, ge=1)
    heads: int = Field(6, ge=1)
    mlp_ratio: float = Field(4.0, gt=0)
    patch_size: int = Field(2, ge=1, description="spatial patch (p × p latent pixels per token)")
    patch_frames: int = Field(1, ge=1, description="temporal patch (latent frames per token)")
    layout: Literal["factorised", "windowed", "full"] = "factorised"
    window: int = Field(8, ge=1, description="windowed layout: p of the spatio-temporal T × p × p windows (tokens)")
    positions: Literal["learned", "rope"] = "rope"
    max_frames: int = Field(64, ge=1, description="learned positions: the most latent frames (tokens) in time")
    qk_norm: bool = True
    dropout: float = Field(0.0, ge=0, lt=1)
    gradient_checkpointing: bool = False

    @model_validator(mode="after")
    def _heads_divide(self) -> "DiTDenoiserConfig":
        if self.hidden % self.heads:
            raise ValueError(f"heads {self.heads} must divide hidden {self.hidden}")
        if self.positions == "rope" and (self.hidden // self.heads) % 4:
            raise ValueError("RoPE needs a head dim divisible by 4 (axial rows/columns and time)")
        if self.positions == "rope" and self.layout != "factorised" and self.hidden // self.heads < 8:
            raise ValueError("RoPE over space and time (windowed and full layouts) needs a head dim of at least 8")
        return self


class DiTConfig(ModelConfigBase):
    family: Literal["dit"] = "dit"
    autoencoder: CausalAutoencoderConfig = Field(default_factory=CausalAutoencoderConfig)
    denoiser: DiTDenoiserConfig = Field(default_factory=DiTDenoiserConfig)
    image_ratio: float = Field(0.25, ge=0, lt=1, description="joint training: share of each batch that are images "
                                                            "(one frame, a 1-frame video in the causal latent space)")
    motion_free_prob: float = Field(0.1, ge=0, le=1, description="GenTron: share of training samples with temporal "
                                                                "attention switched off (motion-free)")
    p_pred: float = Field(0.2, ge=0, le=1, description="share of training samples with the first latent frames given")
    p_interp: float = Field(0.1, ge=0, le=1, description="share with the first and last latent frames given")
    p_keys: float = Field(0.1, ge=0, le=1, description="share with every 2nd/3rd/4th latent frame given")
    cond_drop_prob: float = Field(0.1, ge=0, le=1, description="class-label dropout for classifier-free guidance")

    @model_validator(mode="after")
    def _shapes(self) -> "DiTConfig":
        ae = self.autoencoder
        if (self.frames - 1) % ae.temporal_downsample:
            raise ValueError(f"frames {self.frames} must be 1 + a multiple of temporal_downsample "
                             f"{ae.temporal_downsample} (the causal autoencoder encodes the first frame alone)")
        if self.resolution % ae.spatial_downsample:
            raise ValueError(f"resolution {self.resolution} must be a multiple of spatial_downsample {ae.spatial_downsample}")
        if (self.resolution // ae.spatial_downsample) % self.denoiser.patch_size:
            raise ValueError("the latent size must be a multiple of the denoiser's patch_size")
        side = self.resolution // ae.spatial_downsample // self.denoiser.patch_size
        if self.denoiser.layout == "windowed" and side % min(self.denoiser.window, side):
            raise ValueError(f"the {side}×{side} token grid must be a multiple of the window {self.denoiser.window}")
        if self.p_pred + self.p_interp + self.p_keys > 1:
            raise ValueError("p_pred + p_interp + p_keys must be at most 1")
        return self

    @property
    def latent_frames(self) -> int:
        return 1 + (self.frames - 1) // self.autoencoder.temporal_downsample


CONFIG = DiTConfig

_DIFFUSION = DiffusionConfig(schedule="cosine", prediction="v", loss="mse")
_AE = CausalAutoencoderConfig(hidden=64, channel_mult=(1, 2, 4, 4), num_res_blocks=2)  # 61.1M, about PVDM's 62M


def _dit(name: str, hidden: int, depth: int, heads: int, **extra: object) -> DiTConfig:
    """A DiT-size preset (Peebles & Xie 2023, Table 1) on 17-frame 128² clips (W.A.L.T.'s UCF/K600 setting:
    latents 5 × 16 × 16 with patch 2 → 5 × 8 × 8 tokens)."""
    layout = extra.pop("layout", "factorised")
    return DiTConfig(name=name, frames=17, resolution=128, fps=8, diffusion=_DIFFUSION, autoencoder=_AE,
                     denoiser=DiTDenoiserConfig(hidden=hidden, depth=depth, heads=heads, layout=layout, **extra))  # type: ignore[arg-type]


PRESETS: dict[str, DiTConfig] = {
    # DiT-S/B/L/XL sizes (33M / 130M / 458M / 675M as image models), plus a temporal attention per block.
    "dit-s": _dit("dit-s", 384, 12, 6),
    "dit-b": _dit("dit-b", 768, 12, 12),
    "dit-l": _dit("dit-l", 1024, 24, 16),
    "dit-xl": _dit("dit-xl", 1152, 28, 16),
    # W.A.L.T.-L-style: alternating 1×H×W spatial and T×p×p spatio-temporal windows, patch 1×2×2, QK-norm.
    "walt-l": _dit("walt-l", 1024, 24, 16, layout="windowed", window=4, patch_size=1),
    # Trains on a CPU in minutes: tests and demos.
    "dit-tiny": DiTConfig(
        name="dit-tiny", frames=9, resolution=32, fps=8, diffusion=_DIFFUSION, image_ratio=0.25,
        autoencoder=CausalAutoencoderConfig(hidden=16, channel_mult=(1, 2, 2), spatial_downsample=4,
                                            temporal_downsample=2, latent_channels=4, norm_groups=8),
        denoiser=DiTDenoiserConfig(hidden=64, depth=2, heads=4, patch_size=2, layout="factorised", window=2),
    ),
    # Sized to train on one CPU core in about an hour (the FVD check of this family on synthetic video): 17-frame
    # 32² clips, latents 5 × 8 × 8 (spatial 4, temporal 4 as W.A.L.T.), one token per latent pixel.
    "dit-mini": DiTConfig(
        name="dit-mini", frames=17, resolution=32, fps=8, diffusion=_DIFFUSION, image_ratio=0.25,
        autoencoder=CausalAutoencoderConfig(hidden=16, channel_mult=(1, 2, 2), spatial_downsample=4,
                                            temporal_downsample=4, latent_channels=4, norm_groups=8),
        denoiser=DiTDenoiserConfig(hidden=128, depth=4, heads=4, patch_size=1, layout="factorised", window=4),
    ),
}


def capabilities(config: DiTConfig) -> Capabilities:
    """Latent frames span several video frames (after the first), so single key frames cannot fill a latent frame
    for the mask and replacement paths: interpolation goes through reconstruction guidance on the decoder."""
    aligned = config.autoencoder.temporal_downsample == 1
    return Capabilities(
        "mask",
        ("mask", "reconstruction", "replacement"),
        ("mask", "reconstruction", "replacement"),
        ("mask", "reconstruction", "replacement") if aligned else ("reconstruction",),
    )
