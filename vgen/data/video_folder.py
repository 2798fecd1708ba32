"""``VideoFolderDataset``: random fixed-length clips from a folder of videos (UCF-101/Sky layouts too).

Construction scans and probes every candidate (in a thread pool: each probe is an ffmpeg process),
drops unreadable and too-short videos and counts them in a ``DatasetReport``. Items are decoded on
demand by ``vgen.io.video`` inside whichever process asks (DataLoader workers each spawn their own
ffmpeg readers; the dataset holds only paths and numbers, so it pickles cheaply).

Clip sampling: a clip is ``frames`` frames every ``stride`` frames of the video resampled to ``fps``
(if set), scaled so the shorter side is ``resolution`` and centre-cropped. Its start is uniform over
the valid range and drawn from ``(seed, epoch, index)`` alone, so it does not depend on the worker,
the batch composition or the number of workers, and a resumed run sees the same clips.
Videos shorter than a clip are skipped (``short="skip"``) or padded by repeating their last frame
(``short="pad"``; ``valid`` marks real frames). Repeating the last frame, rather than looping, never
creates a cut that the model could learn as motion.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np
from torch.utils.data import Dataset

from vgen.data.cache import ClipCache
from vgen.data.config import VideoDataConfig
from vgen.data.discover import discover
from vgen.data.item import Item, make_item
from vgen.data.report import DatasetReport
from vgen.errors import VgenError

SUBSTITUTE_TRIES = 8


def clip_start(seed: int, epoch: int, index: int, max_start: int) -> int:
    """Start frame of item ``index`` in ``epoch``: uniform on ``[0, max_start]``, a pure function."""
    if max_start <= 0:
        return 0
    return int(np.random.default_rng([seed, epoch, index]).integers(0, max_start + 1))


def probe_length(path: str | os.PathLike[str], fps: Optional[float]) -> int:
    """Frames of ``path`` at ``fps`` (exact for frame folders, from the duration for files).

    When the container states no duration the video is decoded at a tiny size and counted.
    Unreadable input raises ``VgenError``.
    """
    from vgen.io.video import open_video

    with open_video(path, fps=fps) as reader:
        if reader.num_frames is not None:
            return reader.num_frames
    with open_video(path, fps=fps, size=8, fit="squash") as reader:
        return sum(len(chunk) for chunk in reader.chunks(256))


def decode(path: str, config: VideoDataConfig, start: int = 0, count: Optional[int] = None) -> np.ndarray:
    """uint8 ``(t, H, W, 3)``: up to ``count`` fitted frames from ``start`` (all if None)."""
    from vgen.io.video import open_video

    with open_video(path, fps=config.fps, size=config.resolution, fit="crop", start=start, max_frames=count) as reader:
        return np.concatenate(list(reader.chunks(count or 64)), axis=0)


def pad_clip(frames: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad ``(t, H, W, 3)`` to ``length`` frames by repeating the last one; returns (frames, valid)."""
    real = min(len(frames), length)
    valid = np.arange(length) < real
    if real == length:
        return frames[:length], valid
    tail = np.repeat(frames[real - 1:real], length - real, axis=0)
    return np.concatenate([frames[:real], tail], axis=0), valid


