"""The bundled ffmpeg binary: locating it, probing inputs and turning its stderr into one line.

vgen drives ``imageio_ffmpeg.get_ffmpeg_exe()`` through subprocess pipes (raw rgb24 frames), so no
system ffmpeg is needed. ffmpeg's log is never shown to the user; ``stderr_reason`` distils it.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import IO, Optional

from vgen.errors import VgenError


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped with imageio-ffmpeg."""
    import imageio_ffmpeg

    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise VgenError(f"the bundled ffmpeg is missing ({exc}); reinstall with `pip install --force-reinstall imageio-ffmpeg`") from None


def popen(args: list[str], **kwargs) -> subprocess.Popen:
    """Start ffmpeg in its own process group, so Ctrl-C reaches only Python, which then cleans up."""
    return subprocess.Popen([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], process_group=0, **kwargs)


class StderrTail:
    """Drain a process's stderr on a thread (so it can never fill up and block) and keep its tail."""

    def __init__(self, stream: IO[bytes], keep: int = 200) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.lines.append(raw.decode("utf-8", "replace").rstrip())
        stream.close()

    def text(self) -> str:
        """Everything kept so far, once the process has exited."""
        self._thread.join(timeout=5)
        return "\n".join(self.lines)


NO_FRAMES = "no frames could be decoded"

# Known ffmpeg complaints, most specific first, mapped to what they mean for the user.
_REASONS: list[tuple[str, str]] = [
    ("No space left on device", "disk full"),
    ("Permission denied", "permission denied"),
    ("No such file or directory", "file not found"),
    ("misdetection possible", "not a video file (unrecognised content)"),
    ("moov atom not found", "truncated or not a valid MP4/MOV file (no 'moov' index)"),
    ("partial file", "the file is truncated"),
    ("Invalid NAL unit size", "the file is truncated or corrupt"),
    ("Cannot determine format of input", NO_FRAMES),
    ("received no packets", NO_FRAMES),
    ("Invalid data found when processing input", "not a video or image ffmpeg can read (invalid data)"),
    ("does not contain any stream", "the file contains no video stream"),
]
_PREFIX = re.compile(r"^(\[[^\]]*\]\s*)+")


def stderr_reason(log: str) -> str:
    """One short phrase explaining an ffmpeg failure, from its stderr log."""
    for needle, reason in _REASONS:
        if needle in log:
            return reason
    lines = [_PREFIX.sub("", line).strip() for line in log.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("Conversion failed", "Error opening"))]
    return lines[-1][:200] if lines else "ffmpeg failed without a message"


def exit_reason(code: int, log: str) -> str:
    """Like ``stderr_reason``, but names the signal when ffmpeg was killed (e.g. by a file-size limit)."""
    if code < 0:
        if -code == getattr(signal, "SIGXFSZ", None):
            return "the file size limit was exceeded (disk quota); free space or raise the limit"
        try:
            return f"ffmpeg was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"ffmpeg was killed by signal {-code}"
    return stderr_reason(log)


@dataclass(frozen=True)
class Probe:
    """What ffmpeg reports about an input's first real video stream (display orientation)."""

    width: int
    height: int
    fps: Optional[Fraction]
    duration: Optional[float]
    stream: str  # ffmpeg stream specifier such as "0:1"
    sar: Fraction


_STREAM = re.compile(r"^\s*Stream #(\d+:\d+)[^:]*: Video: (.*)$")
_DIMS = re.compile(r", (\d+)x(\d+)(?=[ ,]|$)")
_SAR = re.compile(r"\[SAR (\d+):(\d+)")
_RATE = re.compile(r"([\d.]+)(k?) (fps|tbr)")
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")


def _rate(text: str) -> Optional[Fraction]:
    rates = {unit: float(value) * (1000 if k else 1) for value, k, unit in _RATE.findall(text)}
    # tbr is the nominal rate (GIF delays of 12/13 cs average "8.33 fps" but tbr says 8); fall back
    # to the average when they disagree a lot (e.g. tbr counting fields of interlaced video).
    fps, tbr = rates.get("fps"), rates.get("tbr")
    value = tbr if tbr and (not fps or abs(tbr - fps) <= 0.1 * fps) else fps
    return as_rate(value) if value else None


def as_rate(fps: float) -> Fraction:
    """An exact frame rate: NTSC rates given rounded (29.97, 23.976, 59.94) become n*1000/1001."""
    for base in (24, 30, 48, 60, 120):
        if abs(fps - base * 1000 / 1001) < 0.006:
            return Fraction(base * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def probe(path: Path, label: str) -> Probe:
    """Read an input's header with ``ffmpeg -i`` and describe its first video stream.

    ``label`` is how the input is named in errors (the user's path, or "stdin").
    """
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                          capture_output=True, text=True, errors="replace")
    log = proc.stderr
    if "Input #0" not in log:
        raise VgenError(f"cannot read video {label}: {stderr_reason(log)}; pass an mp4/mov/mkv/webm/avi/gif file or a folder of frames")
    lines = log.splitlines()
    for i, line in enumerate(lines):
        match = _STREAM.match(line)
        if not match or "attached pic" in line:
            continue
        dims = _DIMS.search(match.group(2))
        if not dims:
            continue
        width, height = int(dims.group(1)), int(dims.group(2))
        sar_match = _SAR.search(line)
        sar = Fraction(int(sar_match.group(1)), int(sar_match.group(2))) if sar_match and int(sar_match.group(2)) else Fraction(1)
        if sar <= 0:
            sar = Fraction(1)
        # Side data (e.g. a phone's rotation matrix) follows the stream line, indented deeper.
        for extra in lines[i + 1:]:
            if extra.lstrip().startswith("Stream #") or not extra.startswith("    "):
                break
            rot = _ROTATION.search(extra)
            if rot and round(abs(float(rot.group(1)))) % 180 == 90:
                width, height = height, width
                sar = 1 / sar
        duration = _DURATION.search(log)
        seconds = (int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3))) if duration else None
        return Probe(width, height, _rate(match.group(2)), seconds, match.group(1), sar)
    raise VgenError(f"{label} contains no video stream (audio only or empty); pass a video file")
