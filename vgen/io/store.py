"""The model store: where trained models live and how a ``--model`` argument finds one.

A model is a directory holding one ``<role>.safetensors`` network file per network (see
``vgen.io.checkpoint``). Models live in ``$VGEN_HOME/models`` when ``VGEN_HOME`` is set, else in the
platform's user data folder (``platformdirs.user_data_dir("vgen")/models``, e.g.
``~/.local/share/vgen/models`` on Linux). Small trained models may also ship inside the package
(``vgen/assets/models/<name>/``).

One precedence rule holds for every command: a name means a store model, else a bundled model, else
a preset (``vgen train`` trains a preset from scratch; the other commands need weights). Names of
presets are refused for store models (``check_model_name``), so vgen never hides a preset; a store
model may hide a bundled one, and ``list_models`` then lists only the store model. No torch is
imported here, so listing models is fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Optional, Union

from vgen.errors import VgenError
from vgen.io.atomic import atomic_path, os_error_message
from vgen.io.checkpoint import NETWORK_FORMAT, count_parameters, read_header

CARD = "card.json"

if TYPE_CHECKING:
    from vgen.config.base import ModelConfigBase

Source = Literal["store", "bundled", "path"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def models_dir() -> Path:
    """The store folder: ``$VGEN_HOME/models`` or ``<user data dir>/vgen/models`` (may not exist yet)."""
    home = os.environ.get("VGEN_HOME")
    if home:
        return Path(home).expanduser() / "models"
    import platformdirs

    return Path(platformdirs.user_data_dir("vgen")) / "models"


def bundled_models_dir() -> Path:
    """Models shipped inside the package (``vgen/assets/models``)."""
    import vgen

    return Path(vgen.__file__).parent / "assets" / "models"


@dataclass(frozen=True)
class StoredModel:
    """One model as ``list_models`` reports it; ``problem`` is set when its files are unreadable."""

    name: str
    path: Path
    source: Source
    config: Optional["ModelConfigBase"]
    num_params: int
    roles: tuple[str, ...]
    problem: Optional[str] = None
    card: Optional[dict] = None  # the folder's card.json: how the model was trained and what it scored


def read_card(directory: Path) -> Optional[dict]:
    """A model folder's ``card.json`` (what it was trained on, for how long, on what, its measured scores), if any.

    The card is documentation only: nothing is loaded from it, and an unreadable card is ignored.
    """
    try:
        card = json.loads((directory / CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None


def _network_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.safetensors") if not p.name.startswith("."))


def describe_model(directory: Union[str, os.PathLike[str]], *, name: Optional[str] = None,
                   source: Source = "path") -> StoredModel:
    """Summarise a model directory from its safetensors headers only (no tensors are loaded)."""
    from vgen.config import config_from_json

    directory = Path(directory)
    roles: list[str] = []
    params = 0
    config = None
    try:
        for file in _network_files(directory):
            metadata, tensors = read_header(file)
            if metadata.get("format") != NETWORK_FORMAT:
                continue
            roles.append(metadata.get("role", file.stem))
            params += count_parameters(tensors)
            if config is None:
                config = config_from_json(metadata.get("config", "null"))
        if not roles:
            raise VgenError(f"folder {str(directory)!r} holds no vgen network checkpoints (*.safetensors)")
    except VgenError as exc:
        return StoredModel(name or directory.name, directory, source, config, params, tuple(roles), str(exc))
    return StoredModel(name or directory.name, directory, source, config, params, tuple(roles),
                       card=read_card(directory))


CASCADE_FILE = "cascade.json"  # a cascade folder (vgen.pipelines.cascade) rather than one model's


def _entries(root: Path, cascades: bool = False) -> list[Path]:
    """The model folders (or, with ``cascades``, the cascade folders) under ``root``."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and (p / CASCADE_FILE).is_file() == cascades)


def list_cascades() -> list[Path]:
    """Every cascade folder of the store, then bundled ones not shadowed by a store entry of the same name."""
    stored = _entries(models_dir(), cascades=True)
    names = {p.name for p in stored}
    return stored + [p for p in _entries(bundled_models_dir(), cascades=True) if p.name not in names]


def check_model_name(name: str, what: str = "model name") -> None:
    """Refuse a store name that is not one plain folder name or that would hide a preset.

    Allowed: letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit, at most 100
    characters; so a name can neither leave the store folder nor be hidden. ``what`` names the
    option in the message (``--name``).
    """
    from vgen.config import PRESETS

    if not _NAME.match(name):
        raise VgenError(f"invalid {what} {name!r}; use letters, digits, '.', '_' or '-' (starting with a letter or "
                        "digit, at most 100 characters)")
    if name in PRESETS:
        raise VgenError(f"{what} {name!r} is the name of a preset; a stored model named so would hide the preset from "
                        f"`vgen train --model {name}`; choose another, e.g. --name {name}-trained")


