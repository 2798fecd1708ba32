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

    protocol = {"weights_hash": "x"}  # the clip protocol comes from the ClipSet itself
    first, info = real_statistics(ClipSet(data / "real", frames=9), 3, colour_features, protocol, batch_size=2)
    assert not info.cached and sum(calls) == 3
    second, info = real_statistics(ClipSet(data / "real", frames=9), 3, colour_features, protocol, batch_size=2)
    assert info.cached and sum(calls) == 3 and info.skipped_short == 1
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(first.sigma, second.sigma)
    _, info = real_statistics(ClipSet(data / "real", frames=9, seed=1), 3, colour_features, protocol, batch_size=2)
    assert not info.cached
    video = next((data / "real").rglob("v0.mp4"))
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    _, info = real_statistics(ClipSet(data / "real", frames=9), 3, colour_features, protocol, batch_size=2)
    assert not info.cached


def grey_frames(folder: Path, levels: list[int], size: int = 16) -> Path:
    """A PNG frame-folder video whose frame t is a flat field of grey level ``levels[t]`` (lossless)."""
    from vgen.io.video import write_video

    folder.parent.mkdir(parents=True, exist_ok=True)
    write_video(folder, np.stack([np.full((size, size, 3), v, np.uint8) for v in levels]), fps=8, format="frames")
    return folder


def test_a_fixed_window_takes_exactly_those_frames(tmp_path: Path) -> None:
    grey_frames(tmp_path / "set" / "a", [10 * t for t in range(20)])
    grey_frames(tmp_path / "set" / "b", [10 * t + 3 for t in range(11)])  # 11 < 5 + 7 frames: too short
    seen: list[np.ndarray] = []
    clipset = ClipSet(tmp_path / "set", frames=4, stride=2, start=5)
    clips = list(clipset.clips(4, observe=seen.append))
    assert len(clips) == 1 and clipset.skipped_short == 1
    assert [int(f.mean()) for f in clips[0]] == [50, 70, 90, 110] and np.all(clips[0] == clips[0][:, :1, :1])
    assert [len(v) for v in seen] == [12]  # decoded up to the window's end, and observed whole
    with pytest.raises(VgenError, match="shorter than 15 frames.*--frames/--stride/--start"):
        list(ClipSet(tmp_path / "set" / "b", frames=4, stride=2, start=8).clips(1))


def test_a_fixed_window_of_encoded_videos_matches_the_decoded_frames(data: Path) -> None:
    from vgen.io.video import read_all

    video = read_all(data / "single.mp4")
    clips = list(ClipSet(data / "single.mp4", frames=9, start=3).clips(10))
    assert len(clips) == (len(video) - 3) // 9
    for k, clip in enumerate(clips):
        np.testing.assert_array_equal(clip, video[3 + 9 * k:12 + 9 * k])
    by_video = {str(s.path): read_all(s.path) for s in discover(data / "real")}
    seen: list[np.ndarray] = []
    windows = list(ClipSet(data / "real", frames=9, start=2).clips(10, observe=seen.append))
    assert len(windows) == 3 and all(len(v) == 11 for v in seen)
    for clip in windows:
        assert sum(np.array_equal(clip, frames[2:11]) for frames in by_video.values()) == 1


def colour_features(batch: list[np.ndarray]) -> np.ndarray:
    return np.stack([c.reshape(-1, 3).mean(0) for c in batch]).astype(np.float64)


def test_statistics_at_the_videos_own_size_serve_a_run_that_asks_for_that_size(tmp_path: Path, cache: Path) -> None:
    for i in range(2):
        grey_frames(tmp_path / "own" / f"v{i}", [20 * i + t for t in range(10)])
    fields = {"weights_hash": "x"}
    first, info = real_statistics(ClipSet(tmp_path / "own", frames=9), 2, colour_features, fields, batch_size=2)
    assert not info.cached
    # --model at the set's own size (16): decoding would not resize anything, so the cache is shared.
    shared, info = real_statistics(ClipSet(tmp_path / "own", frames=9, size=16), 2, colour_features, fields, batch_size=2)
    assert info.cached
    np.testing.assert_array_equal(first.features, shared.features)
    # Another size resizes every frame: fresh statistics, under their own key.
    _, info = real_statistics(ClipSet(tmp_path / "own", frames=9, size=8), 2, colour_features, fields, batch_size=2)
    assert not info.cached
    assert len(list((cache / "stats").glob("*.npz"))) == 2


def test_statistics_made_for_a_model_at_the_videos_own_size_serve_a_plain_run(tmp_path: Path, cache: Path) -> None:
    for i in range(2):
        grey_frames(tmp_path / "own" / f"v{i}", [20 * i + t for t in range(10)])
    fields = {"weights_hash": "x"}
    _, info = real_statistics(ClipSet(tmp_path / "own", frames=9, size=16), 2, colour_features, fields, batch_size=2)
    assert not info.cached
    _, info = real_statistics(ClipSet(tmp_path / "own", frames=9), 2, colour_features, fields, batch_size=2)
    assert info.cached


def test_mixed_sizes_are_never_shared(tmp_path: Path, cache: Path) -> None:
    grey_frames(tmp_path / "mixed" / "a", list(range(10)), size=16)
    grey_frames(tmp_path / "mixed" / "b", list(range(10)), size=8)
    fields = {"weights_hash": "x"}
    _, info = real_statistics(ClipSet(tmp_path / "mixed", frames=9), 2, colour_features, fields, batch_size=2)
    _, info = real_statistics(ClipSet(tmp_path / "mixed", frames=9, size=16), 2, colour_features, fields, batch_size=2)
    assert not info.cached


def test_damaged_statistics_are_a_miss_with_a_warning_and_are_rewritten(data: Path, cache: Path) -> None:
    fields = {"weights_hash": "x"}
    first, _ = real_statistics(ClipSet(data / "real", frames=9), 3, colour_features, fields, batch_size=2)
    (path,) = (cache / "stats").glob("*.npz")
    for damage in (path.read_bytes()[:200], b"PK\x03\x04" + b"\x00" * 50, b"not a zip at all"):
        path.write_bytes(damage)
        with pytest.warns(RuntimeWarning, match="damaged; computing them again"):
            again, info = real_statistics(ClipSet(data / "real", frames=9), 3, colour_features, fields, batch_size=2)
        assert not info.cached
        np.testing.assert_array_equal(first.features, again.features)
        _, info = real_statistics(ClipSet(data / "real", frames=9), 3, colour_features, fields, batch_size=2)
        assert info.cached  # rewritten


def test_statistics_that_cannot_be_written_are_a_warning(data: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.warns(RuntimeWarning, match="not cached.*disk full"):
        stats, info = real_statistics(ClipSet(data / "real", frames=9), 3, colour_features, {"weights_hash": "x"}, batch_size=2)
    assert info.clips == 3 and stats.features.shape == (3, 3)
    assert not list((cache / "stats").iterdir())  # no partial file left


def test_fewer_than_two_usable_real_clips_is_an_error_and_nothing_is_cached(tmp_path: Path, cache: Path) -> None:
    grey_frames(tmp_path / "set" / "long", list(range(10)))
    grey_frames(tmp_path / "set" / "short", list(range(4)))
    with pytest.raises(VgenError, match=r"only 1 usable clip .*\(1 videos too short, 0 unreadable\).*at least 2"):
        real_statistics(ClipSet(tmp_path / "set", frames=9), 3, colour_features, {"weights_hash": "x"}, batch_size=2)
    assert not list((cache / "stats").glob("*.npz"))
