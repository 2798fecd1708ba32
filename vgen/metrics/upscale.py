"""Upscaling quality: what an upscaling stage makes of degraded clips, scored against the clips themselves.

Each clip (at the model's output size) is degraded the way the stage was trained (``Family.upscale_input``: for
spatial SR, antialiased bicubic downscaling) and rounded to 8 bits, as a video read from a file would be. The model
upscales it (``vgen upscale``) and so does the stage's plain baseline (``Family.upscale_baseline``: bicubic), also
rounded to 8 bits. Scores as in ``vgen.metrics.paired`` over all frames, with the keys ``baseline_psnr`` and
``baseline_ssim`` for the baseline.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import numpy as np

from vgen.metrics.paired import PairedScores

Callback = Callable[[int, Optional[int], dict], None]


def degrade_frames(model: Any, clip: np.ndarray) -> np.ndarray:
    """uint8 (T, H, W, 3) at the model's output size -> what the stage was trained to undo, rounded to 8 bits."""
    from vgen.io.video import frames_to_tensor, tensor_to_frames

    return tensor_to_frames(model.family.upscale_input(model, frames_to_tensor(clip).to(model.device)))


def baseline_frames(model: Any, source: np.ndarray) -> np.ndarray:
    """The stage's plain upscaling of uint8 ``source`` frames (bicubic for spatial SR), rounded to 8 bits."""
    from vgen.io.video import frames_to_tensor, tensor_to_frames

    return tensor_to_frames(model.family.upscale_baseline(model, frames_to_tensor(source).to(model.device)))


def upscale_scores(clips: Iterable[np.ndarray], degrade: Callable[[np.ndarray], np.ndarray],
                   upscale: Callable[[np.ndarray, int], np.ndarray], baseline: Callable[[np.ndarray], np.ndarray],
                   *, total: int = 0, callback: Optional[Callback] = None) -> dict[str, float]:
    """Mean PSNR/SSIM of ``upscale(degrade(clip), clip_index)`` and of ``baseline(degrade(clip))`` against each clip
    (all uint8 (T, H, W, 3) arrays)."""
    scores = PairedScores("baseline")
    for index, clip in enumerate(clips):
        source = degrade(clip)
        made, plain = upscale(source, index), baseline(source)
        if made.shape != clip.shape or plain.shape != clip.shape:
            raise ValueError(f"upscaling made {made.shape} (baseline {plain.shape}) for a clip of {clip.shape}")
        scores.add(clip, made, plain)
        if callback is not None:
            callback(scores.count, total or None, {})
    return scores.result()
