"""Pydantic configs for every model family and the named presets.

A model config is the single source of architecture truth: it is printed by ``--dry-run``, saved
with every training run and embedded in every checkpoint. No torch imports here.
"""

from __future__ import annotations

import json
from typing import Annotated, Union

from pydantic import Field, TypeAdapter, ValidationError

from vgen.config import lvdm, pvdm, vdm
from vgen.config.base import DiffusionConfig, ModelConfigBase, StrictModel
from vgen.config.lvdm import LVDMConfig
from vgen.config.pvdm import PVDMConfig
from vgen.config.vdm import VDMConfig
from vgen.errors import VgenError

ModelConfig = Annotated[Union[PVDMConfig, VDMConfig, LVDMConfig], Field(discriminator="family")]

PRESETS: dict[str, ModelConfigBase] = {**pvdm.PRESETS, **vdm.PRESETS, **lvdm.PRESETS}

_ADAPTER: TypeAdapter = TypeAdapter(ModelConfig)


def preset(name: str) -> ModelConfigBase:
    """A fresh copy of the named preset."""
    if name not in PRESETS:
        raise VgenError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}")
    return PRESETS[name].model_copy(deep=True)


def config_from_json(text: str) -> ModelConfigBase:
    """Parse and validate a model config serialised with ``config.model_dump_json()``."""
    try:
        return _ADAPTER.validate_python(json.loads(text))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()) if not str(p).startswith(("tagged-union", "function-")))
        raise VgenError(f"invalid model config: {where + ': ' if where else ''}{err['msg']}") from None
    except ValueError as exc:
        raise VgenError(f"invalid model config: not JSON ({exc})") from None


__all__ = [
    "DiffusionConfig", "LVDMConfig", "ModelConfig", "ModelConfigBase", "PRESETS", "PVDMConfig",
    "StrictModel", "VDMConfig", "config_from_json", "preset",
]
