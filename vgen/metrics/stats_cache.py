"""Cache of real-set I3D statistics (mu, sigma and the features for KVD) as ``.npz`` (no pickle).

The key hashes the data (every file's path, size and mtime), the clip protocol (num, frames,
stride, seed, start, load size/fit, resize) and the extractor (weights hash, BN eps), so changing
any of them computes fresh statistics. A damaged entry is a miss (with a warning) and is rewritten;
an entry that cannot be written (full disk, read-only cache) is skipped with a warning.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from vgen.errors import VgenError
from vgen.io.atomic import atomic_path, os_error_message
from vgen.metrics.cache import cache_dir
from vgen.metrics.distances import FeatureStats

INFO_KEYS = ("clips", "skipped_short", "skipped_unreadable", "resolution")


def stats_key(data_fingerprint: str, protocol: dict[str, Any]) -> str:
    """Hex key of a (data set, protocol, extractor) combination."""
    blob = json.dumps({"data": data_fingerprint, **protocol}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def stats_path(key: str) -> Path:
    return cache_dir("stats") / f"real-{key}.npz"


def _read(path: Path) -> tuple[FeatureStats, dict[str, Any]]:
    """Statistics and info from a cache file; ``ValueError`` (or an I/O error) unless it is complete and consistent."""
    with np.load(path, allow_pickle=False) as npz:
        stats = FeatureStats(mu=npz["mu"], sigma=npz["sigma"], features=npz["features"])
        info = json.loads(str(npz["info"]))
    d = stats.mu.shape[0] if stats.mu.ndim == 1 else -1
    if stats.sigma.shape != (d, d) or stats.features.ndim != 2 or stats.features.shape[1] != d:
        raise ValueError("inconsistent shapes")
    if not isinstance(info, dict) or any(k not in info for k in INFO_KEYS) or info["clips"] != len(stats.features):
        raise ValueError("incomplete info")
    return stats, info


def load_stats(key: str) -> tuple[FeatureStats, dict[str, Any]] | None:
    """Cached statistics and their info dict, or ``None`` when absent or damaged (with a warning)."""
    path = stats_path(key)
    if not path.is_file():
        return None
    try:
        return _read(path)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        warnings.warn(f"cached real-set statistics {path} are damaged; computing them again", RuntimeWarning, stacklevel=2)
        return None


def save_stats(key: str, stats: FeatureStats, info: dict[str, Any]) -> Path | None:
    """Write statistics atomically; returns the cache file, or ``None`` (with a warning) if it cannot be written."""
    path = stats_path(key)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, mu=stats.mu, sigma=stats.sigma, features=stats.features, info=np.array(json.dumps(info)))
    except OSError as exc:
        reason = os_error_message(exc, path)
    except VgenError as exc:
        reason = str(exc)
    else:
        return path
    warnings.warn(f"real-set statistics not cached ({reason})", RuntimeWarning, stacklevel=2)
    return None
