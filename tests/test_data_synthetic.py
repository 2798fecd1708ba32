"""Synthetic video generators and the synthetic training source."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from vgen.data.synthetic import (
    bouncing_video,
    render_bouncing,
    simulate_bouncing,
    sky_video,
    synthetic_item_spec,
)
from vgen.data.synthetic_dataset import SyntheticVideoDataset
from vgen.errors import VgenError

GENERATORS = [bouncing_video, sky_video]


@pytest.mark.parametrize("generate", GENERATORS)
def test_same_seed_same_video_and_seeds_differ(generate):
    a = generate(7, 10, 32)
    assert a.dtype == np.uint8 and a.shape == (10, 32, 32, 3)
    np.testing.assert_array_equal(a, generate(7, 10, 32))
    assert np.abs(a.astype(int) - generate(8, 10, 32).astype(int)).mean() > 5


@pytest.mark.parametrize("generate", GENERATORS)
def test_non_square_sizes_and_full_range(generate):
    video = generate(1, 4, (24, 40))
    assert video.shape == (4, 24, 40, 3)
    assert video.max() > 150 and video.std() > 10  # not blank


@pytest.mark.parametrize("generate", GENERATORS)
def test_consecutive_frames_differ(generate):
    for seed in range(4):
        video = generate(seed, 8, 48).astype(np.float32)
        step = np.abs(np.diff(video, axis=0)).mean(axis=(1, 2, 3))
        assert (step > 0.05).all(), f"seed {seed}: a frame repeats"


def test_bouncing_objects_stay_inside_and_reflect():
    rng = np.random.default_rng(0)
    scene = simulate_bouncing(rng, 400, aspect=1.5, num_objects=3)
    assert scene.extent == (1.0, 1.5)
    low = scene.radius[None, :, None]
    high = np.array(scene.extent)[None, None, :] - scene.radius[None, :, None]
    assert (scene.centre >= low - 1e-9).all() and (scene.centre <= high + 1e-9).all()
    velocity = np.diff(scene.centre, axis=0)
    # Every object hits a wall at least once in 400 frames: its x velocity changes sign.
    assert (np.sign(velocity[:-1, :, 1]) != np.sign(velocity[1:, :, 1])).any(axis=0).all()


def test_bouncing_gravity_accelerates_downwards():
    for seed in range(20):
        scene = simulate_bouncing(np.random.default_rng(seed), 60, num_objects=1)
        if scene.gravity > 0:
            break
    else:
        pytest.fail("no seed with gravity among 20")
    y = scene.centre[:, 0, 0]
    accel = np.diff(y, 2)
    free = np.abs(accel - scene.gravity) < 1e-9  # steps without a bounce follow v += g exactly
    assert free.mean() > 0.8


def test_rendered_object_centroid_follows_simulation():
    scene = simulate_bouncing(np.random.default_rng(3), 30, num_objects=1)
    size = 64
    video = render_bouncing(scene, size).astype(np.float32)
    centroids = []
    for frame in video:
        background = np.median(frame.reshape(-1, 3), axis=0)  # the object covers < half the frame
        mask = np.abs(frame - background).sum(-1) > 60
        ys, xs = np.nonzero(mask)
        centroids.append(((ys.mean() + 0.5) / size, (xs.mean() + 0.5) / size))
    centroids = np.array(centroids)
    # A square's corners or a circle's rim are symmetric about the centre: within about a pixel.
    assert np.abs(centroids - scene.centre[:, 0]).max() < 1.5 / size
    assert np.linalg.norm(centroids[-1] - centroids[0]) > 0.05


def test_sky_drifts_with_the_wind():
    def shift(video: np.ndarray, lag: int) -> tuple[int, int]:
        gray = video.mean(-1)
        a, b = gray[0] - gray[0].mean(), gray[lag] - gray[lag].mean()
        corr = np.fft.ifft2(np.fft.fft2(b) * np.conj(np.fft.fft2(a))).real
        dy, dx = np.unravel_index(corr.argmax(), corr.shape)
        return (dy + 32) % 64 - 32, (dx + 32) % 64 - 32

    right = [shift(sky_video(s, 11, 64, wind_angle=0.0), 10) for s in range(3)]
    down = [shift(sky_video(s, 11, 64, wind_angle=np.pi / 2), 10) for s in range(3)]
    assert all(dx > 0 and abs(dy) < dx for dy, dx in right), right
    assert all(dy > 0 and abs(dx) < dy for dy, dx in down), down


@pytest.mark.parametrize("generate", GENERATORS)
def test_thousand_frames_render_fast(generate):
    generate(0, 8, 64)  # warm-up
    started = time.process_time()  # CPU time: robust to other processes sharing the machine
    video = generate(0, 1000, 64)
    assert video.shape == (1000, 64, 64, 3)
    assert time.process_time() - started < 2.0


def test_same_scene_at_any_resolution():
    small = bouncing_video(5, 6, 32).astype(np.float32)
    large = bouncing_video(5, 6, 64).astype(np.float32)
    pooled = large.reshape(6, 32, 2, 32, 2, 3).mean(axis=(2, 4))
    assert np.abs(pooled - small).mean() < 6


def test_synthetic_dataset_items():
    dataset = SyntheticVideoDataset("mixed", num_videos=6, frames=5, resolution=24, seed=3)
    assert len(dataset) == 6 and dataset.num_classes == 2 and dataset.class_names == ["bouncing", "sky"]
    item = dataset[3]
    assert item["video"].shape == (3, 5, 24, 24) and item["video"].dtype == torch.float32
    assert -1.0 <= item["video"].min() and item["video"].max() <= 1.0
    assert item["label"].item() == 1 and item["index"].item() == 3 and item["valid"].all()
    assert torch.equal(dataset[3]["video"], item["video"])
    assert not torch.equal(dataset[5]["video"], item["video"])
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert batch["video"].shape == (4, 3, 5, 24, 24) and batch["label"].tolist() == [0, 1, 0, 1]


def test_bouncing_classes_count_objects():
    dataset = SyntheticVideoDataset("bouncing", num_videos=6, frames=2, resolution=16, num_classes=3)
    assert [dataset[i]["label"].item() for i in range(6)] == [0, 1, 2, 0, 1, 2]
    assert synthetic_item_spec("bouncing", 4, 3) == ("bouncing", 1, {"num_objects": 2})
    unlabelled = SyntheticVideoDataset("sky", num_videos=2, frames=2, resolution=16)
    assert unlabelled.num_classes == 0 and unlabelled[1]["label"].item() == -1


def test_synthetic_dataset_rejects_bad_options():
    with pytest.raises(VgenError, match="mixed"):
        SyntheticVideoDataset("mixed", 4, 4, 16, num_classes=3)
    with pytest.raises(VgenError, match="unknown synthetic kind"):
        SyntheticVideoDataset("noise", 4, 4, 16)  # type: ignore[arg-type]
