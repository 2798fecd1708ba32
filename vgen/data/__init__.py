"""Training data: video-folder datasets (plain, UCF-101, SkyTimelapse), synthetic videos, caches.

Every dataset yields the same item dict (``vgen.data.item.make_item``): ``video`` float32
``(3, T, H, W)`` in [-1, 1], ``label`` long (-1 = none), ``index`` long and ``valid`` bool ``(T,)``.
Names are imported lazily so that importing ``vgen.data.config`` stays free of torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VideoDataConfig": "vgen.data.config",
    "DatasetReport": "vgen.data.report",
    "VideoFolderDataset": "vgen.data.video_folder",
    "SyntheticVideoDataset": "vgen.data.synthetic_dataset",
    "write_synthetic_videos": "vgen.data.synthetic_dataset",
    "ClipCache": "vgen.data.cache",
    "LatentCache": "vgen.data.cache",
    "make_item": "vgen.data.item",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vgen.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
