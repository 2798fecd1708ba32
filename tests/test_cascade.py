"""Cascades: `vgen cascade` makes one from trained stage models (checking that they chain), `vgen sample` runs it
streaming through every stage with per-stage samplers and steps, `vgen models` lists its stages.

The cascade here is trained for a few steps per stage with `vgen train` on synthetic video: vdm-tiny (8 x 16²),
then fi-tiny as temporal super-resolution (x2 frames), then sr-tiny-32 (16² -> 32²): 8x16x16 to 16x32x32.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from vgen.cli import app
from vgen.cli._guard import run_guarded
from vgen.io.video import read_all

STAGES = {"c-base": "vdm-tiny", "c-tsr": "fi-tiny", "c-ssr": "sr-tiny-32"}


def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the three trained stage models and the cascade made from them."""
    root = tmp_path_factory.mktemp("cascade-home")
    old = os.environ.get("VGEN_HOME")
    os.environ["VGEN_HOME"] = str(root)
    try:
        for name, preset in STAGES.items():
            code = vgen("train", "--model", preset, "--synthetic", "bouncing", "--synthetic-videos", "4", "--steps", "2",
                        "--batch-size", "2", "--lr", "1e-2", "--name", name, "--out", str(root / "runs" / name))
            assert code == 0, name
        assert vgen("cascade", "c-casc", *STAGES, "--stage-steps", "2,2,2") == 0
    finally:
        if old is None:
            del os.environ["VGEN_HOME"]
        else:
            os.environ["VGEN_HOME"] = old
    return root


