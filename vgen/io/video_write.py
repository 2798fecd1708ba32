"""Streaming, atomic video writer: browser-playable H.264 MP4, looping palette GIF, PNG frame folders.

Chunks of uint8 ``(t, H, W, 3)`` frames go to ffmpeg's stdin as they arrive, so long videos are
written clip by clip in constant memory. Files are written to a temporary sibling and renamed into
place only when ffmpeg succeeds; ``-`` streams to stdout instead (MP4 is then fragmented).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Optional, Union

import numpy as np

from vgen.errors import VgenError
from vgen.io._ffmpeg import StderrTail, as_rate, exit_reason, popen
from vgen.io.atomic import atomic_path, os_error_message
from vgen.io.video_read import list_frames

Format = Literal["mp4", "gif", "frames"]
FORMATS: tuple[str, ...] = ("mp4", "gif", "frames")
_SUFFIXES: dict[str, Format] = {".mp4": "mp4", ".m4v": "mp4", ".gif": "gif"}
FRAME_PATTERN = "frame_%06d.png"
DEFAULT_CRF = 18


def infer_format(dst: Union[str, os.PathLike[str]], format: Optional[str]) -> Format:
    """The output format: given explicitly, or from the suffix (no suffix means a frame folder)."""
    if format is not None:
        if format not in FORMATS:
            raise VgenError(f"unknown output format {format!r}; use one of: {', '.join(FORMATS)}")
        if str(dst) == "-" and format == "frames":
            raise VgenError("a folder of frames cannot be written to stdout; use --format mp4 or gif, or give a folder path")
        return format  # type: ignore[return-value]
    if str(dst) == "-":
        raise VgenError("writing to stdout needs a format; add --format mp4 or --format gif")
    suffix = Path(dst).suffix.lower()
    if not suffix:
        return "frames"
    if suffix not in _SUFFIXES:
        raise VgenError(f"cannot write {suffix} files; name the output .mp4 or .gif, or give a folder for PNG frames")
    return _SUFFIXES[suffix]


def _encoder_args(fmt: Format, *, to_pipe: bool, crf: int) -> list[str]:
    """ffmpeg output options for each format."""
    if fmt == "mp4":
        moov = "frag_keyframe+empty_moov+default_base_moof" if to_pipe else "+faststart"
        return ["-vf", "scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int,format=yuv420p",
                "-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p",
                "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
                "-movflags", moov, "-f", "mp4"]
    if fmt == "gif":
        # One palette for the whole clip (palettegen sees every frame through the split), looping forever.
        graph = "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=sierra2_4a"
        return ["-filter_complex", graph, "-loop", "0", "-f", "gif"]
    return ["-c:v", "png", "-pix_fmt", "rgb24", "-start_number", "0", "-f", "image2"]


class VideoWriter:
    """Context manager that streams uint8 ``(t, H, W, 3)`` chunks into a video file, folder or stdout.

    ``format`` is ``mp4``, ``gif`` or ``frames``; it is inferred from ``dst``'s suffix when omitted
    (no suffix: a folder of ``frame_000000.png`` ...) and required for ``dst="-"``. ``crf`` is the
    H.264 quality (lower is better; 18 is visually lossless). MP4 frames with odd sizes are padded
    by one edge-replicated row/column, since yuv420p needs even dimensions.
    """

    def __init__(self, dst: Union[str, os.PathLike[str]], *, fps: float, format: Optional[Format] = None,
                 crf: int = DEFAULT_CRF) -> None:
        if not fps > 0:
            raise VgenError(f"frame rate must be positive, got {fps}")
        if not 0 <= crf <= 51:
            raise VgenError(f"crf must be between 0 and 51, got {crf}")
        self.format: Format = infer_format(dst, format)
        self.dst = dst
        self.fps = fps
        self.crf = crf
        self.to_stdout = str(dst) == "-"
        self.label = "stdout" if self.to_stdout else repr(str(dst))
        self.frames_written = 0
        self._stack = ExitStack()
        self._target: Optional[Path] = None
        self._proc: Optional[subprocess.Popen] = None
        self._tail: Optional[StderrTail] = None
        self._pump: Optional[threading.Thread] = None
        self._shape: Optional[tuple[int, int]] = None
        self._entered = False

    def __enter__(self) -> "VideoWriter":
        if self.to_stdout and sys.stdout.isatty():
            raise VgenError("refusing to write video data to a terminal; redirect stdout (`> out.mp4`, `| ffmpeg ...`) or use -o FILE")
        if not self.to_stdout:
            if self.format == "frames":
                _check_frame_folder(Path(self.dst))
            self._target = self._stack.enter_context(atomic_path(self.dst, directory=self.format == "frames"))
        self._entered = True
        return self

    def _start(self, height: int, width: int) -> None:
        rate = as_rate(self.fps)
        if self.to_stdout:
            out = "-"
        elif self.format == "frames":
            out = str(self._target / FRAME_PATTERN)
        else:
            out = str(self._target)
        args = ["-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "-", "-an",
                *_encoder_args(self.format, to_pipe=self.to_stdout, crf=self.crf), out]
        self._proc = popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE if self.to_stdout else subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        self._tail = StderrTail(self._proc.stderr)
        if self.to_stdout:
            self._pump = threading.Thread(target=_copy_to_stdout, args=(self._proc.stdout,), daemon=True)
            self._pump.start()

    def write(self, frames: np.ndarray) -> None:
        """Send one chunk of uint8 frames ``(t, H, W, 3)`` (or a single ``(H, W, 3)`` frame)."""
        if not self._entered:
            raise RuntimeError("use VideoWriter as a context manager: `with VideoWriter(...) as w:`")
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames (t, H, W, 3), got {frames.dtype} {frames.shape}")
        if self.format == "mp4" and (frames.shape[1] % 2 or frames.shape[2] % 2):
            frames = np.pad(frames, ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0)), mode="edge")
        shape = (frames.shape[1], frames.shape[2])
        if self._shape is None:
            self._shape = shape
            self._start(*shape)
        elif shape != self._shape:
            raise ValueError(f"frame size changed from {self._shape} to {shape} within one video")
        if len(frames) == 0:
            return
        try:
            self._proc.stdin.write(memoryview(np.ascontiguousarray(frames)).cast("B"))
        except (BrokenPipeError, OSError):
            code = self._proc.wait()
            raise VgenError(f"cannot write {self.label}: {exit_reason(code, self._tail.text())}") from None
        self.frames_written += len(frames)

    def _finish(self) -> None:
        if self._proc is None:
            raise VgenError(f"nothing to write to {self.label}: no frames were produced")
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        code = self._proc.wait()
        if self._pump is not None:
            self._pump.join()
        if code != 0:
            raise VgenError(f"cannot write {self.label}: {exit_reason(code, self._tail.text())}")

    def _abort(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc is not None and self._proc.stdin:
            try:
                self._proc.stdin.close()
            except OSError:
                pass

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        try:
            if exc_type is None:
                self._finish()
        except BaseException as err:
            self._abort()
            self._stack.__exit__(type(err), err, err.__traceback__)
            raise
        if exc_type is not None:
            self._abort()
        try:
            self._stack.__exit__(exc_type, exc, tb)
        except OSError as err:
            raise VgenError(os_error_message(err, Path(self.dst))) from None


def _copy_to_stdout(stream: IO[bytes]) -> None:
    """Forward ffmpeg's output to our stdout (works whether or not stdout has a real descriptor)."""
    out = sys.stdout.buffer
    try:
        shutil.copyfileobj(stream, out, 1 << 16)
        out.flush()
    except BrokenPipeError:
        pass
    finally:
        stream.close()


def _check_frame_folder(folder: Path) -> None:
    """Refuse to replace anything but a folder of vgen frames (never delete a user's files)."""
    if folder.is_file():
        raise VgenError(f"output {str(folder)!r} is a file, not a folder; name the output .mp4/.gif or choose a new folder")
    if folder.is_dir():
        frames = set(list_frames(folder))
        foreign = [p for p in folder.iterdir() if p not in frames or not p.name.startswith("frame_")]
        if foreign:
            raise VgenError(f"output folder {str(folder)!r} already holds other files; choose a new or empty folder")


def write_video(dst: Union[str, os.PathLike[str]], frames: np.ndarray, *, fps: float, format: Optional[Format] = None,
                crf: int = DEFAULT_CRF) -> None:
    """Write a whole uint8 ``(T, H, W, 3)`` array in one call; see ``VideoWriter``."""
    with VideoWriter(dst, fps=fps, format=format, crf=crf) as writer:
        writer.write(frames)
