"""Turn uint8 clips into I3D input: resize to 224x224 and map [0, 255] -> [-1, 1] (``2x/255 - 1``).

Resize methods (all bilinear without antialias, as TF ``resize_bilinear`` and torch ``interpolate`` do):

* ``crop`` (default; VideoGPT / PVDM): resize the shorter side to 224 with half-pixel centres, then
  centre-crop 224x224. Keeps the aspect ratio.
* ``squash`` (TATS / cd-fvd): resize straight to 224x224, half-pixel centres (align_corners=False).
* ``tf1`` (original TF FVD, ``tf.image.resize_bilinear`` in TF1): straight to 224x224 with source
  coordinate ``dst * in / out`` (no half-pixel offset).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

ResizeMethod = Literal["crop", "squash", "tf1"]
RESIZE_METHODS: tuple[str, ...] = ("crop", "squash", "tf1")
I3D_SIZE = 224


def _tf1_axis(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TF1 bilinear sample positions along one axis: ``src = dst * in / out``; low/high index and weight."""
    src = torch.arange(n_out, device=device, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().long().clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    return lo, hi, (src - lo).float()


def resize_tf1(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TF1 ``resize_bilinear(align_corners=False)`` of ``(N, C, H, W)`` frames (separable)."""
    h_lo, h_hi, h_w = _tf1_axis(frames.shape[2], size[0], frames.device)
    w_lo, w_hi, w_w = _tf1_axis(frames.shape[3], size[1], frames.device)
    rows = torch.lerp(frames[:, :, h_lo], frames[:, :, h_hi], h_w[:, None])
    return torch.lerp(rows[..., w_lo], rows[..., w_hi], w_w)


def resize_frames(frames: torch.Tensor, method: ResizeMethod, size: int = I3D_SIZE) -> torch.Tensor:
    """Resize float ``(N, C, H, W)`` frames to ``size x size`` with one of the reference methods."""
    h, w = frames.shape[-2:]
    if method == "tf1":
        return resize_tf1(frames, (size, size))
    if method == "squash":
        return F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    frames = F.interpolate(frames, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=False)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return frames[..., top:top + size, left:left + size]


def clips_to_i3d_input(clips: np.ndarray | torch.Tensor, method: ResizeMethod, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 ``(B, T, H, W, 3)`` clips -> float ``(B, 3, T, 224, 224)`` in [-1, 1] on ``device``."""
    x = torch.as_tensor(np.asarray(clips) if not isinstance(clips, torch.Tensor) else clips).to(device)
    b = x.shape[0]
    frames = rearrange(x, "b t h w c -> (b t) c h w").float()
    frames = resize_frames(frames, method) / 127.5 - 1.0
    return rearrange(frames, "(b t) c h w -> b c t h w", b=b)
