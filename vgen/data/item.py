"""The one item format every vgen dataset yields, so training never cares where clips come from."""

from __future__ import annotations

import numpy as np
import torch
from einops import rearrange

Item = dict[str, torch.Tensor]


def make_item(frames: np.ndarray, *, label: int, index: int, valid: np.ndarray | None = None) -> Item:
    """Turn uint8 ``(T, H, W, 3)`` frames into a training item.

    Returns ``video`` float32 ``(3, T, H, W)`` in [-1, 1] (``x / 127.5 - 1``), ``label`` long scalar
    (-1 = no label), ``index`` long scalar (position in the dataset) and ``valid`` bool ``(T,)``
    (False marks padding frames that repeat the last real frame). Default collation stacks them into
    ``(B, 3, T, H, W)``, ``(B,)``, ``(B,)`` and ``(B, T)``.
    """
    # In numpy: single-threaded, so DataLoader workers and a busy machine pay no thread start-up.
    video = np.ascontiguousarray(rearrange(frames, "t h w c -> c t h w"), dtype=np.float32)
    video /= 127.5
    video -= 1.0
    if valid is None:
        valid = np.ones(frames.shape[0], dtype=bool)
    return {
        "video": torch.from_numpy(video),
        "label": torch.tensor(label, dtype=torch.long),
        "index": torch.tensor(index, dtype=torch.long),
        "valid": torch.from_numpy(np.asarray(valid, dtype=bool).copy()),
    }
