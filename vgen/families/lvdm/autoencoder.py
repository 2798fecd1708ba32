"""LVDM video autoencoder (He et al. 2022, §3.1; lvdm-vdm.md §A.2): 3D convolutions with replicate "same" padding.

RGB clip (B, 3, T, H, W) in [-1, 1] -> latent (B, 4, T/f_t, H/f_s, W/f_s) with (f_t, f_s) = (4, 8) for the paper
preset. Every conv and transposed conv replicate-pads its input by ``k - s`` per axis, split (ceil, floor) so the
front/top/left gets more; clip boundaries therefore see repeated edge frames instead of zeros.

Encoder: stem k3 conv; one stage per halving (stage i halves every axis whose factor is not used up yet), each a k4
strided conv + ResBlock; GN → SiLU → k3 conv to 2·z channels; 1×1×1 ``quant_conv``. The result parameterises a diagonal
Gaussian posterior (mean, log-variance clamped to [-30, 20]). Decoder: 1×1×1 ``post_quant_conv``; per stage a k4
transposed conv (strides in reverse order; in the encoder's order with ``decoder_strides="encoder"``, as the official
decoder does) + 2 ResBlocks; final k3 conv to RGB.

Diffusion runs on normalised latents ``z_diff = scale_factor · (z + shift_factor)``; the buffers default to (1, 0) and
are fitted on encoded training data by :meth:`LVDMAutoencoder.fit_latent_stats`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vgen.families.lvdm.config import LVDMAutoencoderConfig
from vgen.errors import VgenError
from vgen.models.layers import Conv3d, group_norm

VIDEO_CHANNELS = 3
LOGVAR_RANGE = (-30.0, 20.0)


def same_padding(kernel: int, stride: int) -> tuple[int, int]:
    """Total padding ``k - s`` split as (front, back) = (ceil, floor)."""
    total = kernel - stride
    return total - total // 2, total // 2


class SamePadConv3d(nn.Module):
    """Conv3d (or ConvTranspose3d) after explicit replicate padding, so output = input / stride (or × stride).

    The transposed conv pads its input by the same ``k - s`` and uses conv-transpose padding ``k - 1``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: tuple[int, int, int] = (1, 1, 1),
        transposed: bool = False,
    ) -> None:
        super().__init__()
        # F.pad lists axes from the last one (W, H, T).
        self.pad = tuple(p for s in reversed(stride) for p in same_padding(kernel, s))
        if transposed:
            self.conv: nn.Module = nn.ConvTranspose3d(in_channels, out_channels, kernel, stride, padding=kernel - 1)
        else:
            self.conv = Conv3d(in_channels, out_channels, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.pad, mode="replicate"))


