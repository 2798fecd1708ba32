"""Video-folder datasets: scanning, layouts (plain, UCF-101, Sky), clip sampling, workers, caches."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vgen.data.cache import ClipCache, LatentCache
from vgen.data.config import VideoDataConfig
from vgen.data.video_folder import VideoFolderDataset, clip_start
from vgen.errors import VgenError
from vgen.io.video import write_video

FPS = 8


def counter_video(frames: int, height: int = 24, width: int = 32) -> np.ndarray:
    """Flat grey frames whose level encodes the frame number: level = 8 i + 4."""
    levels = (8 * np.arange(frames) + 4).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (frames, height, width, 3)).copy()


def frame_numbers(item: dict) -> list[int]:
    """Recover the source frame numbers of a clip made from ``counter_video`` frames."""
    levels = (item["video"].mean(dim=(0, 2, 3)) + 1) * 127.5
    return [round((float(v) - 4) / 8) for v in levels]


def write_frames(folder: Path, video: np.ndarray) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    write_video(folder, video, fps=FPS, format="frames")
    return folder


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """Encoded once per module: a 30-frame counter mp4, a 3-frame mp4 and a corrupt file."""
    base = tmp_path_factory.mktemp("sources")
    write_video(base / "long.mp4", counter_video(30), fps=FPS)
    write_video(base / "short.mp4", counter_video(3), fps=FPS)
    (base / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
    return {"long": base / "long.mp4", "short": base / "short.mp4", "broken": base / "broken.mp4"}


@pytest.fixture()
def messy(tmp_path, sources) -> Path:
    """Three good videos, one too short, one corrupt, and a non-video file."""
    root = tmp_path / "messy"
    root.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(sources["long"], root / f"{name}.mp4")
    shutil.copy(sources["short"], root / "tiny.mp4")
    shutil.copy(sources["broken"], root / "broken.mp4")
    (root / "notes.txt").write_text("not a video")
    return root


def config(**overrides) -> VideoDataConfig:
    return VideoDataConfig(**{"frames": 8, "resolution": 16, **overrides})


def test_corrupt_and_short_videos_are_skipped_and_counted(messy):
    dataset = VideoFolderDataset(messy, config())
    report = dataset.report
    assert (report.found, report.usable, report.unreadable, report.too_short) == (5, 3, 1, 1)
    assert len(dataset) == 3 and dataset.num_classes == 0
    warning = report.warning()
    assert warning is not None and "skipped 2 of 5" in warning
    assert "1 unreadable" in warning and "1 too short" in warning
    item = dataset[0]
    assert item["video"].shape == (3, 8, 16, 16) and item["video"].dtype == torch.float32
    assert item["valid"].all() and item["label"].item() == -1
    numbers = frame_numbers(item)
    assert numbers == list(range(numbers[0], numbers[0] + 8))


def test_short_videos_padded_with_mask(messy):
    dataset = VideoFolderDataset(messy, config(short="pad"))
    assert dataset.report.padded == 1 and dataset.report.too_short == 0 and len(dataset) == 4
    item = dataset[dataset.paths.index(str(messy / "tiny.mp4"))]
    assert item["valid"].tolist() == [True] * 3 + [False] * 5
    assert frame_numbers(item) == [0, 1, 2] + [2] * 5
    assert "padded" in dataset.report.warning()


def test_video_failing_mid_stream_is_replaced_by_the_next(tmp_path, sources):
    root = tmp_path / "cut"
    root.mkdir()
    data = sources["long"].read_bytes()
    (root / "a_cut.mp4").write_bytes(data[: len(data) // 3])  # header intact: passes the probe
    shutil.copy(sources["long"], root / "b_good.mp4")
    dataset = VideoFolderDataset(root, config())
    assert len(dataset) == 2
    with pytest.warns(RuntimeWarning, match="truncated"):
        item = dataset[0]
    assert item["index"].item() == 1 and item["valid"].all()
    assert dataset.failed == {0} and dataset[(1, 0)]["index"].item() == 1


def test_empty_or_useless_folder_is_one_line_error(tmp_path, sources):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VgenError) as info:
        VideoFolderDataset(empty, config())
    assert str(info.value) == (
        f"no usable videos in {empty}: found 0 files, 0 unreadable, 0 too short; need clips of 8 frames"
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(sources["broken"], bad / "x.mp4")
    shutil.copy(sources["short"], bad / "y.mp4")
    with pytest.raises(VgenError, match="found 2 files, 1 unreadable, 1 too short; need clips of 8 frames"):
        VideoFolderDataset(bad, config())
    with pytest.raises(VgenError, match="not found"):
        VideoFolderDataset(tmp_path / "nowhere", config())


def test_stride_and_start_follow_seed_epoch_index(tmp_path, sources):
    root = tmp_path / "one"
    root.mkdir()
    shutil.copy(sources["long"], root / "v.mp4")
    cfg = config(frames=5, stride=3, seed=11)
    dataset = VideoFolderDataset(root, cfg)
    starts = set()
    for epoch in range(4):
        start = clip_start(11, epoch, 0, 30 - cfg.span)
        starts.add(start)
        assert frame_numbers(dataset[(epoch, 0)]) == [start + 3 * k for k in range(5)]
    assert len(starts) > 1  # the start changes with the epoch
    dataset.set_epoch(2)
    assert torch.equal(dataset[0]["video"], dataset[(2, 0)]["video"])


def test_fps_resampling(tmp_path, sources):
    root = tmp_path / "one"
    root.mkdir()
    shutil.copy(sources["long"], root / "v.mp4")
    dataset = VideoFolderDataset(root, config(frames=6, fps=FPS / 2))
    assert dataset.lengths == [15]
    numbers = frame_numbers(dataset[0])
    assert np.diff(numbers).tolist() == [2] * 5


def test_shorter_side_resize_and_centre_crop(tmp_path):
    video = np.full((10, 24, 40, 3), 128, np.uint8)
    video[:, :, :4] = (255, 0, 0)  # red bars well outside the central 24x24 square
    video[:, :, -4:] = (255, 0, 0)
    root = tmp_path / "wide"
    root.mkdir()
    write_video(root / "wide.mp4", video, fps=FPS)
    clip = VideoFolderDataset(root, config(frames=4, resolution=12))[0]["video"]
    assert clip.shape == (3, 4, 12, 12)
    assert (clip[0] - clip[1]).abs().max() < 0.1  # grey everywhere: the bars were cropped away


def test_frame_folders_are_videos(tmp_path, sources):
    root = tmp_path / "mixed"
    write_frames(root / "clipA", counter_video(12))
    shutil.copy(sources["long"], root / "v.mp4")
    dataset = VideoFolderDataset(root, config(frames=4, stride=2))
    assert dataset.report.found == 2 and len(dataset) == 2
    folder_index = dataset.paths.index(str(root / "clipA"))
    assert dataset.lengths[folder_index] == 12
    numbers = frame_numbers(dataset[folder_index])
    assert np.diff(numbers).tolist() == [2, 2, 2]


def test_class_folders_become_labels(tmp_path, sources):
    root = tmp_path / "classes"
    for name in ("walk", "jump"):
        (root / name).mkdir(parents=True)
        shutil.copy(sources["long"], root / name / f"{name}1.mp4")
    dataset = VideoFolderDataset(root, config())
    assert dataset.class_names == ["jump", "walk"]
    labels = {Path(p).parent.name: label for p, label in zip(dataset.paths, dataset.labels)}
    assert labels == {"jump": 0, "walk": 1}


@pytest.fixture()
def ucf(tmp_path, sources) -> Path:
    """UCF-101 layout; classInd order differs from alphabetical and the list spells a class differently."""
    root = tmp_path / "UCF-101"
    files = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "HandStandPushups/v_HandStandPushups_g01_c01.avi",
             "Biking/v_Biking_g01_c01.avi", "Biking/v_Biking_g02_c01.avi"]
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sources["long"], root / rel)  # an mp4 named .avi: ffmpeg reads by content
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 HandstandPushups\n2 ApplyEyeMakeup\n3 Biking\n")
    (lists / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 2\r\nHandstandPushups/v_HandStandPushups_g01_c01.avi 1\r\n"
        "Biking/v_Biking_g01_c01.avi 3\r\nBiking/v_Biking_g09_c01.avi 3\r\n"
    )
    (lists / "testlist01.txt").write_text("Biking/v_Biking_g02_c01.avi\n")
    return root


def test_ucf_layout_uses_class_index_and_split_lists(ucf):
    train = VideoFolderDataset(ucf, config())
    assert train.report.layout == "ucf" and train.report.missing == 1
    assert train.class_names == ["HandstandPushups", "ApplyEyeMakeup", "Biking"]
    names = {Path(p).name: label for p, label in zip(train.paths, train.labels)}
    assert names == {"v_ApplyEyeMakeup_g01_c01.avi": 1, "v_HandStandPushups_g01_c01.avi": 0, "v_Biking_g01_c01.avi": 2}
    test = VideoFolderDataset(ucf, config(split="test"))
    assert [Path(p).name for p in test.paths] == ["v_Biking_g02_c01.avi"] and test.labels == [2]
    assert len(VideoFolderDataset(ucf, config(split="all"))) == 4
    with pytest.raises(VgenError, match="trainlist02.txt not found"):
        VideoFolderDataset(ucf, config(fold=2))


def test_sky_layout_split_folders(tmp_path):
    root = tmp_path / "sky"
    clips = ["train/v1/v1_1", "train/v1/v1_2", "train/v2/v2_1", "test/v9/v9_1"]
    for rel in clips:
        write_frames(root / rel, counter_video(10, 16, 16))
    train = VideoFolderDataset(root, config(frames=6))
    assert train.report.layout == "sky" and len(train) == 3 and train.num_classes == 0
    assert set(train.labels) == {-1}
    assert train.lengths == [10, 10, 10]
    test = VideoFolderDataset(root, config(frames=6, split="test"))
    assert [Path(p).name for p in test.paths] == ["v9_1"]
    assert len(VideoFolderDataset(root, config(frames=6, split="all"))) == 4


def test_worker_processes_give_the_same_items(messy):
    dataset = VideoFolderDataset(messy, config(seed=5))
    dataset.set_epoch(3)

    def collect(workers: int) -> torch.Tensor:
        loader = DataLoader(dataset, batch_size=2, num_workers=workers, shuffle=False)
        return torch.cat([batch["video"] for batch in loader])

    assert torch.equal(collect(0), collect(2))


def test_clip_cache_round_trip_and_hits(messy, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    cached = VideoFolderDataset(messy, config(cache_dir=str(cache_dir), stride=2))
    plain = VideoFolderDataset(messy, config(stride=2))
    first = [cached[i]["video"] for i in range(len(cached))]
    assert cached.cache.misses == 3 and cached.cache.hits == 0
    assert len(list(cache_dir.glob("*.npy"))) == 3 and not list(cache_dir.glob(".*"))
    cached.set_epoch(1)
    plain.set_epoch(1)
    for i in range(len(cached)):
        assert torch.equal(cached[i]["video"], plain[i]["video"])
    assert cached.cache.hits == 3
    for i, video in enumerate(first):  # epoch 0 again, now from the cache
        assert torch.equal(cached[(0, i)]["video"], video)
    assert cached.cache.hits == 6 and cached.cache.misses == 3
    # Probe results are cached too: a restart does not probe the files again.
    monkeypatch.setattr("vgen.data.video_folder.probe_length", lambda *a: pytest.fail("probed again"))
    again = VideoFolderDataset(messy, config(cache_dir=str(cache_dir), stride=2))
    assert (again.report.usable, again.report.unreadable, again.report.too_short) == (3, 1, 1)
    # Editing a source changes its key: stale frames are never served.
    path = cached.paths[0]
    before = ClipCache.key(path, fps=None, resolution=16)
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert ClipCache.key(path, fps=None, resolution=16) != before


def test_latent_cache_round_trip(tmp_path):
    cache = LatentCache(tmp_path / "latents")
    z = torch.randn(4, 2, 3, 3)
    assert cache.get("video-1|ae=abc") is None and "video-1|ae=abc" not in cache
    cache.put("video-1|ae=abc", z)
    assert "video-1|ae=abc" in cache
    assert torch.equal(cache.get("video-1|ae=abc"), z)
    assert cache.get("video-2|ae=abc") is None
    cache.put("video-1|ae=abc", z * 2)
    assert torch.equal(LatentCache(tmp_path / "latents").get("video-1|ae=abc"), z * 2)
    (next((tmp_path / "latents").glob("*.safetensors"))).write_bytes(b"garbage")
    assert cache.get("video-1|ae=abc") is None
