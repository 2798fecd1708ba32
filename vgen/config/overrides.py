"""``vgen train --set KEY=VALUE``: change fields of a model config by dotted path before it is trained.

A preset is a starting point, not a cage: ``--set autoencoder.patch_size=2 --set unet.model_channels=96`` trains
that variant of the preset from scratch, and the changed config is what the run folder, ``--dry-run`` and every
checkpoint record. VALUE is read as JSON where it parses (``96``, ``0.5``, ``true``, ``null``, ``[1,2,4]``), as a
comma list of such values where it holds a comma (``1,2,4``), and as a plain string otherwise (``conv``). The
result is validated as a whole, so a value the config refuses comes back as one line naming the ``--set``. No
torch here: checking whether a change alters a stored model's weights is the training plan's job.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from pydantic import BaseModel, ValidationError

from vgen.errors import VgenError

# Fields that name what a config is, not how it is built: other options set them.
_FIXED = {"family": "the family comes from --model", "name": "the stored name comes from --name"}


def _value(text: str) -> Any:
    """JSON where it parses, else a comma list of such values, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    if "," in text:
        return [_value(part.strip()) for part in text.split(",")]
    return text


def parse_set(text: str) -> tuple[str, Any]:
    """``"unet.model_channels=96"`` -> ``("unet.model_channels", 96)``; one-line ``VgenError`` when malformed."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise VgenError(f"--set {text!r}: write KEY=VALUE with a dotted field path, e.g. --set unet.model_channels=96 "
                        "(vgen train --model PRESET --dry-run prints the fields)")
    return key, _value(raw.strip())


def _fields(model: BaseModel) -> str:
    return ", ".join(type(model).model_fields)


def apply_sets(config: BaseModel, sets: Sequence[tuple[str, Any]]) -> BaseModel:
    """``config`` with each ``(dotted key, value)`` set, validated as a whole (a new object; ``config`` is kept)."""
    if not sets:
        return config
    data = json.loads(config.model_dump_json())
    label = getattr(config, "name", type(config).__name__)
    for key, value in sets:
        parts = key.split(".")
        if parts[0] in _FIXED and len(parts) == 1:
            raise VgenError(f"--set {key}: cannot be set ({_FIXED[parts[0]]})")
        node: Any = config
        holder = data
        for depth, part in enumerate(parts):
            if not isinstance(node, BaseModel) or part not in type(node).model_fields:
                where = ".".join(parts[:depth]) or "the top level"
                raise VgenError(f"--set {key}: {label}'s config has no field {part!r} at {where}; "
                                f"fields there: {_fields(node) if isinstance(node, BaseModel) else 'none'}")
            node = getattr(node, part)
            if depth < len(parts) - 1:
                holder = holder[part]
        if isinstance(node, BaseModel):
            raise VgenError(f"--set {key}: is a group of fields ({_fields(node)}); set one of them, "
                            f"e.g. --set {key}.{next(iter(type(node).model_fields))}=VALUE")
        holder[parts[-1]] = value
    try:
        return type(config).model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error.get("loc", ()))
        named = [(k, v) for k, v in sets if where == k or where.startswith(k + ".")]
        shown = " ".join(f"{k}={json.dumps(v)}" for k, v in (named or sets))
        field = f" (at {where})" if where else ""
        raise VgenError(f"invalid --set {shown}{field}: {error['msg'].removeprefix('Value error, ')}") from None
