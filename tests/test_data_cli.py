"""``vgen data synth``: a real command run writing readable, deterministic mp4 files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from vgen.data.synthetic import synthetic_video
from vgen.data.video_folder import VideoFolderDataset
from vgen.data.config import VideoDataConfig
from vgen.io.video import open_video, read_all


def run_vgen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vgen", *args], capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"}, timeout=300)


def test_synth_writes_class_folders_of_readable_mp4(tmp_path):
    out = tmp_path / "toy"
    result = run_vgen("data", "synth", str(out), "--kind", "mixed", "--num", "4", "--frames", "12",
                      "--size", "32", "--fps", "8", "--seed", "3", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # stdout holds only the JSON line
    assert summary["num"] == 4 and summary["classes"] == {"bouncing": 2, "sky": 2}
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["bouncing/bouncing_0000.mp4", "bouncing/bouncing_0001.mp4", "sky/sky_0000.mp4", "sky/sky_0001.mp4"]

    reader = open_video(out / "sky" / "sky_0001.mp4")
    assert (reader.width, reader.height, reader.fps) == (32, 32, 8.0)
    frames = read_all(out / "sky" / "sky_0001.mp4")
    assert frames.shape == (12, 32, 32, 3)
    # sky_0001 is video 3 of the mixed set: the file matches the generator up to H.264 loss.
    expected = synthetic_video("sky", [3, 3], 12, 32).astype(np.float32)
    mse = np.mean((frames.astype(np.float32) - expected) ** 2)
    assert 10 * np.log10(255.0**2 / mse) > 30

    # The folder is a labelled training set as it stands.
    dataset = VideoFolderDataset(out, VideoDataConfig(frames=8, resolution=16))
    assert dataset.class_names == ["bouncing", "sky"] and len(dataset) == 4


def test_synth_into_a_file_is_exit_2(tmp_path, capsys):
    from vgen.cli import app
    from vgen.cli._guard import run_guarded

    target = tmp_path / "file.mp4"
    target.write_bytes(b"x")
    code = run_guarded(lambda: app(["data", "synth", str(target), "--num", "1", "--frames", "2"], standalone_mode=False))
    captured = capsys.readouterr()
    assert code == 2
    assert "is a file" in captured.err and "Traceback" not in captured.err
    assert captured.out == "" and target.read_bytes() == b"x"


def test_synth_frames_format_is_the_generator_to_the_pixel(tmp_path):
    out = tmp_path / "held"
    args = ("data", "synth", str(out), "--num", "2", "--frames", "6", "--size", "16", "--seed", "1000",
            "--format", "frames", "--json")
    result = run_vgen(*args)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["format"] == "frames"
    assert sorted(p.name for p in (out / "bouncing").iterdir()) == ["bouncing_0000", "bouncing_0001"]
    for index in range(2):
        frames = read_all(out / "bouncing" / f"bouncing_{index:04d}")
        assert np.array_equal(frames, synthetic_video("bouncing", [1000, index], 6, 16))  # lossless
    # An existing frame folder is refused without --overwrite (one line, exit 2), and replaced with it.
    again = run_vgen(*args)
    assert again.returncode == 2 and "already exists" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert run_vgen(*args, "--overwrite").returncode == 0
    assert len(list((out / "bouncing" / "bouncing_0000").iterdir())) == 6


def test_unknown_synthetic_format_is_refused_before_writing(tmp_path):
    import pytest

    from vgen.data.synthetic_dataset import write_synthetic_videos
    from vgen.errors import VgenError

    with pytest.raises(VgenError, match="use mp4 or frames"):
        write_synthetic_videos(tmp_path / "x", "bouncing", num=1, frames=2, size=8, fps=8, format="gif")
    assert not (tmp_path / "x").exists()
