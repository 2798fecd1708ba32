"""Generation pipelines: model + sampler + guidance + video I/O, streamed clip by clip.

- ``load_model(spec, device="auto") -> LoadedModel`` (``model.py``)
- ``generate_video(model, frames=, seed=, ...)`` -> uint8 chunks (``generate.py``; long videos in
  ``continuation.py`` and ``hierarchical.py``)
- ``extend_video`` (``extend.py``), ``interpolate_frames`` (``interpolate.py``)

Attributes load lazily so that ``vgen.pipelines.capabilities`` stays importable without torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "LoadedModel": "model", "load_model": "model", "generate_video": "generate", "extend_video": "extend",
    "interpolate_frames": "interpolate", "SamplerSettings": "settings",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"vgen.pipelines.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vgen.pipelines' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
