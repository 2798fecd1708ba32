"""LVDM (He et al. 2022): latent 3D UNet for short clips, prediction and interpolation (one network for all three).

The input is ``concat[z_t, mask]`` (latent channels + 1): frames with mask 1 carry conditioning latents, noised to level
``s`` (conditional latent perturbation, §3.2). Embeddings are per frame (LVDM's ``time_embed`` conditioning mode,
lvdm-vdm.md §A.4/§D.1): generated frames get emb(t), conditioning frames get emb_s(s) from a second MLP, or a learned
null token when ``s`` is None (unconditional-guidance calls; avoids pitfall §A.10.2 of the original code). An optional
class embedding (label ``num_classes`` = null) is added to every frame.

Imported official weights (``vgen.families.lvdm.official``) set ``mask_channel``/``noise_level_embedding`` to how the
official model takes its condition: no mask channel and no ``s`` for the released short-video models; the mask channel
and an embedding table of ``s`` added to the clip embedding ("class") for the long-video configs.
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
        self.mask_channel = cfg.mask_channel
        self.noise_level_mode = cfg.noise_level_embedding
        self.time_embed = TimestepMLP(cfg.model_channels, emb_dim)
        if self.noise_level_mode == "per_frame":
            self.noise_level_embed = TimestepMLP(cfg.model_channels, emb_dim)
            self.null_noise_level = nn.Parameter(torch.randn(emb_dim) * 0.02)
        elif self.noise_level_mode == "class":
            self.noise_level_label = nn.Embedding(cfg.max_noise_level + 1, emb_dim)
        self.class_embed = ClassEmbedding(config.num_classes, emb_dim) if config.num_classes else None
        self.backbone = SpaceTimeUNet(
            UNet3DSpec(
                in_channels=latent_channels + int(cfg.mask_channel), out_channels=latent_channels,
                model_channels=cfg.model_channels, channel_mult=cfg.channel_mult, num_res_blocks=cfg.num_res_blocks,
                attention_levels=cfg.attention_levels, emb_dim=emb_dim,
                max_relative_position=cfg.temporal_length, num_heads=cfg.num_heads, dropout=cfg.dropout,
                gradient_checkpointing=cfg.gradient_checkpointing, norm_groups=cfg.norm_groups,
                norm_eps=cfg.norm_eps, block_norm=cfg.block_norm, temporal_norm=cfg.temporal_norm,
                relative_position=cfg.relative_position,
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
        if not self.mask_channel and mask.any():
            raise VgenError("this LVDM model is unconditional (no mask channel): it cannot take conditioning latents; "
                            "use the reconstruction or replacement method")

        emb_t = self.time_embed(t.expand(batch) if t.dim() == 0 else t)
        if s is not None and s.dim() == 0:
            s = s.expand(batch)
        if self.noise_level_mode == "per_frame":
            emb_s = self.null_noise_level.expand(batch, -1) if s is None else self.noise_level_embed(s)
            is_cond = rearrange(mask, "b 1 t 1 1 -> b t 1")
            emb = is_cond * emb_s[:, None] + (1 - is_cond) * emb_t[:, None]  # (B, T, E): per-frame embedding
        else:
            emb = emb_t[:, None]  # (B, 1, E): one embedding for the clip
            if self.noise_level_mode == "class" and s is not None:
                emb = emb + self.noise_level_label(s.long())[:, None]
        label_emb = class_embedding(self.class_embed, class_labels, batch, z_t.device, "LVDM")
        if label_emb is not None:
            emb = emb + label_emb[:, None]

        net_in = torch.cat([z_t, mask.expand(-1, -1, -1, height, width)], dim=1) if self.mask_channel else z_t
        return self.backbone(net_in, emb.expand(-1, frames, -1))


def build(config: LVDMConfig) -> dict[str, nn.Module]:
    return {"autoencoder": LVDMAutoencoder(config.autoencoder), "unet": LVDMUNet(config)}
