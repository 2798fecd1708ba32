"""Atomic file and folder writes: a temporary sibling that is renamed into place only on success.

Every regular file or folder vgen writes (videos, frame folders, checkpoints, registered models)
goes through ``atomic_path``. A failure, a full disk or Ctrl-C therefore never leaves a half-written
file and never damages the previous content of the target. Renaming is only ever done over a
regular file or a folder: a device, FIFO or socket at the target is refused (video outputs stream
into devices and FIFOs instead, see ``vgen.io.streams``), and a symlink is followed, so the file it
points to is replaced and the link itself stays.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Optional

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


def special_kind(path: str | os.PathLike[str]) -> Optional[str]:
    """What sits at ``path`` (following symlinks) when it is neither a regular file nor a folder.

    Returns ``"character device"``, ``"FIFO"``, ``"block device"``, ``"socket"`` or ``"special file"``;
    ``None`` for a regular file, a folder, or nothing at all.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


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


def _real_target(dst: Path) -> Path:
    """``dst``, or the path a symlink at ``dst`` points to, so the link survives the rename."""
    return Path(os.path.realpath(dst)) if dst.is_symlink() else dst


@contextmanager
def atomic_path(dst: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``dst`` that becomes ``dst`` only if the block succeeds.

    The temporary file (or folder, with ``directory=True``) is created up front, so an output
    folder that is missing or not writable fails at once with a ``VgenError`` naming ``dst`` (never
    the temporary name). It keeps ``dst``'s suffix, so tools that infer a format from the name still
    work. On success it replaces ``dst`` (a file with ``os.replace``; a folder by swapping the old
    one aside first); on any exception, including ``KeyboardInterrupt``, it is removed and ``dst`` is
    untouched. A device, FIFO or socket at ``dst`` is refused: it is never renamed over.
    """
    named = Path(dst)
    kind = special_kind(named)
    if kind is not None:
        raise VgenError(f"output {str(named)!r} is a {kind}, not a regular file; vgen never replaces one, "
                        "choose a file path")
    dst = _real_target(named)
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
        raise VgenError(os_error_message(exc, named)) from None
    try:
        yield tmp
        _replace(tmp, dst)
    except BaseException:
        _remove(tmp)
        raise


def write_text_atomic(dst: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``dst`` through ``atomic_path``: readers see the old file or the whole new one, never part of
    it, and a device or FIFO at ``dst`` is refused."""
    with atomic_path(dst) as tmp:
        tmp.write_text(text)


def refuse_existing(dst: Optional[Path], option: str) -> Optional[str]:
    """A one-line refusal when a report path given as ``option`` already exists (``None``: free to write), for tools
    that must not overwrite a file they were not asked to."""
    if dst is not None and (dst.exists() or dst.is_symlink()):
        return f"{option} {dst} already exists; choose another path (reports never replace a file)"
    return None


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


@contextmanager
def removing_new_folders(folders: Iterable[Path]) -> Iterator[None]:
    """Make ``folders`` (with missing parents) and, if the block fails, remove those it made that are still empty.

    An early error (a bad model, an unwritable disk) therefore leaves no empty output folder behind;
    folders that already existed, or that hold a finished file, are kept.
    """
    made: list[Path] = []
    try:
        for folder in folders:
            missing = [p for p in (folder, *folder.parents) if not p.exists()]
            for path in reversed(missing):
                path.mkdir()
                made.append(path)
        yield
    except BaseException:
        for path in reversed(made):
            try:
                path.rmdir()
            except OSError:
                pass
        raise
