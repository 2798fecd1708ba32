"""(2+1)D layers and a UNet that runs as a 2D image model or, inflated, as a video model.

Make-A-Video (Singer et al. 2022, §3.2) turns a trained text-to-image UNet into a video model by stacking a 1D temporal
convolution after each 2D convolution ("pseudo-3D convolution", the temporal conv initialised to the identity) and a
temporal attention after each spatial attention (its output projection initialised to zero), so a freshly inflated
network computes exactly what the image network computes on each frame. Align your Latents (Blattmann et al. 2023,
§3.1) freezes the image model's spatial layers, trains only the inserted temporal layers, and mixes each of
them with the spatial output it follows through a learned factor α:

    z' = α·z + (1 − α)·l_temporal(z),    α = sigmoid(a) ∈ (0, 1), one scalar a per temporal layer,

written here as ``z + (1 − α)·(l_temporal(z) − z)``, the same value, which is ``z`` to the bit whenever the temporal
layer returns its input, whatever α is. Both kinds of temporal layer start as the identity, so the inflated network
starts as the image network for any α; a = 0 (α = ½, the initial factor of Stability's ``AlphaBlender``) rather than
α → 1 keeps the gradient reaching the temporal layers, which α = 1 would cut off.

Layout: the spatial layers run on frames folded into the batch, (B·T, C, H, W), exactly as an image UNet runs on a
batch of images; temporal layers unfold the frames, (B·H·W, C, T) for the conv and (B·H·W, T, C) tokens for attention
(with Shaw relative positions, as VDM's temporal attention). Built with ``temporal=False`` the UNet has no temporal
layers at all: it is the 2D image model, and every frame of a video is an independent image. Its state dict holds
exactly the non-temporal keys of the inflated UNet (every temporal parameter lives under a ``temporal`` submodule), so
:meth:`InflatedUNet.load_image_weights` copies a trained image model into an inflated one.

Backbone: the level layout of ``vgen.models.levels`` (stride-2 conv down, nearest + conv up), then GN → SiLU →
zero-init conv. ResBlocks take the timestep (+ class) embedding through scale-shift (FiLM); both of their convs are
(2+1)D.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vgen.errors import VgenError
from vgen.models.layers import ClassEmbedding, TimestepMLP, class_embedding, group_norm, zero_module
from vgen.models.levels import LevelSpec, build_levels, check_frame_size, run_levels
from vgen.models.unet3d import SpatialAttention, TemporalAttention


class TemporalConv(nn.Module):
    """1D convolution over frames at every spatial position, kernel 3, zero "same" padding, initialised to the
    identity (centre tap 1 on the channel diagonal, every other weight and the bias 0): (B·T, C, H, W) -> same."""

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:, :, kernel // 2].copy_(torch.eye(channels))
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        _, _, h, w = x.shape
        columns = rearrange(x, "(b t) c h w -> (b h w) c t", t=frames)
        return rearrange(self.conv(columns), "(b h w) c t -> (b t) c h w", h=h, w=w)


class FrameAttention(nn.Module):
    """Residual temporal self-attention over the T frames at each position (VDM's :class:`TemporalAttention`, with
    Shaw relative positions and a zero-initialised output projection) on frames folded into the batch."""

    def __init__(self, channels: int, heads: int, max_relative_position: int) -> None:
        super().__init__()
        self.attention = TemporalAttention(channels, heads, max_relative_position)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        video = rearrange(x, "(b t) c h w -> b c t h w", t=frames)
        return rearrange(self.attention(video), "b c t h w -> (b t) c h w")


class TemporalMix(nn.Module):
    """A temporal layer mixed with the spatial output ``z`` it follows: ``z + (1 − α)·(layer(z) − z)``, α = sigmoid(a)
    (Align your Latents §3.1; see the module docstring)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer
        self.alpha_logit = nn.Parameter(torch.zeros(()))

    @property
    def alpha(self) -> torch.Tensor:
        return torch.sigmoid(self.alpha_logit)

    def forward(self, z: torch.Tensor, frames: int) -> torch.Tensor:
        return z + (1 - self.alpha) * (self.layer(z, frames) - z)


class Conv2Plus1D(nn.Module):
    """A 3×3 spatial conv on each frame, then (inflated) a mixed identity-initialised temporal conv (kernel 3)."""

    def __init__(self, in_channels: int, out_channels: int, temporal: bool, *, zero: bool = False) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        if zero:
            zero_module(self.spatial)
        self.temporal = TemporalMix(TemporalConv(out_channels)) if temporal else None

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        z = self.spatial(x)
        return z if self.temporal is None else self.temporal(z, frames)


class SpaceTimeAttention(nn.Module):
    """Spatial self-attention on each frame, then (inflated) a mixed temporal attention whose projection starts at 0."""

    takes = ("frames",)  # what a BlockSequence hands it

    def __init__(self, channels: int, heads: int, temporal: bool, max_relative_position: int) -> None:
        super().__init__()
        self.spatial = SpatialAttention(channels, heads)
        self.temporal = TemporalMix(FrameAttention(channels, heads, max_relative_position)) if temporal else None

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        z = self.spatial(x[:, :, None])[:, :, 0]
        return z if self.temporal is None else self.temporal(z, frames)


