"""Shared test fixtures: synthetic clips (as arrays and as files) and an isolated VGEN_HOME."""

from __future__ import annotations

import signal
import sys
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest


# A suite started as a background job (`pytest ... &` in a script, nohup) inherits SIGINT ignored, and the Ctrl-C tests
# need it delivered: to this process, and to the vgen processes it starts (exec turns a Python handler back into the
# default action, whereas an ignored signal stays ignored).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def synthetic_frames(t: int = 16, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth moving test clip, uint8 ``(t, h, w, 3)``: drifting sine gradients and a moving blob.

    Smooth on purpose, so lossy codecs behave as they do on natural video (high PSNR at good
    quality); ``seed`` shifts the phases so different seeds give different clips.
    """
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    tt = np.arange(t, dtype=np.float64)[:, None, None]
    yy = np.arange(h, dtype=np.float64)[None, :, None]
    xx = np.arange(w, dtype=np.float64)[None, None, :]
    red = 128 + 100 * np.sin((xx + 2 * tt) / 10.0 + phase[0]) + 0 * yy
    green = 128 + 100 * np.cos((yy - tt) / 8.0 + phase[1]) + 0 * xx
    cx = w * 0.2 + tt * 1.5
    cy = h / 2 + h / 6 * np.sin(tt / 4 + phase[2])
    blue = 60 + 180 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 6.0**2))
    return np.clip(np.stack([red, green, blue], axis=-1), 0, 255).round().astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 arrays of the same shape."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@pytest.fixture
def ffmpeg_exe() -> str:
    """The bundled ffmpeg binary (for building test inputs vgen did not write itself)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture
def make_frames() -> Callable[..., np.ndarray]:
    """Factory: ``make_frames(t=16, h=48, w=64, seed=0)`` -> uint8 ``(t, h, w, 3)`` synthetic clip."""
    return synthetic_frames


@pytest.fixture
def make_clip_file(tmp_path: Path, ffmpeg_exe: str) -> Callable[..., Path]:
    """Factory writing a synthetic clip with the bundled ffmpeg directly (independent of vgen's writer).

    ``make_clip_file(name="clip.mp4", t=16, h=48, w=64, fps=8, seed=0)``; the codec follows the
    suffix (.mp4/.mov/.mkv: H.264, .avi: MJPEG, .webm: VP9, .gif: GIF). Returns the path.
    """

    def make(name: str = "clip.mp4", t: int = 16, h: int = 48, w: int = 64, fps: float = 8, seed: int = 0) -> Path:
        path = tmp_path / name
        frames = synthetic_frames(t, h, w, seed)
        codec = {".gif": ["-f", "gif"], ".avi": ["-c:v", "mjpeg", "-q:v", "2"],
                 ".webm": ["-c:v", "libvpx-vp9", "-crf", "20", "-b:v", "0"]}.get(
            path.suffix, ["-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv444p"])
        subprocess.run([ffmpeg_exe, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                        "-framerate", str(fps), "-i", "-", *codec, str(path)],
                       input=frames.tobytes(), check=True)
        return path

    return make


@pytest.fixture
def tmp_vgen_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``VGEN_HOME`` at an empty temporary folder; the model store is ``<it>/models``."""
    home = tmp_path / "vgen-home"
    home.mkdir()
    monkeypatch.setenv("VGEN_HOME", str(home))
    return home


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    """Tiny networks run fastest on one thread, and OpenMP workers stall when the 2-core machine is busy.

    Subprocess tests set OMP_NUM_THREADS themselves where it matters.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """Run ``vgen ARGS`` in this process as the console script does: (exit code, stdout, stderr)."""
    from vgen.cli import main
    from vgen.cli._common import STATE

    monkeypatch.setattr(sys, "argv", ["vgen", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    STATE.update(debug=False, quiet=False)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
