"""A model's frames and a plain baseline's, both scored against the true frames: PSNR and SSIM averaged over clips.

``vgen evaluate --inbetween`` (baseline: frame blending) and ``--upscale`` (baseline: the stage's plain upscaling,
bicubic for spatial SR) report ``psnr``, ``ssim``, ``<baseline>_psnr``, ``<baseline>_ssim``, ``psnr_gain_db`` (the
model's PSNR minus the baseline's: a model worth using beats its baseline) and ``clips``. PSNR and SSIM as in
``vgen.metrics.reconstruction``: per clip over all the scored frames, on [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch

from vgen.metrics.reconstruction import psnr_per_video, ssim_per_video


def _as_video(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float64 (1, 3, T, H, W) on [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None].double() / 255.0


class PairedScores:
    """Running sums of the model's and the baseline's PSNR/SSIM, one ``add`` per clip."""

    def __init__(self, baseline: str) -> None:
        self.baseline = baseline
        self.sums = {"psnr": 0.0, "ssim": 0.0, f"{baseline}_psnr": 0.0, f"{baseline}_ssim": 0.0}
        self.count = 0

    def add(self, truth: np.ndarray, made: np.ndarray, baseline: np.ndarray) -> None:
        """Score one clip: ``made`` and ``baseline`` against ``truth`` (uint8 (T, H, W, 3) each)."""
        real = _as_video(truth)
        for prefix, frames in (("", made), (f"{self.baseline}_", baseline)):
            fake = _as_video(frames)
            self.sums[prefix + "psnr"] += float(psnr_per_video(real, fake)[0])
            self.sums[prefix + "ssim"] += float(ssim_per_video(real, fake)[0])
        self.count += 1

    def result(self) -> dict[str, float]:
        if self.count == 0:
            raise ValueError("no clips to score")
        scores = {name: value / self.count for name, value in self.sums.items()}
        return {**scores, "psnr_gain_db": scores["psnr"] - scores[f"{self.baseline}_psnr"], "clips": float(self.count)}
