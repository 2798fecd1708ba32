"""Where generated videos go, and the loop that streams chunks into them.

Naming for several videos from one command (``--num K``): ``-o out.mp4`` becomes ``out-s{seed}.mp4``
for each seed; an existing folder ``-o DIR`` (or ``-o DIR/``, made when the first video is written)
gets ``DIR/sample-s{seed}.mp4`` (``.gif``, or a ``sample-s{seed}/`` PNG folder with ``--format``). One
video keeps the exact name given. An output that already exists is refused unless overwriting was
asked for; stdout, character devices (``/dev/null``) and FIFOs are streams, never "existing outputs".
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from vgen.errors import VgenError
from vgen.io.atomic import os_error_message, removing_new_folders
from vgen.io.streams import stream_kind
from vgen.io.video import VideoWriter, infer_format

_SUFFIX = {"mp4": ".mp4", "gif": ".gif", "frames": ""}


@dataclass(frozen=True)
class Target:
    """One output: a path (or ``-``), its format, and the folder to make for it first (``-o DIR/``)."""

    path: str
    format: str
    new_folder: Optional[str] = None


@dataclass(frozen=True)
class Written:
    """What was written: where, how many frames, their size and the time taken."""

    path: str
    frames: int
    width: int
    height: int
    seconds: float


def derived_output(source: str, action: str, format: Optional[str]) -> str:
    """The default output name for a command that transforms ``source``, in the current folder.

    ``clip.mp4`` -> ``clip-extended.mp4`` (``.gif`` with ``--format gif``, a ``clip-extended`` frame
    folder with ``--format frames``); stdin (``-``) -> ``extended.mp4``.
    """
    stem = "" if source == "-" else Path(source.rstrip("/\\") or source).stem.lstrip(".")
    return (f"{stem}-{action}" if stem else action) + _SUFFIX.get(format or "mp4", "")


def plan_outputs(output: str, seeds: list[int], format: Optional[str], *, stem: str = "sample",
                 overwrite: bool = False) -> list[Target]:
    """One target per seed, validated before any work starts (format, folders, existing outputs)."""
    if output == "-":
        if len(seeds) > 1:
            raise VgenError("several videos cannot share stdout; give -o a file name or a folder with --num > 1")
        return [Target("-", infer_format("-", format))]
    path = Path(output).expanduser()
    stream = stream_kind(path)
    if stream:
        if len(seeds) > 1:
            raise VgenError(f"several videos cannot share the {stream} {output!r}; give -o a folder with --num > 1")
        return [Target(str(path), infer_format(path, format))]
    wants_folder = output.endswith(("/", os.sep)) and not (format == "frames" and len(seeds) == 1)
    new_folder = None
    if wants_folder and not path.is_dir():
        # `-o samples/` names a folder of videos: made when the first video is written (a missing parent is an error).
        if not path.parent.is_dir():
            raise VgenError(f"output folder {str(path.parent)!r} does not exist; create it first or choose another -o")
        if path.exists():
            raise VgenError(f"output {output!r} is a file, not a folder; choose another -o")
        new_folder = str(path)
    if new_folder or path.is_dir():
        fmt = format or "mp4"
        infer_format(path / f"x{_SUFFIX.get(fmt, '')}", fmt)
        targets = [Target(str(path / f"{stem}-s{seed}{_SUFFIX[fmt]}"), fmt, new_folder) for seed in seeds]
    else:
        fmt = infer_format(path, format)
        parent = path.parent
        if not parent.is_dir():
            raise VgenError(f"output folder {str(parent)!r} does not exist; create it first or choose another -o")
        base = path.with_suffix("") if path.suffix else path
        names = [str(path)] if len(seeds) == 1 else [f"{base}-s{seed}{path.suffix}" for seed in seeds]
        targets = [Target(name, fmt) for name in names]
    if not overwrite:
        refuse_existing([t.path for t in targets])
    return targets


def refuse_existing(paths: list[str], *, hint: str = "choose another -o") -> None:
    """Raise a one-line ``VgenError`` if any of ``paths`` exists (streams into devices and FIFOs are fine)."""
    existing = [p for p in paths if os.path.lexists(p) and stream_kind(p) is None]
    if existing:
        more = f" (and {len(existing) - 1} more of the {len(paths)} outputs)" if len(existing) > 1 else ""
        raise VgenError(f"output {existing[0]!r}{more} already exists; add --overwrite (-y) to replace it, or {hint}")


def write_chunks(target: Target, chunks: Iterable[np.ndarray], *, fps: float) -> Written:
    """Stream uint8 (t, H, W, 3) chunks into ``target`` (atomic: nothing is left on failure, not even a new folder)."""
    started = time.perf_counter()
    frames, height, width = 0, 0, 0
    with ExitStack() as stack:
        if target.new_folder:
            try:
                stack.enter_context(removing_new_folders([Path(target.new_folder)]))
            except OSError as exc:
                raise VgenError(os_error_message(exc, Path(target.new_folder))) from None
        with VideoWriter(target.path, fps=fps, format=target.format) as writer:  # type: ignore[arg-type]
            for chunk in chunks:
                writer.write(chunk)
                frames += len(chunk)
                height, width = chunk.shape[1:3]
    return Written(target.path, frames, int(width), int(height), time.perf_counter() - started)
