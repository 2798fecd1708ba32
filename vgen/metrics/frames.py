"""Per-frame statistics of generated videos, with no network: how their frames compare with other frames, and how
much the videos move.

* :func:`frame_frechet_distance`: an FID-style distance computed on pixels instead of Inception features. Each uint8
  frame is area-downsampled to ``size × size`` (grey levels scaled to [0, 1]), giving a ``3·size²`` feature, and the
  Fréchet distance between Gaussians fitted to the two feature sets is returned (``vgen.metrics.distances``). It sees
  colours, layout and coarse shapes, not texture, and needs a few times ``3·size²`` frames per side to be stable.
  Used to check that inflating an image model kept what its frames look like.
* Motion: ``vgen.metrics.seams.frame_changes`` (mean absolute change between consecutive frames, grey levels).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vgen.metrics.distances import FeatureStats, frechet_distance


def frame_features(frames: np.ndarray, size: int = 4) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` frames -> float64 ``(N, 3·size·size)``: each frame area-averaged to ``size × size``."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty uint8 (N, H, W, 3) array, got shape {frames.shape}")
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).double() / 255.0
    return F.adaptive_avg_pool2d(x, size).flatten(1).numpy()


def frame_frechet_distance(frames_a: np.ndarray, frames_b: np.ndarray, size: int = 4) -> float:
    """Fréchet distance between the downsampled pixels of two sets of uint8 ``(N, H, W, 3)`` frames (0 for two
    identical sets; the sets may differ in size and resolution)."""
    a, b = (FeatureStats.from_features(frame_features(f, size)) for f in (frames_a, frames_b))
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
