"""Real/fake clip sets for evaluation: one random clip per video (StyleGAN-V style), or consecutive clips of one file.

A *source* is a video file (mp4/avi/mkv/webm/gif/mov) or a folder of frame images. A folder given
by the user is searched recursively; a folder whose own files are images is one frame-folder video.
Each video contributes one clip of ``frames`` frames taken every ``stride`` frames, starting at a
random offset drawn from a generator seeded by ``(seed, video index)``, or at frame ``start``
(0-based) of every video when a fixed window is asked for; the video order is a seeded permutation.
Videos too short for their clip are skipped and counted; unreadable ones are skipped and counted too.
A single video file is cut into consecutive, non-overlapping clips (from frame ``start`` if given).
Decoding goes through :func:`vgen.io.video.open_video`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import numpy as np

from vgen.errors import VgenError

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".webm", ".gif", ".mov"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})
Fit = Literal["crop", "squash"]


@dataclass(frozen=True)
class Source:
    """One video: a file, or a folder of frame images (sorted by name)."""

    path: Path
    kind: Literal["video", "frames"]

    def files(self) -> list[Path]:
        if self.kind == "video":
            return [self.path]
        return sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))


def discover(path: str | Path) -> list[Source]:
    """All videos under ``path`` (a file, or a folder searched recursively), in a stable order."""
    root = Path(path)
    if not root.exists():
        raise VgenError(f"no such file or folder: {root}")
    if root.is_file():
        if root.suffix.lower() not in VIDEO_EXTENSIONS:
            raise VgenError(f"{root} is not a video ({', '.join(sorted(VIDEO_EXTENSIONS))}); pass a video file or a folder of videos")
        return [Source(root, "video")]
    sources: list[Source] = []
    for folder in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
        entries = sorted(p for p in folder.iterdir() if p.is_file())
        sources += [Source(p, "video") for p in entries if p.suffix.lower() in VIDEO_EXTENSIONS]
        if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in entries):
            sources.append(Source(folder, "frames"))
    if not sources:
        raise VgenError(f"{root} holds no videos or frame folders; expected files like *.mp4 or folders of *.png")
    return sources


def fingerprint(sources: list[Source]) -> str:
    """Hash of every file's path, size and mtime: changes whenever the data set does."""
    digest = hashlib.sha256()
    for source in sources:
        for f in source.files():
            st = f.stat()
            digest.update(json.dumps([str(f.resolve()), st.st_size, st.st_mtime_ns]).encode())
    return digest.hexdigest()


def _read_source(source: Source, *, size: int | None, fit: Fit, max_frames: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode up to ``max_frames`` frames of a video file or frame folder as uint8 ``(t, H, W, 3)``,
    with the source's own (height, width) before any resizing."""
    from vgen.io.video import open_video

    with open_video(source.path, size=size, fit=fit, max_frames=max_frames) as reader:
        return np.concatenate(list(reader.chunks(64))), (int(reader.source_height), int(reader.source_width))


@dataclass
class ClipSet:
    """Clips drawn from ``path``; iterate :meth:`clips` once, then read the counters."""

    path: Path
    frames: int
    stride: int = 1
    seed: int = 0
    size: int | None = None
    fit: Fit = "crop"
    start: int | None = None
    sources: list[Source] = field(init=False)
    skipped_short: int = field(default=0, init=False)
    skipped_unreadable: int = field(default=0, init=False)
    resolution: tuple[int, int] | None = field(default=None, init=False)
    source_sizes: set[tuple[int, int]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.sources = discover(self.path)

    @property
    def span(self) -> int:
        """Frames covered by one clip: ``(frames - 1) * stride + 1``."""
        return (self.frames - 1) * self.stride + 1

    @property
    def needed(self) -> int:
        """Frames a video must have to give a clip: ``span``, plus ``start`` for a fixed window."""
        return (self.start or 0) + self.span

    @property
    def options_hint(self) -> str:
        """The options that shorten what a clip needs, for error messages."""
        return "--frames/--stride" + ("/--start" if self.start else "")

    @property
    def native_resolution(self) -> tuple[int, int] | None:
        """The (height, width) every decoded video had before resizing, or ``None`` if they differ."""
        return next(iter(self.source_sizes)) if len(self.source_sizes) == 1 else None

    def key_fields(self) -> dict[str, Any]:
        """What decides which frames this set yields, for cache keys (the data itself is fingerprinted apart)."""
        return {"frames": self.frames, "stride": self.stride, "clip_seed": self.seed, "start": self.start,
                "load_size": self.size, "fit": self.fit}

    @property
    def single_file(self) -> bool:
        return self.path.is_file()

    def _load(self, source: Source, max_frames: int | None) -> np.ndarray | None:
        try:
            video, source_size = _read_source(source, size=self.size, fit=self.fit, max_frames=max_frames)
        except (VgenError, OSError):
            if self.single_file:
                raise VgenError(f"cannot decode {source.path}: is it a readable video file?") from None
            self.skipped_unreadable += 1
            return None
        if len(video):
            self.source_sizes.add(source_size)
            if self.resolution is None:
                self.resolution = (int(video.shape[1]), int(video.shape[2]))
        return video

    def clips(self, num: int, observe: Callable[[np.ndarray], None] | None = None) -> Iterator[np.ndarray]:
        """Yield up to ``num`` uint8 clips ``(frames, H, W, 3)``; raises if none can be made.

        ``observe`` sees every decoded video that gives a clip, whole: all its frames, or its first
        ``needed`` frames with a fixed ``start`` (a single file: the frames its clips come from).
        """
        made = 0
        first = self.start or 0
        if self.single_file:
            video = self._load(self.sources[0], max_frames=first + num * self.span)
            assert video is not None  # a single file that cannot be decoded raises
            for offset in range(first, len(video) - self.span + 1, self.span):
                if made == 0 and observe is not None:
                    observe(video)
                yield video[offset:offset + self.span:self.stride]
                made += 1
            if made == 0:
                raise VgenError(f"{self.path} has {len(video)} frames, fewer than the {self.needed} one clip needs; lower {self.options_hint}")
            return
        order = np.random.default_rng(self.seed).permutation(len(self.sources))
        for index in order:
            if made >= num:
                return
            video = self._load(self.sources[index], max_frames=None if self.start is None else self.needed)
            if video is None:
                continue
            if len(video) < self.needed:
                self.skipped_short += 1
                continue
            offset = self.start if self.start is not None else \
                int(np.random.default_rng([self.seed, int(index)]).integers(0, len(video) - self.span + 1))
            if observe is not None:
                observe(video)
            yield video[offset:offset + self.span:self.stride]
            made += 1
        if made == 0:
            raise VgenError(
                f"no usable clips in {self.path}: {self.skipped_short} videos shorter than {self.needed} frames, "
                f"{self.skipped_unreadable} unreadable; lower {self.options_hint} or check the files")
