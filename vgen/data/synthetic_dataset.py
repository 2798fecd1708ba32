"""Synthetic videos as a training source and as a UCF-like folder of mp4 files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Literal, Optional

from torch.utils.data import Dataset

from vgen.data.item import Item, make_item
from vgen.data.report import DatasetReport
from vgen.data.synthetic import GENERATOR_KINDS, SynthKind, synthetic_item_spec, synthetic_video
from vgen.errors import VgenError

SynthFormat = Literal["mp4", "frames"]  # H.264 files, or folders of lossless PNG frames

Callback = Callable[[int, int, dict[str, Any]], None]


def _check(kind: str, num_videos: int, frames: int, num_classes: Optional[int]) -> None:
    if kind not in (*GENERATOR_KINDS, "mixed"):
        raise VgenError(f"unknown synthetic kind {kind!r}; use bouncing, sky or mixed")
    if num_videos < 1 or frames < 1:
        raise VgenError(f"synthetic data needs at least 1 video of 1 frame, got {num_videos} x {frames}")
    if num_classes is not None and num_classes < 1:
        raise VgenError(f"num_classes must be >= 1, got {num_classes}")
    if kind == "mixed" and num_classes not in (None, 2):
        raise VgenError("mixed synthetic data has exactly 2 classes (bouncing, sky); drop num_classes or set it to 2")


class SyntheticVideoDataset(Dataset):
    """``num_videos`` deterministic synthetic videos; item ``i`` is generated from seed ``(seed, i)``.

    Items have the same format as ``VideoFolderDataset`` (see ``vgen.data.item.make_item``). Labels:
    ``mixed`` = generator kind (0 bouncing, 1 sky); ``bouncing``/``sky`` with ``num_classes=C`` =
    number of objects - 1 / wind-direction sector (see ``synthetic_item_spec``); otherwise -1.
    Videos do not depend on the epoch: this is a fixed set of videos, like a folder.
    """

    def __init__(self, kind: SynthKind, num_videos: int, frames: int, resolution: int, seed: int = 0,
                 num_classes: Optional[int] = None) -> None:
        _check(kind, num_videos, frames, num_classes)
        self.kind: SynthKind = kind
        self.num_videos = num_videos
        self.frames = frames
        self.resolution = resolution
        self.seed = seed
        self.generator_classes = None if kind == "mixed" else num_classes
        self.class_names: Optional[list[str]] = _class_names(kind, num_classes)
        self.report = DatasetReport(root=f"synthetic:{kind}", layout="synthetic", split="all", clip_frames=frames,
                                    found=num_videos, usable=num_videos, class_names=self.class_names)

    @property
    def num_classes(self) -> int:
        """Number of labels (0 = unlabelled)."""
        return len(self.class_names) if self.class_names else 0

    def set_epoch(self, epoch: int) -> None:
        """Accepted for interface parity with ``VideoFolderDataset``; synthetic videos are fixed."""

    def __len__(self) -> int:
        return self.num_videos

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        index = key[1] if isinstance(key, tuple) else key
        if not 0 <= index < self.num_videos:
            raise IndexError(index)
        generator, label, options = synthetic_item_spec(self.kind, index, self.generator_classes)
        frames = synthetic_video(generator, [self.seed, index], self.frames, self.resolution, **options)
        return make_item(frames, label=label, index=index)


def _class_names(kind: str, num_classes: Optional[int]) -> Optional[list[str]]:
    if kind == "mixed":
        return list(GENERATOR_KINDS)
    if num_classes is None:
        return None
    if kind == "bouncing":
        return [f"{n + 1}_object{'s' if n else ''}" for n in range(num_classes)]
    return [f"wind_sector_{c}" for c in range(num_classes)]


def synthetic_video_paths(out_dir: str | os.PathLike[str], kind: SynthKind, num: int,
                          format: SynthFormat = "mp4") -> list[Path]:
    """Where ``write_synthetic_videos`` puts each of ``num`` videos: ``out_dir/<kind>/<kind>_0000.mp4`` ... (with
    ``format="frames"`` a folder of PNG frames each: ``out_dir/<kind>/<kind>_0000/``).

    With ``mixed`` the kinds alternate and each class folder is numbered from 0. In dataset order.
    """
    if format not in ("mp4", "frames"):
        raise VgenError(f"unknown synthetic video format {format!r}; use mp4 or frames")
    suffix = "" if format == "frames" else ".mp4"
    root = Path(out_dir).expanduser()
    counters: dict[str, int] = {}
    paths: list[Path] = []
    for index in range(num):
        generator, _, _ = synthetic_item_spec(kind, index, None)
        number = counters.get(generator, 0)
        counters[generator] = number + 1
        paths.append(root / generator / f"{generator}_{number:04d}{suffix}")
    return paths


def write_synthetic_videos(
    out_dir: str | os.PathLike[str], kind: SynthKind, *, num: int, frames: int, size: int, fps: float, seed: int = 0,
    callback: Optional[Callback] = None, format: SynthFormat = "mp4",
) -> list[Path]:
    """Write ``num`` synthetic videos at ``synthetic_video_paths(out_dir, kind, num)`` (class folders = labels).

    Video ``i`` is item ``i`` of ``SyntheticVideoDataset(kind, num, frames, size, seed)``. Folders are
    made as needed and every file is written atomically by ``VideoWriter``, replacing one of the same
    name. ``format="frames"`` writes lossless PNG frames instead of H.264 mp4 (the generator's exact pixels: a
    reference set for FVD that the codec has not changed). Returns the paths in dataset order.
    """
    from vgen.io.video import VideoWriter

    _check(kind, num, frames, None)
    paths = synthetic_video_paths(out_dir, kind, num, format)
    for index, path in enumerate(paths):
        generator, _, options = synthetic_item_spec(kind, index, None)
        path.parent.mkdir(parents=True, exist_ok=True)
        video = synthetic_video(generator, [seed, index], frames, size, **options)
        with VideoWriter(path, fps=fps, format=format) as writer:
            writer.write(video)
        if callback is not None:
            callback(index + 1, num, {"file": path.name})
    return paths
