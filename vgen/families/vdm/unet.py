"""VDM (Ho et al. 2022): the pixel-space factorised space-time 3D UNet.

One network serves unconditional generation, prediction and interpolation: with ``conditional_frames`` the input is
``concat[x_t, known·mask, mask]`` (3 + 3 + 1 channels), so known frames can be given at any positions. Joint
image-video training (§3.1) appends ``image_frames`` independent images after the video; temporal attention is masked
so they attend only to themselves. Class conditioning (for classifier-free guidance, §4.2 / Ho & Salimans 2021) adds a
learned label embedding; label ``num_classes`` is the learned null label.
"""

from __future__ import annotations

import torch
from torch import nn

from vgen.families.vdm.config import VDMConfig
from vgen.errors import VgenError
from vgen.models.layers import ClassEmbedding, TimestepMLP, class_embedding, known_frame_channels
from vgen.models.unet3d import SpaceTimeUNet, UNet3DSpec, image_video_mask

VIDEO_CHANNELS = 3


class VDMUNet(nn.Module):
    """eps/v/x0 network of VDM: ``forward(x_t (B,3,T,H,W), t (B,)) -> (B,3,T,H,W)``."""

    def __init__(self, config: VDMConfig) -> None:
        super().__init__()
        cfg = config.unet
        self.conditional_frames = cfg.conditional_frames
        emb_dim = 4 * cfg.model_channels
        self.time_embed = TimestepMLP(cfg.model_channels, emb_dim)
        # Label num_classes is the null label used when the condition is dropped.
        self.class_embed = ClassEmbedding(config.num_classes, emb_dim) if config.num_classes else None
        in_channels = 2 * VIDEO_CHANNELS + 1 if cfg.conditional_frames else VIDEO_CHANNELS
        self.backbone = SpaceTimeUNet(
            UNet3DSpec(
                in_channels=in_channels, out_channels=VIDEO_CHANNELS, model_channels=cfg.model_channels,
                channel_mult=cfg.channel_mult, num_res_blocks=cfg.num_res_blocks,
                attention_levels=cfg.attention_levels, emb_dim=emb_dim,
                max_relative_position=cfg.max_relative_position, head_dim=cfg.head_dim, dropout=cfg.dropout,
                gradient_checkpointing=cfg.gradient_checkpointing,
            )
        )

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        *,
        known: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
        image_frames: int = 0,
    ) -> torch.Tensor:
        """Raw prediction for ``x_t`` (B, 3, T, H, W) at timesteps ``t`` (B,).

        known: (B, 3, T, H, W) clean frames, read where ``mask`` (B, 1, T, 1, 1) is 1; class_labels: (B,) long, the
        value ``num_classes`` (or None) selects the null label; image_frames: the last k frames are independent images.
        """
        batch, _, frames = x_t.shape[:3]
        if not 0 <= image_frames <= frames:
            raise VgenError(f"image_frames={image_frames} must be between 0 and the {frames} input frames")
        net_in = x_t
        if self.conditional_frames:
            net_in = torch.cat(known_frame_channels(x_t, known, mask), dim=1)
        elif known is not None or mask is not None:
            raise VgenError("this VDM model has no known-frame inputs; use a config with conditional_frames=true")

        emb = self.time_embed(t.expand(batch) if t.dim() == 0 else t)
        label_emb = class_embedding(self.class_embed, class_labels, batch, x_t.device, "VDM")
        if label_emb is not None:
            emb = emb + label_emb

        return self.backbone(net_in, emb, image_video_mask(frames, image_frames, x_t.device))


def build(config: VDMConfig) -> dict[str, nn.Module]:
    return {"unet": VDMUNet(config)}
