"""Streaming video reader: any container ffmpeg knows, a folder of frames, or stdin.

Frames come out as uint8 ``(t, H, W, 3)`` chunks of a fixed size, so memory does not grow with the
length of the video. Fitting (frame-rate resampling, resize + centre crop or squash, start frame,
frame limit) happens inside ffmpeg's filter graph on the way out.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import shutil
import sys
import tempfile
import weakref
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Literal, Optional, Union

import numpy as np

from vgen.errors import VgenError
from vgen.io._ffmpeg import NO_FRAMES, Probe, StderrTail, as_rate, exit_reason, popen, probe

Fit = Literal["crop", "squash"]
Size = Union[int, tuple[int, int]]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
FOLDER_DEFAULT_FPS = 8.0
_SCALE_FLAGS = "lanczos+accurate_rnd+full_chroma_int"


def natural_key(name: str) -> list[Union[int, str]]:
    """Sort key that orders ``frame2.png`` before ``frame10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_frames(folder: Path) -> list[Path]:
    """The PNG/JPG files directly inside ``folder``, in natural order."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class VideoReader:
    """A fitted view of one video; iterate it with ``chunks(n)`` (each call decodes from the start).

    Attributes describe the frames ``chunks`` yields: ``fps``, ``width``, ``height`` and
    ``num_frames`` (exact for frame folders; for videos estimated from the container's duration,
    which can be off by one for variable-rate or resampled video; ``None`` when unknown).
    ``source_*`` describe the input before fitting.
    """

    def __init__(self, src: Union[str, os.PathLike[str]], *, fps: Optional[float] = None, size: Optional[Size] = None,
                 fit: Fit = "crop", start: int = 0, max_frames: Optional[int] = None) -> None:
        if fit not in ("crop", "squash"):
            raise VgenError(f"unknown fit mode {fit!r}; use 'crop' or 'squash'")
        if fps is not None and not fps > 0:
            raise VgenError(f"frame rate must be positive, got {fps}")
        if start < 0:
            raise VgenError(f"start frame must be >= 0, got {start}")
        if max_frames is not None and max_frames < 1:
            raise VgenError(f"max_frames must be >= 1, got {max_frames}")
        self.fit: Fit = fit
        self.start = start
        self.max_frames = max_frames
        self._frames: Optional[list[Path]] = None
        self._input: list[str]
        if str(src) == "-":
            self.label = "stdin"
            path = self._spool_stdin()
        else:
            path = Path(src).expanduser()
            self.label = repr(str(src))
            self._check_exists(path)
        if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
            self._open_frames(path, fps)
        else:
            self._open_video(path, fps)
        self._set_output_size(size)

    # -- opening -------------------------------------------------------------------------------

    def _spool_stdin(self) -> Path:
        """Copy stdin to a temporary file: MP4 needs seeking to find its index, a pipe cannot."""
        if sys.stdin is None:
            raise VgenError("input '-' reads a video from stdin, but stdin is closed; pipe one in: `cat clip.mp4 | vgen ... -`")
        if sys.stdin.isatty():
            raise VgenError("input '-' reads a video from stdin, but stdin is a terminal; pipe one in: `cat clip.mp4 | vgen ... -`")
        handle = tempfile.NamedTemporaryFile(prefix="vgen-stdin-", delete=False)
        self._spool = weakref.finalize(self, _unlink, handle.name)
        with handle:
            shutil.copyfileobj(sys.stdin.buffer, handle, 1 << 20)
        if os.path.getsize(handle.name) == 0:
            self.close()
            raise VgenError("stdin is empty; pipe a video in, e.g. `cat clip.mp4 | vgen ... -`")
        return Path(handle.name)

    def _check_exists(self, path: Path) -> None:
        if not path.exists():
            raise VgenError(f"video {self.label} not found; check the path")
        if path.is_file() and path.stat().st_size == 0:
            raise VgenError(f"video {self.label} is an empty file (0 bytes); pass a real video")

    def _open_frames(self, path: Path, fps: Optional[float]) -> None:
        """A folder of numbered frames (or one image): exact frames, no resampling, fps is a label."""
        frames = list_frames(path) if path.is_dir() else [path]
        if not frames:
            raise VgenError(f"folder {self.label} contains no PNG/JPG frames; pass a folder of numbered images or a video file")
        end = None if self.max_frames is None else self.start + self.max_frames
        self._frames = frames[self.start:end]
        if not self._frames:
            raise VgenError(f"start frame {self.start} is past the end of {self.label} ({len(frames)} frames)")
        info = probe(self._frames[0], repr(str(self._frames[0])))
        self.source_width, self.source_height = info.width, info.height
        self.source_fps = self.fps = float(fps or FOLDER_DEFAULT_FPS)
        self._rate: Optional[Fraction] = None
        self._sar = Fraction(1)
        self.num_frames: Optional[int] = len(self._frames)

    def _open_video(self, path: Path, fps: Optional[float]) -> None:
        info: Probe = probe(path, self.label)
        self._input = ["-i", str(path), "-map", info.stream]
        self._sar = info.sar
        self.source_width = round(info.width * info.sar) if info.sar != 1 else info.width
        self.source_height = info.height
        self.source_fps = float(info.fps) if info.fps else None
        self._rate = as_rate(fps) if fps else None
        self.fps = float(self._rate) if self._rate else (self.source_fps or 25.0)
        self.num_frames = None
        if info.duration:
            # ffmpeg prints the duration rounded to 10 ms: snap it to a whole number of source frames.
            end = round(info.duration * self.source_fps) / self.source_fps if self.source_fps else info.duration
            total = round(end * self.fps)
            if self._rate is not None:
                # The fps filter emits one frame per output slot that starts before the end time.
                total = math.ceil(end * self.fps - 1e-6)
            total = max(0, total - self.start)
            self.num_frames = total if self.max_frames is None else min(total, self.max_frames)

    def _set_output_size(self, size: Optional[Size]) -> None:
        if size is None:
            self.height, self.width = self.source_height, self.source_width
        else:
            height, width = (size, size) if isinstance(size, (int, np.integer)) else size
            if height < 1 or width < 1:
                raise VgenError(f"frame size must be positive, got {height}x{width}")
            self.height, self.width = int(height), int(width)

    # -- decoding ------------------------------------------------------------------------------

    def _filters(self) -> str:
        """The ffmpeg filter graph that fits decoded frames to (fps, start, H, W)."""
        steps: list[str] = []
        if self._sar != 1:
            steps.append(f"scale={self.source_width}:{self.source_height}:flags={_SCALE_FLAGS},setsar=1")
        if self._rate is not None:
            # round=up: output frame k shows the latest source frame at or before time k/fps.
            steps.append(f"fps={self._rate.numerator}/{self._rate.denominator}:round=up")
        if self.start and self._frames is None:
            steps.append(f"trim=start_frame={self.start}")
        w, h = self.width, self.height
        if self.fit == "crop" and (w, h) != (self.source_width, self.source_height):
            steps.append(f"scale={w}:{h}:force_original_aspect_ratio=increase:flags={_SCALE_FLAGS},crop={w}:{h}")
        # Final scale: pins the frame size even if the stream changes resolution mid-way.
        steps.append(f"scale={w}:{h}:flags={_SCALE_FLAGS}")
        return ",".join(steps)

    def _concat_list(self, frames: list[Path]) -> str:
        """Write an ffmpeg concat-demuxer list of frame files (handles arbitrary names)."""
        handle = tempfile.NamedTemporaryFile("w", prefix="vgen-frames-", suffix=".txt", delete=False, encoding="utf-8")
        with handle:
            handle.write("ffconcat version 1.0\n")
            for frame in frames:
                quoted = str(frame.resolve()).replace("'", "'\\''")
                # A duration gives each image its own timestamp, so none is dropped as a duplicate.
                handle.write(f"file '{quoted}'\nduration {1 / self.fps:.6f}\n")
        return handle.name

    def _decode(self, inputs: list[str], n: int) -> Iterator[np.ndarray]:
        """Run one ffmpeg process over ``inputs``, yielding up to ``n`` fitted frames at a time."""
        args = ["-loglevel", "error", *inputs, "-an", "-sn", "-dn", "-vf", self._filters(), "-fps_mode", "passthrough",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        proc = popen(args, stdout=-1, stderr=-1)
        tail = StderrTail(proc.stderr)
        frame_bytes = self.width * self.height * 3
        produced = 0
        finished = False
        try:
            while True:
                buf = bytearray(n * frame_bytes)
                got = _read_into(proc.stdout, memoryview(buf))
                t = got // frame_bytes
                if t:
                    produced += t
                    yield np.frombuffer(buf, np.uint8, t * frame_bytes).reshape(t, self.height, self.width, 3)
                if got < len(buf):
                    break
            finished = True
        finally:
            if not finished and proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            code = proc.wait()
        log = tail.text()
        reason = exit_reason(code, log)
        if (code != 0 or "partial file" in log) and not (produced == 0 and reason == NO_FRAMES):
            raise VgenError(f"cannot decode video {self.label}: {reason} (after {produced} frames)")

    def _blocks(self, n: int) -> Iterator[np.ndarray]:
        """Decoded frames in blocks of at most ``n``; frame folders run one ffmpeg per image codec."""
        if self._frames is None:
            limit = ["-frames:v", str(self.max_frames)] if self.max_frames else []
            yield from self._decode([*self._input, *limit], n)
            return
        for _, run in itertools.groupby(self._frames, key=lambda p: p.suffix.lower() in (".jpg", ".jpeg")):
            list_file = self._concat_list(list(run))
            try:
                yield from self._decode(["-f", "concat", "-safe", "0", "-i", list_file, "-map", "0:v:0"], n)
            finally:
                _unlink(list_file)

    def chunks(self, n: int = 16) -> Iterator[np.ndarray]:
        """Yield uint8 ``(t, H, W, 3)`` arrays with ``t == n`` except possibly the last one."""
        if n < 1:
            raise ValueError("chunk size must be >= 1")
        pending: list[np.ndarray] = []
        count = produced = 0
        for block in self._blocks(n):
            pending.append(block)
            count += len(block)
            produced += len(block)
            while count >= n:
                joined = pending[0] if len(pending) == 1 else np.concatenate(pending)
                pending = [joined[n:]] if len(joined) > n else []
                count -= n
                yield joined[:n]
        if count:
            yield np.concatenate(pending)
        if produced == 0:
            if self.start:
                raise VgenError(f"video {self.label} has no frames at or after frame {self.start}; use a smaller start frame")
            raise VgenError(f"video {self.label} has no frames; pass a video with at least one frame")

    def close(self) -> None:
        """Delete the stdin spool file now rather than when the reader is garbage-collected."""
        spool = getattr(self, "_spool", None)
        if spool is not None:
            spool()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VideoReader({self.label}, {self.width}x{self.height} @ {self.fps:g} fps, frames={self.num_frames})"


def _read_into(stream, view: memoryview) -> int:
    """Fill ``view`` from a pipe; returns the number of bytes read (short only at end of stream)."""
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled:])
        if not got:
            break
        filled += got
    return filled


def open_video(src: Union[str, os.PathLike[str]], *, fps: Optional[float] = None, size: Optional[Size] = None,
               fit: Fit = "crop", start: int = 0, max_frames: Optional[int] = None) -> VideoReader:
    """Open a video file, a folder of PNG/JPG frames, or ``"-"`` (stdin) for streaming reads.

    ``fps`` resamples videos to that rate (frame folders have none: it labels them, default 8).
    ``size`` is ``H`` for square frames or ``(H, W)``; ``fit="crop"`` scales the shorter side and
    centre-crops, ``"squash"`` scales to the size ignoring the aspect ratio. ``start`` skips that
    many output frames and ``max_frames`` caps how many are read. Audio is ignored; grayscale and
    RGBA become RGB. Bad input raises ``VgenError`` with one line.
    """
    return VideoReader(src, fps=fps, size=size, fit=fit, start=start, max_frames=max_frames)


def read_all(src: Union[str, os.PathLike[str]], **kwargs) -> np.ndarray:
    """The whole (fitted) video as one uint8 ``(T, H, W, 3)`` array; see ``open_video``."""
    with open_video(src, **kwargs) as reader:
        return np.concatenate(list(reader.chunks(64)), axis=0)
