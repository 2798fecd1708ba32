"""The DiT family end to end: registered, trained with `vgen train`, sampled long, extended, interpolated, guided."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vgen.cli import app
from vgen.cli._guard import run_guarded
from vgen.config import PRESETS, preset
from vgen.families import capabilities, family_of
from vgen.models import build_networks
from vgen.pipelines.generate import extend_video, sample_video
from vgen.pipelines.model import LoadedModel
from vgen.pipelines.settings import SamplerSettings


def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


def tiny(**update) -> LoadedModel:
    config = preset("dit-tiny").model_copy(update=update)
    torch.manual_seed(0)
    networks = build_networks(config)
    for p in networks["unet"].parameters():  # leave the AdaLN-Zero start, so outputs depend on the inputs
        p.data.add_(0.02 * torch.randn_like(p))
    return LoadedModel(config, networks, "cpu")


def test_registered_with_paper_scale_presets():
    assert {"dit-tiny", "dit-s", "dit-b", "dit-l", "dit-xl", "walt-l"} <= set(PRESETS)
    assert family_of(preset("walt-l")).name == "dit" and preset("walt-l").denoiser.layout == "windowed"
    assert capabilities(preset("dit-tiny")).interpolate == ("reconstruction",)  # latents span 2 frames after the first


def test_long_video_continues_from_a_fresh_causal_clip_of_the_last_frames():
    model = tiny()
    job = sample_video(model, SamplerSettings(steps=2), frames=20, seed=0)
    video = np.concatenate(list(job.chunks(None)))
    assert job.method == "mask" and video.shape == (20, 32, 32, 3)
    assert model.family.context_frames(model, "mask") == 5  # 1 + 2·2 frames -> 3 known latent frames of 5
    assert job.windows == 1 + -(-(20 - 9) // 4)


def test_extend_and_motion_guidance_change_the_output():
    model = tiny()
    given = np.random.default_rng(0).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    plain = np.concatenate(list(extend_video(model, [given], SamplerSettings(steps=2), frames=4, seed=1,
                                             only_new=True).chunks(None)))
    guided = np.concatenate(list(extend_video(model, [given], SamplerSettings(steps=2, motion_guidance=2.0), frames=4,
                                              seed=1, only_new=True).chunks(None)))
    assert plain.shape == guided.shape == (4, 32, 32, 3) and not np.array_equal(plain, guided)


def test_train_sample_extend_interpolate_through_the_cli(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("VGEN_HOME", str(tmp_path / "home"))
    assert vgen("train", "--model", "dit-tiny", "--synthetic", "bouncing", "--steps", "2", "--batch-size", "2",
                "--out", str(tmp_path / "run"), "--name", "dit-mine") == 0
    folder = tmp_path / "home" / "models" / "dit-mine"
    assert (folder / "autoencoder.safetensors").is_file() and (folder / "unet.safetensors").is_file()
    out = tmp_path / "long.mp4"
    assert vgen("sample", "--model", "dit-mine", "--frames", "17", "--steps", "2", "--motion-guidance", "1",
                "-o", str(out), "-q") == 0
    assert vgen("extend", str(out), "--model", "dit-mine", "--frames", "4", "--steps", "2", "-o",
                str(tmp_path / "more.mp4"), "-q") == 0
    assert vgen("interpolate", str(out), "--model", "dit-mine", "--steps", "2", "-o", str(tmp_path / "i.mp4"), "-q",
                "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 33 and summary["method"] == "reconstruction"


def test_the_denoiser_overfits_two_clips_and_samples_them_back():
    """A handful of clips, a bounded number of steps: the loss falls and DDIM samples are recognisably a training
    clip (correlation > 0.8 with one of them, against < 0.5 from the untrained network)."""
    from vgen.diffusion.parameterisation import Denoiser
    from vgen.diffusion.schedules import schedule_from_config
    from vgen.families.dit.denoiser import DiTDenoiser
    from vgen.sampling import sample_ddim
    from vgen.training.objectives import denoising_loss

    torch.manual_seed(0)
    config = preset("dit-tiny")
    net = DiTDenoiser(config)
    schedule = schedule_from_config(config.diffusion)
    grid = torch.linspace(-1, 1, 8)
    clips = torch.stack([
        torch.sin(3 * grid)[None, None, None, :] * torch.ones(4, 5, 8, 1),
        torch.cos(2 * grid)[None, None, :, None] * torch.ones(4, 5, 1, 8) * torch.linspace(1, -1, 5)[None, :, None, None],
    ])

    def best_correlation() -> float:
        net.eval()
        denoiser = Denoiser(net, schedule=schedule, prediction=config.diffusion.prediction)
        gens = [torch.Generator().manual_seed(100 + i) for i in range(4)]
        x_T = torch.stack([torch.randn(clips.shape[1:], generator=g) for g in gens])
        with torch.no_grad():
            made = sample_ddim(denoiser, x_T, schedule, steps=20, generators=gens)
        corr = F.normalize(made.flatten(1), dim=1) @ F.normalize(clips.flatten(1), dim=1).T
        net.train()
        return float(corr.max(dim=1).values.min())

    assert abs(float(F.normalize(clips[0].flatten(), dim=0) @ F.normalize(clips[1].flatten(), dim=0))) < 0.1
    assert best_correlation() < 0.5
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for step in range(400):
        batch = clips.repeat(4, 1, 1, 1, 1)
        gens = [torch.Generator().manual_seed(step * 16 + i) for i in range(len(batch))]
        loss = denoising_loss(net, batch, schedule, config.diffusion, gens)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-20:]) < 0.3 * np.mean(losses[:20])
    assert best_correlation() > 0.8


def test_joint_image_video_objective_feeds_images_as_one_frame_and_drops_motion():
    """image_ratio and motion_free_prob decide, per sample, what the denoiser sees; the loss is one mean."""
    from vgen.diffusion.schedules import schedule_from_config
    from vgen.families.dit.objectives import dit_diffusion_objective
    from vgen.training.trainer import Batch

    def calls_for(**update) -> list[dict]:
        config = preset("dit-tiny").model_copy(update=update)
        torch.manual_seed(0)
        networks = build_networks(config)
        seen: list[dict] = []
        real = networks["unet"]

        def spy(x, t, **kw):
            seen.append({"frames": x.shape[2], "batch": x.shape[0], "motion": kw["motion"].tolist(),
                         "mask": None if kw["mask"] is None else kw["mask"].flatten(1).tolist()})
            return real(x, t, **kw)

        objective = dit_diffusion_objective(config, {**networks, "unet": spy}, schedule_from_config(config.diffusion), 0.1)
        video = torch.rand(4, 3, 9, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
        loss = objective(Batch(video=video, labels=None, step=0), [torch.Generator().manual_seed(i) for i in range(4)])
        assert loss["unet"].ndim == 0 and torch.isfinite(loss["unet"])
        return seen

    images = calls_for(image_ratio=0.99, motion_free_prob=0.0)
    assert [(c["frames"], c["batch"]) for c in images] == [(1, 4)]  # every sample an image: one frame, one call
    videos = calls_for(image_ratio=0.0, motion_free_prob=0.0, p_pred=1.0, p_interp=0.0, p_keys=0.0)
    assert [c["frames"] for c in videos] == [5] and all(videos[0]["motion"])
    assert all(row[0] == 1.0 for row in videos[0]["mask"])  # prediction masks: the first latent frames given
    still = calls_for(image_ratio=0.0, motion_free_prob=1.0, p_pred=1.0, p_interp=0.0, p_keys=0.0)
    assert not any(still[0]["motion"]) and all(sum(row) == 0 for row in still[0]["mask"])  # motion-free: no known frames
