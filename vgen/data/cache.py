"""On-disk caches (never pickle): decoded videos as uint8 ``.npy``, latents as ``.safetensors``.

Both write atomically (temporary sibling + rename), so several DataLoader workers or ranks can
fill the same cache concurrently, and an interrupted run never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from vgen.io.atomic import atomic_path

CLIP_CACHE_VERSION = 1
PROBES_FILE = "probes.json"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _prepare(directory: str | os.PathLike[str]) -> Path:
    path = Path(directory).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


class ClipCache:
    """Decoded, fitted videos (all frames at the dataset's fps and resolution) as uint8 ``.npy``.

    Entries are keyed by the source's resolved path, modification time and size plus the fitting
    parameters, so editing a video or changing the clip settings never returns stale frames. Whole
    videos are stored (not single clips) so every later random clip is a memory-mapped slice.
    ``probes.json`` keeps probe results (frame counts or errors) under the same keys. ``hits``/``misses`` count
    lookups in this process.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = _prepare(directory)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(source: str | os.PathLike[str], *, fps: Optional[float], resolution: int) -> str:
        """Cache key of ``source`` (file or frame folder) fitted to ``fps`` and ``resolution``."""
        path = Path(source).resolve()
        stat = path.stat()
        size = stat.st_size if path.is_file() else len(os.listdir(path))
        return _digest(f"v{CLIP_CACHE_VERSION}|{path}|{stat.st_mtime_ns}|{size}|fps={fps}|res={resolution}|crop")

    def load(self, key: str) -> Optional[np.ndarray]:
        """The cached uint8 ``(T, H, W, 3)`` frames (memory-mapped), or None on a miss."""
        path = self.directory / f"{key}.npy"
        try:
            frames = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return frames

    def load_probes(self) -> dict[str, int | str]:
        """Saved probe results by key: a frame count, or why the video is unreadable."""
        try:
            data = json.loads((self.directory / PROBES_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, (int, str))}

    def store_probes(self, probes: dict[str, int | str]) -> None:
        """Merge ``probes`` into the saved probe results."""
        merged = {**self.load_probes(), **probes}
        with atomic_path(self.directory / PROBES_FILE) as tmp:
            tmp.write_text(json.dumps(merged, sort_keys=True), encoding="utf-8")

    def store(self, key: str, frames: np.ndarray) -> None:
        """Save uint8 ``(T, H, W, 3)`` frames under ``key``."""
        with atomic_path(self.directory / f"{key}.npy") as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, np.ascontiguousarray(frames, dtype=np.uint8), allow_pickle=False)


class LatentCache:
    """Autoencoder latents by caller-chosen string key, one ``.safetensors`` file per entry.

    ``put(key, z)`` stores a tensor (moved to CPU); ``get(key)`` returns it on CPU or None. The key
    is hashed into the file name and kept in the file's metadata, which ``get`` checks.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = _prepare(directory)

    def _path(self, key: str) -> Path:
        return self.directory / f"{_digest(key)}.safetensors"

    def __contains__(self, key: str) -> bool:
        return self._path(key).is_file()

    def get(self, key: str) -> Optional[torch.Tensor]:
        """The tensor stored under ``key``, or None if absent or unreadable."""
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(self._path(key)), framework="pt") as handle:
                if (handle.metadata() or {}).get("key") != key:
                    return None
                return handle.get_tensor("latent")
        except (OSError, SafetensorError):
            return None

    def put(self, key: str, tensor: torch.Tensor) -> None:
        """Store ``tensor`` under ``key``, replacing any previous entry."""
        from safetensors.torch import save_file

        with atomic_path(self._path(key)) as tmp:
            save_file({"latent": tensor.detach().to("cpu").contiguous()}, str(tmp), metadata={"key": key})
