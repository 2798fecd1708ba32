"""PVDM denoiser: a shared-weight 2D UNet over the three latent planes (Yu et al. 2023, §3.2; pvdm.md §2).

Layout follows guided-diffusion's ``openaimodel`` (Dhariwal & Nichol 2021): input blocks
[conv] + per level [Res(+Attn)]×num_res_blocks + a down ResBlock except at the last level; middle
Res-Attn-Res; output blocks per level (num_res_blocks+1)×[Res(cat skip)(+Attn)] with an up ResBlock
closing every level but the first. Every 2D operation runs on each plane separately with shared
weights; after every block (except the stem conv) a joint 1-D attention over the concatenated tokens
of the three planes lets them exchange information.

Planes travel as a list ``[xy (B,C,H',W'), yt (B,C,S,W'), xt (B,C,S,H')]``.
"""

from __future__ import annotations

from typing import Callable, Literal, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from vgen.families.pvdm.config import PVDMConfig
from vgen.models.layers import ClassEmbedding, TimestepMLP, class_embedding, group_norm, multihead_attention, zero_module
from vgen.families.pvdm.planes import join_planes, plane_sizes, split_planes

Planes = list[torch.Tensor]
Resample = Optional[Literal["down", "up"]]


def plane_norm(channels: int, eps: float) -> nn.GroupNorm:
    """:func:`group_norm` with epsilon ``eps`` (PVDMUNetConfig.norm_eps)."""
    norm = group_norm(channels)
    norm.eps = eps
    return norm


def map_planes(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], planes: Planes, emb: torch.Tensor) -> Planes:
    """Apply a 2D op ``fn(x, emb)`` to every plane with shared weights.

    Planes of equal spatial shape (yt and xt whenever H' = W') are stacked along the batch so they
    go through one call; others run separately. Convolutions therefore pad each plane on its own.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for i, p in enumerate(planes):
        groups.setdefault(tuple(p.shape[-2:]), []).append(i)
    out: list[torch.Tensor | None] = [None] * len(planes)
    for idxs in groups.values():
        y = fn(torch.cat([planes[i] for i in idxs]), emb.repeat(len(idxs), 1))
        for i, part in zip(idxs, y.chunk(len(idxs))):
            out[i] = part
    return out  # type: ignore[return-value]


class ResBlock(nn.Module):
    """guided-diffusion ResBlock with FiLM time conditioning and optional resampling.

    GN → SiLU → [resample] → conv3; h = GN(h)·(1+scale)+shift; SiLU → Dropout → zero-init conv3;
    skip is identity, or a 1×1 conv on a channel change (resampled like h).
    """

    def __init__(self, channels: int, emb_dim: int, out_channels: int, dropout: float,
                 resample: Resample = None, norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.resample = resample
        self.in_norm = plane_norm(channels, norm_eps)
        self.in_conv = nn.Conv2d(channels, out_channels, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, 2 * out_channels)
        self.out_norm = plane_norm(out_channels, norm_eps)
        self.dropout = nn.Dropout(dropout)
        self.out_conv = zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip = nn.Identity() if channels == out_channels else nn.Conv2d(channels, out_channels, 1)

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "down":
            return F.avg_pool2d(x, 2)
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_conv(self._resample(F.silu(self.in_norm(x))))
        scale, shift = self.emb_proj(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.out_norm(h) * (1 + scale) + shift
        h = self.out_conv(self.dropout(F.silu(h)))
        return self.skip(self._resample(x)) + h


class AttentionBlock(nn.Module):
    """GN → 1×1 qkv → softmax attention → zero-init 1×1 proj, residual; on (B, C, L) tokens."""

    def __init__(self, channels: int, heads: int, norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.heads = heads
        self.norm = plane_norm(channels, norm_eps)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The 1x1 convs run as linear maps on (B, L, C) tokens so q, k and v come out with a contiguous
        # channel axis: scaled_dot_product_attention's fused CPU kernel needs stride 1 there.
        tokens = self.norm(x).transpose(1, 2)
        q, k, v = F.linear(tokens, self.qkv.weight.squeeze(-1), self.qkv.bias).chunk(3, dim=-1)
        out = F.linear(multihead_attention(q, k, v, self.heads), self.proj.weight.squeeze(-1), self.proj.bias)
        return x + out.transpose(1, 2)


class SpatialAttention(AttentionBlock):
    """:class:`AttentionBlock` over the H×W positions of one plane (B, C, H, W)."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x.flatten(2)).view_as(x)


