"""PatchGAN discriminators (Isola et al., pix2pix 2017) for PVDM's autoencoder GAN phase (pvdm.md §1.5).

A 2D one judges single frames (B, 3, H, W); a 3D one judges clips (B, 3, T, H, W). Both return the
intermediate activations too, for the feature-matching loss.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """NLayer PatchGAN: conv4/s2 → LReLU, [conv4/s2 → BN → LReLU]×(n−1), conv4/s1 → BN → LReLU, conv4/s1 → 1.

    All convolutions use padding 2, so 256² frames give 35×35 logits as in the official code.
    """

    def __init__(self, dims: Literal[2, 3], base_channels: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
        widths = [base_channels * min(2**i, 8) for i in range(n_layers + 1)]
        blocks: list[nn.Sequential] = [nn.Sequential(conv(3, widths[0], 4, 2, 2), nn.LeakyReLU(0.2))]
        for i in range(1, n_layers + 1):
            stride = 2 if i < n_layers else 1
            blocks.append(nn.Sequential(
                conv(widths[i - 1], widths[i], 4, stride, 2, bias=False), norm(widths[i]), nn.LeakyReLU(0.2)
            ))
        self.blocks = nn.ModuleList(blocks)
        self.to_logits = conv(widths[-1], 1, 4, 1, 2)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x in [-1, 1] -> (patch logits, intermediate features for feature matching)."""
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return self.to_logits(x), features
