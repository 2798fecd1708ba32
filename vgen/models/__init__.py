"""Shared network building blocks: the factorised space-time UNet, attention, embeddings, RoPE.

Each family's own networks live in its folder (``vgen.families.<family>``); ``build_networks(config)``
returns the named networks of any registered family (``"unet"``, plus ``"autoencoder"`` for latent models).
"""

from __future__ import annotations

from torch import nn

from vgen.config.base import ModelConfigBase


def build_networks(config: ModelConfigBase) -> dict[str, nn.Module]:
    from vgen.families import family_of

    return family_of(config).build_networks(config)
