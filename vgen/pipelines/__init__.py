"""Generation pipelines: model + sampler + guidance + video I/O, streamed window by window.

- ``load_model(spec, device="auto") -> LoadedModel`` (``model.py``)
- ``SamplerSettings`` (``settings.py``): every generation knob, validated once
- ``sample_video``, ``extend_video``, ``interpolate_video`` (``generate.py``) -> a ``Generation``
- ``upscale_video`` with ``UpscaleOptions`` (``upscale.py``): one upscaling stage of a cascade over any video
- the one window loop and its plans (``windows.py``), one clip's denoising (``clip.py``)

Attributes load lazily so that ``vgen.pipelines.settings`` stays importable without torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "LoadedModel": "model", "load_model": "model", "SamplerSettings": "settings", "Generation": "generate",
    "sample_video": "generate", "extend_video": "generate", "interpolate_video": "generate",
    "upscale_video": "upscale", "UpscaleOptions": "upscale",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"vgen.pipelines.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vgen.pipelines' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
