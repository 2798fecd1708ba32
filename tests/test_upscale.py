"""``upscale_video`` and ``vgen upscale``: sliding windows over any length, streaming, seeds, options, the CLI,
and ``vgen evaluate --upscale``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from test_pipelines_model import save_tiny, tiny_model
from vgen.cli import app
from vgen.cli._guard import run_guarded
from vgen.errors import VgenError
from vgen.io.video import read_all, write_video
from vgen.metrics.upscale import upscale_scores
from vgen.pipelines import windows as W
from vgen.pipelines.generate import extend_video, interpolate_video, sample_video
from vgen.pipelines.settings import SamplerSettings
from vgen.pipelines.upscale import UpscaleOptions, sliding_windows, upscale_video, window_count

STEPS = SamplerSettings(steps=2)


@pytest.fixture(scope="module")
def sr():
    return tiny_model("sr-tiny")  # 8 x 16² from 8 x 8²


def frames(n: int, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def upscaled(model, chunks, seed: int = 0, **options) -> np.ndarray:
    job = upscale_video(model, chunks, STEPS, seed=seed, options=UpscaleOptions(**options))
    return np.concatenate(list(job.chunks(None)))


def windows_of(model, n: int, overlap: int) -> list[W.Window]:
    """The windows the sliding plan asks for on ``n`` input frames (each answered with a constant video)."""
    plan = sliding_windows(model, [frames(n)], overlap=overlap, level=None, seeds=lambda k: 10 + k)
    asked, emitted, step = [], 0, next(plan)
    while True:
        if isinstance(step, W.Window):
            asked.append(step)
            video = torch.full((1, 3, 8, 16, 16), float(len(asked)) / 10)
            step = plan.send(W.Sampled(video, video))
        else:
            emitted += step.frames.shape[2]
            step = next(plan, None)
            if step is None:
                break
    assert emitted == n
    return asked


@pytest.mark.parametrize("n", [1, 7, 8, 9, 19, 26])
@pytest.mark.parametrize("overlap", [0, 2, 7])
def test_any_length_one_output_frame_per_input_frame(sr, n: int, overlap: int):
    asked = windows_of(sr, n, overlap)
    assert len(asked) == window_count(sr, n, overlap)
    assert [w.seed for w in asked] == [10 + k for k in range(len(asked))]
    for k, window in enumerate(asked):
        assert window.method == "upscale" and window.condition.source.shape == (1, 3, 8, 8, 8)
        known = window.condition.latent_mask
        if k == 0 or overlap == 0:
            assert known is None
        else:  # the overlap is the previous window's output, pasted in by replacement
            assert known.tolist() == [True] * overlap + [False] * (8 - overlap)
            assert torch.all(window.condition.latent[:, :, :overlap] == k / 10)


def test_last_partial_window_repeats_the_last_frame(sr):
    video = frames(11)
    asked = windows_of(sr, 11, overlap=2)
    source = asked[-1].condition.source  # input frames 6..10, then frame 10 three times more
    assert torch.equal(source[:, :, 4], source[:, :, 7]) and not torch.equal(source[:, :, 3], source[:, :, 4])
    assert upscaled(sr, [video], overlap=2).shape == (11, 16, 16, 3)


def test_streaming_same_output_for_any_chunking_and_first_window_before_the_input_ends(sr):
    video = frames(19)
    whole = upscaled(sr, [video], seed=4)
    assert np.array_equal(whole, upscaled(sr, [video[:3], video[3:12], video[12:]], seed=4))
    assert not np.array_equal(whole, upscaled(sr, [video], seed=5))
    read = []

    def chunks():
        for start in range(0, 19, 4):
            read.append(start)
            yield video[start:start + 4]

    job = upscale_video(sr, chunks(), STEPS, seed=4)
    first = next(job.chunks(None))
    assert len(first) == 8 and len(read) == 2  # written after 8 of 19 frames were read


def test_options_and_aug_level_reach_the_model(sr):
    video = frames(8)
    default = upscaled(sr, [video])
    assert np.array_equal(default, upscaled(sr, [video], aug_level=sr.config.aug_level))
    assert not np.array_equal(default, upscaled(sr, [video], aug_level=0.0))
    with pytest.raises(VgenError, match=r"--overlap must lie in \[0, 7\]"):
        upscale_video(sr, [video], STEPS, options=UpscaleOptions(overlap=8))
    with pytest.raises(VgenError, match=r"--aug-level must lie in \[0, 1\)"):
        upscale_video(sr, [video], STEPS, options=UpscaleOptions(aug_level=1.5))


def test_wrong_models_and_commands_are_refused_in_one_line(sr):
    with pytest.raises(VgenError, match="cannot upscale one"):
        upscale_video(tiny_model("vdm-tiny"), [frames(8)], STEPS)
    for call in (lambda: sample_video(sr, STEPS), lambda: extend_video(sr, [frames(8, 16)], STEPS),
                 lambda: interpolate_video(sr, [frames(3, 16)], STEPS, between=1)):
        with pytest.raises(VgenError, match=r"is an upscaling stage: it enhances a given video; use `vgen upscale"):
            call()


def test_upscale_scores_against_the_baseline():
    clip = frames(4, 16)
    degrade = lambda c: c[:, ::2, ::2]  # noqa: E731
    baseline = lambda s: s.repeat(2, axis=1).repeat(2, axis=2)  # noqa: E731
    same = upscale_scores([clip, clip], degrade, lambda s, i: baseline(s), baseline)
    assert same["clips"] == 2 and same["psnr_gain_db"] == 0 and same["psnr"] == same["baseline_psnr"]
    seen = []
    better = upscale_scores([clip], degrade, lambda s, i: seen.append((s.shape, i)) or clip, baseline)
    assert seen == [((4, 8, 8, 3), 0)] and better["psnr"] > 100 and better["ssim"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="upscaling made"):
        upscale_scores([clip], degrade, lambda s, i: s, baseline)


# ------------------------------------------------------------------------------------------- the CLI

@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vgen-home")
    for name in ("sr-tiny", "vdm-tiny"):
        save_tiny(name, root / "models" / name)
    return root


def vgen(home: Path, *args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "VGEN_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "vgen", *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          timeout=300)


def one_line(res: subprocess.CompletedProcess) -> str:
    lines = res.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_cli_fits_any_input_streams_and_reports(home: Path, tmp_path: Path):
    clip = np.random.default_rng(1).integers(0, 256, (13, 24, 40, 3), dtype=np.uint8)  # 40x24, not square
    write_video(tmp_path / "clip.mp4", clip, fps=10)
    res = vgen(home, "upscale", "clip.mp4", "--model", "sr-tiny", "--steps", "2", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    report = json.loads(res.stdout)
    assert report["output"] == "clip-upscaled.mp4" and report["frames"] == 13 and report["size"] == [16, 16]
    assert report["fps"] == 10 and report["factors"] == [2, 1] and report["windows"] == 2
    err = res.stderr.decode()
    assert "input 40x24 fitted to 8x8 (shorter side scaled, centre crop)" in err and "output 16x16" in err
    out = read_all(tmp_path / "clip-upscaled.mp4")
    assert out.shape == (13, 16, 16, 3)

    again = vgen(home, "upscale", "clip.mp4", "--model", "sr-tiny", "--steps", "2", cwd=tmp_path)
    assert again.returncode == 2 and "'clip-upscaled.mp4' already exists" in one_line(again)
    piped = vgen(home, "upscale", "-", "--model", "sr-tiny", "--steps", "2", "-o", "-", "--format", "mp4", "-q",
                 cwd=tmp_path, stdin=(tmp_path / "clip.mp4").read_bytes())
    assert piped.returncode == 0 and piped.stderr == b""
    (tmp_path / "piped.mp4").write_bytes(piped.stdout)
    assert np.array_equal(read_all(tmp_path / "piped.mp4"), out)  # same seed, same video


@pytest.mark.parametrize("args,message", [
    (["--model", "vdm-tiny"], "vdm-tiny (vdm) generates videos but cannot upscale one"),
    (["--model", "sr-tiny", "--overlap", "9"], "--overlap must lie in [0, 7]"),
    (["--model", "sr-tiny", "--aug-level", "-0.5"], "--aug-level must lie in [0, 1)"),
    (["--model", "sr-tiny", "--sampler", "ddpm", "--eta", "1"], "--eta is a knob of the ddim sampler"),
    ([], "Missing option '--model'"),
])
def test_cli_bad_input_is_one_line_and_leaves_nothing(home: Path, tmp_path: Path, args, message):
    write_video(tmp_path / "clip.mp4", frames(9, 16), fps=8)
    res = vgen(home, "upscale", "clip.mp4", *args, "-o", "out.mp4", cwd=tmp_path)
    assert res.returncode == 2 and message in one_line(res) and res.stdout == b""
    assert not (tmp_path / "out.mp4").exists()


def test_cli_sample_refuses_an_upscaling_model(home: Path, tmp_path: Path):
    res = vgen(home, "sample", "--model", "sr-tiny", "-o", "out.mp4", cwd=tmp_path)
    assert res.returncode == 2 and "use `vgen upscale VIDEO --model MODEL`" in one_line(res)


def test_evaluate_upscale_scores_the_model_beside_bicubic(home: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("VGEN_HOME", str(home))
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(2):
        write_video(clips / f"v{i}.mp4", frames(10, 16, seed=i), fps=8)
    args = ["evaluate", "--model", "sr-tiny", "--upscale", str(clips), "--num", "2", "--steps", "2", "--json"]
    assert run_guarded(lambda: app(args, standalone_mode=False)) == 0
    report = json.loads(capsys.readouterr().out)
    metrics, protocol = report["metrics"], report["protocol"]
    assert set(metrics) == {"psnr", "ssim", "baseline_psnr", "baseline_ssim", "psnr_gain_db"}
    assert metrics["psnr_gain_db"] == pytest.approx(metrics["psnr"] - metrics["baseline_psnr"])
    assert protocol["frames"] == 8 and protocol["factors"] == [2, 1] and protocol["aug_level"] == 0.1
    assert protocol["set"]["clips"] == 2
    for bad, message in ((["--aug-level", "0"], "--aug-level is for --upscale"),
                         (["--upscale", str(clips)], "--upscale needs --model: the upscaling model"),
                         (["--upscale", str(clips), "--inbetween", str(clips), "--model", "sr-tiny"],
                          "give only one of --inbetween, --upscale"),
                         (["--upscale", str(clips), "--model", "vdm-tiny"], "cannot upscale one")):
        assert run_guarded(lambda: app(["evaluate", *bad], standalone_mode=False)) == 2
        assert message in capsys.readouterr().err


def test_train_then_upscale_through_the_cli(tmp_path: Path, monkeypatch, capsys):
    """`vgen train` on an SR preset (the diffusion stage only), then `vgen upscale` with the stored model."""
    monkeypatch.setenv("VGEN_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    train = ["train", "--model", "sr-tiny", "--synthetic", "bouncing", "--steps", "2", "--batch-size", "2"]
    assert run_guarded(lambda: app([*train, "--preview-every", "1", "--name", "x"], standalone_mode=False)) == 2
    assert "has no preview; drop --preview-every and score it with `vgen evaluate --upscale`" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "home").exists()
    assert run_guarded(lambda: app([*train, "--out", str(tmp_path / "run"), "--name", "my-sr"],
                                   standalone_mode=False)) == 0
    assert "use it with: vgen upscale VIDEO --model my-sr" in capsys.readouterr().err
    write_video(tmp_path / "clip.mp4", frames(5), fps=8)
    out = tmp_path / "big.gif"
    assert run_guarded(lambda: app(["upscale", str(tmp_path / "clip.mp4"), "--model", "my-sr", "--steps", "2", "-o",
                                    str(out), "-q"], standalone_mode=False)) == 0
    assert read_all(out).shape == (5, 16, 16, 3)
