"""Causal 3D-conv video autoencoder of the DiT family (W.A.L.T., Gupta et al. 2023; MAGVIT-v2, Yu et al. 2023).

RGB clip (B, 3, T, H, W) in [-1, 1] with T = 1 + k·r_t -> latent (B, z, 1 + k, H/f_s, W/f_s), where r_t and f_s are
the config's ``temporal_downsample`` and ``spatial_downsample``. Nothing in the network looks forward in time:

- **Causal convolutions.** Every 3D conv pads time only in front, with k_t − 1 zero frames, and pads space the
  usual "same" way with zeros. Zeros rather than copies of the first frame: both are causal, but in a check on the
  tiny preset (two 5-frame clips, L1, Adam) replicate padding sat for ~150 steps on a time-static output before it
  started to fit, while zero padding, which marks the clip start, fitted at once. A stride-2 k3 conv maps
  1 + 2m frames to 1 + m: output j reads frames 2j − 2 … 2j, and output 0 frame 0 alone.
- **Per-frame normalisation.** GroupNorm statistics are taken over each frame on its own ((B·T, C, H, W)); a norm
  over the whole clip would let later frames shift earlier activations.
- **First frame alone.** Through the stages, latent frame 0 depends on video frame 0 only and latent frame j ≥ 1 on
  frames ≤ j·r_t, so an image is a 1-frame video whose latent equals latent frame 0 of any clip starting with it
  (joint image–video training in one latent space).

Encoder: k3 causal stem; per ``channel_mult`` stage ``num_res_blocks`` ResBlocks, then (between stages) a stride-2
k3 causal conv. Space halves at the first log2 f_s transitions and time at the first log2 r_t of those; a transition
left over is a plain stride-1 conv. Two middle ResBlocks, GN → SiLU → k3 conv to 2·z channels (KL) or z (plain),
1×1×1 ``quant_conv``. The decoder mirrors it with ``num_res_blocks + 1`` ResBlocks per stage; its upsampling repeats
each pixel 2×2 and each latent frame twice, dropping the first copy of frame 0 (1 + m -> 1 + 2m frames: frame 0 stays
single, latent frame j becomes frames 2j − 1 and 2j), then applies a causal k3 conv. So decoded frame i ≥ 1 depends
on latent frames ≤ ⌈i / r_t⌉ only.

Latent: with ``kl`` a diagonal Gaussian posterior (log-variance clamped to [-30, 20]); without it a plain latent
(zero std, zero KL). Diffusion runs on normalised latents ``scale · (z + shift)``; the two buffers default to (1, 0),
go into the checkpoint and are fitted on encoded training data by :meth:`CausalAutoencoder.fit_latent_stats`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vgen.errors import VgenError
from vgen.families.dit.config import CausalAutoencoderConfig
from vgen.models.layers import Conv3d
from vgen.models.unet3d import FrameNorm

VIDEO_CHANNELS = 3
LOGVAR_RANGE = (-30.0, 20.0)


class CausalConv3d(nn.Module):
    """Conv3d with kernel (k, k, k) after k − 1 zero frames in front and (k − 1)/2 zeros on each side in space;
    stride (s_t, s_s, s_s). With s_t = 2 the frame count goes 1 + 2m -> 1 + m."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3,
                 stride: tuple[int, int, int] = (1, 1, 1)) -> None:
        super().__init__()
        self.time_pad = (0, 0, 0, 0, kernel - 1, 0)  # F.pad order: W, H, then T (front, back)
        self.conv = Conv3d(in_channels, out_channels, kernel, stride, padding=(0, kernel // 2, kernel // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.time_pad))


class ResBlock(nn.Module):
    """skip(x) + conv3(SiLU(norm(conv3(SiLU(norm(x)))))), causal convs, per-frame norms; skip is 1×1×1 when the
    channel count changes."""

    def __init__(self, in_channels: int, out_channels: int, groups: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            FrameNorm(in_channels, groups), nn.SiLU(), CausalConv3d(in_channels, out_channels),
            FrameNorm(out_channels, groups), nn.SiLU(), CausalConv3d(out_channels, out_channels),
        )
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv3d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.block(x)


class Upsample(nn.Module):
    """Nearest 2× in space and/or causal 2× in time (1 + m -> 1 + 2m frames), then a causal k3 conv."""

    def __init__(self, channels: int, time: bool, space: bool) -> None:
        super().__init__()
        self.time, self.space = time, space
        self.conv = CausalConv3d(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.time:
            x = x.repeat_interleave(2, dim=2)[:, :, 1:]
        if self.space:
            x = x.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)
        return self.conv(x)


def transitions(config: CausalAutoencoderConfig) -> list[tuple[bool, bool]]:
    """(halves time, halves space) for each of the ``len(channel_mult) − 1`` stage transitions of the encoder."""
    space = int(math.log2(config.spatial_downsample))
    time = int(math.log2(config.temporal_downsample))
    return [(i < time, i < space) for i in range(len(config.channel_mult) - 1)]


class LatentPosterior:
    """q(z | video): N(mean, exp(logvar)) with logvar clamped to [-30, 20], or a point mass at ``mean`` when
    ``logvar`` is None (plain latent: zero std, zero KL)."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor | None = None) -> None:
        self.mean = mean
        self.logvar = None if logvar is None else logvar.clamp(*LOGVAR_RANGE)
        self.std = torch.zeros_like(mean) if self.logvar is None else torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        if self.logvar is None:
            return self.mean
        noise = torch.randn(self.mean.shape, generator=generator, device=generator.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise.to(self.mean.device)

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) summed over latent elements, per sample: (B,); zeros for a plain latent."""
        if self.logvar is None:
            return self.mean.new_zeros(self.mean.shape[0])
        terms = self.mean.square() + self.std.square() - 1.0 - self.logvar
        return 0.5 * terms.flatten(1).sum(1)


class CausalAutoencoder(nn.Module):
    """``encode(video) -> normalised latent``, ``decode(latent) -> video``, ``forward(video) -> reconstruction``."""

    def __init__(self, config: CausalAutoencoderConfig) -> None:
        super().__init__()
        self.temporal_downsample = config.temporal_downsample
        self.spatial_downsample = config.spatial_downsample
        self.latent_channels = z = config.latent_channels
        self.kl = config.kl
        groups, blocks = config.norm_groups, config.num_res_blocks
        widths = [config.hidden * m for m in config.channel_mult]
        steps = transitions(config)

        encoder: list[nn.Module] = [CausalConv3d(VIDEO_CHANNELS, widths[0])]
        ch = widths[0]
        for level, width in enumerate(widths):
            for _ in range(blocks):
                encoder.append(ResBlock(ch, width, groups))
                ch = width
            if level < len(steps):
                time, space = steps[level]
                encoder.append(CausalConv3d(ch, ch, 3, (2 if time else 1, 2 if space else 1, 2 if space else 1)))
        moments = 2 * z if config.kl else z
        encoder += [ResBlock(ch, ch, groups), ResBlock(ch, ch, groups),
                    FrameNorm(ch, groups), nn.SiLU(), CausalConv3d(ch, moments)]
        self.encoder = nn.Sequential(*encoder)
        self.quant_conv = nn.Conv3d(moments, moments, 1)

        self.post_quant_conv = nn.Conv3d(z, z, 1)
        decoder: list[nn.Module] = [CausalConv3d(z, ch), ResBlock(ch, ch, groups), ResBlock(ch, ch, groups)]
        for level in reversed(range(len(widths))):
            for _ in range(blocks + 1):
                decoder.append(ResBlock(ch, widths[level], groups))
                ch = widths[level]
            if level > 0:
                decoder.append(Upsample(ch, *steps[level - 1]))
        decoder += [FrameNorm(ch, groups), nn.SiLU(), CausalConv3d(ch, VIDEO_CHANNELS)]
        self.decoder = nn.Sequential(*decoder)

        self.register_buffer("scale_factor", torch.ones(()))
        self.register_buffer("shift_factor", torch.zeros(()))

    def encoder_modules(self) -> list[nn.Module]:
        """Everything ``encode`` runs (the latent statistics are buffers): frozen by ``vgen train --decoder-only``."""
        return [self.encoder, self.quant_conv]

    def latent_shape(self, video_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(B, 3, 1 + k·r_t, H, W) -> (B, z, 1 + k, H/f_s, W/f_s); raises VgenError for a frame count or size the
        causal autoencoder cannot take."""
        batch, channels, frames, *size = video_shape
        r_t, f_s = self.temporal_downsample, self.spatial_downsample
        if channels != VIDEO_CHANNELS:
            raise VgenError(f"video has {channels} channels; the autoencoder takes RGB (3 channels)")
        if frames < 1:
            raise VgenError("video has no frames; pass at least one (an image is a 1-frame video)")
        if (frames - 1) % r_t:
            fit = 1 + (frames - 1) // r_t * r_t
            raise VgenError(f"video has {frames} frames; the causal autoencoder needs 1 + a multiple of {r_t} "
                            f"(the first frame is encoded alone): trim the clip to {fit} frames or extend it to "
                            f"{fit + r_t}")
        for side, axis in zip(size, ("height", "width")):
            if side < f_s or side % f_s:
                raise VgenError(f"video {axis} {side} is not a multiple of {f_s}; crop or resize the input to a "
                                f"multiple of {f_s}")
        return (batch, self.latent_channels, 1 + (frames - 1) // r_t, *(s // f_s for s in size))

    def posterior(self, video: torch.Tensor) -> LatentPosterior:
        """q(z | video) over raw (unnormalised) latents."""
        self.latent_shape(tuple(video.shape))
        moments = self.quant_conv(self.encoder(video))
        return LatentPosterior(*moments.chunk(2, dim=1)) if self.kl else LatentPosterior(moments)

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """Raw latent (B, z, 1 + k, h, w) -> video (B, 3, 1 + k·r_t, h·f_s, w·f_s)."""
        if z.ndim != 5 or z.shape[1] != self.latent_channels:
            raise VgenError(f"latent of shape {tuple(z.shape)} is not (B, {self.latent_channels}, T, H, W); decode "
                            "latents made by this autoencoder")
        return self.decoder(self.post_quant_conv(z))

    def normalise(self, z: torch.Tensor) -> torch.Tensor:
        return self.scale_factor * (z + self.shift_factor)

    def denormalise(self, z_diff: torch.Tensor) -> torch.Tensor:
        return z_diff / self.scale_factor - self.shift_factor

    def encode(self, video: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Video (B, 3, T, H, W) in [-1, 1] -> normalised latent: the posterior mean (deterministic), or a posterior
        sample drawn with ``generator`` when one is given."""
        posterior = self.posterior(video)
        return self.normalise(posterior.mean if generator is None else posterior.sample(generator))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Normalised latent -> video (B, 3, T, H, W) (not clamped)."""
        return self.decode_raw(self.denormalise(latent))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Reconstruction through the posterior mean (unnormalised, so the latent stats do not matter)."""
        return self.decode_raw(self.posterior(video).mean)

    @torch.no_grad()
    def fit_latent_stats(self, latents: torch.Tensor) -> None:
        """Set shift = −mean and scale = 1/std of raw latents, so the normalised ones have mean 0 and std 1."""
        latents = latents.double()
        self.shift_factor.fill_(-latents.mean().item())
        self.scale_factor.fill_(1.0 / latents.std().clamp_min(1e-8).item())