def find_named(name: str) -> Optional[Path]:
    """The store model called ``name``, else the bundled one, else None (presets are not looked at)."""
    if _looks_like_path(name):
        return None
    for root in (models_dir(), bundled_models_dir()):
        candidate = root / name
        if candidate.is_dir():
            return candidate
    return None


def list_models() -> list[StoredModel]:
    """Every store model, then bundled models not shadowed by a store model of the same name."""
    stored = [describe_model(p, source="store") for p in _entries(models_dir())]
    names = {m.name for m in stored}
    bundled = [describe_model(p, source="bundled") for p in _entries(bundled_models_dir()) if p.name not in names]
    return stored + bundled


def _model_from_path(path: Path, spec: str) -> Path:
    """A model directory given directly, or through one of its ``.safetensors`` files."""
    if path.is_file():
        if path.suffix != ".safetensors":
            raise VgenError(f"{spec!r} is not a model: pass a model name, a model folder or a .safetensors file")
        read_header(path)
        return path.parent
    if path.is_dir():
        if not _network_files(path):
            raise VgenError(f"folder {spec!r} holds no .safetensors checkpoints; pass a trained model folder")
        return path
    raise VgenError(f"model path {spec!r} not found; check the path or run `vgen models` to list models")


def _unknown(name: str) -> VgenError:
    from vgen.config import PRESETS

    target = models_dir() / name
    if name in PRESETS:
        from vgen.io.official import OFFICIAL_FAMILIES

        family = getattr(PRESETS[name], "family", "")
        official = (f", or import the paper's released checkpoints with `vgen import {family} ... --name NAME`"
                    if family in OFFICIAL_FAMILIES else "")
        return VgenError(f"preset {name!r} has no trained weights: it is an architecture only; train it with `vgen train "
                         f"--model {name} --data DIR --name NAME`{official}, then use --model NAME")
    return VgenError(f"unknown model {name!r} (not in the store {models_dir()}, not bundled, not a path); train one "
                     f"with `vgen train --model <preset> --data DIR --name {name}` or put its .safetensors files in {target}")


def _looks_like_path(spec: Union[str, os.PathLike[str]]) -> bool:
    text = str(spec)
    return (isinstance(spec, os.PathLike) or "/" in text or os.sep in text or text.startswith((".", "~"))
            or text.endswith(".safetensors"))


def resolve_model(spec: Union[str, os.PathLike[str]]) -> Path:
    """The model directory for a store name, a bundled name, or a path (folder or ``.safetensors``).

    Names are looked up in the store first, then among bundled models (``find_named``); anything
    that looks like a path (or exists as one) is used directly. Unknown names raise a ``VgenError`` that says how to
    train the model or where to put its checkpoints.
    """
    text = str(spec)
    if not text.strip():
        raise VgenError("the model name is empty; pass a model name (`vgen models` lists them), a model folder "
                        "or a .safetensors file")
    if not _looks_like_path(spec):
        candidate = find_named(text)
        if candidate is not None:
            if (candidate / CASCADE_FILE).is_file():
                raise VgenError(f"{text!r} is a cascade of several models; `vgen sample --model {text}` runs it, other "
                                "commands take one of its stages (`vgen models` lists them)")
            if not _network_files(candidate):
                raise VgenError(f"model {text!r} at {candidate} has no .safetensors checkpoints; re-register or delete it")
            return candidate
        if not Path(text).exists():
            raise _unknown(text)
    return _model_from_path(Path(text).expanduser(), text)


def model_config(spec: Union[str, os.PathLike[str]]) -> tuple["ModelConfigBase", Path]:
    """Resolve ``spec`` and read its model config from the network headers (no tensors loaded)."""
    directory = resolve_model(spec)
    info = describe_model(directory)
    if info.problem is not None or info.config is None:
        raise VgenError(info.problem or f"model {str(spec)!r} has no config in its network files")
    return info.config, directory


def register_model(name: str, directory: Union[str, os.PathLike[str]]) -> Path:
    """Copy a model's network checkpoints (and its ``card.json``, if any) into the store as ``name``; returns the
    store path.

    The copy goes to a temporary folder inside the store and is renamed into place, so a failure
    leaves no half-copied model and an existing model of that name is replaced only on success.
    """
    check_model_name(name)
    source = _model_from_path(Path(directory).expanduser(), str(directory))
    networks = [p for p in _network_files(source) if read_header(p)[0].get("format") == NETWORK_FORMAT]
    if not networks:
        raise VgenError(f"folder {str(source)!r} holds no vgen network checkpoints; train a model first")
    root = models_dir()
    target = root / name
    if target.exists() and target.resolve() == source.resolve():
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
        with atomic_path(target, directory=True) as tmp:
            for file in networks:
                shutil.copy2(file, tmp / file.name)
            if (source / CARD).is_file():
                shutil.copy2(source / CARD, tmp / CARD)
    except OSError as exc:
        raise VgenError(os_error_message(exc, target)) from None
    return target
