"""Model configs: the shared pydantic base, the registered families' presets and the config parser.

A model config is the single source of architecture truth: it is printed by ``--dry-run``, saved
with every training run and embedded in every checkpoint. Each family's config class and presets
live in its folder (``vgen/families/<family>/config.py``); this module sees every registered family,
so a family added with ``vgen.families.register`` parses and resolves like a built-in one. No torch
imports here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from vgen import families
from vgen.config.base import DiffusionConfig, ModelConfigBase, StrictModel
from vgen.errors import VgenError


class _Presets(Mapping):
    """Every registered family's presets by name (a live view of the registry)."""

    def __getitem__(self, name: str) -> ModelConfigBase:
        return families.all_presets()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(families.all_presets())

    def __len__(self) -> int:
        return len(families.all_presets())


PRESETS: Mapping[str, ModelConfigBase] = _Presets()

_adapter: dict[int, TypeAdapter] = {}


def _config_adapter() -> TypeAdapter:
    """A parser for the union of every registered family's config (rebuilt when the registry changes)."""
    version = families.version()
    if version not in _adapter:
        classes = tuple(families.config_classes())
        union = Annotated[Union[classes], Field(discriminator="family")] if len(classes) > 1 else classes[0]
        _adapter.clear()
        _adapter[version] = TypeAdapter(union)
    return _adapter[version]


def preset(name: str) -> ModelConfigBase:
    """A fresh copy of the named preset."""
    presets = families.all_presets()
    if name not in presets:
        raise VgenError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(presets))}")
    return presets[name].model_copy(deep=True)


def config_from_json(text: str) -> ModelConfigBase:
    """Parse and validate a model config serialised with ``config.model_dump_json()``."""
    try:
        return _config_adapter().validate_python(json.loads(text))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()) if not str(p).startswith(("tagged-union", "function-")))
        raise VgenError(f"invalid model config: {where + ': ' if where else ''}{err['msg']}") from None
    except ValueError as exc:
        raise VgenError(f"invalid model config: not JSON ({exc})") from None


_FAMILY_CONFIGS = {"PVDMConfig": "pvdm", "VDMConfig": "vdm", "LVDMConfig": "lvdm"}


def __getattr__(name: str) -> Any:
    if name in _FAMILY_CONFIGS:
        return families.config_module(_FAMILY_CONFIGS[name]).CONFIG
    raise AttributeError(f"module 'vgen.config' has no attribute {name!r}")


__all__ = ["DiffusionConfig", "ModelConfigBase", "PRESETS", "StrictModel", "config_from_json", "preset"]