class PlaneBlock(nn.Module):
    """One UNet block: 2D layers on each plane (shared weights), then joint 1-D attention across planes."""

    def __init__(self, layers: Sequence[nn.Module], channels: int, heads: int, norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.joint_attn = AttentionBlock(channels, heads, norm_eps)

    def forward(self, planes: Planes, emb: torch.Tensor) -> Planes:
        for layer in self.layers:
            planes = map_planes(layer, planes, emb)
        tokens = self.joint_attn(torch.cat([p.flatten(2) for p in planes], dim=-1))
        parts = tokens.split([p.shape[-2] * p.shape[-1] for p in planes], dim=-1)
        return [part.view_as(p) for part, p in zip(parts, planes)]


class PVDMUNet(nn.Module):
    """ε_θ(z_t, z_cond, t[, y]) on flat PVDM latents (B, C, L) -> (B, C, L) raw prediction."""

    def __init__(self, config: PVDMConfig) -> None:
        super().__init__()
        cfg = config.unet
        ae = config.autoencoder
        self.sizes = plane_sizes(config.frames, config.resolution, ae.patch_size)
        self.latent_channels = ae.latent_channels
        self.gradient_checkpointing = cfg.gradient_checkpointing
        mc, heads, eps = cfg.model_channels, cfg.num_heads, cfg.norm_eps
        emb_dim = 4 * mc

        self.time_embed = TimestepMLP(mc, emb_dim)
        self.class_embed = ClassEmbedding(config.num_classes, emb_dim) if config.num_classes > 0 else None

        def res(ch_in: int, ch_out: int, resample: Resample = None) -> ResBlock:
            return ResBlock(ch_in, emb_dim, ch_out, cfg.dropout, resample, eps)

        def attn(ch: int) -> SpatialAttention:
            return SpatialAttention(ch, heads, eps)

        def block(layers: list[nn.Module], ch: int) -> PlaneBlock:
            return PlaneBlock(layers, ch, heads, eps)

        # Input: z_t concatenated with the previous clip's clean latent (zeros = null), pvdm.md §2.4.
        self.stem = nn.Conv2d(2 * ae.latent_channels, mc, 3, padding=1)
        self.input_blocks = nn.ModuleList()
        skip_channels, ch = [mc], mc
        last = len(cfg.channel_mult) - 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [res(ch, mc * mult)]
                ch = mc * mult
                if level in cfg.attention_levels:
                    layers.append(attn(ch))
                self.input_blocks.append(block(layers, ch))
                skip_channels.append(ch)
            if level != last:
                self.input_blocks.append(block([res(ch, ch, "down")], ch))
                skip_channels.append(ch)

        self.middle_block = block([res(ch, ch), attn(ch), res(ch, ch)], ch)

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for i in range(cfg.num_res_blocks + 1):
                layers = [res(ch + skip_channels.pop(), mc * mult)]
                ch = mc * mult
                if level in cfg.attention_levels:
                    layers.append(attn(ch))
                if level and i == cfg.num_res_blocks:
                    layers.append(res(ch, ch, "up"))
                self.output_blocks.append(block(layers, ch))

        self.out_norm = plane_norm(ch, eps)
        self.out_conv = zero_module(nn.Conv2d(ch, ae.latent_channels, 3, padding=1))

    def _run(self, block: PlaneBlock, planes: Planes, emb: torch.Tensor) -> Planes:
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, planes, emb, use_reentrant=False)
        return block(planes, emb)

    def forward(self, z_t: torch.Tensor, t: torch.Tensor, *, cond: torch.Tensor | None = None,
                class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """z_t, cond: (B, C, L); t: (B,) or scalar; class_labels: (B,) long, ``num_classes`` = null."""
        b = z_t.shape[0]
        if cond is None:
            cond = torch.zeros_like(z_t)
        t = torch.as_tensor(t, device=z_t.device)
        if t.ndim == 0:
            t = t.expand(b)
        emb = self.time_embed(t)
        label_emb = class_embedding(self.class_embed, class_labels, b, z_t.device, "PVDM")
        if label_emb is not None:
            emb = emb + label_emb

        planes = list(split_planes(torch.cat([z_t, cond], dim=1), self.sizes))
        planes = map_planes(lambda x, _: self.stem(x), planes, emb)
        skips = [planes]
        for block in self.input_blocks:
            planes = self._run(block, planes, emb)
            skips.append(planes)
        planes = self._run(self.middle_block, planes, emb)
        for block in self.output_blocks:
            planes = [torch.cat([p, s], dim=1) for p, s in zip(planes, skips.pop())]
            planes = self._run(block, planes, emb)
        out = map_planes(lambda x, _: self.out_conv(F.silu(self.out_norm(x))), planes, emb)
        return join_planes(*out)
