"""Networks only: no sampling and no I/O.

``build_networks(config)`` returns the named networks of a model family:
- PVDM: ``{"autoencoder": PVDMAutoencoder, "unet": PVDMUNet}``
- VDM:  ``{"unet": VDMUNet}`` (pixel space, no autoencoder)
- LVDM: ``{"autoencoder": LVDMAutoencoder, "unet": LVDMUNet}`` (one UNet serves prediction and interpolation)
"""

from __future__ import annotations

from torch import nn

from vgen.config.base import ModelConfigBase


def build_networks(config: ModelConfigBase) -> dict[str, nn.Module]:
    family = getattr(config, "family")
    if family == "pvdm":
        from vgen.models.pvdm import build
    elif family == "vdm":
        from vgen.models.vdm import build
    elif family == "lvdm":
        from vgen.models.lvdm import build
    else:  # pragma: no cover - the config union admits only the three families
        raise ValueError(f"unknown model family {family!r}")
    return build(config)
