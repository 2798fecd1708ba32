"""FI models through the commands: train, interpolate, evaluate --inbetween, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from test_pipelines_model import save_tiny
from vgen.cli import app
from vgen.cli._guard import run_guarded
from vgen.io.video import VideoWriter, read_all


def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


@pytest.fixture
def fi_home(tmp_vgen_home: Path) -> Path:
    save_tiny("fi-tiny", tmp_vgen_home / "models" / "fi-tiny")
    return tmp_vgen_home


def _clip(path: Path, frames: int = 7, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    video = np.full((frames, 16, 16, 3), 60, dtype=np.uint8)
    for t in range(frames):  # a square moving right over a flat background
        video[t, 5:10, 2 + t:7 + t] = rng.integers(150, 255, 3)
    with VideoWriter(path, fps=8) as writer:
        writer.write(video)
    return path


def test_interpolate_with_an_fi_model(fi_home: Path, tmp_path: Path, capsys) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    out = tmp_path / "smooth.mp4"
    assert vgen("interpolate", str(clip), "--model", "fi-tiny", "--factor", "3", "--steps", "2", "-o", str(out),
                "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "mask" and report["fps"] == 24.0 and report["between"] == 2
    assert len(read_all(out)) == (7 - 1) * 3 + 1


@pytest.mark.parametrize("args,message", [
    (["sample", "--model", "fi-tiny", "--steps", "2"], "cannot sample videos from noise; it fills in frames around "
                                                       "given ones: use vgen interpolate or vgen extend"),
    (["interpolate", "CLIP", "--model", "fi-tiny", "--factor", "5"], "--factor at most 4"),
    (["interpolate", "CLIP", "--model", "fi-tiny", "--method", "replacement"], "choose one of: mask"),
])
def test_refusals_are_one_line_and_leave_no_output(fi_home: Path, tmp_path: Path, capsys, args: list[str],
                                                    message: str) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    out = tmp_path / "out.mp4"
    assert vgen(*[str(clip) if a == "CLIP" else a for a in args], "-o", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_train_then_interpolate_and_evaluate_against_blending(tmp_vgen_home: Path, tmp_path: Path, capsys,
                                                              monkeypatch) -> None:
    base = ["--synthetic", "bouncing", "--synthetic-videos", "4", "--batch-size", "2"]
    assert vgen("train", "--model", "fi-tiny", *base, "--steps", "2", "--preview-every", "1",
                "--out", str(tmp_path / "refused")) == 2
    assert "fi-tiny (fi) cannot sample from noise, so it has no preview; drop --preview-every" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()

    assert vgen("train", "--model", "fi-tiny", *base, "--steps", "2", "--name", "my-fi", "--out",
                str(tmp_path / "run")) == 0
    assert "interpolate with it: vgen interpolate VIDEO --model my-fi" in capsys.readouterr().err
    monkeypatch.setenv("VGEN_CACHE", str(tmp_path / "cache"))
    (tmp_path / "clips").mkdir()
    for i in range(2):
        _clip(tmp_path / "clips" / f"c{i}.mp4", frames=9, seed=i)
    assert vgen("evaluate", "--model", "my-fi", "--inbetween", str(tmp_path / "clips"), "--factor", "4",
                "--frames", "9", "--num", "2", "--steps", "2", "--device", "cpu", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"]["factor"] == 4 and out["protocol"]["method"] == "mask"
    assert np.isfinite(out["metrics"]["psnr"]) and out["metrics"]["blend_psnr"] > 0


def test_recipe_trains_the_fi_mini_preset(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import train_bundled

    first, more = train_bundled.RECIPES["fi-mini-bouncing"]
    cmd = train_bundled.command_for("fi-mini-bouncing", first, tmp_path)
    assert cmd[cmd.index("--model") + 1] == "fi-mini" and cmd[cmd.index("--stage") + 1] == "diffusion"
    assert "--synthetic" in cmd and cmd[cmd.index("--seed") + 1] == "0"
    cmd = train_bundled.command_for("fi-mini-bouncing", more, tmp_path)
    assert cmd[cmd.index("--model") + 1] == "fi-mini-bouncing--diffusion" and cmd[cmd.index("--seed") + 1] == "1"


def test_models_lists_the_fi_presets(tmp_vgen_home: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("VGEN_CACHE", str(tmp_path / "cache"))
    assert vgen("models", "--json") == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["presets"]}
    assert rows["fi-mini"]["parameters"] == {"unet": 321_155} and rows["fi-tiny"]["parameters"] == {"unet": 54_915}
    assert rows["fi-mini"]["sample"] == "" and rows["fi-mini"]["interpolate"] == ["mask"]
    assert rows["fi-mini"]["upscale"] == [1, 2]
    assert vgen("models") == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("fi-mini")]
    assert line.split()[-5:] == ["-", "mask", "mask", "x2", "time"]
