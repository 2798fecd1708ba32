"""Model families, one folder each, and the registry that maps a config to its family.

A family folder ``vgen/families/<name>/`` holds everything that family knows:
- ``config.py`` (no torch): ``CONFIG``, its pydantic config class (``family: Literal["<name>"]``), and
  ``PRESETS``, its named configs;
- ``family.py``: ``FAMILY``, a :class:`vgen.families.base.Family` (networks, latent space, conditioning
  methods, long-video plans, training stages and objectives);
- its networks, conditioning and losses.
Shared building blocks (the factorised space-time UNet, attention, embeddings, RoPE) live in
``vgen.models``; samplers and guidance in ``vgen.sampling``.

Adding a family is one folder and one line in ``BUILTIN`` (or one ``register`` call from a plug-in or a
test). Nothing here imports torch: configs, presets and capabilities are read by ``--help`` and
``vgen models``.

Capabilities say which conditioning methods each command accepts for a model (first = default); they
are the single source of truth for ``vgen models``, the commands' ``--method`` choices and their errors.
Method names:
- ``latent``: PVDM clip-by-clip conditioning on the previous clip's clean latent (seed 003, Alg. 1).
- ``mask``: a network trained with known-frame masks (VDM ``conditional_frames``; LVDM prediction /
  interpolation with conditional latent perturbation; FI, Make-A-Video's masked frame interpolation).
- ``hierarchical``: LVDM keyframes by prediction, then interpolation between them.
- ``replacement`` / ``reconstruction``: VDM's training-free conditioning (paste re-noised known
  frames, or reconstruction guidance).
- ``independent``: every frame on its own (an image model; the inflated family's first stage).

``upscale`` says whether a model is an upscaling stage of a cascade (``vgen upscale``) and by how much:
(spatial, temporal) factors, e.g. (2, 1) for a spatial super-resolution model that doubles height and width.
Such a model needs a video to condition on, so it has no ``sample``/``extend``/``interpolate`` methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from vgen.families.base import Family

BUILTIN: dict[str, str] = {
    "pvdm": "vgen.families.pvdm",
    "vdm": "vgen.families.vdm",
    "lvdm": "vgen.families.lvdm",
    "dit": "vgen.families.dit",
    "sr": "vgen.families.sr",
    "fi": "vgen.families.fi",
    "inflated": "vgen.families.inflated",
}

@dataclass(frozen=True)
class Capabilities:
    sample: str                      # default method for videos longer than one clip
    long: tuple[str, ...]            # every method ``vgen sample --method`` accepts
    extend: tuple[str, ...]          # methods ``vgen extend`` accepts (first = default)
    interpolate: tuple[str, ...]     # methods ``vgen interpolate`` accepts (first = default); () = cannot
    upscale: Optional[tuple[int, int]] = None  # (spatial, temporal) factors of ``vgen upscale``; None = cannot
    hint: str = ""                   # what to do instead, told when a command the model cannot do is asked


_registry: dict[str, str] = dict(BUILTIN)
_version = [0]  # bumped by register/unregister: caches built from the registry (the config parser) rebuild


def register(name: str, package: str) -> None:
    """Add (or replace) family ``name``, whose ``<package>.config`` and ``<package>.family`` follow the layout above."""
    _registry[name] = package
    _version[0] += 1


def unregister(name: str) -> None:
    """Remove a family added with ``register`` (built-in families cannot be removed)."""
    if name in BUILTIN:
        raise ValueError(f"{name!r} is a built-in family")
    _registry.pop(name, None)
    _version[0] += 1


def version() -> int:
    return _version[0]


def names() -> list[str]:
    return list(_registry)


def config_module(name: str) -> Any:
    return import_module(f"{_registry[name]}.config")


def config_classes() -> list[type]:
    """Every registered family's config class, in registry order."""
    return [config_module(name).CONFIG for name in _registry]


def all_presets() -> dict[str, Any]:
    """Every registered family's presets by name (fresh dict; the configs are the modules' own objects)."""
    presets: dict[str, Any] = {}
    for name in _registry:
        presets.update(config_module(name).PRESETS)
    return presets


def family_of(config: Any) -> "Family":
    """The family object of a model config (by its ``family`` field)."""
    name = getattr(config, "family")
    if name not in _registry:
        raise ValueError(f"unknown model family {name!r}; registered: {', '.join(_registry)}")
    return import_module(f"{_registry[name]}.family").FAMILY


def capabilities(config: Any) -> Capabilities:
    """What ``config``'s family can do, as its ``config.py`` declares it."""
    return config_module(getattr(config, "family")).capabilities(config)
