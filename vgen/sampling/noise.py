"""Per-sample randomness.

Each sample of a batch owns one ``torch.Generator``; noise is drawn per sample and stacked, so
sample i of a batch run is reproducible alone with the same generator (EDM's StackedRandomGenerator).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def check_generators(generators: Sequence[torch.Generator], batch: int) -> None:
    """Samplers need exactly one generator per sample."""
    if len(generators) != batch:
        raise ValueError(f"got {len(generators)} generators for a batch of {batch}; pass one per sample")


def randn_per_sample(like: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
    """Standard normal noise shaped like ``like``: row i drawn from ``generators[i]`` on its device."""
    check_generators(generators, like.shape[0])
    rows = [torch.randn(like.shape[1:], generator=g, device=g.device, dtype=like.dtype) for g in generators]
    return torch.stack(rows).to(like.device)


def seeded_generators(seeds: Sequence[int], device: str | torch.device = "cpu") -> list[torch.Generator]:
    """One generator per seed (the usual way to build ``generators`` from a seed list)."""
    return [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]
