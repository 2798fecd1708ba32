"""The SR stage's network: the factorised space-time UNet with the low-resolution clip on its input channels.

Input ``concat[z_t, upscale(z_s)]`` (3 + 3 channels): the noise-augmented low-resolution clip z_s, upsampled
bicubically to the output size. Embedding: timestep t plus the augmentation level s (its own sinusoid + MLP), plus
a class label for class-conditional models (label ``num_classes`` is the learned null label).

The network models the residual over bicubic upsampling, preconditioned as in EDM (Karras et al. 2022, §5, with
σ_data = ``residual_std``), while the diffused variable stays the video itself (so every sampler and guidance
applies unchanged). With x_t = α·x0 + σ·ε and u = upscale(z_s), the residual y = x0 − u is seen at VE noise level
σ_e = σ/α through ỹ = x_t/α − u, and

    x̂0 = u + c_skip·ỹ + c_out·F(c_in·ỹ, u, t, s),
    c_skip = σ_r²/(σ_e² + σ_r²),  c_out = σ_e·σ_r/√(σ_e² + σ_r²),  c_in = 1/√(σ_e² + σ_r²)

(written with D = √(σ² + α²σ_r²) so that nothing divides by α → 0). With noise augmentation at level s the
condition is z_s = √ᾱ(s)·x_low + √(1 − ᾱ(s))·ε, so u = upscale(z_s)/√ᾱ(s) and the residual's prior widens to
σ_r² = residual_std² + (1 − ᾱ(s))/ᾱ(s). The raw output is x̂0 in the model's
parameterisation (v = (α·x_t − x̂0)/σ, eps = (x_t − α·x̂0)/σ, or x̂0). Untrained (F = 0, the zero-initialised head),
the model is the exact denoiser of a Gaussian residual of std σ_r around bicubic upsampling; the backbone learns
the rest, with targets of unit scale at every noise level. (SRDiff, Li et al. 2022, diffuses that residual itself.)
"""

from __future__ import annotations

import torch
from torch import nn

from vgen.diffusion.parameterisation import target_of
from vgen.diffusion.schedules import schedule_from_config
from vgen.errors import VgenError
from vgen.families.sr.augment import alpha_bar_at, upscale
from vgen.families.sr.config import SRConfig
from vgen.models.layers import ClassEmbedding, TimestepMLP, class_embedding
from vgen.models.unet3d import SpaceTimeUNet, UNet3DSpec

VIDEO_CHANNELS = 3


def _per_sample(t: torch.Tensor, batch: int) -> torch.Tensor:
    return t.expand(batch) if t.dim() == 0 else t


class SRUNet(nn.Module):
    """v/eps/x0 network: ``forward(z_t (B,3,T,H,W), t (B,), lowres=(B,3,T,H/scale,W/scale), aug_t=(B,))``."""

    def __init__(self, config: SRConfig) -> None:
        super().__init__()
        cfg = config.unet
        self.scale = config.scale
        self.prediction = config.diffusion.prediction
        with torch.device("cpu"):  # a lookup table (not a weight), also when the network is built on the meta device
            self.alpha_bar = schedule_from_config(config.diffusion).alphas_cumprod.float()
        self.residual_std = config.residual_std
        emb_dim = 4 * cfg.model_channels
        self.time_embed = TimestepMLP(cfg.model_channels, emb_dim)
        self.aug_embed = TimestepMLP(cfg.model_channels, emb_dim)
        self.class_embed = ClassEmbedding(config.num_classes, emb_dim) if config.num_classes else None
        self.backbone = SpaceTimeUNet(
            UNet3DSpec(
                in_channels=2 * VIDEO_CHANNELS, out_channels=VIDEO_CHANNELS, model_channels=cfg.model_channels,
                channel_mult=cfg.channel_mult, num_res_blocks=cfg.num_res_blocks,
                attention_levels=cfg.attention_levels, emb_dim=emb_dim,
                max_relative_position=cfg.max_relative_position, head_dim=cfg.head_dim, dropout=cfg.dropout,
                gradient_checkpointing=cfg.gradient_checkpointing,
            )
        )

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, *, lowres: torch.Tensor | None = None,
                aug_t: torch.Tensor | None = None, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """Raw prediction for ``x_t`` at timesteps ``t``, given the noise-augmented low-resolution clip ``lowres``
        and its augmentation timestep ``aug_t`` (s·T, see ``vgen.families.sr.augment``; None = 0, a clean clip)."""
        batch, _, frames, height, width = x_t.shape
        if lowres is None:
            raise VgenError("an SR network needs the low-resolution clip it upscales; pass lowres= (or cond= to "
                            "LoadedModel.denoise)")
        if aug_t is None:
            aug_t = torch.zeros(batch, device=x_t.device)
        want = (batch, VIDEO_CHANNELS, frames, height // self.scale, width // self.scale)
        if tuple(lowres.shape) != want:
            raise VgenError(f"the low-resolution clip has shape {tuple(lowres.shape)}; this x{self.scale} model "
                            f"needs {want} for a {height}x{width} output")
        emb = self.time_embed(_per_sample(t, batch)) + self.aug_embed(_per_sample(aug_t, batch))
        label_emb = class_embedding(self.class_embed, class_labels, batch, x_t.device, "SR")
        if label_emb is not None:
            emb = emb + label_emb
        # u: the condition upsampled and rescaled to the clip's scale, z_s/√ᾱ(s) (unbiased); its augmentation
        # noise (std √((1 − ᾱ(s))/ᾱ(s)) per low-resolution pixel) widens the residual's prior.
        aug_bar = alpha_bar_at(self.alpha_bar, _per_sample(aug_t, batch).float()).reshape(-1, 1, 1, 1, 1)
        up = upscale(lowres, height) / aug_bar.sqrt()
        r2 = self.residual_std ** 2 + (1 - aug_bar) / aug_bar
        alpha_bar = self.alpha_bar.to(up.device)[_per_sample(t, batch).long()].reshape(-1, 1, 1, 1, 1)
        a, s = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
        d2 = s.square() + a.square() * r2
        noisy = x_t - a * up  # α·ỹ
        f = self.backbone(torch.cat([noisy / d2.sqrt(), up], dim=1), emb)
        x0 = up + (r2 * a / d2) * noisy + (s * r2.sqrt() / d2.sqrt()) * f
        return target_of(self.prediction, x0, (x_t - a * x0) / s, a, s)
