"""Video I/O at the edge of vgen: read and write uint8 ``(T, H, W, 3)`` frames, convert to tensors.

Readers and writers live in ``video_read`` and ``video_write``; this module is the one place other
code imports from, and adds the conversion between uint8 frames and the model-side float layout
``(B, C, T, H, W)`` in [-1, 1].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vgen.io.video_read import VideoReader, list_frames, natural_key, open_video, read_all
from vgen.io.video_write import VideoWriter, infer_format, write_video

if TYPE_CHECKING:
    import torch


def frames_to_tensor(frames: np.ndarray) -> "torch.Tensor":
    """uint8 ``(T, H, W, 3)`` -> float32 ``(1, 3, T, H, W)`` in [-1, 1] (x / 127.5 - 1)."""
    import torch
    from einops import rearrange

    video = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(127.5).sub_(1.0)
    return rearrange(video, "t h w c -> 1 c t h w")


def tensor_to_frames(video: "torch.Tensor") -> np.ndarray:
    """float ``(1, 3, T, H, W)`` or ``(3, T, H, W)`` in [-1, 1] -> uint8 ``(T, H, W, 3)``, clipped and rounded."""
    from einops import rearrange

    if video.ndim == 5:
        if video.shape[0] != 1:
            raise ValueError(f"expected a single video (1, 3, T, H, W), got batch of {video.shape[0]}; index it first")
        video = video[0]
    frames = rearrange(video.detach().float(), "c t h w -> t h w c")
    return frames.add(1.0).mul(127.5).round().clamp(0, 255).to(device="cpu").numpy().astype(np.uint8)


__all__ = [
    "VideoReader", "VideoWriter", "frames_to_tensor", "infer_format", "list_frames", "natural_key", "open_video",
    "read_all", "tensor_to_frames", "write_video",
]
