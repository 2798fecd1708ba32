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


def make_video(path: Path, frames: int, *, hue: int = 0, source: str = "testsrc", size: str = "64x48") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"{source}=size={size}:rate=8", "-frames:v", str(frames), "-vf", f"hue=h={hue}",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evaluate")
    for i in range(3):
        make_video(root / "real" / f"r{i}.mp4", 12, hue=60 * i)
        make_video(root / "fake" / f"f{i}.mp4", 10, hue=60 * i, source="mandelbrot")
    make_video(root / "real" / "short.mp4", 4)
    make_video(root / "one" / "only.mp4", 12)
    for i in range(2):  # at the 32x32 of pvdm-tiny
        make_video(root / "real32" / f"r{i}.mp4", 12, hue=90 * i, size="32x32")
        make_video(root / "fake32" / f"f{i}.mp4", 12, hue=90 * i, size="32x32", source="mandelbrot")
    for name in ("s.mp4", "t.mp4"):
        make_video(root / "short" / name, 4)
    (root / "empty").mkdir()
    (root / "broken").mkdir()
    for name in ("x.mp4", "y.mp4"):
        (root / "broken" / name).write_bytes(b"garbage" * 100)
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
    assert 0 < result["elapsed_s"] < 600
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
        (["--real", "{one}", "--fake", "{real}"], r"one holds 1 video\(s\), but FVD/KVD need at least 2"),
        (["--real", "{real}", "--fake", "{one}"], r"one holds 1 video\(s\), but FVD\+KVD need at least 2"),
        (["--real", "{real}", "--fake", "{real}", "--start", "4"], "videos shorter than 13 frames.*--frames/--stride/--start"),
        (["--fake", "{real}", "--metrics", "seam"], "--seam on --fake videos needs --seam-every N"),
        (["--fake", "{real}", "--seam-every", "1"], "--seam-every"),
        (["--fake", "{real}", "--metrics", "seam", "--seam-span", "3"], "--seam-span goes with --seam-every"),
        (["--fake", "{real}", "--metrics", "seam", "--seam-every", "4", "--seam-span", "4"], "--seam-span 4 must be smaller than --seam-every 4"),
    ],
)
def test_bad_inputs_give_one_line_and_exit_2(data: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process through vgen.cli.main (the same exit-code mapping as the console script), to skip a
    # torch import per case; the happy path above runs in a real subprocess.
    from vgen.cli import main

    paths = {"root": data, **{name: data / name for name in ("empty", "broken", "short", "real", "one")}}
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


def run_in_process(data: Path, args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """``vgen evaluate ARGS`` through ``vgen.cli.main``: (exit code, stdout, stderr)."""
    from vgen.cli import main

    monkeypatch.setenv("VGEN_CACHE", str(data / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "argv", ["vgen", "evaluate", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def test_the_table_goes_to_stdout_and_json_is_one_document(data: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["--fake", str(data / "fake"), "--metrics", "seam", "--seam-every", "4", "--frames", "9", "--num", "3"]
    code, out, err = run_in_process(data, args, capsys, monkeypatch)
    assert code == 0, err
    assert re.search(r"seam_ratio\s.*\d", out) and "inside_change" in out and "elapsed:" in out
    assert "seam_ratio" not in err
    code, out, err = run_in_process(data, [*args, "--json"], capsys, monkeypatch)
    assert code == 0, err
    assert out.endswith("\n") and out.count("\n") == 1
    result = json.loads(out)
    # 3 videos of 10 frames with a boundary every 4 frames: seams 3->4 and 7->8 in each.
    assert result["protocol"]["seam"]["seams"] == 6 and result["protocol"]["seam"]["every"] == 4
    assert result["metrics"]["seam_ratio"] > 0 and 0 <= result["metrics"]["seam_jump_share"] <= 1
    assert result["elapsed_s"] >= 0
    # Zones of 2 transitions (clips cross-faded over one frame): the peak figures join the report.
    code, out, err = run_in_process(data, [*args, "--seam-span", "2", "--json"], capsys, monkeypatch)
    assert code == 0, err
    zoned = json.loads(out)
    assert zoned["protocol"]["seam"]["span"] == 2 and zoned["protocol"]["seam"]["inside_transitions"] == 3 * 9 - 6 - 6
    assert zoned["metrics"]["seam_peak_change"] >= zoned["metrics"]["seam_change"]


def test_real_statistics_are_shared_by_fake_and_model_runs(data: Path, tiny_model: Path) -> None:
    # Real videos at the model's own 32x32: the --model run decodes them exactly as the --fake run did.
    common = ["--real", str(data / "real32"), "--num", "2", "--frames", "9", "--start", "1", "--device", "cpu", "--json"]
    first = vgen(data, *common, "--fake", str(data / "fake32"))
    assert first.returncode == 0, first.stderr
    stats = list((data / "cache" / "stats").glob("*.npz"))
    mtimes = {p: p.stat().st_mtime_ns for p in stats}
    second = vgen(data, *common, "--model", str(tiny_model), "--steps", "1", "--seam")
    assert second.returncode == 0, second.stderr
    assert "reusing cached real-set statistics" in second.stderr
    assert {p: p.stat().st_mtime_ns for p in (data / "cache" / "stats").glob("*.npz")} == mtimes
    out = json.loads(second.stdout)
    proto = out["protocol"]
    assert proto["real"]["cached"] and proto["load_size"] == 32 and proto["start"] == 1
    assert proto["generation"]["frames_generated"] == 10 and proto["fake"]["clips"] == 2
    assert proto["generation"]["frame_noise"] == "independent"  # the model's own (a PVDM latent has no frames)
    # pvdm-tiny makes 8-frame clips: one seam (7 -> 8) in each 10-frame video.
    assert proto["seam"]["first_boundary"] == 8 and proto["seam"]["seams"] == 2
    assert out["metrics"]["fvd"] > 0 and out["metrics"]["seam_change"] >= 0