class ResBlock(nn.Module):
    """x + conv3(SiLU(GN(conv3(SiLU(GN(x)))))); no time input (lvdm-vdm.md §A.2)."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            group_norm(channels, groups), nn.SiLU(), SamePadConv3d(channels, channels, 3),
            group_norm(channels, groups), nn.SiLU(), SamePadConv3d(channels, channels, 3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def stage_strides(downsample: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """One stride per halving of the most-downsampled axis: (4, 8, 8) -> (2, 2, 2), (2, 2, 2), (1, 2, 2)."""
    halvings = [int(math.log2(f)) for f in downsample]
    return [tuple(2 if h > i else 1 for h in halvings) for i in range(max(halvings))]  # type: ignore[misc]


class DiagonalGaussian:
    """The posterior q(z|x) = N(mean, exp(logvar)) with logvar clamped to [-30, 20] (LDM)."""

    def __init__(self, moments: torch.Tensor) -> None:
        self.mean, logvar = moments.chunk(2, dim=1)
        self.logvar = logvar.clamp(*LOGVAR_RANGE)
        self.std = torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) summed over latent elements, per sample: (B,)."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).flatten(1).sum(1)


class LVDMAutoencoder(nn.Module):
    """``encode(video) -> normalised latent``, ``decode(latent) -> video``, ``forward(video) -> (recon, posterior)``."""

    def __init__(self, config: LVDMAutoencoderConfig) -> None:
        super().__init__()
        self.downsample = config.downsample
        self.latent_channels = z = config.latent_channels
        hidden, groups = config.hidden, config.norm_groups
        strides = stage_strides(config.downsample)

        encoder: list[nn.Module] = [SamePadConv3d(VIDEO_CHANNELS, hidden, 3)]
        ch = hidden
        for stride in strides:
            encoder += [SamePadConv3d(ch, 2 * ch, 4, stride), ResBlock(2 * ch, groups)]
            ch *= 2
        encoder += [group_norm(ch, groups), nn.SiLU(), SamePadConv3d(ch, 2 * z, 3)]
        self.encoder = nn.Sequential(*encoder)
        self.quant_conv = nn.Conv3d(2 * z, 2 * z, 1)

        self.post_quant_conv = nn.Conv3d(z, z, 1)
        decoder: list[nn.Module] = []
        in_ch = z
        for stride in (reversed(strides) if config.decoder_strides == "mirrored" else strides):
            upsample = SamePadConv3d(in_ch, ch, 4, stride, transposed=True)
            decoder += [upsample, ResBlock(ch, groups), ResBlock(ch, groups)]
            in_ch, ch = ch, ch // 2
        decoder.append(SamePadConv3d(in_ch, VIDEO_CHANNELS, 3))
        self.decoder = nn.Sequential(*decoder)

        self.register_buffer("scale_factor", torch.tensor(1.0))
        self.register_buffer("shift_factor", torch.tensor(0.0))

    def encoder_modules(self) -> list[nn.Module]:
        """Everything ``encode`` runs (the latent statistics are buffers): frozen by ``vgen train --decoder-only``."""
        return [self.encoder, self.quant_conv]

    def latent_shape(self, video_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(B, 3, T, H, W) -> (B, z, T/f_t, H/f_s, W/f_s); raises VgenError if a size is not divisible."""
        batch, _, *sizes = video_shape
        for size, factor, axis in zip(sizes, self.downsample, ("frame count", "height", "width")):
            if size % factor:
                raise VgenError(f"video {axis} {size} is not divisible by {factor}; crop or resize the input")
        return (batch, self.latent_channels, *(s // f for s, f in zip(sizes, self.downsample)))

    def posterior(self, video: torch.Tensor) -> DiagonalGaussian:
        """q(z | video) over raw (unnormalised) latents."""
        self.latent_shape(tuple(video.shape))
        return DiagonalGaussian(self.quant_conv(self.encoder(video)))

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """Raw latent (B, z, t, h, w) -> video (B, 3, T, H, W)."""
        return self.decoder(self.post_quant_conv(z))

    def normalise(self, z: torch.Tensor) -> torch.Tensor:
        return self.scale_factor * (z + self.shift_factor)

    def denormalise(self, z_diff: torch.Tensor) -> torch.Tensor:
        return z_diff / self.scale_factor - self.shift_factor

    def encode(
        self, video: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Video (B, 3, T, H, W) in [-1, 1] -> normalised latent: the posterior mean (deterministic), or a posterior
        sample drawn with ``generator`` when one is given."""
        posterior = self.posterior(video)
        return self.normalise(posterior.mean if generator is None else posterior.sample(generator))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Normalised latent -> video (B, 3, T, H, W) (not clamped)."""
        return self.decode_raw(self.denormalise(latent))

    def forward(
        self, video: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, DiagonalGaussian]:
        """Autoencoder training path: reconstruct from a posterior sample drawn with ``generator`` (the posterior
        mean when no generator is given)."""
        posterior = self.posterior(video)
        z = posterior.mean if generator is None else posterior.sample(generator)
        return self.decode_raw(z), posterior

    @torch.no_grad()
    def fit_latent_stats(self, latents: torch.Tensor) -> None:
        """Set shift = -mean and scale = 1/std of raw latents (LVDM's scale_factor/shift_factor, issue #10)."""
        latents = latents.double()
        self.shift_factor.fill_(-latents.mean().item())
        self.scale_factor.fill_(1.0 / latents.std().clamp_min(1e-8).item())
