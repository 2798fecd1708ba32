"""The SR stage's network: the factorised space-time UNet with the low-resolution clip on its input channels.

Input ``concat[z_t, upscale(z_s)]`` (3 + 3 channels): the noise-augmented low-resolution clip z_s, upsampled
bicubically to the output size. Embedding: timestep t plus the augmentation level s (its own sinusoid + MLP), plus
a class label for class-conditional models (label ``num_classes`` is the learned null label).
"""

from __future__ import annotations

import torch
from torch import nn

from vgen.errors import VgenError
from vgen.families.sr.augment import upscale
from vgen.families.sr.config import SRConfig
from vgen.models.layers import ClassEmbedding, TimestepMLP, class_embedding
from vgen.models.unet3d import SpaceTimeUNet, UNet3DSpec

VIDEO_CHANNELS = 3


def _per_sample(t: torch.Tensor, batch: int) -> torch.Tensor:
    return t.expand(batch) if t.dim() == 0 else t


class SRUNet(nn.Module):
    """v/eps/x0 network: ``forward(z_t (B,3,T,H,W), t (B,), lowres=(B,3,T,H/scale,W/scale), aug_t=(B,))``."""

    def __init__(self, config: SRConfig) -> None:
        super().__init__()
        cfg = config.unet
        self.scale = config.scale
        emb_dim = 4 * cfg.model_channels
        self.time_embed = TimestepMLP(cfg.model_channels, emb_dim)
        self.aug_embed = TimestepMLP(cfg.model_channels, emb_dim)
        self.class_embed = ClassEmbedding(config.num_classes, emb_dim) if config.num_classes else None
        self.backbone = SpaceTimeUNet(
            UNet3DSpec(
                in_channels=2 * VIDEO_CHANNELS, out_channels=VIDEO_CHANNELS, model_channels=cfg.model_channels,
                channel_mult=cfg.channel_mult, num_res_blocks=cfg.num_res_blocks,
                attention_levels=cfg.attention_levels, emb_dim=emb_dim,
                max_relative_position=cfg.max_relative_position, head_dim=cfg.head_dim, dropout=cfg.dropout,
                gradient_checkpointing=cfg.gradient_checkpointing,
            )
        )

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, *, lowres: torch.Tensor | None = None,
                aug_t: torch.Tensor | None = None, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """Raw prediction for ``x_t`` at timesteps ``t``, given the noise-augmented low-resolution clip ``lowres``
        and its augmentation timestep ``aug_t`` (s·T, see ``vgen.families.sr.augment``; None = 0, a clean clip)."""
        batch, _, frames, height, width = x_t.shape
        if lowres is None:
            raise VgenError("an SR network needs the low-resolution clip it upscales; pass lowres= (or cond= to "
                            "LoadedModel.denoise)")
        if aug_t is None:
            aug_t = torch.zeros(batch, device=x_t.device)
        want = (batch, VIDEO_CHANNELS, frames, height // self.scale, width // self.scale)
        if tuple(lowres.shape) != want:
            raise VgenError(f"the low-resolution clip has shape {tuple(lowres.shape)}; this x{self.scale} model "
                            f"needs {want} for a {height}x{width} output")
        emb = self.time_embed(_per_sample(t, batch)) + self.aug_embed(_per_sample(aug_t, batch))
        label_emb = class_embedding(self.class_embed, class_labels, batch, x_t.device, "SR")
        if label_emb is not None:
            emb = emb + label_emb
        return self.backbone(torch.cat([x_t, upscale(lowres, height)], dim=1), emb)
