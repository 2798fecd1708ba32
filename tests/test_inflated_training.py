"""Inflating an image model end to end through the CLI: ``vgen train --stage image``, then ``--stage temporal --from``
(spatial weights frozen bit for bit, temporal layers trained), sampling both, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vgen.cli import app
from vgen.cli._guard import run_guarded

TINY = ("--synthetic", "bouncing", "--synthetic-videos", "4", "--batch-size", "2")


def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    from vgen.io.checkpoint import load_network

    return load_network(model_dir / "unet.safetensors")[0]


def train_image(tmp_path: Path, capsys, name: str = "img") -> Path:
    code = vgen("train", "--model", "inflated-tiny", "--stage", "image", *TINY, "--steps", "3", "--name", name,
                "--out", str(tmp_path / f"run-{name}"))
    err = capsys.readouterr().err
    assert code == 0, err
    assert "image stage: 190,947 parameters trained, 0 frozen" in err
    return tmp_path / f"run-{name}"


def test_image_then_temporal_stage_trains_only_the_temporal_layers(tmp_path: Path, tmp_vgen_home: Path, capsys):
    from vgen.families.inflated.family import unet_spec
    from vgen.io.store import model_config
    from vgen.models.inflated import InflatedUNet

    image_run = train_image(tmp_path, capsys)
    records = [json.loads(line) for line in (image_run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["step"]) for r in records] == [("image", 1), ("image", 2), ("image", 3)]
    assert model_config("img")[0].temporal is False
    image = weights(tmp_vgen_home / "models" / "img")

    run = tmp_path / "run-video"
    code = vgen("train", "--stage", "temporal", "--from", "img", *TINY, "--steps", "3", "--out", str(run), "--json")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "temporal stage: 54,004 parameters trained, 190,947 frozen" in captured.err
    assert f"starting from {tmp_vgen_home / 'models' / 'img'}, rebuilt for the temporal stage's architecture" \
        in captured.err
    # The default name never replaces the image model it inflates.
    assert json.loads(captured.out)["stored_as"] == str(tmp_vgen_home / "models" / "inflated-tiny-temporal")
    config, _ = model_config("inflated-tiny-temporal")
    assert config.temporal is True and config.name == "inflated-tiny"

    # Both the exported EMA weights and the raw training weights keep every spatial tensor of the image model.
    from vgen.io.checkpoint import load_training_state

    video = weights(tmp_vgen_home / "models" / "inflated-tiny-temporal")
    raw = load_training_state(run / "checkpoints" / "temporal-done" / "train_state.safetensors")[0]["raw"]["unet"]
    for name, tensor in image.items():
        assert torch.equal(video[name], tensor) and torch.equal(raw[name], tensor), name
    # The temporal layers moved away from their identity start.
    temporal = sorted(set(video) - set(image))
    initial = InflatedUNet(unet_spec(config)).state_dict()  # the temporal layers' starting values
    assert temporal and all(name in initial for name in temporal)
    changed = [name for name in temporal if not torch.equal(video[name], initial[name])]
    assert any(name.endswith("alpha_logit") for name in changed)
    assert any(name.endswith("conv.weight") for name in changed)

    # The video model samples with every sampler, long videos included; the image model makes independent frames.
    for sampler in ("ddim", "ddpm", "dpm++", "langevin"):
        out = tmp_path / f"video-{sampler}.mp4"
        code = vgen("sample", "--model", "inflated-tiny-temporal", "--sampler", sampler, "--steps", "2",
                    "--frames", "12", "-o", str(out), "--json")
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert json.loads(captured.out)["frames"] == 12 and out.stat().st_size > 0
    code = vgen("sample", "--model", "img", "--steps", "2", "--frames", "20", "-o", str(tmp_path / "img.mp4"), "--json")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["clips"] == 3  # 20 frames = three 8-frame clips of independent images

    # Extending and interpolating need the video model.
    for command in ("extend", "interpolate"):
        code = vgen(command, str(tmp_path / "video-ddim.mp4"), "--model", "img", "-o", str(tmp_path / "x.mp4"))
        err = capsys.readouterr().err
        assert code == 2 and "an image model makes independent frames; inflate it first with vgen train " \
                              "--stage temporal --from MODEL" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "x.mp4").exists()
    assert vgen("extend", str(tmp_path / "video-ddim.mp4"), "--model", "inflated-tiny-temporal", "--steps", "2",
                "-o", str(tmp_path / "longer.mp4")) == 0


def test_temporal_run_resumes_from_its_checkpoint(tmp_path: Path, tmp_vgen_home: Path, capsys, monkeypatch):
    train_image(tmp_path, capsys)
    monkeypatch.chdir(tmp_path)  # runs/NNNNN-<name> lands here
    assert vgen("train", "--stage", "temporal", "--from", "img", *TINY, "--steps", "2") == 0
    capsys.readouterr()
    # Found again by the model and stage alone: the run's default name is inflated-tiny-temporal.
    assert vgen("train", "--stage", "temporal", "--from", "img", "--resume", "--steps", "4") == 0
    err = capsys.readouterr().err
    assert "resumed" in err and "temporal step 2" in err
    run = next((tmp_path / "runs").glob("*-inflated-tiny-temporal"))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4] and {r["stage"] for r in records} == {"temporal"}


def test_image_stage_reads_a_folder_of_images(tmp_path: Path, tmp_vgen_home: Path, capsys):
    from vgen.io.video import VideoWriter

    images = tmp_path / "images"
    frames = np.random.default_rng(0).integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    with VideoWriter(images, fps=8, format="frames") as writer:
        writer.write(frames)
    code = vgen("train", "--model", "inflated-tiny", "--stage", "image", "--data", str(images), "--steps", "2",
                "--batch-size", "2", "--name", "from-images", "--out", str(tmp_path / "run"))
    assert code == 0, capsys.readouterr().err
    assert (tmp_vgen_home / "models" / "from-images" / "unet.safetensors").is_file()


@pytest.mark.parametrize("args, message", [
    (("--model", "inflated-tiny"), "inflated models train in two runs: --stage image (the image model), then "
                                   "--stage temporal --from IMAGE_MODEL (its temporal layers)\n"),
    (("--model", "inflated-tiny", "--stage", "diffusion"), "inflated models train in two runs"),
    (("--model", "inflated-tiny", "--stage", "temporal"), "--stage temporal inflates a trained image model but "
                                                          "preset 'inflated-tiny' starts untrained"),
    (("--model", "vdm-tiny", "--stage", "temporal"), "VDM has no temporal stage; use --stage diffusion or all"),
    (("--model", "pvdm-tiny", "--stage", "image"), "PVDM has no image stage; use --stage ae, diffusion or all"),
])
def test_stage_refusals_are_one_line(args: tuple[str, ...], message: str, tmp_path: Path, tmp_vgen_home: Path,
                                     capsys):
    code = vgen("train", *args, *TINY, "--steps", "1", "--out", str(tmp_path / "run"))
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_video_model_is_not_trained_as_an_image_model(tmp_path: Path, tmp_vgen_home: Path, capsys):
    train_image(tmp_path, capsys)
    assert vgen("train", "--stage", "temporal", "--from", "img", *TINY, "--steps", "1", "--name", "vid",
                "--out", str(tmp_path / "run-video")) == 0
    capsys.readouterr()
    code = vgen("train", "--stage", "image", "--from", "vid", *TINY, "--steps", "1", "--out", str(tmp_path / "again"))
    err = capsys.readouterr().err
    assert code == 2 and "is an inflated video model; pass a preset or a stored image model" in err


def test_dry_run_counts_the_temporal_stage_trained_parameters_only(tmp_path: Path, tmp_vgen_home: Path, capsys):
    train_image(tmp_path, capsys)
    assert vgen("train", "--stage", "temporal", "--from", "img", *TINY, "--dry-run") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["stages"] == ["temporal"] and report["model"]["temporal"] is True
    assert report["parameters"] == {"unet": 190_947 + 54_004}
    memory = report["memory_per_device"]["temporal"]
    assert memory["adamw_mib"] == round(54_004 * 8 / 2**20, 1)
    assert memory["ema_mib"] == round((190_947 + 54_004) * 4 / 2**20, 1)
