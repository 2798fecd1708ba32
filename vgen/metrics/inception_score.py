"""Inception Score of generated videos (Salimans et al. 2016; video IS: Saito et al. 2017).

``IS = exp(E_x KL(p(y|x) || p(y)))`` with ``p(y)`` the mean prediction *within a split*. Protocol
(StyleGAN-V ``isv2048_ucf``, used by PVDM and DIGAN tables): shuffle the probabilities with
``np.random.RandomState(42)``, cut into 10 splits of ``N // 10``, report the mean and std over splits.
IS grows with the split size, so only scores with the same protocol compare.
"""

from __future__ import annotations

import numpy as np

IS_SPLITS = 10
IS_SHUFFLE_SEED = 42


def inception_score(probs: np.ndarray, splits: int = IS_SPLITS, shuffle_seed: int | None = IS_SHUFFLE_SEED) -> tuple[float, float]:
    """Mean and std of the IS over ``splits`` equal splits of ``probs`` ``(N, classes)``."""
    p = np.array(probs, dtype=np.float64)
    if len(p) < splits:
        raise ValueError(f"IS with {splits} splits needs at least {splits} samples, got {len(p)}")
    if shuffle_seed is not None:
        np.random.RandomState(shuffle_seed).shuffle(p)
    size = len(p) // splits
    scores = []
    for k in range(splits):
        part = p[k * size:(k + 1) * size]
        p_y = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(p_y)), 0.0).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
