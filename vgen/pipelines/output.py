"""Where generated videos go, and the loop that streams chunks into them.

Naming for several videos from one command (``--num K``): ``-o out.mp4`` becomes ``out-s{seed}.mp4``
for each seed; an existing folder ``-o DIR`` gets ``DIR/sample-s{seed}.mp4`` (``.gif``, or a
``sample-s{seed}/`` PNG folder with ``--format``). One video keeps the exact name given.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from vgen.errors import VgenError
from vgen.io.video import VideoWriter, infer_format

_SUFFIX = {"mp4": ".mp4", "gif": ".gif", "frames": ""}


@dataclass(frozen=True)
class Target:
    """One output: a path (or ``-``) and its format."""

    path: str
    format: str


@dataclass(frozen=True)
class Written:
    """What was written: where, how many frames, their size and the time taken."""

    path: str
    frames: int
    width: int
    height: int
    seconds: float


def plan_outputs(output: str, seeds: list[int], format: Optional[str], *, stem: str = "sample") -> list[Target]:
    """One target per seed, validated before any work starts (format, folder existence)."""
    if output == "-":
        if len(seeds) > 1:
            raise VgenError("several videos cannot share stdout; give -o a file name or a folder with --num > 1")
        return [Target("-", infer_format("-", format))]
    path = Path(output).expanduser()
    wants_folder = output.endswith(("/", os.sep)) and not (format == "frames" and len(seeds) == 1)
    if wants_folder and not path.is_dir():
        # `-o samples/` names a folder of videos: make it when its parent exists (a missing parent is an error).
        if not path.parent.is_dir():
            raise VgenError(f"output folder {str(path.parent)!r} does not exist; create it first or choose another -o")
        path.mkdir()
    if path.is_dir():
        fmt = format or "mp4"
        infer_format(path / f"x{_SUFFIX.get(fmt, '')}", fmt)
        return [Target(str(path / f"{stem}-s{seed}{_SUFFIX[fmt]}"), fmt) for seed in seeds]
    fmt = infer_format(path, format)
    parent = path.parent
    if not parent.is_dir():
        raise VgenError(f"output folder {str(parent)!r} does not exist; create it first or choose another -o")
    if len(seeds) == 1:
        return [Target(str(path), fmt)]
    base = path.with_suffix("") if path.suffix else path
    return [Target(f"{base}-s{seed}{path.suffix}", fmt) for seed in seeds]


def write_chunks(target: Target, chunks: Iterable[np.ndarray], *, fps: float) -> Written:
    """Stream uint8 (t, H, W, 3) chunks into ``target`` (atomic: nothing is left on failure)."""
    started = time.perf_counter()
    frames, height, width = 0, 0, 0
    with VideoWriter(target.path, fps=fps, format=target.format) as writer:  # type: ignore[arg-type]
        for chunk in chunks:
            writer.write(chunk)
            frames += len(chunk)
            height, width = chunk.shape[1:3]
    return Written(target.path, frames, int(width), int(height), time.perf_counter() - started)
