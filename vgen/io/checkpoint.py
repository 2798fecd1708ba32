"""Checkpoints without pickle: one ``.safetensors`` per network, training state in another.

A network file holds the weights plus string metadata: ``format`` ("vgen-network"), the
``format_version``, the ``vgen_version`` that wrote it, the network ``role`` (``unet``,
``autoencoder`` ...), the resolved model ``config`` as JSON, optional ``extra`` JSON, and a
``content_hash`` checked on load: sha256 over every tensor's name, dtype, shape and bytes and, from
format 2 on, over every other metadata entry too, so an edited config or training record is caught.
Format-1 files (tensors hashed only) still load.

A training-state file stores every tensor of an arbitrary nested structure (optimizer state, EMA,
RNG states) as safetensors entries and the structure around them as JSON with tensor references,
so optimizer ``state_dict()``s round-trip bit-exactly with no pickle anywhere.

torch is imported inside functions, so reading headers (``read_header``) stays fast for the CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

from vgen import __version__
from vgen.errors import VgenError
from vgen.io.atomic import atomic_path, os_error_message

if TYPE_CHECKING:
    import torch

    from vgen.config.base import ModelConfigBase

FORMAT_VERSION = 2
# Format 1 hashed the tensors only; format 2 hashes the tensors and the metadata.
_TENSORS_ONLY_HASH = 1
NETWORK_FORMAT = "vgen-network"
TRAINING_FORMAT = "vgen-training-state"
PathLike = Union[str, os.PathLike[str]]

_MAX_HEADER = 100 * 1024 * 1024


# -- safetensors header (no torch) ---------------------------------------------------------------

def read_header(path: PathLike) -> tuple[dict[str, str], dict[str, tuple[str, tuple[int, ...]]]]:
    """Read a safetensors file's metadata and tensor index (dtype, shape) without loading tensors.

    Checks that the file is complete: the header parses and the data section is as long as the
    tensor offsets say. Raises a one-line ``VgenError`` otherwise.
    """
    path = Path(path)
    name = repr(str(path))
    if not path.is_file():
        raise VgenError(f"checkpoint {name} not found; check the path")
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise VgenError(f"checkpoint {name} is truncated or not a safetensors file ({size} bytes)")
            (length,) = struct.unpack("<Q", prefix)
            if length > min(_MAX_HEADER, size - 8):
                raise VgenError(f"checkpoint {name} is not a safetensors file or is truncated (bad header length)")
            header = json.loads(f.read(length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise VgenError(f"checkpoint {name} is not a safetensors file (unreadable header)") from None
    except OSError as exc:
        raise VgenError(f"cannot read checkpoint {name}: {exc.strerror or exc}") from None
    if not isinstance(header, dict):
        raise VgenError(f"checkpoint {name} is not a safetensors file (unreadable header)")
    metadata = header.pop("__metadata__", None) or {}
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    end = 0
    try:
        for key, entry in header.items():
            tensors[key] = (str(entry["dtype"]), tuple(int(d) for d in entry["shape"]))
            end = max(end, int(entry["data_offsets"][1]))
    except (KeyError, TypeError, ValueError, IndexError):
        raise VgenError(f"checkpoint {name} is not a safetensors file (malformed tensor index)") from None
    if 8 + length + end != size:
        raise VgenError(f"checkpoint {name} is truncated or corrupt: expected {8 + length + end} bytes, found {size}")
    return metadata, tensors


def count_parameters(tensors: Mapping[str, tuple[str, tuple[int, ...]]]) -> int:
    """Number of scalar entries in a tensor index from ``read_header``."""
    total = 0
    for _, shape in tensors.values():
        n = 1
        for d in shape:
            n *= d
        total += n
    return total


# -- hashing -------------------------------------------------------------------------------------

def content_hash(tensors: Mapping[str, "torch.Tensor"], metadata: Optional[Mapping[str, str]] = None) -> str:
    """sha256 over (name, dtype, shape, raw bytes) of every tensor in name order, then over every
    ``metadata`` entry but ``content_hash`` itself in key order (each length-prefixed)."""
    import torch

    digest = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().to("cpu").contiguous()
        digest.update(f"{key}\0{str(t.dtype).removeprefix('torch.')}\0{tuple(t.shape)}\0".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().data)
    for key in sorted(metadata or {}):
        if key != "content_hash":
            entry = (key.encode(), str(metadata[key]).encode())  # type: ignore[index]
            digest.update(b"meta" + b"".join(struct.pack("<Q", len(part)) + part for part in entry))
    return digest.hexdigest()


def _sealed(tensors: Mapping[str, "torch.Tensor"], metadata: dict[str, str]) -> dict[str, str]:
    """``metadata`` plus the current format's version and the content hash over it and ``tensors``."""
    metadata = {**metadata, "format_version": str(FORMAT_VERSION), "vgen_version": __version__}
    return {**metadata, "content_hash": content_hash(tensors, metadata)}


