"""One batched pass over a stream of uint8 clips feeding several extractors (I3D logits, C3D probabilities).

Generated or decoded clips are produced once and every extractor sees each batch, so FVD, KVD and IS
of a set cost one decode (or one generation) pass.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from vgen.metrics.i3d import I3D
from vgen.metrics.preprocess import ResizeMethod, clips_to_i3d_input

Callback = Callable[[int, int, dict], None]
Extractor = Callable[[list[np.ndarray]], np.ndarray]


def batched(clips: Iterable[np.ndarray], batch_size: int) -> Iterator[list[np.ndarray]]:
    """Group a clip stream into lists of at most ``batch_size``."""
    batch: list[np.ndarray] = []
    for clip in clips:
        batch.append(clip)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def i3d_extractor(model: I3D, resize: ResizeMethod) -> Extractor:
    """uint8 clips ``(T, H, W, 3)`` -> I3D features ``(B, 400)`` float64; each clip resized to 224 on its own."""
    device = next(model.parameters()).device

    @torch.inference_mode()
    def run(batch: list[np.ndarray]) -> np.ndarray:
        x = torch.cat([clips_to_i3d_input(clip[None], resize, device) for clip in batch])
        return model(x).double().cpu().numpy()

    return run


def extract(clips: Iterable[np.ndarray], extractors: dict[str, Extractor], *, batch_size: int = 8,
            total: int = 0, callback: Callback | None = None) -> dict[str, np.ndarray]:
    """Run every extractor on every batch of ``clips``; returns ``{name: (N, d) array}``."""
    rows: dict[str, list[np.ndarray]] = {name: [] for name in extractors}
    done = 0
    for batch in batched(clips, batch_size):
        for name, run in extractors.items():
            rows[name].append(run(batch))
        done += len(batch)
        if callback is not None:
            callback(done, max(total, done), {})
    return {name: np.concatenate(r) if r else np.zeros((0, 0)) for name, r in rows.items()}
