"""PVDM (Yu et al., CVPR 2023): projected triplane autoencoder + plane UNet configs and presets."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vgen.families import Capabilities
from vgen.config.base import DiffusionConfig, ModelConfigBase, StrictModel


class PVDMAutoencoderConfig(StrictModel):
    """TimeSformer encoder/decoder with three axis projections (pvdm.md §1)."""

    patch_size: int = Field(8, ge=1)
    width: int = Field(384, ge=8)
    depth: int = Field(8, ge=1)
    heads: int = Field(8, ge=1)
    head_dim: int = Field(64, ge=4, description="must be divisible by 4 (axial rotary embedding)")
    ff_hidden: int = Field(1536, ge=8, description="GEGLU hidden width (the input projection is twice this)")
    proj_depth: int = Field(4, ge=1)
    proj_heads: int = Field(4, ge=1)
    proj_head_dim: int = Field(48, ge=1)
    proj_mlp: int = Field(512, ge=8)
    latent_channels: int = Field(4, ge=1)
    pixel_head: Literal["linear", "conv"] = Field(
        "linear", description="linear: each token's patch from a transposed conv (official); conv: the transposed conv "
                              "makes pixel features, then a 3x3 conv across patch borders (no visible patch grid)")
    pixel_head_channels: int = Field(32, ge=4, description="pixel features of the conv head")
    # Official-numerics options: the defaults are vgen's own; ``vgen.families.pvdm.official`` turns them to the
    # official code's values when it imports official weights, so the imported model computes what that code does.
    proj_readout: Literal["token", "first"] = Field(
        "token", description="what each axis projection reads out: token = its appended learnable token (the "
                             "paper); first = position 0, the first token of the axis (the official code)")
    rope_layout: Literal["half", "official"] = Field(
        "half", description="rotary layout in the TimeSformers: half = channel i turns with channel i + d/2 "
                            "(vgen); official = channels 2i and 2i+1 turn together, and the frame table repeats its "
                            "d/2 frequencies over the d channels, so the two channels of a pair turn by different "
                            "angles (the official code; its released weights were trained with it)")


class PVDMUNetConfig(StrictModel):
    """Shared-weight 2D UNet over the three planes with joint 1D attention (pvdm.md §2)."""

    model_channels: int = Field(256, ge=8)
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = Field(2, ge=1)
    attention_levels: tuple[int, ...] = (0, 1, 2)
    num_heads: int = Field(8, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    gradient_checkpointing: bool = False
    norm_eps: float = Field(1e-6, gt=0, description="group-norm epsilon: 1e-6 (vgen) or 1e-5 (the official code, "
                                                  "torch's default)")


class PVDMConfig(ModelConfigBase):
    family: Literal["pvdm"] = "pvdm"
    autoencoder: PVDMAutoencoderConfig = Field(default_factory=PVDMAutoencoderConfig)
    unet: PVDMUNetConfig = Field(default_factory=PVDMUNetConfig)
    cond_prob: float = Field(0.3, ge=0, le=1, description="λ: share of training batches conditioned on the previous clip")
    cond_overlap: int = Field(0, ge=0, description="frames the conditioning clip shares with the clip it conditions: 0 "
                              "is the paper's consecutive clips; k > 0 trains each clip to start with the previous "
                              "clip's last k frames, and long videos cross-fade those k frames at every seam")

    @model_validator(mode="after")
    def _check_geometry(self) -> "PVDMConfig":
        """The token grid must tile the frame, and every UNet level must halve each plane exactly."""
        ae, unet = self.autoencoder, self.unet
        if self.resolution % ae.patch_size:
            raise ValueError(f"resolution {self.resolution} is not divisible by patch_size {ae.patch_size}")
        if ae.head_dim % 4:
            raise ValueError(f"autoencoder head_dim {ae.head_dim} must be divisible by 4 for axial RoPE")
        factor = 2 ** (len(unet.channel_mult) - 1)
        tokens = self.resolution // ae.patch_size
        if self.frames % factor or tokens % factor:
            raise ValueError(
                f"frames ({self.frames}) and resolution/patch_size ({tokens}) must be divisible by {factor} "
                f"for a UNet with {len(unet.channel_mult)} levels"
            )
        if self.cond_overlap > self.frames // 2:
            raise ValueError(f"cond_overlap ({self.cond_overlap}) must be at most half the clip ({self.frames} frames), "
                             "so cross-fades do not overlap")
        if any(not 0 <= level < len(unet.channel_mult) for level in unet.attention_levels):
            raise ValueError(f"attention_levels {unet.attention_levels} must index channel_mult {unet.channel_mult}")
        if self.diffusion.frame_noise != "independent":
            raise ValueError("diffusion.frame_noise must be independent: a PVDM latent is three planes, not frames")
        return self


_PVDM_DIFFUSION = DiffusionConfig(schedule="scaled_linear", beta_start=0.0015, beta_end=0.0195, clip_x0=1.0)

PRESETS: dict[str, PVDMConfig] = {
    "pvdm-l": PVDMConfig(name="pvdm-l", frames=16, resolution=256, fps=25, diffusion=_PVDM_DIFFUSION,
                         unet=PVDMUNetConfig(model_channels=256)),
    "pvdm-s": PVDMConfig(name="pvdm-s", frames=16, resolution=256, fps=25, diffusion=_PVDM_DIFFUSION,
                         unet=PVDMUNetConfig(model_channels=128)),
    # Sized to train on a 2-core CPU in hours: the paper's 16-frame clips at 32x32 (the bundled default model).
    "pvdm-mini": PVDMConfig(
        name="pvdm-mini", frames=16, resolution=32, fps=8, cond_prob=0.5,
        diffusion=_PVDM_DIFFUSION.model_copy(update={"prediction": "v"}),
        autoencoder=PVDMAutoencoderConfig(patch_size=4, width=96, depth=2, heads=4, head_dim=24, ff_hidden=192,
                                          proj_depth=1, proj_heads=2, proj_head_dim=24, proj_mlp=96,
                                          latent_channels=4, pixel_head="conv"),
        unet=PVDMUNetConfig(model_channels=64, channel_mult=(1, 2), num_res_blocks=1, attention_levels=(1,),
                            num_heads=4),
    ),
    "pvdm-tiny": PVDMConfig(
        name="pvdm-tiny", frames=8, resolution=32, fps=8, diffusion=_PVDM_DIFFUSION,
        autoencoder=PVDMAutoencoderConfig(patch_size=4, width=64, depth=2, heads=4, head_dim=16, ff_hidden=128,
                                          proj_depth=1, proj_heads=2, proj_head_dim=16, proj_mlp=64),
        unet=PVDMUNetConfig(model_channels=32, channel_mult=(1, 2), num_res_blocks=1, attention_levels=(1,),
                            num_heads=2),
    ),
}

CONFIG = PVDMConfig


def capabilities(config: PVDMConfig) -> Capabilities:
    """Triplane latents do not align with frames: no replacement, and interpolation would need frame-aligned
    known latents. Reconstruction guidance works through the decoder."""
    return Capabilities("latent", ("latent", "reconstruction"), ("latent", "reconstruction"), ())