def _prepare(tensors: Mapping[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]:
    """Detached, contiguous CPU copies that share no storage (safetensors refuses shared memory)."""
    return {key: t.detach().to("cpu").contiguous().clone() for key, t in tensors.items()}


def _save(path: PathLike, tensors: dict[str, "torch.Tensor"], metadata: dict[str, str]) -> None:
    """Write atomically; a failed write (full disk, read-only folder) is one ``VgenError`` line."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
    except OSError as exc:
        raise VgenError(os_error_message(exc, Path(path))) from None
    except SafetensorError as exc:
        raise VgenError(os_error_message(_as_os_error(exc), Path(path))) from None


def _as_os_error(exc: Exception) -> OSError:
    """The OS error inside a safetensors error (its message ends in ``(os error N)``), for one clear line."""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    found = re.search(r"\(os error (\d+)\)", message)
    code = int(found.group(1)) if found else 0
    return OSError(code, os.strerror(code) if code else message)


def _load_tensors(path: Path, expected_format: str) -> tuple[dict[str, "torch.Tensor"], dict[str, str]]:
    """Load and verify a vgen safetensors file: complete, right kind, known version, hash intact."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    name = repr(str(path))
    metadata, _ = read_header(path)
    kind = metadata.get("format")
    if kind is None:
        raise VgenError(f"checkpoint {name} has no vgen metadata (not saved by vgen); save it with vgen.io.checkpoint")
    if kind != expected_format:
        raise VgenError(f"{name} is a {kind} file, not a {expected_format} file; pass the right file")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise VgenError(f"checkpoint {name} has a malformed format_version; the file is corrupt") from None
    if version > FORMAT_VERSION:
        raise VgenError(f"checkpoint {name} uses format {version}, newer than this vgen supports ({FORMAT_VERSION}); "
                        f"upgrade vgen (`pip install -U vgen`)")
    if version < 1:
        raise VgenError(f"checkpoint {name} has a malformed format_version; the file is corrupt")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise VgenError(f"checkpoint {name} is corrupt: {str(exc).splitlines()[0]}") from None
    hashed = None if version == _TENSORS_ONLY_HASH else metadata
    if content_hash(tensors, hashed) != metadata.get("content_hash"):
        raise VgenError(f"checkpoint {name} is corrupt: its content hash does not match (edited by hand, or damaged "
                        "in copy or download)")
    return tensors, metadata


# -- networks ------------------------------------------------------------------------------------

def save_network(path: PathLike, state_dict: Mapping[str, "torch.Tensor"], config: "ModelConfigBase", *,
                 role: str, extra: Optional[dict[str, Any]] = None) -> None:
    """Write one network's weights with its config, role, versions and content hash (atomically)."""
    tensors = _prepare(state_dict)
    metadata = {
        "format": NETWORK_FORMAT,
        "role": role,
        "config": config.model_dump_json(),
        "extra": json.dumps(extra or {}),
    }
    _save(path, tensors, _sealed(tensors, metadata))


def load_network(path: PathLike) -> tuple[dict[str, "torch.Tensor"], "ModelConfigBase", dict[str, Any]]:
    """Load and verify a network file: ``(state_dict, config, meta)``.

    ``meta`` holds ``role``, ``vgen_version``, ``format_version``, ``content_hash`` and ``extra``.
    Truncation, a non-safetensors file, missing metadata, a newer format or a hash mismatch each
    raise a one-line ``VgenError`` naming the file.
    """
    from vgen.config import config_from_json

    path = Path(path)
    tensors, metadata = _load_tensors(path, NETWORK_FORMAT)
    if "config" not in metadata or "role" not in metadata:
        raise VgenError(f"checkpoint {str(path)!r} lacks its model config or role; re-save it with vgen")
    try:
        config = config_from_json(metadata["config"])
        extra = json.loads(metadata.get("extra", "{}"))
    except (VgenError, json.JSONDecodeError) as exc:
        raise VgenError(f"checkpoint {str(path)!r} has an invalid config: {exc}") from None
    meta = {
        "role": metadata["role"],
        "vgen_version": metadata.get("vgen_version"),
        "format_version": int(metadata["format_version"]),
        "content_hash": metadata["content_hash"],
        "extra": extra,
    }
    return tensors, config, meta


def _fit_problems(own: Mapping[str, tuple[int, ...]], theirs: Mapping[str, tuple[int, ...]]) -> list[str]:
    """How a network's tensor shapes (``own``) and a file's (``theirs``) differ, one phrase per kind."""
    missing = [k for k in own if k not in theirs]
    unexpected = [k for k in theirs if k not in own]
    mismatched = [f"{k} {tuple(theirs[k])} vs {tuple(own[k])}"
                  for k in own if k in theirs and tuple(theirs[k]) != tuple(own[k])]
    return [f"{len(items)} {label} (e.g. {items[0]})"
            for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                                 ("shape mismatches", mismatched)) if items]


