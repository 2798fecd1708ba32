"""The key frames ``vgen interpolate`` fills between: one video (temporal up-sampling by ``--factor k``) or two or
more key images (``--frames N`` in-betweens per pair)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from vgen.errors import VgenError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class KeyFrames:
    """uint8 key-frame ``chunks`` at the model's resolution, how many (None: unknown), and the frame rate of the
    key sequence (None for images)."""

    chunks: Iterator[np.ndarray]
    total: Optional[int]
    fps: Optional[float]


def in_betweens(inputs: list[str], *, factor: Optional[int], frames: Optional[int]) -> int:
    """New frames per key pair from the options, checked against the kind of input (before any work)."""
    images = len(inputs) > 1
    if images and factor is not None:
        raise VgenError("--factor is for one video input; with key images use --frames N")
    if not images and frames is not None:
        raise VgenError("--frames is for key images; with one video use --factor k")
    if images and any(p == "-" for p in inputs):
        raise VgenError("stdin (-) can only be the single video input")
    if images and any(not p.lower().endswith(IMAGE_SUFFIXES) for p in inputs):
        raise VgenError("give one video, or two or more key images (.png/.jpg); "
                        f"got {len(inputs)} inputs that are not all images")
    between = (frames if frames is not None else 1) if images else (factor if factor is not None else 2) - 1
    if images and between <= 0:
        raise VgenError(f"--frames must be positive (got {between})")
    if not images and between <= 0:
        raise VgenError(f"--factor must be at least 2 (got {between + 1})")
    return between


def open_keys(inputs: list[str], *, size: int, chunk: int) -> KeyFrames:
    """The key frames of ``inputs`` resized (shorter side + centre crop) to ``size``."""
    from vgen.io.video import open_video

    if len(inputs) > 1:
        keys = [_first_frame(open_video(path, size=size, fit="crop"), path) for path in inputs]
        return KeyFrames(iter([np.stack(keys)]), len(keys), None)
    reader = open_video(inputs[0], size=size, fit="crop")
    return KeyFrames(reader.chunks(chunk), reader.num_frames, float(reader.fps))


def _first_frame(reader: object, path: str) -> np.ndarray:
    """The first frame of a key image (or of a video given as a key)."""
    for chunk in reader.chunks(1):  # type: ignore[attr-defined]
        return chunk[0]
    raise VgenError(f"{path}: holds no frame; give a PNG or JPG image")
