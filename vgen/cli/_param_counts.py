"""Parameter counts of model configs for ``vgen models``, cached so that listing needs no torch.

A count comes from building the config's networks on the meta device (exact, no weights
allocated), which with torch's import takes seconds for all presets. The counts are kept in the
vgen cache (``$VGEN_CACHE`` or the user cache folder), in one JSON file per version of the
network code (a digest of ``vgen/models/*.py``) holding ``{sha256 of the config JSON: {role:
count}}``. Any change to a config or to the network code therefore misses the cache, and a damaged,
unreadable or unwritable cache only costs the build.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from vgen.config.base import ModelConfigBase

Counts = dict[str, int]


def network_code_digest() -> str:
    """SHA-256 over the names and bytes of the network modules (``vgen/models/**/*.py``)."""
    root = Path(__file__).resolve().parents[1] / "models"
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def config_key(config: ModelConfigBase) -> str:
    """SHA-256 of the config's JSON: every field that shapes the networks."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


def build_counts(config: ModelConfigBase) -> Counts:
    """Trainable parameters per network role, from a meta-device build (exact, nothing allocated)."""
    import torch

    from vgen.models import build_networks
    from vgen.models.layers import count_parameters

    with torch.device("meta"):
        networks = build_networks(config)
    return {role: count_parameters(net) for role, net in networks.items()}


def parameter_counts(configs: Mapping[str, ModelConfigBase]) -> dict[str, Counts]:
    """``{name: {role: trainable parameters}}`` for each config, from the cache where it has them."""
    cache_file = _cache_file()
    cached = _read(cache_file) if cache_file is not None else {}
    result, missing = {}, False
    for name, config in configs.items():
        key = config_key(config)
        if key not in cached:
            cached[key] = build_counts(config)
            missing = True
        result[name] = cached[key]
    if missing and cache_file is not None:
        _write(cache_file, cached)
    return result


def _cache_file() -> Path | None:
    from vgen.metrics.cache import cache_dir

    try:
        return cache_dir("param-counts") / f"{network_code_digest()[:32]}.json"
    except OSError:
        return None  # no usable cache folder: count without caching


def _read(path: Path) -> dict[str, Counts]:
    """The cached entries, or none if the file is missing or not a well-formed ``{key: {role: int}}``."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    valid = isinstance(data, dict) and all(
        isinstance(counts, dict) and counts and all(
            isinstance(role, str) and type(n) is int and n >= 0 for role, n in counts.items())
        for counts in data.values())
    return data if valid else {}


def _write(path: Path, entries: dict[str, Counts]) -> None:
    """Replace the cache file atomically; a cache that cannot be written is skipped silently."""
    from vgen.errors import VgenError
    from vgen.io.atomic import atomic_path

    try:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(entries, sort_keys=True), encoding="utf-8")
    except (OSError, VgenError):
        pass
