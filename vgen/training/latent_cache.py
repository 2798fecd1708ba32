"""Memoised encodings of the frozen autoencoder for the diffusion stage (``vgen train --latent-cache``).

In the diffusion stage the autoencoder is frozen, so the encoding of a clip depends only on the clip's
pixels and the autoencoder's weights. Each clip of a batch is keyed by a hash of both; hits are read
from a :class:`vgen.data.cache.LatentCache` and only the misses are encoded, in one batch. PVDM caches
``encode`` (its latent is deterministic); LVDM caches the posterior *moments*, so the objective still
draws a fresh posterior sample per step exactly as without the cache.
"""

from __future__ import annotations

import hashlib
from typing import Callable

import torch
from torch import nn

from vgen.data.cache import LatentCache


def weights_digest(module: nn.Module) -> str:
    """A short hash of a network's state (names, shapes and bytes)."""
    h = hashlib.sha1()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class CachedEncoder:
    """Stands in for a frozen autoencoder inside diffusion objectives; everything but the encoders passes through."""

    def __init__(self, autoencoder: nn.Module, cache: LatentCache) -> None:
        self._autoencoder = autoencoder
        self._cache = cache
        self._weights = weights_digest(autoencoder)
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str):  # normalise, latent_shape, decode, ...
        return getattr(self._autoencoder, name)

    def _rows(self, kind: str, video: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        keys = [f"{kind}|{self._weights}|{tuple(row.shape)}|"
                + hashlib.sha1(row.detach().to("cpu").contiguous().numpy().tobytes()).hexdigest() for row in video]
        found = [self._cache.get(key) for key in keys]
        missing = [i for i, z in enumerate(found) if z is None]
        if missing:
            fresh = compute(video[missing])
            for i, z in zip(missing, fresh):
                self._cache.put(keys[i], z)
                found[i] = z.detach().to("cpu")
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        return torch.stack(found).to(video.device)

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        return self._rows("encode", video, self._autoencoder.encode)

    @torch.no_grad()
    def posterior(self, video: torch.Tensor):
        from vgen.families.lvdm.autoencoder import DiagonalGaussian

        ae = self._autoencoder
        moments = self._rows("moments", video, lambda v: ae.quant_conv(ae.encoder(v)))
        return DiagonalGaussian(moments)
