"""LVDM 3D-conv video autoencoder (vgen/models/lvdm_autoencoder.py): padding, shapes, posterior, latent stats, fit."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest
import torch

from vgen.config import preset
from vgen.families.lvdm.config import LVDMAutoencoderConfig
from vgen.errors import VgenError
from vgen.families.lvdm.autoencoder import LVDMAutoencoder, SamePadConv3d, same_padding, stage_strides


def small_paper_autoencoder() -> LVDMAutoencoder:
    """The paper's (4, 8, 8) factors and stage layout on a small hidden size."""
    torch.manual_seed(0)
    return LVDMAutoencoder(LVDMAutoencoderConfig(hidden=4, downsample=(4, 8, 8), norm_groups=4)).eval()


def tiny_autoencoder() -> LVDMAutoencoder:
    torch.manual_seed(0)
    return LVDMAutoencoder(preset("lvdm-tiny").autoencoder).eval()


def test_same_padding_puts_the_extra_element_in_front() -> None:
    assert same_padding(3, 1) == (1, 1)
    assert same_padding(4, 2) == (1, 1)
    assert same_padding(4, 1) == (2, 1)
    assert same_padding(1, 1) == (0, 0)


def test_replicate_padding_split_is_ceil_front() -> None:
    """A k=4, s=1 conv picking kernel tap 0 reads input[i - 2]: two replicated frames in front, one at the back."""
    conv = SamePadConv3d(1, 1, 4)
    with torch.no_grad():
        conv.conv.weight.zero_()
        conv.conv.bias.zero_()
        conv.conv.weight[0, 0, 0, 1, 1] = 1.0  # tap 0 in time, tap 1 in H and W (padding front = 2 -> offset -1)
    x = torch.arange(5.0).reshape(1, 1, 5, 1, 1).expand(1, 1, 5, 3, 3).contiguous()
    out = conv(x)
    assert out.shape == x.shape
    assert out[0, 0, :, 1, 1].tolist() == [0.0, 0.0, 0.0, 1.0, 2.0]


@pytest.mark.parametrize("factor,strides", [
    ((4, 8, 8), [(2, 2, 2), (2, 2, 2), (1, 2, 2)]),
    ((2, 4, 4), [(2, 2, 2), (1, 2, 2)]),
    ((1, 4, 4), [(1, 2, 2), (1, 2, 2)]),
])
def test_stage_strides(factor: tuple[int, int, int], strides: list[tuple[int, int, int]]) -> None:
    assert stage_strides(factor) == strides


@pytest.mark.parametrize("frames,size", [(16, 32), (20, 32), (4, 64)])
def test_paper_factors_round_trip_shapes(frames: int, size: int) -> None:
    ae = small_paper_autoencoder()
    video = torch.rand(1, 3, frames, size, size) * 2 - 1
    with torch.no_grad():
        latent = ae.encode(video)
        assert latent.shape == (1, 4, frames // 4, size // 8, size // 8) == ae.latent_shape(tuple(video.shape))
        assert ae.decode(latent).shape == video.shape


@pytest.mark.parametrize("frames,size", [(8, 32), (2, 16), (6, 48)])
def test_tiny_factors_round_trip_shapes(frames: int, size: int) -> None:
    ae = tiny_autoencoder()
    video = torch.rand(2, 3, frames, size, size) * 2 - 1
    with torch.no_grad():
        latent = ae.encode(video)
        assert latent.shape == (2, 4, frames // 2, size // 4, size // 4)
        assert ae.decode(latent).shape == video.shape


def test_indivisible_sizes_are_user_errors() -> None:
    ae = tiny_autoencoder()
    with pytest.raises(VgenError, match="frame count 7 is not divisible by 2"):
        ae.encode(torch.zeros(1, 3, 7, 32, 32))
    with pytest.raises(VgenError, match="height 30 is not divisible by 4"):
        ae.latent_shape((1, 3, 8, 30, 32))


def test_config_rejects_non_power_of_two_factors() -> None:
    with pytest.raises(ValueError, match="powers of two"):
        LVDMAutoencoderConfig(downsample=(3, 8, 8))


def test_encode_is_deterministic_and_sampling_uses_the_generator() -> None:
    ae = tiny_autoencoder()
    video = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    with torch.no_grad():
        mean = ae.encode(video)
        assert torch.equal(mean, ae.encode(video))
        draw = [ae.encode(video, generator=torch.Generator().manual_seed(seed)) for seed in (0, 0, 1)]
        posterior = ae.posterior(video)
    assert torch.equal(draw[0], draw[1]) and not torch.equal(draw[0], draw[2])
    assert not torch.equal(draw[0], mean)
    assert posterior.logvar.min() >= -30 and posterior.logvar.max() <= 20
    assert (posterior.kl() >= 0).all()


def test_fitted_latent_stats_normalise_and_decode_inverts() -> None:
    ae = tiny_autoencoder()
    video = torch.rand(3, 3, 4, 16, 16) * 2 - 1
    with torch.no_grad():
        raw = ae.posterior(video).mean
        ae.fit_latent_stats(raw)
        latent = ae.encode(video)
        torch.testing.assert_close(latent.mean(), torch.tensor(0.0), atol=1e-5, rtol=0)
        torch.testing.assert_close(latent.std(), torch.tensor(1.0), atol=1e-5, rtol=0)
        torch.testing.assert_close(ae.decode(latent), ae.decode_raw(raw), atol=1e-5, rtol=1e-5)
    assert ae.shift_factor.item() == pytest.approx(-raw.mean().item(), rel=1e-5)
    assert ae.scale_factor.item() == pytest.approx(1 / raw.std().item(), rel=1e-5)


def test_gradients_reach_every_parameter() -> None:
    ae = tiny_autoencoder().train()
    reconstruction, posterior = ae(torch.rand(1, 3, 4, 16, 16) * 2 - 1, torch.Generator().manual_seed(0))
    (reconstruction.square().mean() + posterior.kl().mean()).backward()
    for name, p in ae.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.slow
def test_tiny_autoencoder_overfits_one_clip(make_frames: Callable[..., np.ndarray]) -> None:
    """The tiny AE reconstructs one 8-frame 32×32 clip at >= 30 dB PSNR after 150 Adam steps (~35 dB, 15-30 s on
    2 CPU cores; the step count is fixed so the outcome does not depend on machine load)."""
    frames = torch.from_numpy(make_frames(t=8, h=32, w=32, seed=0)).float()
    clip = (frames / 127.5 - 1).permute(3, 0, 1, 2)[None]
    # The same clip twice: batch > 1 takes oneDNN's conv3d path on CPU, over 2x faster than batch 1's native path.
    video = clip.expand(2, -1, -1, -1, -1)
    ae = tiny_autoencoder().train()
    steps = 150
    optimizer = torch.optim.Adam(ae.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    for _ in range(steps):
        reconstruction, _ = ae(video)
        loss = (reconstruction - video).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        mse = (ae.eval().decode(ae.encode(clip)) - clip).square().mean().item()
    psnr = 10 * math.log10(4.0 / mse)
    assert psnr >= 30.0, f"PSNR {psnr:.1f} dB"