def _check_role(name: str, found: str, wanted: str) -> None:
    if found != wanted:
        raise VgenError(f"checkpoint {name} holds the {found!r} network, not {wanted!r}; pass {wanted}.safetensors")


def check_fits(module: "torch.nn.Module", path: PathLike, *, role: str) -> None:
    """Check from the file's header alone (no tensor is read) that ``path`` holds ``role``'s weights with
    exactly ``module``'s tensor names and shapes. ``module`` may live on the meta device, so a config
    edited to an enormous size is refused before any memory is allocated."""
    metadata, index = read_header(path)
    name = repr(str(path))
    _check_role(name, metadata.get("role", role), role)
    own = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    problems = _fit_problems(own, {k: shape for k, (_, shape) in index.items()})
    if problems:
        raise VgenError(f"checkpoint {name} does not fit the model config it is loaded with ({'; '.join(problems)}); "
                        "its config or weights were edited, or it belongs to another model")


def load_into(module: "torch.nn.Module", path: PathLike, *, role: Optional[str] = None
              ) -> tuple["ModelConfigBase", dict[str, Any]]:
    """Load a network file into ``module`` strictly; returns ``(config, meta)``.

    Missing keys, unexpected keys and shape mismatches become one ``VgenError`` line (with
    examples), which means the network was built from a different config than the weights.
    """
    state_dict, config, meta = load_network(path)
    name = repr(str(path))
    if role is not None:
        _check_role(name, meta["role"], role)
    problems = _fit_problems({k: tuple(v.shape) for k, v in module.state_dict().items()},
                             {k: tuple(v.shape) for k, v in state_dict.items()})
    if problems:
        raise VgenError(f"checkpoint {name} does not fit this network ({'; '.join(problems)}); "
                        f"build the network from the checkpoint's own config")
    module.load_state_dict(state_dict, strict=True)
    return config, meta


# -- training state ------------------------------------------------------------------------------

def _encode(value: Any, tensors: dict[str, "torch.Tensor"]) -> Any:
    """JSON-able form of a nested structure; tensors are moved into ``tensors`` and referenced.

    Tuples, dicts with non-string (or reserved ``__``-prefixed) keys, and tensors are tagged so
    ``_decode`` restores them exactly.
    """
    import torch

    if isinstance(value, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = value
        return {"__tensor__": key}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _encode(v, tensors) for k, v in value.items()}
        return {"__items__": [[_encode(k, tensors), _encode(v, tensors)] for k, v in value.items()]}
    raise TypeError(f"cannot store {type(value).__name__} in a training state; use tensors, dicts, lists and JSON scalars")


def _decode(value: Any, tensors: Mapping[str, "torch.Tensor"]) -> Any:
    """Inverse of ``_encode``."""
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__tuple__" in value:
            return tuple(_decode(v, tensors) for v in value["__tuple__"])
        if "__items__" in value:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in value["__items__"]}
        return {k: _decode(v, tensors) for k, v in value.items()}
    return value


def save_training_state(path: PathLike, tensors: dict[str, Any], meta: Optional[dict[str, Any]] = None) -> None:
    """Write resumable training state without pickle (atomically).

    ``tensors`` is any nested structure of dicts, lists, tuples, tensors and JSON scalars (e.g.
    ``{"optimizer": opt.state_dict(), "ema": ema.state_dict(), "rng": torch.get_rng_state()}``);
    ``meta`` is plain JSON (step, data position, run config). Both come back from
    ``load_training_state`` bit-exactly.
    """
    store: dict[str, "torch.Tensor"] = {}
    structure = _encode(tensors, store)
    meta_tensors: dict[str, "torch.Tensor"] = {}
    meta_json = json.dumps(_encode(meta or {}, meta_tensors))
    if meta_tensors:
        raise TypeError("training-state meta must be plain JSON; put tensors in the `tensors` argument")
    prepared = _prepare(store)
    metadata = {"format": TRAINING_FORMAT, "structure": json.dumps(structure), "meta": meta_json}
    _save(path, prepared, _sealed(prepared, metadata))


def load_training_state(path: PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a file written by ``save_training_state``: ``(tensors, meta)`` as they were saved."""
    path = Path(path)
    store, metadata = _load_tensors(path, TRAINING_FORMAT)
    try:
        structure = json.loads(metadata["structure"])
        meta = _decode(json.loads(metadata.get("meta", "{}")), {})
    except (KeyError, json.JSONDecodeError):
        raise VgenError(f"training state {str(path)!r} has a damaged structure record; the file is corrupt") from None
    return _decode(structure, store), meta
