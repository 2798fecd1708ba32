"""The run folder: config, metrics, previews and crash-safe checkpoints.

Layout::

    runs/00003-mine/
      config.json              resolved model config + training options
      metrics.jsonl            one JSON object per optimisation step
      previews/                <stage>-<step>.gif samples from the EMA weights
      checkpoints/
        diffusion-0000500/
          model/               a model dir: <role>.safetensors (the UNet holds EMA weights)
          train_state.safetensors   raw weights, EMA, optimiser, step, stage (no pickle)
        ae-done/               the autoencoder after its stage (with LVDM latent statistics)
        latest                 name of the newest complete checkpoint, replaced atomically

The finished run's last ``model/`` is registered in the store under ``--name``.

A checkpoint is written into ``checkpoints/.tmp-<tag>/``, renamed into place, and only then does
``latest`` point at it; older checkpoints are pruned after that. ``kill -9`` at any moment therefore
leaves ``latest`` naming a complete checkpoint (or no checkpoint yet).

A run stopped before its first checkpoint holds nothing worth keeping (``kept_entry``): it is
started again from step 0 in the same folder, with ``--resume`` (its saved config) or without.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from vgen.errors import VgenError

_RUN_PATTERN = re.compile(r"^(\d{5})-(.+)$")


def new_run_dir(root: Path, name: str) -> Path:
    """``root/NNNNN-name`` with the next free number (EDM style); not created yet."""
    numbers = [int(m.group(1)) for p in root.glob("*") if (m := _RUN_PATTERN.match(p.name))] if root.is_dir() else []
    return root / f"{max(numbers, default=-1) + 1:05d}-{name}"


def latest_run_dir(root: Path, name: str) -> Path:
    """The highest-numbered started ``root/NNNNN-name`` (for ``--resume`` without ``--out``): one holding a
    checkpoint or at least the ``config.json`` a run writes first."""
    runs = sorted(
        (int(m.group(1)), p)
        for p in (root.glob("*") if root.is_dir() else [])
        if (m := _RUN_PATTERN.match(p.name)) and m.group(2) == name
        and (latest_checkpoint(p) is not None or (p / "config.json").is_file())
    )
    if not runs:
        raise VgenError(f"no run named {name!r} under {root}/; pass the run folder with --out DIR --resume")
    return runs[-1][1]


def read_config(run_dir: Path) -> dict[str, Any]:
    """The ``config.json`` of a run folder, checked enough to resume from: one ``VgenError`` line otherwise."""
    where = repr(str(run_dir))
    if not run_dir.is_dir():
        raise VgenError(f"run folder {where} does not exist; pass the folder `vgen train` printed, or start a new "
                        "run without --resume")
    path = run_dir / "config.json"
    if not path.is_file():
        raise VgenError(f"{where} is not a vgen run folder (it has no config.json); pass the folder `vgen train` printed")
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VgenError(f"cannot read {str(path)!r} ({exc}); the run folder is damaged") from None
    if not (isinstance(saved, dict) and isinstance(saved.get("model"), dict) and isinstance(saved.get("name"), str)
            and isinstance(saved.get("training", {}), dict)):
        raise VgenError(f"{str(path)!r} lacks the model config, name or training options; the run folder is damaged")
    return saved


# What a run writes before its first checkpoint: previews, and the temporaries of atomic writes and checkpoints.
_PREVIEW = re.compile(r"^(ae|diffusion)-\d{7}\.gif$")
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8}\.part(\.\w+)?$")


def kept_entry(run_dir: Path) -> Path | None:
    """The first entry of ``run_dir`` that restarting it from step 0 would lose: anything but what a run
    writes before its first checkpoint (config.json, metrics.jsonl, its previews, temporaries). None if
    there is none, so the folder can be emptied and used again."""
    for entry in sorted(run_dir.iterdir()):
        if (entry.name in ("config.json", "metrics.jsonl") and entry.is_file()) or _TEMPORARY.match(entry.name):
            continue
        if entry.name == "previews" and entry.is_dir() \
                and all(_PREVIEW.match(p.name) or _TEMPORARY.match(p.name) for p in entry.iterdir()):
            continue
        if entry.name == "checkpoints" and entry.is_dir() \
                and all(p.name.startswith(".tmp-") or _TEMPORARY.match(p.name) for p in entry.iterdir()):
            continue
        return entry
    return None


def clear_unsaved(run_dir: Path) -> None:
    """Empty a folder in which ``kept_entry`` found nothing to keep, so the run can start again from step 0."""
    for entry in run_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint ``checkpoints/latest`` names, if it is complete."""
    pointer = run_dir / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    target = run_dir / "checkpoints" / pointer.read_text().strip()
    return target if (target / "train_state.safetensors").is_file() else None


def write_json(path: Path, payload: dict[str, Any]) -> None:
    from vgen.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(payload, indent=2, default=str) + "\n")


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    """Add one line to ``metrics.jsonl``; a failed write (full disk) is one ``VgenError`` line."""
    from vgen.io.atomic import os_error_message

    path = run_dir / "metrics.jsonl"
    try:
        with open(path, "a") as f:
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
    except OSError as exc:
        raise VgenError(f"{os_error_message(exc, path)}; continue with: vgen train --out {run_dir} --resume") from None


def stage_rank(stage: str) -> int:
    """Order of a run's stages: the autoencoder first, then its one denoiser stage (diffusion, image or temporal)."""
    return 0 if stage == "ae" else 1


def truncate_metrics(run_dir: Path, stage: str, step: int) -> None:
    """Drop metrics logged after the checkpoint being resumed (and a line cut short by a crash)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (stage_rank(record["stage"]), record["step"]) <= (stage_rank(stage), step):
            kept.append(line + "\n")
    write_json_lines(path, kept)


def write_json_lines(path: Path, lines: list[str]) -> None:
    from vgen.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text("".join(lines))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit_checkpoint(run_dir: Path, tmp_dir: Path, tag: str, keep: int) -> Path:
    """Move a fully written ``tmp_dir`` to ``checkpoints/<tag>``, point ``latest`` at it, prune old ones."""
    from vgen.io.atomic import atomic_path

    root = run_dir / "checkpoints"
    final = root / tag
    for f in tmp_dir.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    if final.exists():
        # The same (stage, step) always holds the same state: keep the copy already in place.
        shutil.rmtree(tmp_dir)
    else:
        os.replace(tmp_dir, final)
    _fsync_dir(root)
    with atomic_path(root / "latest") as tmp:
        with open(tmp, "w") as fh:
            fh.write(tag + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    _fsync_dir(root)
    checkpoints = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=_order)
    for old in checkpoints[:-keep]:
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return final


def _order(path: Path) -> tuple[int, float]:
    stage, _, step = path.name.rpartition("-")
    return (stage_rank(stage), float(step) if step.isdigit() else float("inf"))


def checkpoint_tag(stage: str, step: int, done: bool = False) -> str:
    """``<stage>-<step>`` for periodic checkpoints, ``<stage>-done`` once the stage has finished."""
    return f"{stage}-done" if done else f"{stage}-{step:07d}"


def tmp_checkpoint_dir(run_dir: Path, tag: str) -> Path:
    tmp = run_dir / "checkpoints" / f".tmp-{tag}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp
