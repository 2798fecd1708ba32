"""Find the videos of a dataset folder and their labels: plain folders, UCF-101 and SkyTimelapse.

- ``folder``: video files (mp4/avi/mkv/webm/gif/mov) and frame folders (a folder holding numbered
  PNG/JPG files is one video), searched recursively. When every video sits inside a top-level
  subfolder, those subfolders are classes (sorted names -> ids 0..C-1). If the root has ``train/``
  or ``test/`` subfolders, ``split`` picks them and classes are the folders inside each split.
- ``ucf``: UCF-101 class folders plus ``ucfTrainTestlist/``. ``classInd.txt`` (``"1 ApplyEyeMakeup"``)
  defines ids (minus one); ``trainlist0N.txt``/``testlist0N.txt`` (fold N) pick the split. Names are
  matched case-insensitively on ``Class/file``, since the official lists spell some classes
  differently from the folders (``HandstandPushups`` vs ``HandStandPushups``).
- ``sky``: SkyTimelapse, ``root/{train,test}/<video>/<clip>/*.jpg``; every clip folder is one
  unlabelled video.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from vgen.data.config import Layout, Split
from vgen.errors import VgenError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".gif", ".mov")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
UCF_LISTS = "ucfTrainTestlist"
_NUMBERED = re.compile(r"\d")


@dataclass(frozen=True)
class Discovery:
    """The videos of one split with labels (-1 = none), the class names and the resolved layout."""

    layout: str
    split: str
    videos: list[Path]
    labels: list[int]
    class_names: Optional[list[str]]
    missing: int = 0


def find_videos(root: Path) -> list[Path]:
    """Video files and frame folders under ``root`` (recursive, hidden entries ignored), sorted."""
    found: list[Path] = []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        visible = [f for f in files if not f.startswith(".")]
        if any(f.lower().endswith(FRAME_SUFFIXES) and _NUMBERED.search(f) for f in visible):
            found.append(Path(folder))
        found.extend(Path(folder) / f for f in visible if f.lower().endswith(VIDEO_SUFFIXES))
    return sorted(found)


def _split_folders(root: Path, split: Split) -> list[Path]:
    names = ("train", "test") if split == "all" else (split,)
    folders = [root / name for name in names if (root / name).is_dir()]
    if not folders:
        raise VgenError(f"{root} has no {split!r} folder; use --split with one of its split folders (train, test) or all")
    return folders


def _class_folders(base: Path, videos: list[Path]) -> Optional[list[str]]:
    """Top-level folder names below ``base`` if every video lives in one, else None."""
    parts = [v.relative_to(base).parts for v in videos]
    if not parts or any(len(p) < 2 for p in parts):
        return None
    return sorted({p[0] for p in parts})


def _folder(root: Path, split: Split) -> Discovery:
    has_splits = (root / "train").is_dir() or (root / "test").is_dir()
    bases = _split_folders(root, split) if has_splits else [root]
    per_base = [(base, find_videos(base)) for base in bases]
    videos = [v for _, vs in per_base for v in vs]
    names_per_base = [_class_folders(base, vs) for base, vs in per_base if vs]
    labelled = bool(names_per_base) and all(n is not None for n in names_per_base)
    class_names = sorted({n for names in names_per_base for n in names or []}) if labelled else None
    labels = []
    for base, vs in per_base:
        labels += [class_names.index(v.relative_to(base).parts[0]) if class_names else -1 for v in vs]
    return Discovery("folder", split if has_splits else "all", videos, labels, class_names)


def _is_sky(root: Path) -> bool:
    """SkyTimelapse: split folders whose videos are all frame folders two levels down."""
    bases = [root / name for name in ("train", "test") if (root / name).is_dir()]
    if not bases:
        return False
    videos = [(base, v) for base in bases for v in find_videos(base)]
    return bool(videos) and all(v.is_dir() and len(v.relative_to(base).parts) == 2 for base, v in videos)


def _sky(root: Path, split: Split) -> Discovery:
    videos = [v for base in _split_folders(root, split) for v in find_videos(base)]
    return Discovery("sky", split, videos, [-1] * len(videos), None)


def _ucf_key(path: str | Path) -> str:
    """``class/file`` lower-cased: how a UCF list entry is matched to a file on disk."""
    parts = Path(str(path).replace("\\", "/")).parts
    return "/".join(parts[-2:]).lower()


def _read_list(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise VgenError(f"cannot read UCF-101 split file {path}: {exc.strerror}") from None
    return [line.split()[0] for line in lines if line.strip()]


def _ucf(root: Path, split: Split, fold: int) -> Discovery:
    lists = root / UCF_LISTS
    videos = [v for v in find_videos(root) if UCF_LISTS not in v.relative_to(root).parts]
    class_index = lists / "classInd.txt"
    if class_index.is_file():
        rows = [line.split() for line in class_index.read_text(encoding="utf-8", errors="replace").splitlines()]
        ordered = sorted((int(row[0]), row[1]) for row in rows if len(row) >= 2)
        class_names = [name for _, name in ordered]
    else:
        class_names = sorted({v.parent.name for v in videos})
    class_id = {name.lower(): i for i, name in enumerate(class_names)}

    if split == "all":
        chosen = [v for v in videos if v.parent.name.lower() in class_id]
        missing = 0
    else:
        split_file = lists / f"{split}list0{fold}.txt"
        if not split_file.is_file():
            raise VgenError(f"UCF-101 split file {split_file} not found; add the official ucfTrainTestlist or use --split all")
        on_disk = {_ucf_key(v): v for v in videos}
        entries = [_ucf_key(entry) for entry in _read_list(split_file)]
        chosen = [on_disk[key] for key in entries if key in on_disk]
        missing = len(entries) - len(chosen)
    labels = [class_id.get(v.parent.name.lower(), -1) for v in chosen]
    return Discovery("ucf", split, chosen, labels, class_names, missing)


def discover(root: str | os.PathLike[str], layout: Layout = "auto", split: Split = "train", fold: int = 1) -> Discovery:
    """Resolve ``layout`` and list the videos of ``split`` under ``root`` with their labels."""
    base = Path(root).expanduser()
    if base.is_file():
        raise VgenError(f"data path {str(root)!r} is a file; pass the folder that holds your videos")
    if not base.is_dir():
        raise VgenError(f"data folder {str(root)!r} not found; pass a folder of videos or frame folders")
    if layout == "auto":
        layout = "ucf" if (base / UCF_LISTS).is_dir() else "sky" if _is_sky(base) else "folder"
    if layout == "ucf":
        return _ucf(base, split, fold)
    if layout == "sky":
        return _sky(base, split)
    return _folder(base, split)
