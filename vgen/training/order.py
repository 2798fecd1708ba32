"""Data order and per-sample randomness as pure functions of (seed, stage, step, sample).

Nothing here has state: the batch of step ``k`` and every random draw for its samples can be
recomputed at any time. That is what makes resume bit-exact (no data-loader position or RNG state to
restore) and what makes N processes see exactly the randomness one process would (each rank takes
its slice of the same global batch, and sample ``i``'s generator does not depend on the rank).
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts (stable across runs, platforms and Python hash seeds)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def global_batch_indices(seed: int, stage: str, step: int, batch_size: int, dataset_size: int
                         ) -> list[tuple[int, int]]:
    """``(epoch, dataset index)`` of each sample of the global batch of optimisation step ``step`` (0-based).

    Samples are drawn epoch by epoch without replacement: sample number ``n = step·B + j`` is position
    ``n mod N`` of the permutation of epoch ``n div N``, and each epoch's permutation is seeded by
    (seed, stage, epoch). The epoch is passed on to the dataset, whose random clip start is a function
    of (seed, epoch, index) (``vgen.data``).
    """
    indices: list[tuple[int, int]] = []
    cached_epoch, perm = -1, None
    for n in range(step * batch_size, (step + 1) * batch_size):
        epoch, position = divmod(n, dataset_size)
        if epoch != cached_epoch:
            g = torch.Generator().manual_seed(derive_seed(seed, stage, "epoch", epoch))
            perm = torch.randperm(dataset_size, generator=g)
            cached_epoch = epoch
        indices.append((epoch, int(perm[position])))
    return indices


def micro_batch_slice(batch_size: int, accumulate: int, world_size: int, micro: int, rank: int) -> slice:
    """Positions in the global batch of micro-batch ``micro`` on ``rank``.

    The global batch splits into ``accumulate`` consecutive micro-batches; each splits evenly over the
    ranks. Positions, not indices, so the per-sample generators follow the sample wherever it runs.
    """
    per_micro = batch_size // accumulate
    per_rank = per_micro // world_size
    start = micro * per_micro + rank * per_rank
    return slice(start, start + per_rank)


def sample_generators(seed: int, stage: str, step: int, positions: range) -> list[torch.Generator]:
    """One CPU generator per sample, seeded by (seed, stage, step, position in the global batch).

    CPU generators give the same numbers on every device (draws are moved to the data's device).
    """
    return [torch.Generator().manual_seed(derive_seed(seed, stage, "sample", step, p)) for p in positions]


def step_seed(seed: int, stage: str, step: int, rank: int) -> int:
    """Seed for network-internal randomness of one step (dropout), per rank."""
    return derive_seed(seed, stage, "dropout", step, rank)
