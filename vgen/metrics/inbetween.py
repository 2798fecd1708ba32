"""In-between quality: frames a model inserts between key frames, scored against the true frames.

Each clip's frames ``0, k, 2k, ...`` are the keys; the model fills the ``k − 1`` frames between each pair
(``vgen interpolate --factor k``) and the inserted frames are compared with the clip's own. The baseline is
plain frame blending: frame ``a + j`` is ``(1 − j/k)·key_a + (j/k)·key_{a+k}``, rounded to 8 bits (what a
blending frame-rate converter makes). Scores as in ``vgen.metrics.paired``, on the inserted frames only.

Where the errors are: a pixel of an inserted frame is *moving* when the true frame and its two neighbouring keys do not
all agree there (two of them differ by more than ``MOVING_LEVELS`` grey levels in some channel), *static* otherwise
(blending is exact there up to the codec's noise). ``mae_moving`` / ``mae_static`` are the mean absolute errors in grey
levels over all such pixels of all clips (each pixel's mean over its channels), ``moving_share`` their share.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

import numpy as np

from vgen.metrics.paired import PairedScores

Callback = Callable[[int, Optional[int], dict], None]
MOVING_LEVELS = 8


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


def moving_pixels(clip: np.ndarray, factor: int) -> np.ndarray:
    """(inserted frames, H, W) bool: where an inserted frame of ``clip`` (uint8, keys every ``factor``-th frame from the
    first, last frame a key) and its two neighbouring keys do not all agree within ``MOVING_LEVELS``."""
    index = np.nonzero(np.arange(len(clip)) % factor)[0]
    truth, before, after = (clip[i].astype(np.int16) for i in (index, index // factor * factor,
                                                                (index // factor + 1) * factor))
    return np.maximum.reduce([np.abs(a - b).max(-1) for a, b in ((truth, before), (truth, after), (before, after))]) \
        > MOVING_LEVELS


def inbetween_scores(clips: Iterable[np.ndarray], interpolate: Callable[[np.ndarray, int], np.ndarray], factor: int,
                     *, total: int = 0, callback: Optional[Callback] = None) -> dict[str, float]:
    """Mean PSNR/SSIM of the inserted frames made by ``interpolate(keys, clip_index)`` and by frame blending, and
    their mean absolute errors on moving and static pixels."""
    if factor < 2:
        raise ValueError(f"factor must be at least 2 (got {factor})")
    scores = PairedScores("blend")
    errors = {"mae_moving": 0.0, "mae_static": 0.0, "blend_mae_moving": 0.0, "blend_mae_static": 0.0}
    pixels = {"moving": 0, "static": 0}
    for index, clip in enumerate(clips):
        clip = clip[: usable_frames(len(clip), factor)]
        keys = clip[::factor]
        inserted = np.arange(len(clip)) % factor != 0
        made = interpolate(keys, index)
        if made.shape != clip.shape:
            raise ValueError(f"the interpolation made {made.shape} for a clip of {clip.shape}")
        moving = moving_pixels(clip, factor)
        pixels["moving"] += int(moving.sum())
        pixels["static"] += int((~moving).sum())
        blended = blend(keys, factor)
        scores.add(clip[inserted], made[inserted], blended[inserted])
        for prefix, frames in (("", made), ("blend_", blended)):
            error = np.abs(frames[inserted].astype(np.int16) - clip[inserted]).mean(-1)
            errors[prefix + "mae_moving"] += float(error[moving].sum())
            errors[prefix + "mae_static"] += float(error[~moving].sum())
        if callback is not None:
            callback(scores.count, total or None, {})
    result = scores.result()
    located = {name: value / max(pixels[name.rsplit("_", 1)[1]], 1) for name, value in errors.items()}
    return {**result, **located, "moving_share": pixels["moving"] / (pixels["moving"] + pixels["static"])}
