"""Clip sets for evaluation (one seeded clip per video, consecutive clips of one file) and the real-stats cache."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from vgen.errors import VgenError
from vgen.metrics.clips import ClipSet, discover
from vgen.metrics.evaluate import real_statistics

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
pytest.importorskip("vgen.io.video")


def make_video(path: Path, frames: int, *, hue: int = 0, size: str = "64x48", source: str = "testsrc") -> Path:
    """A tiny synthetic video written with the bundled ffmpeg (a moving test pattern)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"{source}=size={size}:rate=8", "-frames:v", str(frames), "-vf", f"hue=h={hue}",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    for i in range(3):
        make_video(root / "real" / f"class{i}" / f"v{i}.mp4", 12, hue=40 * i)
    make_video(root / "real" / "short.mp4", 5)
    make_video(root / "single.mp4", 30)
    frames = root / "frames" / "clip0"
    frames.mkdir(parents=True)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=8",
                    "-frames:v", "10", str(frames / "%04d.png")], check=True)
    (root / "mixed").mkdir()
    (root / "mixed" / "broken.mp4").write_bytes(b"\x00not a video" * 50)
    make_video(root / "mixed" / "good.mp4", 10)
    return root


def test_one_seeded_clip_per_video_and_short_videos_are_counted(data: Path) -> None:
    clipset = ClipSet(data / "real", frames=9, seed=0)
    clips = list(clipset.clips(10))
    assert len(clips) == 3 and all(c.shape == (9, 48, 64, 3) and c.dtype == np.uint8 for c in clips)
    assert clipset.skipped_short == 1 and clipset.resolution == (48, 64)
    again = list(ClipSet(data / "real", frames=9, seed=0).clips(10))
    assert all(np.array_equal(a, b) for a, b in zip(clips, again))
    others = [list(ClipSet(data / "real", frames=9, seed=s).clips(10)) for s in range(1, 6)]
    assert any(not all(np.array_equal(a, b) for a, b in zip(clips, other)) for other in others)


def test_a_single_file_is_cut_into_consecutive_clips(data: Path) -> None:
    from vgen.io.video import read_all

    video = read_all(data / "single.mp4")
    clips = list(ClipSet(data / "single.mp4", frames=9).clips(10))
    assert len(clips) == len(video) // 9
    np.testing.assert_array_equal(clips[1], video[9:18])
    strided = list(ClipSet(data / "single.mp4", frames=9, stride=3).clips(10))
    assert len(strided) == 1
    np.testing.assert_array_equal(strided[0], video[0:25:3])


def test_frame_folders_count_as_videos(data: Path) -> None:
    sources = discover(data / "frames")
    assert [s.kind for s in sources] == ["frames"]
    assert list(ClipSet(data / "frames", frames=9).clips(1))[0].shape == (9, 32, 32, 3)


def test_unreadable_videos_are_skipped_and_counted(data: Path) -> None:
    clipset = ClipSet(data / "mixed", frames=9)
    assert len(list(clipset.clips(5))) == 1 and clipset.skipped_unreadable == 1


def test_sets_without_usable_clips_raise(data: Path, tmp_path: Path) -> None:
    with pytest.raises(VgenError, match="no videos"):
        ClipSet(tmp_path, frames=9)
    with pytest.raises(VgenError, match="shorter than 33"):
        list(ClipSet(data / "real", frames=17, stride=2).clips(4))
    with pytest.raises(VgenError, match="fewer than"):
        list(ClipSet(data / "single.mp4", frames=31).clips(4))


@pytest.fixture()
def cache(tmp_path: Path) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VGEN_CACHE", str(tmp_path / "cache"))
        yield tmp_path / "cache"


def test_real_statistics_are_cached_and_invalidated(data: Path, cache: Path) -> None:
    calls = []

    def colour_features(batch: list[np.ndarray]) -> np.ndarray:
        calls.append(len(batch))
        return np.stack([c.reshape(-1, 3).mean(0) for c in batch]).astype(np.float64)

    protocol = {"num": 3, "frames": 9, "stride": 1, "weights_hash": "x"}
    first, info = real_statistics(ClipSet(data / "real", frames=9), 3, colour_features, protocol, batch_size=2)
    assert not info.cached and sum(calls) == 3
    second, info = real_statistics(ClipSet(data / "real", frames=9), 3, colour_features, protocol, batch_size=2)
    assert info.cached and sum(calls) == 3 and info.skipped_short == 1
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(first.sigma, second.sigma)
    _, info = real_statistics(ClipSet(data / "real", frames=9, seed=1), 3, colour_features, {**protocol, "clip_seed": 1}, batch_size=2)
    assert not info.cached
    video = next((data / "real").rglob("v0.mp4"))
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    _, info = real_statistics(ClipSet(data / "real", frames=9), 3, colour_features, protocol, batch_size=2)
    assert not info.cached
