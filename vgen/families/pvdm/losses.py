"""PVDM autoencoder objective (pvdm.md §1.5): L1 + perceptual, then an optional hinge-GAN phase.

Generator:      L = w_l1·mean|x − x̂| + w_p·P(x, x̂) + d·w_gan·(−mean D2(x̂_f) − mean D3(x̂)) + d·w_fm·(FM_2D + FM_3D)
Discriminator:  d·(hinge(D2(x_f), D2(x̂_f)) + hinge(D3(x), D3(x̂))),  hinge = ½(mean relu(1−r) + mean relu(1+f))

x_f is one random frame per clip (the same frame serves LPIPS and D2); d switches the GAN terms on.
Networks only: the caller owns optimisers, step counters and the GAN start step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from vgen.losses.discriminators import PatchDiscriminator
from vgen.losses.perceptual import LPIPS

VideoLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AutoencoderLossWeights:
    """Official weights (pvdm.md §1.5): 4·L1 + 4·LPIPS + 1·GAN + 4·feature matching."""

    l1: float = 4.0
    perceptual: float = 4.0
    gan: float = 1.0
    feature_matching: float = 4.0


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss (Lim & Ye 2017), halved as in taming-transformers."""
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


def feature_matching(fake: list[torch.Tensor], real: list[torch.Tensor]) -> torch.Tensor:
    """Σ_l mean|φ_l(x̂) − sg(φ_l(x))| over the discriminator's intermediate layers (Wang et al. 2018)."""
    return torch.stack([F.l1_loss(f, r.detach()) for f, r in zip(fake, real)]).sum()


class AutoencoderLoss(nn.Module):
    """Losses for one PVDM autoencoder step.

    ``perceptual`` is either an :class:`LPIPS` network (applied to the random frame x_f, as the
    paper does) or any callable on whole clips ``(video, recon) -> scalar`` such as an I3D-feature
    distance; ``None`` trains with L1 (+GAN) only and says so in :attr:`perceptual_note`.
    ``gan=True`` owns the 2D and 3D PatchGAN discriminators (their parameters are this module's).
    """

    def __init__(self, *, perceptual: LPIPS | VideoLoss | None = None, gan: bool = False,
                 weights: AutoencoderLossWeights = AutoencoderLossWeights(), disc_channels: int = 64) -> None:
        super().__init__()
        self.weights = weights
        self.perceptual = perceptual
        self.disc_2d = PatchDiscriminator(2, disc_channels) if gan else None
        self.disc_3d = PatchDiscriminator(3, disc_channels) if gan else None

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """The parameters the discriminator optimiser steps (empty without the GAN phase)."""
        return [p for d in (self.disc_2d, self.disc_3d) if d is not None for p in d.parameters()]

    @property
    def perceptual_note(self) -> str | None:
        """A one-line message for the training log when no perceptual term is active."""
        if self.perceptual is None:
            return "no perceptual loss: training the autoencoder with L1 (+GAN) only; pass LPIPS weights to add it"
        return None

    def _random_frames(self, video: torch.Tensor, recon: torch.Tensor,
                       generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame per clip, the same index for x and x̂: (B, 3, T, H, W) -> (B, 3, H, W) twice."""
        b, _, t = video.shape[:3]
        idx = torch.randint(t, (b,), generator=generator, device=generator.device if generator else "cpu")
        idx = idx.to(video.device).view(b, 1, 1, 1, 1).expand(-1, 3, 1, *video.shape[3:])
        return video.gather(2, idx).squeeze(2), recon.gather(2, idx).squeeze(2)

    def generator_loss(self, video: torch.Tensor, recon: torch.Tensor, *, use_gan: bool = False,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Autoencoder objective for clips (B, 3, T, H, W); returns (loss, scalar logs)."""
        w = self.weights
        frame, frame_hat = self._random_frames(video, recon, generator)
        l1 = (video - recon).abs().mean()
        loss = w.l1 * l1
        logs = {"l1": l1.item()}
        if self.perceptual is not None:
            if isinstance(self.perceptual, LPIPS):
                p = self.perceptual(frame, frame_hat).mean()
            else:
                p = self.perceptual(video, recon)
            loss = loss + w.perceptual * p
            logs["perceptual"] = p.item()
        if use_gan:
            if self.disc_2d is None or self.disc_3d is None:
                raise ValueError("use_gan=True needs AutoencoderLoss(gan=True)")
            logits_2d, fake_2d = self.disc_2d(frame_hat)
            logits_3d, fake_3d = self.disc_3d(recon)
            with torch.no_grad():
                real_2d = self.disc_2d(frame)[1]
                real_3d = self.disc_3d(video)[1]
            g = -logits_2d.mean() - logits_3d.mean()
            fm = feature_matching(fake_2d, real_2d) + feature_matching(fake_3d, real_3d)
            loss = loss + w.gan * g + w.feature_matching * fm
            logs |= {"g_adv": g.item(), "feature_matching": fm.item()}
        logs["loss"] = loss.item()
        return loss, logs

    def discriminator_loss(self, video: torch.Tensor, recon: torch.Tensor, *,
                           generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Hinge loss of both discriminators on real clips vs detached reconstructions."""
        if self.disc_2d is None or self.disc_3d is None:
            raise ValueError("discriminator_loss needs AutoencoderLoss(gan=True)")
        recon = recon.detach()
        frame, frame_hat = self._random_frames(video, recon, generator)
        d2 = hinge_d_loss(self.disc_2d(frame)[0], self.disc_2d(frame_hat)[0])
        d3 = hinge_d_loss(self.disc_3d(video)[0], self.disc_3d(recon)[0])
        loss = d2 + d3
        return loss, {"d_2d": d2.item(), "d_3d": d3.item(), "d_loss": loss.item()}
