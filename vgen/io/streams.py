"""Video bytes that go straight into a stream: stdout, a character device such as ``/dev/null``, or a FIFO.

Such outputs cannot be written atomically (there is nothing to rename over, and renaming over a
device node would destroy it), so the encoder's output is copied into them as it is produced. A
failed write (a full disk, a closed descriptor) is kept and reported as one ``VgenError`` line
naming the stream; a reader that went away (``EPIPE``) is re-raised as ``BrokenPipeError``, which the
CLI treats like ``| head`` closing the pipe.
"""

from __future__ import annotations

import errno
import io
import os
import select
import sys
import threading
from pathlib import Path
from typing import IO, Optional

from vgen.errors import VgenError
from vgen.io.atomic import special_kind

STREAM_KINDS = ("character device", "FIFO")
_CHUNK = 1 << 16


def stream_kind(path: str | os.PathLike[str]) -> Optional[str]:
    """``"character device"`` or ``"FIFO"`` when ``path`` is one (vgen streams into it); ``None`` otherwise.

    A block device, a socket or another special file is refused with a ``VgenError``: writing a
    video into a disk is never what the user meant, and a socket cannot be opened as a file.
    """
    kind = special_kind(path)
    if kind is None or kind in STREAM_KINDS:
        return kind
    raise VgenError(f"output {str(path)!r} is a {kind}; write to a file, a folder, a character device "
                    "(such as /dev/null) or a FIFO")


def stream_error_message(exc: OSError, label: str) -> str:
    """One line for a failed write into a stream."""
    if exc.errno == errno.ENOSPC:
        return f"disk full while writing {label}; nothing more could be written"
    return f"cannot write {label}: {exc.strerror or exc}"


class StreamSink:
    """An open stream that encoder output is copied into, remembering the first write error.

    ``copy_from`` runs on a pump thread while the encoder works; ``check`` re-raises what went wrong
    on the calling thread.
    """

    def __init__(self, handle: IO[bytes], label: str, *, owned: bool) -> None:
        self.handle = handle
        self.label = label
        self._owned = owned
        self.error: Optional[OSError] = None
        self._pump: Optional[threading.Thread] = None

    @classmethod
    def stdout(cls) -> "StreamSink":
        """Our standard output; refused when it is closed or a terminal."""
        if sys.stdout is None:
            raise VgenError("stdout is closed; redirect it (`> out.mp4`, `| ffmpeg ...`) or use -o FILE")
        if sys.stdout.isatty():
            raise VgenError("refusing to write video data to a terminal; redirect stdout (`> out.mp4`, `| ffmpeg ...`) "
                            "or use -o FILE")
        sys.stdout.flush()
        try:
            # An unbuffered handle on a copy of the descriptor: a failed write leaves nothing in Python's
            # buffer to fail again (with a second message) when the interpreter exits.
            return cls(os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0), "stdout", owned=True)
        except (OSError, ValueError, io.UnsupportedOperation):
            return cls(sys.stdout.buffer, "stdout", owned=False)  # an in-memory stdout (e.g. captured in tests)

    @classmethod
    def open(cls, path: Path) -> "StreamSink":
        """Open a character device or FIFO for writing (a FIFO waits here until a reader opens it)."""
        label = repr(str(path))
        try:
            handle = open(path, "wb", buffering=0)
        except OSError as exc:
            raise VgenError(stream_error_message(exc, label)) from None
        if handle.isatty():
            handle.close()
            raise VgenError(f"refusing to write video data to the terminal {label}; give a file path")
        return cls(handle, label, owned=True)

    def copy_from(self, source: IO[bytes]) -> None:
        """Copy ``source`` to the end into the stream; on a write error, stop and close ``source`` (the writer
        behind it then fails too instead of blocking on a full pipe)."""
        try:
            while chunk := source.read(_CHUNK):
                view = memoryview(chunk)
                while view:  # an unbuffered handle may take only part (e.g. up to a file size limit)
                    written = self.handle.write(view)
                    if written is None:  # a full non-blocking descriptor: wait until it takes more
                        select.select([], [self.handle], [])
                        continue
                    view = view[written:]
            self.handle.flush()
        except OSError as exc:
            self.error = exc
        finally:
            source.close()

    def start_pump(self, source: IO[bytes]) -> None:
        """Run ``copy_from(source)`` on a background thread."""
        self._pump = threading.Thread(target=self.copy_from, args=(source,), daemon=True)
        self._pump.start()

    def join(self) -> None:
        """Wait for the pump thread, if one runs."""
        if self._pump is not None:
            self._pump.join()

    def check(self) -> None:
        """Raise the recorded write error: ``BrokenPipeError`` when the reader left, else a ``VgenError``."""
        if self.error is None:
            return
        if isinstance(self.error, BrokenPipeError) or self.error.errno == errno.EPIPE:
            raise BrokenPipeError(errno.EPIPE, f"the reader of {self.label} went away")
        raise VgenError(stream_error_message(self.error, self.label))

    def close(self) -> None:
        """Close a handle this sink opened (``sys.stdout`` itself stays open); a failure there is a write error too."""
        if not self._owned:
            return
        try:
            self.handle.close()
        except OSError as exc:
            self.error = self.error or exc
