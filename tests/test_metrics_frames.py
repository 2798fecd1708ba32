"""The pixel-space Fréchet distance of frames (vgen/metrics/frames.py)."""

from __future__ import annotations

import numpy as np
import pytest

from vgen.metrics.frames import frame_features, frame_frechet_distance


def test_features_are_area_averages_in_unit_range():
    frames = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    frames[0, :4, :4, 0] = 255  # top-left quarter of frame 0 red
    features = frame_features(frames, size=2)
    assert features.shape == (2, 12)
    assert features[0].tolist() == [1.0, 0, 0, 0] + [0.0] * 8 and not features[1].any()


def test_identical_sets_are_at_distance_zero_and_resolution_does_not_matter():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (200, 16, 16, 3), dtype=np.uint8)
    assert frame_frechet_distance(frames, frames) == pytest.approx(0.0, abs=1e-9)
    upscaled = frames.repeat(2, axis=1).repeat(2, axis=2)  # the same frames at 32x32
    assert frame_frechet_distance(frames, upscaled) == pytest.approx(0.0, abs=1e-9)


def test_distance_of_constant_frames_is_the_squared_colour_difference():
    # Constant frames have zero covariance, so the distance is ||mu_a - mu_b||^2 over the 3·size² features.
    a = np.full((5, 8, 8, 3), 255, dtype=np.uint8)
    b = np.zeros((7, 8, 8, 3), dtype=np.uint8)
    assert frame_frechet_distance(a, b, size=4) == pytest.approx(48.0)


def test_a_different_distribution_is_further_than_another_draw_of_the_same():
    rng = np.random.default_rng(1)
    first, second = (rng.normal(128, 30, (400, 8, 8, 3)).clip(0, 255).astype(np.uint8) for _ in range(2))
    brighter = rng.normal(160, 30, (400, 8, 8, 3)).clip(0, 255).astype(np.uint8)
    assert frame_frechet_distance(first, brighter) > 10 * frame_frechet_distance(first, second)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="non-empty uint8"):
        frame_features(np.zeros((0, 8, 8, 3), dtype=np.uint8))
