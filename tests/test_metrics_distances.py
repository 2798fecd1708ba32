"""FVD/KVD distances, IS, PSNR/SSIM and the resize used before the I3D, against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import torch

from vgen.metrics.distances import FeatureStats, frechet_distance, fvd, polynomial_mmd2
from vgen.metrics.inception_score import inception_score
from vgen.metrics.preprocess import clips_to_i3d_input, resize_tf1
from vgen.metrics.reconstruction import psnr_per_video, ssim_per_video


def _gaussian_set(rng: np.random.Generator, n: int, d: int, shift: float) -> np.ndarray:
    a = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ a + shift


def test_frechet_matches_scipy_sqrtm() -> None:
    rng = np.random.default_rng(0)
    x, y = _gaussian_set(rng, 500, 32, 0.0), _gaussian_set(rng, 400, 32, 0.3)
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert fvd(FeatureStats.from_features(x), FeatureStats.from_features(y)) == pytest.approx(expected, rel=1e-9)


def test_frechet_uses_unbiased_covariance_and_is_zero_for_a_set_against_itself() -> None:
    rng = np.random.default_rng(1)
    x = _gaussian_set(rng, 50, 8, 0.0)
    stats = FeatureStats.from_features(x)
    np.testing.assert_allclose(stats.sigma, np.cov(x, rowvar=False, ddof=1))
    assert abs(fvd(stats, stats)) < 1e-8
    few = FeatureStats.from_features(rng.normal(size=(3, 400)) * 5 + 10)  # singular covariance (N < d)
    assert abs(fvd(few, few)) < 1e-8


def test_frechet_stays_real_with_fewer_samples_than_dimensions() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20, 64)), rng.normal(size=(20, 64)) + 1.0
    value = fvd(FeatureStats.from_features(x), FeatureStats.from_features(y))
    assert np.isfinite(value) and value > 64  # ||mu1 - mu2||^2 is about 64 and the covariance terms are >= 0


def test_constant_features_reduce_to_the_mean_distance() -> None:
    a, b = FeatureStats.from_features(np.zeros((4, 5))), FeatureStats.from_features(np.full((4, 5), 2.0))
    assert fvd(a, b) == pytest.approx(20.0)


def test_kvd_matches_a_direct_unbiased_mmd() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 16)), rng.normal(size=(25, 16)) + 0.5
    k = lambda a, b: (a @ b / 16 + 1.0) ** 3  # noqa: E731
    kxx = sum(k(x[i], x[j]) for i in range(30) for j in range(30) if i != j) / (30 * 29)
    kyy = sum(k(y[i], y[j]) for i in range(25) for j in range(25) if i != j) / (25 * 24)
    kxy = sum(k(x[i], y[j]) for i in range(30) for j in range(25)) / (30 * 25)
    assert polynomial_mmd2(x, y) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-10)
    assert abs(polynomial_mmd2(x, x)) < abs(polynomial_mmd2(x, y))


def test_inception_score_extremes() -> None:
    uniform = np.full((100, 101), 1 / 101)
    assert inception_score(uniform) == pytest.approx((1.0, 0.0))
    confident = np.eye(10)[np.arange(100) % 10]  # one-hot, each of 10 classes equally often
    mean, std = inception_score(confident, splits=1, shuffle_seed=None)
    assert mean == pytest.approx(10.0) and std == 0.0


def test_psnr_pools_the_mse_per_video() -> None:
    real = torch.zeros(2, 3, 4, 16, 16)
    fake = real.clone()
    fake[0, :, 0] = 0.1  # error in one frame of four: pooled MSE = 0.01 / 4
    fake[1] = 0.1
    np.testing.assert_allclose(psnr_per_video(real, fake).numpy(), [10 * np.log10(400), 20.0], rtol=1e-6)


def test_ssim_matches_a_direct_scipy_computation() -> None:
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(1, 3, 2, 24, 20, generator=gen)
    fake = (real + 0.1 * torch.randn(real.shape, generator=gen)).clamp(0, 1)
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    values = []
    for c in range(3):
        for t in range(2):
            x, y = real[0, c, t].double().numpy(), fake[0, c, t].double().numpy()
            f = lambda a: scipy.signal.correlate2d(a, w, mode="valid")  # noqa: E731
            mx, my = f(x), f(y)
            vx, vy, cxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
            c1, c2 = 0.01**2, 0.03**2
            values.append((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())
    assert ssim_per_video(real, fake).item() == pytest.approx(np.mean(values), rel=1e-9)
    assert ssim_per_video(real, real).item() == pytest.approx(1.0)


def test_tf1_resize_samples_at_dst_times_in_over_out() -> None:
    frames = torch.arange(4.0).reshape(1, 1, 1, 4).expand(1, 1, 2, 4)
    out = resize_tf1(frames, (2, 8))
    # src = dst * 4 / 8 = 0, .5, 1, ..., 3.5; the last samples clamp to the edge pixel.
    np.testing.assert_allclose(out[0, 0, 0].numpy(), [0, 0.5, 1, 1.5, 2, 2.5, 3, 3])


@pytest.mark.parametrize("method", ["crop", "squash", "tf1"])
def test_i3d_input_is_224_in_minus_one_to_one(method: str) -> None:
    clips = np.zeros((2, 9, 48, 64, 3), np.uint8)
    clips[1] = 255
    x = clips_to_i3d_input(clips, method)  # type: ignore[arg-type]
    assert x.shape == (2, 3, 9, 224, 224)
    # Bilinear weights sum to 1 only up to float32 round-off (the CPU kernel differs by thread count).
    assert abs(x[0].max().item() + 1.0) < 1e-5 and abs(x[1].min().item() - 1.0) < 1e-5
    assert x[0].min().item() >= -1.0 - 1e-5 and x[1].max().item() <= 1.0 + 1e-5


def test_crop_keeps_the_centre_of_wide_frames() -> None:
    clip = np.zeros((1, 9, 100, 300, 3), np.uint8)
    clip[..., 100:200, :] = 255  # a bright centre third
    x = clips_to_i3d_input(clip, "crop")
    assert x[..., 1:-1].min().item() > 0.9  # the centre crop sees only the bright part (edges blend bilinearly)
    assert clips_to_i3d_input(clip, "squash").min().item() == -1.0
