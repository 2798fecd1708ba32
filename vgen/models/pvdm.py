"""PVDM (Yu, Sohn, Kim, Shin, CVPR 2023): projected autoencoder + plane UNet.

``build(config)`` returns ``{"autoencoder": PVDMAutoencoder, "unet": PVDMUNet}``. The flat latent
layout helpers (``split_planes``/``join_planes``/``plane_sizes``) live in :mod:`vgen.models.pvdm_planes`
and are re-exported here.
"""

from __future__ import annotations

from torch import nn

from vgen.config.pvdm import PVDMConfig
from vgen.models.pvdm_autoencoder import PVDMAutoencoder
from vgen.models.pvdm_planes import PlaneSizes, join_planes, plane_sizes, split_planes
from vgen.models.pvdm_unet import PVDMUNet


def build(config: PVDMConfig) -> dict[str, nn.Module]:
    """The two PVDM networks for ``config`` (frames, resolution and sizes all come from it)."""
    return {
        "autoencoder": PVDMAutoencoder(config.autoencoder, config.frames, config.resolution),
        "unet": PVDMUNet(config),
    }


__all__ = ["PVDMAutoencoder", "PVDMUNet", "PlaneSizes", "build", "join_planes", "plane_sizes", "split_planes"]
