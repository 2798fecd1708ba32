"""Real/fake clip sets for evaluation: one random clip per video (StyleGAN-V style), or consecutive clips of one file.

A *source* is a video file (mp4/avi/mkv/webm/gif/mov) or a folder of frame images. A folder given
by the user is searched recursively; a folder whose own files are images is one frame-folder video.
Each video contributes one clip of ``frames`` frames taken every ``stride`` frames, starting at a
random offset drawn from a generator seeded by ``(seed, video index)``; the video order is a seeded
permutation. Videos shorter than ``(frames - 1) * stride + 1`` are skipped and counted; unreadable
ones are skipped and counted too. A single video file is cut into consecutive, non-overlapping clips.
Decoding goes through :func:`vgen.io.video.open_video`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal

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


def _read_source(source: Source, *, size: int | None, fit: Fit, max_frames: int | None) -> np.ndarray:
    """Decode up to ``max_frames`` frames of a video file or frame folder as uint8 ``(t, H, W, 3)``."""
    from vgen.io.video import open_video

    with open_video(source.path, size=size, fit=fit, max_frames=max_frames) as reader:
        return np.concatenate(list(reader.chunks(64)))


@dataclass
class ClipSet:
    """Clips drawn from ``path``; iterate :meth:`clips` once, then read the counters."""

    path: Path
    frames: int
    stride: int = 1
    seed: int = 0
    size: int | None = None
    fit: Fit = "crop"
    sources: list[Source] = field(init=False)
    skipped_short: int = field(default=0, init=False)
    skipped_unreadable: int = field(default=0, init=False)
    resolution: tuple[int, int] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.sources = discover(self.path)

    @property
    def span(self) -> int:
        """Frames covered by one clip: ``(frames - 1) * stride + 1``."""
        return (self.frames - 1) * self.stride + 1

    @property
    def single_file(self) -> bool:
        return self.path.is_file()

    def _load(self, source: Source, max_frames: int | None) -> np.ndarray | None:
        try:
            video = _read_source(source, size=self.size, fit=self.fit, max_frames=max_frames)
        except (VgenError, OSError):
            if self.single_file:
                raise VgenError(f"cannot decode {source.path}: is it a readable video file?") from None
            self.skipped_unreadable += 1
            return None
        if len(video) and self.resolution is None:
            self.resolution = (int(video.shape[1]), int(video.shape[2]))
        return video

    def clips(self, num: int) -> Iterator[np.ndarray]:
        """Yield up to ``num`` uint8 clips ``(frames, H, W, 3)``; raises if none can be made."""
        made = 0
        if self.single_file:
            video = self._load(self.sources[0], max_frames=num * self.span)
            for start in range(0, len(video) - self.span + 1, self.span):
                yield video[start:start + self.span:self.stride]
                made += 1
            if made == 0:
                raise VgenError(f"{self.path} has {len(video)} frames, fewer than the {self.span} one clip needs; lower --frames/--stride")
            return
        order = np.random.default_rng(self.seed).permutation(len(self.sources))
        for index in order:
            if made >= num:
                return
            video = self._load(self.sources[index], max_frames=None)
            if video is None:
                continue
            if len(video) < self.span:
                self.skipped_short += 1
                continue
            offset = int(np.random.default_rng([self.seed, int(index)]).integers(0, len(video) - self.span + 1))
            yield video[offset:offset + self.span:self.stride]
            made += 1
        if made == 0:
            raise VgenError(
                f"no usable clips in {self.path}: {self.skipped_short} videos shorter than {self.span} frames, "
                f"{self.skipped_unreadable} unreadable; lower --frames/--stride or check the files")
