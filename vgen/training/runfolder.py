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
    """The highest-numbered ``root/NNNNN-name`` holding a checkpoint (for ``--resume`` without ``--out``)."""
    runs = sorted(
        (int(m.group(1)), p)
        for p in (root.glob("*") if root.is_dir() else [])
        if (m := _RUN_PATTERN.match(p.name)) and m.group(2) == name and latest_checkpoint(p) is not None
    )
    if not runs:
        raise VgenError(f"no run named {name!r} with a checkpoint under {root}/; pass the run folder with --out DIR --resume")
    return runs[-1][1]


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
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record, separators=(",", ":")) + "\n")


def truncate_metrics(run_dir: Path, stage: str, step: int) -> None:
    """Drop metrics logged after the checkpoint being resumed (and a line cut short by a crash)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return
    rank = {"ae": 0, "diffusion": 1}
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (rank[record["stage"]], record["step"]) <= (rank[stage], step):
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
    return (0 if stage == "ae" else 1, float(step) if step.isdigit() else float("inf"))


def checkpoint_tag(stage: str, step: int, done: bool = False) -> str:
    """``<stage>-<step>`` for periodic checkpoints, ``<stage>-done`` once the stage has finished."""
    return f"{stage}-done" if done else f"{stage}-{step:07d}"


def tmp_checkpoint_dir(run_dir: Path, tag: str) -> Path:
    tmp = run_dir / "checkpoints" / f".tmp-{tag}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp
