"""Autoencoder reconstruction quality: PSNR and SSIM on videos in [0, 1].

* PSNR: per video, from the MSE pooled over all its pixels, frames and channels,
  ``10 log10(1 / MSE)`` on [0, 1] (PVDM ``test_psnr`` convention), then averaged over videos. This is
  not the mean of per-frame PSNRs (which is larger).
* SSIM (Wang et al. 2004, eq. 13): 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, L = 1,
  computed per channel on [0, 1] RGB with 'valid' borders (no padding), averaged over the map,
  channels, frames and videos (the common video-prediction convention).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
K1, K2 = 0.01, 0.03


def psnr_per_video(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """PSNR ``(B,)`` in dB of ``(B, C, T, H, W)`` videos in [0, 1], from each video's pooled MSE (float64)."""
    mse = (real.double() - fake.double()).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-20))


def _gaussian_window(device: torch.device) -> torch.Tensor:
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float64, device=device) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-coords**2 / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim_per_video(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """SSIM ``(B,)`` of ``(B, C, T, H, W)`` videos in [0, 1] (H, W >= 11), averaged over channels and frames."""
    b = real.shape[0]
    x = rearrange(real.double(), "b c t h w -> (b c t) 1 h w")
    y = rearrange(fake.double(), "b c t h w -> (b c t) 1 h w")
    window = _gaussian_window(x.device)
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    var_x = F.conv2d(x * x, window) - mu_x**2
    var_y = F.conv2d(y * y, window) - mu_y**2
    cov_xy = F.conv2d(x * y, window) - mu_x * mu_y
    c1, c2 = K1**2, K2**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return rearrange(ssim_map.mean(dim=(1, 2, 3)), "(b ct) -> b ct", b=b).mean(dim=1)
