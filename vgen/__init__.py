"""vgen: video generation with latent diffusion models (PVDM, VDM, LVDM, DiT).

Importing this package is cheap: it pulls in no torch, so ``vgen --help`` stays fast. The public Python API:

- ``vgen.load_model(name_or_path, device="auto")``: a model from the store, the bundled models or a folder, with
  ``encode(video)``, ``decode(latent)`` and ``denoise(x_t, t, cond=None)`` (the raw network output); videos are
  (B, 3, T, H, W) floats in [-1, 1].
- ``vgen.sample_video``, ``vgen.extend_video``, ``vgen.interpolate_video`` with a ``vgen.SamplerSettings``;
  ``vgen.upscale_video`` (with ``vgen.UpscaleOptions``) for an upscaling stage of a cascade.
"""

from typing import Any

__version__ = "0.1.0"

_API = {
    "load_model": "vgen.pipelines.model", "LoadedModel": "vgen.pipelines.model",
    "SamplerSettings": "vgen.pipelines.settings", "sample_video": "vgen.pipelines.generate",
    "extend_video": "vgen.pipelines.generate", "interpolate_video": "vgen.pipelines.generate",
    "upscale_video": "vgen.pipelines.upscale", "UpscaleOptions": "vgen.pipelines.upscale",
}


def __getattr__(name: str) -> Any:
    if name in _API:
        from importlib import import_module

        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'vgen' has no attribute {name!r}")


__all__ = ["__version__", *sorted(_API)]
