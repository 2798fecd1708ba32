"""Storing official checkpoints as vgen models (``vgen import``).

A family that can read its paper's released checkpoints provides ``vgen.families.<family>.official.import_official``
(files -> config, state dicts, report). This module checks the result against the networks built from that config
(strictly, on the CPU), writes each network as a hashed safetensors file with a model card saying where it came
from, and registers the folder in the model store in one atomic step: a failure anywhere leaves nothing behind.
"""

from __future__ import annotations

import json
import tempfile
from importlib import import_module
from pathlib import Path
from typing import Any

from vgen.errors import VgenError

OFFICIAL_FAMILIES = {"pvdm": "PVDM (sihyun-yu/PVDM)", "lvdm": "LVDM (YingqingHe/LVDM)"}


def weights_used(report: dict) -> str:
    """Which diffusion weights the converter took (its report's ``unet.weights``)."""
    return str(report.get("unet", {}).get("weights", "unknown"))


def uses_ema(report: dict) -> bool:
    return "ema" in weights_used(report).lower()


def import_official(family: str, name: str, *, overwrite: bool = False, **files: Any) -> tuple[Path, dict]:
    """Convert the official ``family`` checkpoint ``files`` and store them as model ``name``; returns its folder and
    the converter's report (architecture, which weights were used, what was dropped)."""
    import torch

    from vgen.io.checkpoint import save_network
    from vgen.io.store import CARD, check_model_name, models_dir, register_model
    from vgen.models import build_networks

    if family not in OFFICIAL_FAMILIES:
        raise VgenError(f"no importer for {family!r}; vgen imports {', '.join(OFFICIAL_FAMILIES)}")
    check_model_name(name)
    if (models_dir() / name).exists() and not overwrite:
        raise VgenError(f"model {name!r} already exists in the store ({models_dir() / name}); pass --overwrite or "
                        "another --name")
    for flag, path in files.items():
        if isinstance(path, Path) and not path.is_file():
            raise VgenError(f"--{flag.replace('_', '-')} {path} is not a file; check the path")
    convert = import_module(f"vgen.families.{family}.official").import_official
    config, state_dicts, report = convert(**files)
    config = config.model_copy(update={"name": name})
    networks = build_networks(config)
    with tempfile.TemporaryDirectory(prefix="vgen-import-") as tmp:
        folder = Path(tmp) / name
        folder.mkdir()
        for role, net in networks.items():
            try:
                net.load_state_dict(state_dicts[role], strict=True)
            except (KeyError, RuntimeError) as exc:
                raise VgenError(f"the converted {role} does not fit the {family} architecture read from the files "
                                f"({str(exc).splitlines()[0][:200]}); the files do not belong together") from None
            tensors = {k: v.detach().to(torch.float32) if v.is_floating_point() else v
                       for k, v in net.state_dict().items()}
            save_network(folder / f"{role}.safetensors", tensors, config, role=role,
                         extra={"ema": uses_ema(report) if role == "unet" else None, "source": "official"})
        card = {"summary": f"official {OFFICIAL_FAMILIES[family]} checkpoints converted by `vgen import {family}`; "
                           f"diffusion weights: {weights_used(report)}",
                "files": {k: str(v) for k, v in files.items() if v is not None}, "import_report": report}
        (folder / CARD).write_text(json.dumps(card, indent=1, default=str) + "\n", encoding="utf-8")
        target = register_model(name, folder)
    return target, report