class VideoFolderDataset(Dataset):
    """Random clips from the videos under ``root``; see the module docstring for the rules.

    ``dataset[i]`` uses the epoch set by ``set_epoch``; ``dataset[(epoch, i)]`` names it explicitly
    (for samplers that yield ``(epoch, index)`` pairs). Items are dicts from
    ``vgen.data.item.make_item``. ``report`` holds the scan counts; ``class_names`` the labels.
    """

    def __init__(self, root: str | os.PathLike[str], config: VideoDataConfig, *, probe_threads: int = 8) -> None:
        found = discover(root, config.layout, config.split, config.fold)
        self.root = str(root)
        self.config = config
        self.class_names = found.class_names
        self.epoch = 0
        self.failed: set[int] = set()
        self.cache = ClipCache(config.cache_dir) if config.cache_dir else None
        report = DatasetReport(root=self.root, layout=found.layout, split=found.split, clip_frames=config.frames,
                               found=len(found.videos), missing=found.missing, class_names=found.class_names)

        probes = self._probe_all(found.videos, probe_threads)
        self.paths: list[str] = []
        self.labels: list[int] = []
        self.lengths: list[int] = []
        for path, label, length in zip(found.videos, found.labels, probes):
            if isinstance(length, str) or length < 1:
                report.unreadable += 1
                report.skip(str(path), length if isinstance(length, str) else "no frames")
                continue
            if length < config.span:
                if config.short == "skip":
                    report.too_short += 1
                    report.skip(str(path), f"{length} frames, a clip needs {config.span}")
                    continue
                report.padded += 1
            self.paths.append(str(path))
            self.labels.append(label)
            self.lengths.append(length)
        report.usable = len(self.paths)
        self.report = report
        if not self.paths:
            span = f" (spanning {config.span} at stride {config.stride})" if config.stride > 1 else ""
            raise VgenError(
                f"no usable videos in {self.root}: found {report.found} files, {report.unreadable} unreadable, "
                f"{report.too_short} too short; need clips of {config.frames} frames{span}"
            )

    def _probe_all(self, videos: list[Path], threads: int) -> list[int | str]:
        """Each video's frame count at the target fps, or why it is unreadable (cached if possible)."""
        fps = self.config.fps
        keys = [ClipCache.key(v, fps=fps, resolution=self.config.resolution) for v in videos] if self.cache else []
        known = self.cache.load_probes() if self.cache else {}

        def probe(i: int) -> int | str:
            if keys and keys[i] in known:
                return known[keys[i]]
            try:
                return probe_length(videos[i], fps)
            except VgenError as exc:
                return str(exc)

        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            results = list(pool.map(probe, range(len(videos))))
        if self.cache is not None:
            self.cache.store_probes({k: n for k, n in zip(keys, results) if k not in known})
        return results

    @property
    def num_classes(self) -> int:
        """Number of class labels (0 = unlabelled; labels are then -1)."""
        return len(self.class_names) if self.class_names else 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose clip starts plain-integer indexing uses (before building iterators)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        if not 0 <= index < len(self.paths):
            raise IndexError(index)
        # A file that probed fine can still fail mid-stream (e.g. truncated): serve the next video
        # instead, and remember the failure in this process so it is warned about and decoded once.
        for attempt in range(SUBSTITUTE_TRIES):
            i = (index + attempt) % len(self.paths)
            if i in self.failed:
                continue
            try:
                frames, valid = self.clip(i, epoch)
            except (VgenError, OSError) as exc:
                self.failed.add(i)
                warnings.warn(f"skipping a video that failed to decode: {exc}", RuntimeWarning, stacklevel=2)
                continue
            return make_item(frames, label=self.labels[i], index=i, valid=valid)
        raise VgenError(f"{SUBSTITUTE_TRIES} videos in a row failed to decode near item {index} of {self.root}; check the files")

    def clip(self, index: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 ``(frames, H, W, 3)`` clip of video ``index`` in ``epoch`` and its ``valid`` mask."""
        config, path = self.config, self.paths[index]
        start = clip_start(config.seed, epoch, index, self.lengths[index] - config.span)
        if self.cache is not None:
            key = ClipCache.key(path, fps=config.fps, resolution=config.resolution)
            video = self.cache.load(key)
            if video is None:
                video = decode(path, config)
                self.cache.store(key, video)
            frames = self._window(video, start)
        else:
            try:
                frames = decode(path, config, start, config.span)
            except VgenError:
                if start == 0:
                    raise
                frames = np.empty((0,))
            if len(frames) < config.span and start > 0:
                # The duration-based length was an over-estimate: take the clip that ends at the end.
                frames = self._window(decode(path, config), start)
        return pad_clip(np.array(frames[:: config.stride]), config.frames)

    def _window(self, video: np.ndarray, start: int) -> np.ndarray:
        """The span from ``start``, moved back to fit inside a video of known length."""
        start = min(start, max(0, len(video) - self.config.span))
        return video[start:start + self.config.span]
