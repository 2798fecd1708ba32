"""The vgen cache folder (converted extractor weights, real-set feature statistics) and file hashing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$VGEN_CACHE`` or the platform user cache dir for "vgen", plus ``parts``; created on demand."""
    root = os.environ.get("VGEN_CACHE")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("vgen")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()

