"""Rotary position embeddings (Su et al., RoFormer 2021) without learned parameters.

PVDM's TimeSformer (pvdm.md §1.2) rotates queries and keys: 1-D RoPE over frame index for the
temporal attention and axial 2-D RoPE over (row, column) for the spatial attention. Tables are
built from the actual sequence sizes on the input's device, so any T and H'×W' work.

Layout: "rotate-half" pairing — channel ``i`` is rotated together with channel ``i + d/2`` by
angle ``i``; the tables hold the d/2 angles of each position.
"""

from __future__ import annotations

import math

import torch


def rope_1d(length: int, dim: int, *, device: torch.device, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) tables of shape (length, dim/2) for integer positions 0..length-1.

    Frequencies ``base^(-2i/dim)`` for i < dim/2, as in RoFormer eq. 15.
    """
    if dim % 2:
        raise ValueError(f"1-D RoPE needs an even head dim, got {dim}")
    inv_freq = base ** (-torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim)
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def rope_axial(height: int, width: int, dim: int, *, device: torch.device, max_freq: float = 5.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) tables of shape (height·width, dim/2) for a row-major grid of tokens.

    Half of the rotated pairs encode the row, half the column. Coordinates are normalised to
    [-1, 1] and multiplied by ``π·f`` with ``dim/4`` frequencies f log-spaced in [1, max_freq]
    (the pixel-frequency form used by PVDM's official code), so the table depends on the grid's
    relative geometry rather than on its absolute size.
    """
    if dim % 4:
        raise ValueError(f"axial RoPE needs a head dim divisible by 4, got {dim}")
    freqs = torch.logspace(0.0, math.log2(max_freq), dim // 4, base=2.0, device=device) * math.pi
    y = torch.outer(torch.linspace(-1.0, 1.0, height, device=device), freqs)  # (H, dim/4)
    x = torch.outer(torch.linspace(-1.0, 1.0, width, device=device), freqs)  # (W, dim/4)
    angles = torch.cat(
        [y[:, None, :].expand(height, width, -1), x[None, :, :].expand(height, width, -1)], dim=-1
    ).reshape(height * width, dim // 2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (..., L, d) queries or keys by the (L, d/2) angle tables (RoFormer eq. 34, rotate-half pairs)."""
    x1, x2 = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
