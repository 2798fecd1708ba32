"""Input and output at vgen's edges: video files and streams, checkpoints, the model store.

Names are imported lazily (PEP 562), so ``from vgen.io import open_video`` does not pull in torch.

- ``vgen.io.video``: ``open_video``, ``read_all``, ``VideoWriter``, ``write_video``,
  ``frames_to_tensor``, ``tensor_to_frames``.
- ``vgen.io.checkpoint``: ``save_network``, ``load_network``, ``load_into``,
  ``save_training_state``, ``load_training_state``, ``read_header``.
- ``vgen.io.store``: ``resolve_model``, ``register_model``, ``list_models``, ``models_dir``.
- ``vgen.io.atomic``: ``atomic_path``.
- ``vgen.io.output``: where generated videos go (``plan_outputs``, ``derived_output``,
  ``refuse_existing``) and ``write_chunks``, which streams chunks into them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "open_video": "video", "read_all": "video", "VideoReader": "video", "VideoWriter": "video",
    "write_video": "video", "frames_to_tensor": "video", "tensor_to_frames": "video",
    "save_network": "checkpoint", "load_network": "checkpoint", "load_into": "checkpoint",
    "save_training_state": "checkpoint", "load_training_state": "checkpoint", "read_header": "checkpoint",
    "resolve_model": "store", "register_model": "store", "list_models": "store", "models_dir": "store",
    "StoredModel": "store",
    "atomic_path": "atomic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vgen.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"vgen.io.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