class InflatedResBlock(nn.Module):
    """h = conv(SiLU(GN(x))); (scale, shift) = Linear(SiLU(emb)); h = GN(h)·(1 + scale) + shift;
    out = skip(x) + zero_conv(Dropout(SiLU(h))), both convs (2+1)D, on (B·T, C, H, W) with emb (B·T, E)."""

    takes = ("emb", "frames")  # what a BlockSequence hands it

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int, dropout: float, temporal: bool) -> None:
        super().__init__()
        self.in_norm = group_norm(in_channels)
        self.in_conv = Conv2Plus1D(in_channels, out_channels, temporal)
        self.emb_proj = nn.Linear(emb_dim, 2 * out_channels)
        self.out_norm = group_norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.out_conv = Conv2Plus1D(out_channels, out_channels, temporal, zero=True)
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, frames: int) -> torch.Tensor:
        h = self.in_conv(F.silu(self.in_norm(x)), frames)
        scale, shift = rearrange(self.emb_proj(F.silu(emb)), "n (two c) -> two n c 1 1", two=2)
        h = self.out_norm(h) * (1 + scale) + shift
        return self.skip(x) + self.out_conv(self.dropout(F.silu(h)), frames)


class Downsample(nn.Module):
    """Halve H and W with a stride-2 3×3 conv on each frame."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W (nearest), then a 3×3 conv on each frame."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


@dataclass(frozen=True)
class InflatedSpec(LevelSpec):
    """Hyper-parameters of :class:`InflatedUNet`; ``attention_levels`` index ``channel_mult`` (0 = full resolution),
    heads = channels / ``head_dim`` (at least 1). ``temporal`` False builds the 2D image model."""

    head_dim: int
    temporal: bool
    max_relative_position: int = 16
    dropout: float = 0.0
    num_classes: int = 0

    def heads(self, channels: int) -> int:
        return max(1, channels // self.head_dim)


class InflatedUNet(nn.Module):
    """eps/v/x0 network ``forward(x_t (B, C, T, H, W), t (B,)) -> (B, C_out, T, H, W)``; any T (T = 1 is an image).

    Without temporal layers every frame is denoised on its own; inflated, the temporal layers connect them.
    """

    def __init__(self, spec: InflatedSpec) -> None:
        super().__init__()
        self.spec = spec
        mc, temporal = spec.model_channels, spec.temporal
        emb_dim = 4 * mc
        self.time_embed = TimestepMLP(mc, emb_dim)
        self.class_embed = ClassEmbedding(spec.num_classes, emb_dim) if spec.num_classes else None
        self.input_conv = nn.Conv2d(spec.in_channels, mc, 3, padding=1)

        def res(c_in: int, c_out: int) -> InflatedResBlock:
            return InflatedResBlock(c_in, c_out, emb_dim, spec.dropout, temporal)

        def attention(channels: int) -> SpaceTimeAttention:
            return SpaceTimeAttention(channels, spec.heads(channels), temporal, spec.max_relative_position)

        self.encoder, self.middle, self.decoder, ch = build_levels(
            spec, res=res, attention=lambda channels: [attention(channels)], down=Downsample, up=Upsample)
        self.out = nn.Sequential(group_norm(ch), nn.SiLU(), zero_module(nn.Conv2d(ch, spec.out_channels, 3, padding=1)))

    def temporal_mixes(self) -> Iterator[TemporalMix]:
        """Every temporal layer with its mixing factor (none in the image model)."""
        return (m for m in self.modules() if isinstance(m, TemporalMix))

    def temporal_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters the temporal stage trains: the temporal layers and their α."""
        for mix in self.temporal_mixes():
            yield from mix.parameters()

    def load_image_weights(self, image_state: dict[str, torch.Tensor]) -> None:
        """Copy a 2D image model's weights (its state dict) into the spatial layers; the temporal layers keep theirs.

        The image model must have exactly this network's non-temporal tensors, by name and shape."""
        prefixes = tuple(f"{name}." for name, m in self.named_modules() if isinstance(m, TemporalMix))
        own = {name: tuple(v.shape) for name, v in self.state_dict().items() if not name.startswith(prefixes)}
        given = {name: tuple(v.shape) for name, v in image_state.items()}
        if own != given:
            missing, extra = sorted(own.keys() - given.keys()), sorted(given.keys() - own.keys())
            shapes = sorted(k for k in own.keys() & given.keys() if own[k] != given[k])
            raise VgenError(f"the image model does not fit this network's spatial layers (missing {missing[:3]}, "
                            f"unexpected {extra[:3]}, other shapes {shapes[:3]}); inflate the image model it was built "
                            "from")
        self.load_state_dict(image_state, strict=False)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, *, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """Raw prediction for ``x_t`` (B, C, T, H, W) at timesteps ``t`` (B,) (or a scalar); ``class_labels`` (B,)
        long, ``num_classes`` (or None) = the null label."""
        batch, _, frames, height, width = x_t.shape
        check_frame_size(height, width, self.spec.spatial_factor)
        emb = self.time_embed(t.expand(batch) if t.dim() == 0 else t)
        label_emb = class_embedding(self.class_embed, class_labels, batch, x_t.device, "inflated")
        if label_emb is not None:
            emb = emb + label_emb
        emb = emb.repeat_interleave(frames, dim=0)  # one embedding per frame of the folded batch
        h = run_levels(self.encoder, self.middle, self.decoder,
                       self.input_conv(rearrange(x_t, "b c t h w -> (b t) c h w")),
                       lambda blocks, h: blocks(h, emb=emb, frames=frames))
        return rearrange(self.out(h), "(b t) c h w -> b c t h w", t=frames)
