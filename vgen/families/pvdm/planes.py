"""PVDM's three-plane latent layout (Yu et al. 2023, §3.1; pvdm.md §1.1, §9).

A clip of S frames at H×W pixels with patch size p has a token grid S×H'×W' (H' = H/p, W' = W/p).
The latent is three planes with C channels each:

- ``xy`` = z^s, the projection over time, laid out (H', W');
- ``yt`` = z^h, the projection over height, laid out (S, W');
- ``xt`` = z^w, the projection over width, laid out (S, H').

The diffusion model sees them flattened row-major and concatenated: ``(B, C, L)`` with
``L = H'W' + S·W' + S·H'``, ordered [xy | yt | xt].
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from einops import rearrange


class PlaneSizes(NamedTuple):
    """Token-grid sizes of one clip: S frames, H' rows, W' columns."""

    frames: int
    height: int
    width: int

    @property
    def shapes(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """Spatial shapes of the xy, yt and xt planes."""
        return (self.height, self.width), (self.frames, self.width), (self.frames, self.height)

    @property
    def length(self) -> int:
        """L, the flat latent length."""
        return sum(a * b for a, b in self.shapes)


def plane_sizes(frames: int, resolution: int, patch_size: int) -> PlaneSizes:
    """Token grid of a ``frames``-frame clip of ``resolution``² pixels cut into ``patch_size``² patches."""
    return PlaneSizes(frames, resolution // patch_size, resolution // patch_size)


def split_planes(z: torch.Tensor, sizes: PlaneSizes) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, C, L) flat latent -> (xy (B,C,H',W'), yt (B,C,S,W'), xt (B,C,S,H'))."""
    if z.shape[-1] != sizes.length:
        raise ValueError(f"latent length {z.shape[-1]} does not match planes {sizes} (L={sizes.length})")
    (h, w), (s, w2), (s2, h2) = sizes.shapes
    xy, yt, xt = z.split([h * w, s * w2, s2 * h2], dim=-1)
    return (
        rearrange(xy, "b c (h w) -> b c h w", h=h, w=w),
        rearrange(yt, "b c (t w) -> b c t w", t=s, w=w2),
        rearrange(xt, "b c (t h) -> b c t h", t=s2, h=h2),
    )


def join_planes(xy: torch.Tensor, yt: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`split_planes`: flatten each plane row-major and concatenate along L."""
    return torch.cat([p.flatten(2) for p in (xy, yt, xt)], dim=-1)
