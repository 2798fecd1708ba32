"""The FI network: the factorised space-time UNet with Make-A-Video's masked-frame inputs and frame-skip embedding.

Input channels per frame (17): the noisy residual x_t (3); Make-A-Video's masked video, unknown frames zero (3), and
binary mask (1); vgen's neighbouring keys ``prev`` (3) and ``next`` (3), their blend (3) and the frame's position
``w`` between them (1) (see ``vgen.families.fi.conditioning``). The frame skip enters as a learned embedding added to
the timestep embedding (Make-A-Video conditions ↑F on frame skip and fps the same way it conditions on t); with noise
conditioning augmentation the known frames' noise level s adds a sinusoidal embedding too.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vgen.errors import VgenError
from vgen.families.fi.conditioning import neighbours
from vgen.families.fi.config import FIConfig
from vgen.models.layers import TimestepMLP, known_frame_channels
from vgen.models.unet3d import SpaceTimeUNet, UNet3DSpec

VIDEO_CHANNELS = 3
IN_CHANNELS = 5 * VIDEO_CHANNELS + 2


class FIUNet(nn.Module):
    """v/eps/x0 network on residuals: ``forward(x_t (B,3,T,H,W), t (B,), known=, mask=, skip=) -> (B,3,T,H,W)``."""

    def __init__(self, config: FIConfig) -> None:
        super().__init__()
        cfg = config.unet
        self.frames = config.frames
        emb_dim = 4 * cfg.model_channels
        self.time_embed = TimestepMLP(cfg.model_channels, emb_dim)
        # Frame skips 1..T−1 (1 = consecutive known frames); zero-initialised so training starts from t alone.
        self.skip_embed = nn.Embedding(config.frames, emb_dim)
        nn.init.zeros_(self.skip_embed.weight)
        self.aug_embed = TimestepMLP(cfg.model_channels, emb_dim) if config.aug_max_level else None
        # The UNet config's fields are UNet3DSpec's own.
        self.backbone = SpaceTimeUNet(UNet3DSpec(in_channels=IN_CHANNELS, out_channels=VIDEO_CHANNELS, emb_dim=emb_dim,
                                                 **cfg.model_dump()))

    def forward(self, x_t: Tensor, t: Tensor, *, known: Tensor, mask: Tensor, skip: Tensor,
                aug_level: Tensor | None = None) -> Tensor:
        """Raw prediction for the residual ``x_t`` at timesteps ``t`` (B,).

        known: (B, 3, T, H, W) frames, read where ``mask`` (B, 1, T, 1, 1) is 1 (already augmented, if the model was
        trained so); skip: (B,) long frame skips in [1, T−1]; aug_level: (B,) the known frames' augmentation level
        (models trained with augmentation; None = clean).
        """
        batch, _, frames = x_t.shape[:3]
        if frames != self.frames:
            raise VgenError(f"this FI network works on {self.frames}-frame clips, got {frames}")
        if not skip.is_meta and bool(((skip < 1) | (skip >= frames)).any()):  # (no values on the meta device)
            raise VgenError(f"frame skips must lie in [1, {frames - 1}] for {frames}-frame clips, got {skip.tolist()}")
        if aug_level is not None and self.aug_embed is None:
            raise VgenError("this FI model was trained without noise augmentation; pass no aug_level")
        x_t, masked, mask_channel = known_frame_channels(x_t, known, mask)
        keys = neighbours(known, mask)
        position = keys.w.expand(-1, -1, -1, *x_t.shape[3:])
        net_in = torch.cat([x_t, masked, mask_channel, keys.prev, keys.next, keys.blend, position], dim=1)

        emb = self.time_embed(t.expand(batch) if t.dim() == 0 else t) + self.skip_embed(skip)
        if self.aug_embed is not None:
            level = aug_level if aug_level is not None else torch.zeros(batch, dtype=torch.long, device=x_t.device)
            emb = emb + self.aug_embed(level)
        return self.backbone(net_in, emb)
