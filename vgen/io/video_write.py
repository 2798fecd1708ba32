"""Streaming, atomic video writer: browser-playable H.264 MP4, looping palette GIF, PNG frame folders.

Chunks of uint8 ``(t, H, W, 3)`` frames go to ffmpeg's stdin as they arrive, so long videos are
written clip by clip in constant memory. Files are written to a temporary sibling and renamed into
place only when ffmpeg succeeds. ``-`` (stdout), a character device such as ``/dev/null`` and a FIFO
are streams: the bytes are copied straight into them (MP4 is then fragmented), never renamed over.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Iterator, Literal, NoReturn, Optional, Union

import numpy as np

from vgen.errors import VgenError
from vgen.io._ffmpeg import StderrTail, as_rate, exit_reason, popen
from vgen.io.atomic import atomic_path, os_error_message
from vgen.io.gif_timing import retime_gif
from vgen.io.streams import StreamSink, stream_kind
from vgen.io.video_read import list_frames

Format = Literal["mp4", "gif", "frames"]
FORMATS: tuple[str, ...] = ("mp4", "gif", "frames")
_SUFFIXES: dict[str, Format] = {".mp4": "mp4", ".m4v": "mp4", ".gif": "gif"}
FRAME_PATTERN = "frame_%06d.png"
DEFAULT_CRF = 18


def infer_format(dst: Union[str, os.PathLike[str]], format: Optional[str]) -> Format:
    """The output format: given explicitly, or from the suffix.

    No suffix means a folder of frames, except for a stream (a character device such as
    ``/dev/null``, or a FIFO), which gets MP4; stdout needs the format given.
    """
    to_stdout = str(dst) == "-"
    stream = None if to_stdout else stream_kind(dst)
    if format is not None:
        if format not in FORMATS:
            raise VgenError(f"unknown output format {format!r}; use one of: {', '.join(FORMATS)}")
        if format == "frames" and (to_stdout or stream):
            where = "stdout" if to_stdout else f"the {stream} {str(dst)!r}"
            raise VgenError(f"a folder of frames cannot be written to {where}; use --format mp4 or gif, or give a folder path")
        return format  # type: ignore[return-value]
    if to_stdout:
        raise VgenError("writing to stdout needs a format; add --format mp4 or --format gif")
    suffix = Path(dst).suffix.lower()
    if not suffix:
        return "mp4" if stream else "frames"
    if suffix not in _SUFFIXES:
        raise VgenError(f"cannot write {suffix} files; name the output .mp4 or .gif, or give a folder for PNG frames")
    return _SUFFIXES[suffix]


def _encoder_args(fmt: Format, *, to_pipe: bool, crf: int) -> list[str]:
    """ffmpeg output options for each format."""
    if fmt == "mp4":
        # A stream cannot be seeked back into, so MP4 is fragmented; delay_moov writes the header with the
        # first fragment, when the encoder's start offset is known, so the first frame is at 0 s (not 2 frames in).
        moov = "frag_keyframe+empty_moov+delay_moov+default_base_moof" if to_pipe else "+faststart"
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
    """Context manager that streams uint8 ``(t, H, W, 3)`` chunks into a video file, folder or stream.

    ``format`` is ``mp4``, ``gif`` or ``frames``; it is inferred from ``dst``'s suffix when omitted
    (no suffix: a folder of ``frame_000000.png`` ...) and required for ``dst="-"``. ``crf`` is the
    H.264 quality (lower is better; 18 is visually lossless). MP4 frames with odd sizes are padded
    by one edge-replicated row/column, since yuv420p needs even dimensions. GIF frame delays are set
    so frame k starts at round(100·k/fps) cs (see ``vgen.io.gif_timing``).
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
        self.to_stream = self.to_stdout or stream_kind(dst) is not None
        self.label = "stdout" if self.to_stdout else repr(str(dst))
        self.frames_written = 0
        self._stack = ExitStack()
        self._target: Optional[Path] = None
        self._sink: Optional[StreamSink] = None
        self._proc: Optional[subprocess.Popen] = None
        self._tail: Optional[StderrTail] = None
        self._shape: Optional[tuple[int, int]] = None
        self._entered = False

    def __enter__(self) -> "VideoWriter":
        if self.to_stream:
            self._sink = StreamSink.stdout() if self.to_stdout else StreamSink.open(Path(self.dst))
            if self.format == "gif":
                # The palette needs every frame before the first byte exists anyway: encode to a scratch
                # file, fix its timing, then copy it into the stream.
                self._target = self._stack.enter_context(_scratch_file(".gif"))
        else:
            if self.format == "frames":
                _check_frame_folder(Path(self.dst))
            self._target = self._stack.enter_context(atomic_path(self.dst, directory=self.format == "frames"))
        self._entered = True
        return self

    @property
    def _pumped(self) -> bool:
        """Whether ffmpeg's stdout is copied into a stream as it is produced (MP4 into stdout/device/FIFO)."""
        return self._sink is not None and self.format == "mp4"

    def _start(self, height: int, width: int) -> None:
        rate = as_rate(self.fps)
        if self._pumped:
            out = "-"
        elif self.format == "frames":
            out = str(self._target / FRAME_PATTERN)
        else:
            out = str(self._target)
        args = ["-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "-", "-an",
                *_encoder_args(self.format, to_pipe=self._pumped, crf=self.crf), out]
        self._proc = popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE if self._pumped else subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        self._tail = StderrTail(self._proc.stderr)
        if self._pumped:
            self._sink.start_pump(self._proc.stdout)

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
            self._fail(self._proc.wait())
        self.frames_written += len(frames)

    def _fail(self, code: int) -> NoReturn:
        """Raise why ffmpeg stopped: a failed write into the stream first (it is what made ffmpeg stop)."""
        if self._sink is not None:
            self._sink.join()
            self._sink.check()
        raise VgenError(f"cannot write {self.label}: {exit_reason(code, self._tail.text())}")

    def _finish(self) -> None:
        if self._proc is None:
            raise VgenError(f"nothing to write to {self.label}: no frames were produced")
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        code = self._proc.wait()
        if self._sink is not None:
            self._sink.join()
            self._sink.check()
        if code != 0:
            self._fail(code)
        if self.format == "gif":
            retime_gif(self._target, as_rate(self.fps))
            if self._sink is not None:
                with open(self._target, "rb") as gif:
                    self._sink.copy_from(gif)
        if self._sink is not None:
            self._sink.close()
            self._sink.check()

    def _abort(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc is not None and self._proc.stdin:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        if self._sink is not None:
            self._sink.close()

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


@contextmanager
def _scratch_file(suffix: str) -> Iterator[Path]:
    """A temporary file in the system's temp folder, deleted afterwards."""
    handle, name = tempfile.mkstemp(prefix="vgen-", suffix=suffix)
    os.close(handle)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


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
