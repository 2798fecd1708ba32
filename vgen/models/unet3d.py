"""The factorised space-time 3D UNet shared by VDM and LVDM.

VDM (Ho et al. 2022, §3, Fig. 1) and LVDM (He et al. 2022, §3.1; openaimodel3d) use the same backbone: every 2D conv of
an image UNet becomes a space-only ``1×3×3`` conv, spatial attention runs per frame (time folded into the batch) and is
followed by temporal attention over frames (space folded into the batch) with relative positions; down/up-sampling is
spatial only, so time is never resampled. ResBlocks take a (possibly per-frame) embedding through scale-shift
("adaptive group norm", FiLM). Output head, residual branches and attention projections are zero-initialised.

Group norms are computed per frame (time folded into the batch). With 1×3×3 convolutions this makes temporal attention
the ONLY place where frames interact, which is what joint image-video training relies on (appended images must stay
independent of the video, VDM §3.1). LVDM's code normalises over the whole clip; per-frame statistics have the same
parameter count and keep frames separable. :class:`UNet3DSpec` can switch the network to the official LVDM numerics
instead (``block_norm="clip"``, ``temporal_norm="position"``, ``relative_position="official"``, ``norm_eps=1e-5``) so that
imported LVDM weights compute what they computed in the official code; the defaults keep vgen's own layout.

Layout (LDM/ADM ordering): input conv; per level ``num_res_blocks`` × [ResBlock (+ space/time attention)], spatial
Downsample between levels; middle ResBlock, attention, ResBlock; decoder ``num_res_blocks + 1`` ResBlocks per level each
eating a skip, Upsample at the end of every level but the top; GN → SiLU → zero-init 1×3×3 conv.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

from vgen.models.layers import Conv3d, group_norm, multihead_attention, zero_module
from vgen.models.levels import BlockSequence, LevelSpec, build_levels, check_frame_size, run_levels
from vgen.models.relative_attention import RelativeLayout, ShawRelativeAttention


def spatial_conv(in_channels: int, out_channels: int, stride: int = 1) -> Conv3d:
    """A space-only 3D conv: kernel 1×3×3, stride (1, s, s), "same" zero padding in H and W."""
    return Conv3d(in_channels, out_channels, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1))


def image_video_mask(num_frames: int, image_frames: int, device: torch.device | None = None) -> torch.Tensor | None:
    """Temporal attention mask for joint image-video training (VDM §3.1), boolean (T, T), True = may attend.

    The first ``T - k`` frames form a video and attend to each other; each of the last ``k`` frames is an independent
    image and attends only to itself. ``k = 0`` returns None (no masking).
    """
    if image_frames == 0:
        return None
    video_frames = num_frames - image_frames
    mask = torch.eye(num_frames, dtype=torch.bool, device=device)
    mask[:video_frames, :video_frames] = True
    return mask


NormStatistics = Literal["frame", "clip"]


@dataclass(frozen=True)
class NormSpec:
    """How the backbone's GroupNorms are built: group count (largest <= ``groups`` dividing the channels), epsilon,
    and, for ResBlocks and the output head, whether statistics are per frame or over the whole clip."""

    groups: int = 32
    eps: float = 1e-6
    statistics: NormStatistics = "frame"


class FrameNorm(nn.Module):
    """GroupNorm of a (B, C, T, H, W) tensor with statistics per frame (time folded into the batch), or over the
    whole clip (C/G channels × T × H × W per group) when ``per_frame`` is False."""

    def __init__(self, channels: int, groups: int = 32, *, eps: float = 1e-6, per_frame: bool = True) -> None:
        super().__init__()
        self.per_frame = per_frame
        self.norm = group_norm(channels, groups)
        self.norm.eps = eps

    @classmethod
    def from_spec(cls, channels: int, spec: NormSpec, per_frame: bool | None = None) -> "FrameNorm":
        return cls(channels, spec.groups, eps=spec.eps,
                   per_frame=spec.statistics == "frame" if per_frame is None else per_frame)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.per_frame:
            return self.norm(x)
        frames = x.shape[2]
        y = self.norm(rearrange(x, "b c t h w -> (b t) c h w"))
        return rearrange(y, "(b t) c h w -> b c t h w", t=frames)


class ResBlock3D(nn.Module):
    """Residual block with 1×3×3 convs and per-frame scale-shift conditioning (AdaGN / FiLM).

    h = conv(SiLU(GN(x)));  (scale, shift) = Linear(SiLU(emb));  h = GN(h)·(1 + scale) + shift;
    out = skip(x) + zero_conv(Dropout(SiLU(h))).  ``emb`` is (B, T, E): frame t of every sample gets its own
    scale and shift (LVDM's per-frame noise-level embedding); a clip-level embedding is simply repeated over T.
    """

    takes = ("emb",)  # what a BlockSequence hands it

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int, dropout: float = 0.0,
                 norm: NormSpec = NormSpec()) -> None:
        super().__init__()
        self.in_norm = FrameNorm.from_spec(in_channels, norm)
        self.in_conv = spatial_conv(in_channels, out_channels)
        self.emb_proj = nn.Linear(emb_dim, 2 * out_channels)
        self.out_norm = FrameNorm.from_spec(out_channels, norm)
        self.dropout = nn.Dropout(dropout)
        self.out_conv = zero_module(spatial_conv(out_channels, out_channels))
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv3d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_conv(F.silu(self.in_norm(x)))
        scale, shift = rearrange(self.emb_proj(F.silu(emb)), "b t (two c) -> two b c t 1 1", two=2)
        h = self.out_norm(h) * (1 + scale) + shift
        return self.skip(x) + self.out_conv(self.dropout(F.silu(h)))


class SpatialAttention(nn.Module):
    """Residual multi-head self-attention over the H·W positions of each frame (time folded into the batch)."""

    def __init__(self, channels: int, heads: int, norm: NormSpec = NormSpec()) -> None:
        super().__init__()
        self.heads = heads
        self.norm = FrameNorm.from_spec(channels, norm, per_frame=True)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = zero_module(nn.Linear(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, h, w = x.shape
        tokens = rearrange(self.norm(x), "b c t h w -> (b t) (h w) c")
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)
        out = self.proj(multihead_attention(q, k, v, self.heads))
        return x + rearrange(out, "(b t) (h w) c -> b c t h w", b=b, t=t, h=h, w=w)


class TemporalAttention(nn.Module):
    """Residual multi-head self-attention over the T frames at each spatial position (space folded into the batch).

    Positions enter only through Shaw relative-position tables clipped at ``max_relative_position``; ``mask``
    (boolean T×T, True = may attend) restricts which frames see which, e.g. :func:`image_video_mask`.

    ``norm_over_time`` takes the pre-norm statistics per spatial position over (C/G channels × T), as LVDM's official
    ``norm_t`` does on its ``(b h w) c t`` tokens, instead of per frame; ``relative_layout`` is passed to
    :class:`ShawRelativeAttention`.
    """

    takes = ("mask",)  # what a BlockSequence hands it

    def __init__(self, channels: int, heads: int, max_relative_position: int, norm: NormSpec = NormSpec(), *,
                 norm_over_time: bool = False, relative_layout: RelativeLayout = "shaw") -> None:
        super().__init__()
        self.heads = heads
        self.norm_over_time = norm_over_time
        self.norm = FrameNorm.from_spec(channels, norm, per_frame=True)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.attention = ShawRelativeAttention(channels // heads, max_relative_position, layout=relative_layout)
        self.proj = zero_module(nn.Linear(channels, channels))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, _, t, h, w = x.shape
        if self.norm_over_time:
            tokens = rearrange(self.norm.norm(rearrange(x, "b c t h w -> (b h w) c t")), "n c t -> n t c")
        else:
            tokens = rearrange(self.norm(x), "b c t h w -> (b h w) t c")
        q, k, v = (rearrange(y, "n t (m d) -> n m t d", m=self.heads) for y in self.qkv(tokens).chunk(3, dim=-1))
        out = rearrange(self.attention(q, k, v, mask), "n m t d -> n t (m d)")
        return x + rearrange(self.proj(out), "(b h w) t c -> b c t h w", b=b, h=h, w=w)


class Downsample(nn.Module):
    """Halve H and W with a stride-(1, 2, 2) 1×3×3 conv; time is untouched."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = spatial_conv(channels, channels, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W (nearest) followed by a 1×3×3 conv; time is untouched."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = spatial_conv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest"))


@dataclass(frozen=True)
class UNet3DSpec(LevelSpec):
    """Hyper-parameters of the shared backbone. Give exactly one of ``num_heads`` (fixed count, LVDM) or
    ``head_dim`` (heads = channels / head_dim, VDM). ``attention_levels`` index ``channel_mult`` (0 = full res).

    The last five fields only matter for imported official LVDM weights (see the module docstring); their defaults
    are vgen's own layout: ``norm_groups``/``norm_eps`` for every GroupNorm, ``block_norm`` the statistics of the
    ResBlock and output-head norms, ``temporal_norm`` those of the temporal-attention pre-norm ("frame", or
    "position": per spatial position over time), ``relative_position`` the relative-position term layout."""

    emb_dim: int
    max_relative_position: int
    num_heads: int | None = None
    head_dim: int | None = None
    dropout: float = 0.0
    gradient_checkpointing: bool = False
    norm_groups: int = 32
    norm_eps: float = 1e-6
    block_norm: NormStatistics = "frame"
    temporal_norm: Literal["frame", "position"] = "frame"
    relative_position: RelativeLayout = "shaw"

    def __post_init__(self) -> None:
        if (self.num_heads is None) == (self.head_dim is None):
            raise ValueError("UNet3DSpec needs exactly one of num_heads and head_dim")

    def heads(self, channels: int) -> int:
        if self.head_dim is not None:
            return max(1, channels // self.head_dim)
        return self.num_heads  # type: ignore[return-value]

    @property
    def norm(self) -> NormSpec:
        return NormSpec(self.norm_groups, self.norm_eps, self.block_norm)


class SpaceTimeUNet(nn.Module):
    """The factorised space-time UNet: (B, C_in, T, H, W) + embedding (B, E) or (B, T, E) -> (B, C_out, T, H, W).

    H and W must be divisible by ``2 ** (len(channel_mult) - 1)``; any number of frames works (T = 1 is an image).
    """

    def __init__(self, spec: UNet3DSpec) -> None:
        super().__init__()
        self.spec = spec
        ch = spec.model_channels
        norm = spec.norm
        self.input_conv = spatial_conv(spec.in_channels, ch)

        def attention(channels: int) -> list[nn.Module]:
            heads = spec.heads(channels)
            return [SpatialAttention(channels, heads, norm),
                    TemporalAttention(channels, heads, spec.max_relative_position, norm,
                                      norm_over_time=spec.temporal_norm == "position",
                                      relative_layout=spec.relative_position)]

        def resblock(in_channels: int, out_channels: int) -> ResBlock3D:
            return ResBlock3D(in_channels, out_channels, spec.emb_dim, spec.dropout, norm)

        self.encoder, self.middle, self.decoder, ch = build_levels(spec, res=resblock, attention=attention,
                                                                   down=Downsample, up=Upsample)

        self.out = nn.Sequential(FrameNorm.from_spec(ch, norm), nn.SiLU(),
                                 zero_module(spatial_conv(ch, spec.out_channels)))

    def _run(
        self, block: BlockSequence, h: torch.Tensor, emb: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        if self.spec.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, h, use_reentrant=False, emb=emb, mask=mask)
        return block(h, emb=emb, mask=mask)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C_in, T, H, W); emb: (B, E) per clip or (B, T, E) per frame; mask: boolean (T, T) or None."""
        _, _, frames, height, width = x.shape
        check_frame_size(height, width, self.spec.spatial_factor)
        if emb.dim() == 2:
            emb = emb[:, None].expand(-1, frames, -1)
        h = run_levels(self.encoder, self.middle, self.decoder, self.input_conv(x),
                       lambda block, h: self._run(block, h, emb, mask))
        return self.out(h)
