"""LVDM (He et al. 2022): latent 3D UNet for short clips, prediction and interpolation (one network for all three).

The input is ``concat[z_t, mask]`` (latent channels + 1): frames with mask 1 carry conditioning latents, noised to level
``s`` (conditional latent perturbation, §3.2). Embeddings are per frame (LVDM's ``time_embed`` conditioning mode,
lvdm-vdm.md §A.4/§D.1): generated frames get emb(t), conditioning frames get emb_s(s) from a second MLP, or a learned
null token when ``s`` is None (unconditional-guidance calls; avoids pitfall §A.10.2 of the original code). An optional
class embedding (label ``num_classes`` = null) is added to every frame.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from vgen.families.lvdm.config import LVDMConfig
from vgen.errors import VgenError
from vgen.models.layers import ClassEmbedding, TimestepMLP, class_embedding
from vgen.families.lvdm.autoencoder import LVDMAutoencoder
from vgen.models.unet3d import SpaceTimeUNet, UNet3DSpec


class LVDMUNet(nn.Module):
    """eps network of LVDM: ``forward(z_t (B,c,T,h,w), t (B,)) -> (B,c,T,h,w)``."""

    def __init__(self, config: LVDMConfig) -> None:
        super().__init__()
        cfg = config.unet
        latent_channels = config.autoencoder.latent_channels
        emb_dim = 4 * cfg.model_channels
        self.time_embed = TimestepMLP(cfg.model_channels, emb_dim)
        self.noise_level_embed = TimestepMLP(cfg.model_channels, emb_dim)
        self.null_noise_level = nn.Parameter(torch.randn(emb_dim) * 0.02)
        self.class_embed = ClassEmbedding(config.num_classes, emb_dim) if config.num_classes else None
        self.backbone = SpaceTimeUNet(
            UNet3DSpec(
                in_channels=latent_channels + 1, out_channels=latent_channels, model_channels=cfg.model_channels,
                channel_mult=cfg.channel_mult, num_res_blocks=cfg.num_res_blocks,
                attention_levels=cfg.attention_levels, emb_dim=emb_dim,
                max_relative_position=cfg.temporal_length, num_heads=cfg.num_heads, dropout=cfg.dropout,
                gradient_checkpointing=cfg.gradient_checkpointing,
            )
        )

    def forward(
        self,
        z_t: torch.Tensor,
        t: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        s: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Raw eps prediction. mask: (B, 1, T, 1, 1), 1 = conditioning latent; s: (B,) their noise level, None = null
        token; class_labels: (B,) long, ``num_classes`` or None = null label."""
        batch, _, frames, height, width = z_t.shape
        if mask is None:
            mask = z_t.new_zeros(batch, 1, frames, 1, 1)
        if mask.shape != (batch, 1, frames, 1, 1):
            raise VgenError(f"mask has shape {tuple(mask.shape)}; expected {(batch, 1, frames, 1, 1)}")
        mask = mask.to(z_t.dtype)

        emb_t = self.time_embed(t.expand(batch) if t.dim() == 0 else t)
        emb_s = self.null_noise_level.expand(batch, -1) if s is None else self.noise_level_embed(
            s.expand(batch) if s.dim() == 0 else s
        )
        is_cond = rearrange(mask, "b 1 t 1 1 -> b t 1")
        emb = is_cond * emb_s[:, None] + (1 - is_cond) * emb_t[:, None]  # (B, T, E): per-frame embedding
        label_emb = class_embedding(self.class_embed, class_labels, batch, z_t.device, "LVDM")
        if label_emb is not None:
            emb = emb + label_emb[:, None]

        net_in = torch.cat([z_t, mask.expand(-1, -1, -1, height, width)], dim=1)
        return self.backbone(net_in, emb)


def build(config: LVDMConfig) -> dict[str, nn.Module]:
    return {"autoencoder": LVDMAutoencoder(config.autoencoder), "unet": LVDMUNet(config)}