@pytest.fixture
def store(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VGEN_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


def test_the_cascade_is_self_contained_and_listed_with_its_stages(store: Path, capsys: pytest.CaptureFixture) -> None:
    folder = store / "models" / "c-casc"
    spec = json.loads((folder / "cascade.json").read_text())
    assert [s["model"] for s in spec["stages"]] == ["stages/0-c-base", "stages/1-c-tsr", "stages/2-c-ssr"]
    assert [s["steps"] for s in spec["stages"]] == [2, 2, 2]
    for stage in spec["stages"]:
        assert list((folder / stage["model"]).glob("*.safetensors"))  # copies, not references
    capsys.readouterr()
    assert vgen("models", "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    assert "c-casc" not in {m["name"] for m in listing["installed"]}
    (cascade,) = [c for c in listing["cascades"] if c["name"] == "c-casc"]
    assert cascade["problem"] is None
    assert [(s["role"], s["frames"], s["resolution"]) for s in cascade["stages"]] == [
        ("base", 8, 16), ("temporal SR", 16, 16), ("spatial SR", 16, 32)]
    assert vgen("models") == 0
    table = capsys.readouterr().out
    assert "Cascades" in table and "temporal SR (x2 time)" in table and "spatial SR (x2 space)" in table


def test_sample_runs_every_stage_8x16_to_16x32(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert vgen("sample", "--model", "c-casc", "--seed", "3", "-o", "a.mp4", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    video = read_all(tmp_path / "a.mp4")
    assert video.shape == (16, 32, 32, 3)
    assert summary["frames"] == 16 and summary["size"] == [32, 32] and summary["fps"] == 16
    assert [(s["name"], s["frames"], s["resolution"], s["steps"]) for s in summary["stages"]] == [
        ("c-base", 8, 16, 2), ("c-tsr", 16, 16, 2), ("c-ssr", 16, 32, 2)]
    # Same seed, same video; another seed, another one.
    assert vgen("sample", "--model", "c-casc", "--seed", "3", "-o", "b.mp4", "-q") == 0
    assert vgen("sample", "--model", "c-casc", "--seed", "4", "-o", "c.mp4", "-q") == 0
    assert np.array_equal(video, read_all(tmp_path / "b.mp4"))
    assert not np.array_equal(video, read_all(tmp_path / "c.mp4"))


def test_compile_compiles_every_stage_and_reports_each_time(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """--compile on a cascade: every stage's denoiser is compiled (dynamo's eager backend here: the same kernels, so
    the same video), and `compile_s` lists one time per stage."""
    import torch

    eager = torch.compile
    assert vgen("sample", "--model", "c-casc", "--seed", "3", "-o", "plain.mp4", "-q") == 0
    monkeypatch.setattr(torch, "compile", lambda network, **kwargs: eager(network, backend="eager"))
    capsys.readouterr()
    assert vgen("sample", "--model", "c-casc", "--seed", "3", "-o", "fast.mp4", "--compile", "--json") == 0
    captured = capsys.readouterr()
    times = json.loads(captured.out)["compile_s"]
    assert len(times) == 3 and all(t > 0 for t in times)
    assert captured.err.count("compiled the denoiser in") == 3
    assert np.array_equal(read_all(tmp_path / "fast.mp4"), read_all(tmp_path / "plain.mp4"))


def test_per_stage_samplers_and_steps_reach_each_stage(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vgen.pipelines.clip as clip

    seen = []

    def spy(name, denoiser, x_T, schedule, **kwargs):  # which sampler and steps each window ran, by its shape
        seen.append((tuple(x_T.shape[2:]), name, kwargs["steps"]))
        return x_T

    monkeypatch.setattr(clip, "sample", spy)
    assert vgen("sample", "--model", "c-casc", "--stage-sampler", "ddim,dpm++,ddpm", "--stage-steps", "3,4,5",
                "-o", "s.mp4", "-q") == 0
    assert set(seen) == {((8, 16, 16), "ddim", 3), ((5, 16, 16), "dpm++", 4), ((16, 32, 32), "ddpm", 5)}
    seen.clear()
    assert vgen("sample", "--model", "c-casc", "--steps", "6", "-o", "t.mp4", "-q") == 0  # --steps: every stage
    assert {s[2] for s in seen} == {6}
    seen.clear()
    assert vgen("sample", "--model", "c-casc", "--sampler", "dpm++", "--steps", "2", "-o", "u.mp4", "-q") == 0
    assert {s[1] for s in seen} == {"dpm++"}  # an explicit --sampler: every stage


def test_generation_options_and_the_grid_are_the_base_stages_only(store: Path) -> None:
    from vgen.pipelines.cascade import load_cascade, stage_settings
    from vgen.pipelines.settings import SamplerSettings

    cascade = load_cascade(store / "models" / "c-casc")
    base, *upscalers = stage_settings(cascade, SamplerSettings(schedule_grid="leading", guidance=2.0, method="mask"))
    assert (base.schedule_grid, base.guidance, base.method) == ("leading", 2.0, "mask")
    assert all((s.schedule_grid, s.guidance, s.method) == (None, None, None) for s in upscalers)


def test_long_videos_stream_through_the_stages(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vgen.pipelines.cascade import cascade_video, load_cascade, stage_settings
    from vgen.pipelines.settings import SamplerSettings

    cascade = load_cascade(store / "models" / "c-casc")
    settings = stage_settings(cascade, SamplerSettings(), steps=[2])
    reports = []
    job = cascade_video(cascade, settings, frames=20, seed=0)
    chunks = list(job.chunks(lambda done, total, info: reports.append((done, total, info["stage"]))))
    assert sum(len(c) for c in chunks) == 40 and all(c.shape[1:] == (32, 32, 3) for c in chunks)
    assert len(chunks) > 1  # written as the stages make it, not at the end
    totals = {total for _, total, _ in reports}
    assert len(totals) == 1 and reports[-1][0] == totals.pop()  # one total up front, reached at the end
    assert {stage for _, _, stage in reports} == {1, 2, 3}


@pytest.mark.parametrize("args, message", [
    (["cascade", "c-bad", "c-base", "c-ssr", "c-tsr"], "c-tsr (fi-tiny) turns 16² frames into 16², but the stage before it makes 32²"),
    (["cascade", "c-bad", "c-tsr", "c-ssr"], "the first stage of a cascade must sample videos"),
    (["cascade", "c-bad", "c-base", "c-base"], "is not an upscaling model"),
    (["cascade", "c-bad", "c-base"], "needs a base model and at least one upscaling stage"),
    (["cascade", "c-casc", "c-base", "c-tsr"], "already exists"),
    (["cascade", "c-bad", "c-base", "c-tsr", "--stage-steps", "2,x"], "--stage-steps takes positive whole numbers"),
    (["sample", "--model", "c-casc", "--stage-steps", "2,2", "-o", "x.mp4"], "one value per stage (3: "),
    (["sample", "--model", "c-base", "--stage-steps", "2", "-o", "x.mp4"], "--stage-sampler and --stage-steps are for cascades"),
    (["extend", "in.mp4", "--model", "c-casc", "-o", "x.mp4"], "is a cascade of several models"),
])
def test_refusals_are_one_line_exit_2_and_leave_nothing(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                         args: list[str], message: str) -> None:
    from vgen.io.video import write_video

    write_video(tmp_path / "in.mp4", np.zeros((8, 16, 16, 3), np.uint8), fps=8)
    before = sorted(p.name for p in (store / "models").iterdir())
    capsys.readouterr()
    assert vgen(*args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in (store / "models").iterdir()) == before
    assert not (tmp_path / "x.mp4").exists()


def test_fi_model_raises_the_frame_rate_keeping_every_input_frame(store: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    """Temporal SR with an FI model: n frames -> n·k, input frame i at output 2i unchanged, the last k − 1
    frames extrapolated; `vgen upscale` doubles the frame rate."""
    from vgen.io.video import write_video
    from vgen.pipelines.model import load_model
    from vgen.pipelines.settings import SamplerSettings
    from vgen.pipelines.upscale import upscale_video

    model = load_model("c-tsr")
    for n in (2, 7, 8):
        frames = np.random.default_rng(n).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
        job = upscale_video(model, [frames[:3], frames[3:]], SamplerSettings(steps=2), seed=1, total_frames=n)
        out = np.concatenate(list(job.chunks(None)))
        assert out.shape == (2 * n, 16, 16, 3)
        assert np.array_equal(out[0::2], frames)
        assert job.windows == -(-(n - 1) // 2) + 1  # fi-tiny's 5-frame clip holds 3 keys: 2 gaps per window, + the end
    write_video(tmp_path / "in.mp4", np.zeros((8, 16, 16, 3), np.uint8), fps=8)
    capsys.readouterr()
    assert vgen("upscale", "in.mp4", "--model", "c-tsr", "--steps", "2", "-o", "up.mp4", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 16 and summary["fps"] == 16 and summary["factors"] == [1, 2]
    capsys.readouterr()
    assert vgen("upscale", "in.mp4", "--model", "c-tsr", "--overlap", "1", "-o", "no.mp4") == 2
    assert "--overlap and --aug-level are for spatial SR stages" in capsys.readouterr().err
    assert not (tmp_path / "no.mp4").exists()
    (tmp_path / "held").mkdir()
    write_video(tmp_path / "held" / "a.mp4", np.zeros((8, 16, 16, 3), np.uint8), fps=8)
    assert vgen("evaluate", "--model", "c-tsr", "--upscale", str(tmp_path / "held"), "--num", "2") == 2
    assert "raises the frame rate; score its new frames with --inbetween DIR --factor 2" in capsys.readouterr().err
