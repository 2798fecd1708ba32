"""In-between quality: frames a model inserts between key frames, scored against the true frames.

Each clip's frames ``0, k, 2k, ...`` are the keys; the model fills the ``k − 1`` frames between each pair
(``vgen interpolate --factor k``) and the inserted frames are compared with the clip's own. The baseline is
plain frame blending: frame ``a + j`` is ``(1 − j/k)·key_a + (j/k)·key_{a+k}``, rounded to 8 bits (what a
blending frame-rate converter makes). Scores as in ``vgen.metrics.paired``, on the inserted frames only.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

import numpy as np

from vgen.metrics.paired import PairedScores

Callback = Callable[[int, Optional[int], dict], None]


def usable_frames(frames: int, factor: int) -> int:
    """Frames of a clip that lie on or between keys: (keys − 1)·k + 1."""
    return (frames - 1) // factor * factor + 1


def blend(keys: np.ndarray, factor: int) -> np.ndarray:
    """Linear frame blending of uint8 keys (n, H, W, 3) to (n − 1)·k + 1 frames."""
    out = [keys[0]]
    a, b = keys[:-1].astype(np.float64), keys[1:].astype(np.float64)
    for i in range(len(keys) - 1):
        for j in range(1, factor + 1):
            w = j / factor
            out.append(np.clip(np.rint((1 - w) * a[i] + w * b[i]), 0, 255).astype(np.uint8))
    return np.stack(out)


def inbetween_scores(clips: Iterable[np.ndarray], interpolate: Callable[[np.ndarray, int], np.ndarray], factor: int,
                     *, total: int = 0, callback: Optional[Callback] = None) -> dict[str, float]:
    """Mean PSNR/SSIM of the inserted frames made by ``interpolate(keys, clip_index)`` and by frame blending."""
    if factor < 2:
        raise ValueError(f"factor must be at least 2 (got {factor})")
    scores = PairedScores("blend")
    for index, clip in enumerate(clips):
        clip = clip[: usable_frames(len(clip), factor)]
        keys = clip[::factor]
        inserted = np.arange(len(clip)) % factor != 0
        made = interpolate(keys, index)
        if made.shape != clip.shape:
            raise ValueError(f"the interpolation made {made.shape} for a clip of {clip.shape}")
        scores.add(clip[inserted], made[inserted], blend(keys, factor)[inserted])
        if callback is not None:
            callback(scores.count, total or None, {})
    return scores.result()
