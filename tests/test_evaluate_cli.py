"""``vgen evaluate`` end to end: JSON scores with their protocol, the real-stats cache, and bad inputs (exit 2)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
pytest.importorskip("vgen.io.video")


def make_video(path: Path, frames: int, *, hue: int = 0, source: str = "testsrc") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"{source}=size=64x48:rate=8", "-frames:v", str(frames), "-vf", f"hue=h={hue}",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evaluate")
    for i in range(3):
        make_video(root / "real" / f"r{i}.mp4", 12, hue=60 * i)
        make_video(root / "fake" / f"f{i}.mp4", 10, hue=60 * i, source="mandelbrot")
    make_video(root / "real" / "short.mp4", 4)
    make_video(root / "short" / "s.mp4", 4)
    (root / "empty").mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "x.mp4").write_bytes(b"garbage" * 100)
    (root / "weights.pt").write_bytes(b"not an i3d")
    (root / "cache").mkdir()
    return root


def vgen(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VGEN_CACHE": str(data / "cache"), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "vgen", "evaluate", *args], capture_output=True, text=True, env=env, timeout=600)


def test_json_scores_record_the_protocol_and_the_cache_is_reused(data: Path) -> None:
    common = ["--real", str(data / "real"), "--num", "4", "--frames", "9", "--batch-size", "3", "--device", "cpu", "--json"]
    first = vgen(data, *common, "--fake", str(data / "fake"))
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["metrics"]["fvd"] > 0 and "kvd" in result["metrics"]
    proto = result["protocol"]
    assert proto["frames"] == 9 and proto["stride"] == 1 and proto["num"] == 4 and proto["resize"] == "crop"
    assert proto["extractor"]["bn_eps"] == 1e-3 and len(proto["extractor"]["weights_hash"]) == 16
    assert proto["real"]["clips"] == 3 and proto["real"]["skipped_short"] == 1 and not proto["real"]["cached"]
    assert proto["fake"]["clips"] == 3 and proto["real"]["resolution"] == [48, 64]
    assert "unbiased" in proto["kvd_convention"]
    assert "biased upward" in first.stderr and "skipped 1 videos shorter" in first.stderr
    assert "--fake gave 3 clips, fewer than --num 4" in first.stderr
    # Same set as real and fake: FVD ~ 0, and the real statistics come from the cache.
    second = vgen(data, *common, "--fake", str(data / "real"))
    assert second.returncode == 0, second.stderr
    assert "reusing cached real-set statistics" in second.stderr
    again = json.loads(second.stdout)
    assert again["protocol"]["real"]["cached"] and abs(again["metrics"]["fvd"]) < 1e-3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--real", "{empty}", "--fake", "{real}"], "no videos"),
        (["--real", "{broken}", "--fake", "{real}"], "cannot decode|no usable clips"),
        (["--real", "{short}", "--fake", "{real}"], "shorter than 9 frames"),
        (["--real", "{real}", "--fake", "{real}", "--metrics", "is"], "C3D"),
        (["--real", "{real}", "--fake", "{real}", "--metrics", "is", "--frames", "16", "--c3d", "{empty}/c3d.npz"], "c3d.npz does not exist"),
        (["--real", "{real}", "--fake", "{real}", "--i3d", "{root}/weights.pt"], "not an I3D weights file"),
    ],
)
def test_bad_inputs_give_one_line_and_exit_2(data: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process through vgen.cli.main (the same exit-code mapping as the console script), to skip a
    # torch import per case; the happy path above runs in a real subprocess.
    from vgen.cli import main

    paths = {"root": data, **{name: data / name for name in ("empty", "broken", "short", "real")}}
    extra = [] if "--frames" in args else ["--frames", "9"]
    monkeypatch.setenv("VGEN_CACHE", str(data / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.setattr(sys, "argv", ["vgen", "evaluate", *[a.format(**paths) for a in args], *extra, "--num", "2"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    assert exit_info.value.code == 2, captured.err
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert re.search(message, lines[0]), lines[0]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained pvdm-tiny model folder (random weights): enough to exercise encode/decode."""
    torch = pytest.importorskip("torch")
    try:
        from vgen.config import preset
        from vgen.io.checkpoint import save_network
        from vgen.models import build_networks
    except ImportError as exc:
        pytest.skip(f"model code not available yet: {exc}")
    config = preset("pvdm-tiny")
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    for role, net in build_networks(config).items():
        save_network(folder / f"{role}.safetensors", net.state_dict(), config, role=role,
                     extra={"ema": role == "unet"})
    return folder


def test_reconstruction_reports_psnr_and_ssim(data: Path, tiny_model: Path) -> None:
    result = vgen(data, "--model", str(tiny_model), "--reconstruct", str(data / "real"), "--num", "2", "--device", "cpu", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert 0 < out["metrics"]["psnr"] < 60 and -1 <= out["metrics"]["ssim"] <= 1
    assert "rfvd" not in out["metrics"] and "reconstruction FVD skipped" in result.stderr  # pvdm-tiny clips have 8 < 9 frames
    proto = out["protocol"]
    assert proto["frames"] == 8 and proto["load_size"] == 32 and proto["ema"] is True and "pooled MSE" in proto["psnr"]
    assert proto["set"]["clips"] == 2 and proto["set"]["resolution"] == [32, 32]


def test_reconstruction_names_the_model_clip_length(data: Path, tiny_model: Path) -> None:
    result = vgen(data, "--model", str(tiny_model), "--reconstruct", str(data / "real"), "--frames", "16", "--num", "2")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "use --frames 8" in lines[0]
