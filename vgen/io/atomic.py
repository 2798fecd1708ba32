"""Atomic file and folder writes: a temporary sibling that is renamed into place only on success.

Every output vgen writes (videos, frame folders, checkpoints, registered models) goes through
``atomic_path``. A failure, a full disk or Ctrl-C therefore never leaves a half-written file and
never damages the previous content of the target.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vgen.errors import VgenError


def _remove(path: Path) -> None:
    """Delete a file or a whole folder if it exists, ignoring a path that is already gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def check_output_folder(folder: Path) -> None:
    """Raise a one-line ``VgenError`` unless ``folder`` is an existing, writable directory."""
    if not folder.exists():
        raise VgenError(f"output folder {str(folder)!r} does not exist; create it first or choose another path")
    if not folder.is_dir():
        raise VgenError(f"output folder {str(folder)!r} is not a folder; choose another path")


def os_error_message(exc: OSError, path: Path) -> str:
    """One line naming what went wrong with an OS-level write to ``path``."""
    if exc.errno == errno.ENOSPC:
        return f"disk full while writing {str(path)!r}; free some space and try again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"output folder {str(path.parent)!r} is not writable; choose another output path"
    return f"cannot write {str(path)!r}: {exc.strerror or exc}"


@contextmanager
def atomic_path(dst: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``dst`` that becomes ``dst`` only if the block succeeds.

    The temporary file (or folder, with ``directory=True``) is created up front, so an output
    folder that is missing or not writable fails at once with a ``VgenError`` naming the folder.
    It keeps ``dst``'s suffix, so tools that infer a format from the name still work. On success
    it replaces ``dst`` (a file with ``os.replace``; a folder by swapping the old one aside first);
    on any exception, including ``KeyboardInterrupt``, it is removed and ``dst`` is untouched.
    """
    dst = Path(dst)
    folder = dst.parent if str(dst.parent) else Path(".")
    check_output_folder(folder)
    tmp = folder / f".{dst.name}.{uuid.uuid4().hex[:8]}.part{dst.suffix}"
    try:
        if directory:
            tmp.mkdir()
        else:
            with open(tmp, "xb"):
                pass
    except OSError as exc:
        raise VgenError(os_error_message(exc, tmp)) from None
    try:
        yield tmp
        _replace(tmp, dst)
    except BaseException:
        _remove(tmp)
        raise


def _replace(tmp: Path, dst: Path) -> None:
    """Move ``tmp`` onto ``dst``; an existing folder is moved aside and deleted only afterwards."""
    if tmp.is_dir() and dst.exists():
        old = dst.parent / f".{dst.name}.{uuid.uuid4().hex[:8]}.old"
        os.replace(dst, old)
        try:
            os.replace(tmp, dst)
        except BaseException:
            os.replace(old, dst)
            raise
        _remove(old)
    else:
        os.replace(tmp, dst)
