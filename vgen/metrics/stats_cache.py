"""Cache of real-set I3D statistics (mu, sigma and the features for KVD) as ``.npz`` (no pickle).

The key hashes the data (every file's path, size and mtime), the clip protocol (num, frames,
stride, seed, load size/fit, resize) and the extractor (weights hash, BN eps), so changing any of
them computes fresh statistics.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from vgen.io.atomic import atomic_path
from vgen.metrics.cache import cache_dir
from vgen.metrics.distances import FeatureStats


def stats_key(data_fingerprint: str, protocol: dict[str, Any]) -> str:
    """Hex key of a (data set, protocol, extractor) combination."""
    blob = json.dumps({"data": data_fingerprint, **protocol}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def stats_path(key: str) -> Path:
    return cache_dir("stats") / f"real-{key}.npz"


def load_stats(key: str) -> tuple[FeatureStats, dict[str, Any]] | None:
    """Cached statistics and their info dict, or ``None`` when absent or unreadable."""
    path = stats_path(key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            stats = FeatureStats(mu=npz["mu"], sigma=npz["sigma"], features=npz["features"])
            info = json.loads(str(npz["info"]))
    except (OSError, ValueError, KeyError):
        return None
    return stats, info


def save_stats(key: str, stats: FeatureStats, info: dict[str, Any]) -> Path:
    """Write statistics atomically; returns the cache file."""
    path = stats_path(key)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, mu=stats.mu, sigma=stats.sigma, features=stats.features, info=np.array(json.dumps(info)))
    return path
