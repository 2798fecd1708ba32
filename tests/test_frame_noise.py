"""Frame noise: ``independent`` or ``shared-mean`` (one spatial mean per channel shared by a clip's frames), in the
sampler's start and fresh noise, in training, and on the command line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from conftest import run_cli
from vgen.errors import VgenError
from vgen.pipelines.settings import SamplerSettings
from vgen.sampling import randn_per_sample, sample_ddpm, seeded_generators, share_frame_mean
from vgen.sampling.ddim import ddim_step
from vgen.diffusion.parameterisation import Prediction


def frame_means(x: torch.Tensor) -> torch.Tensor:
    return x.mean((3, 4))  # (B, C, T)


def test_shared_mean_gives_every_frame_the_same_mean_and_keeps_the_rest():
    noise = torch.randn(2, 3, 5, 4, 6, generator=torch.Generator().manual_seed(0))
    shared = share_frame_mean(noise)
    means = frame_means(shared)
    assert torch.allclose(means, means[:, :, :1].expand_as(means), atol=1e-6)
    assert torch.allclose(means[:, :, 0], frame_means(noise).mean(2) * math.sqrt(5), atol=1e-6)
    # each frame's deviations from its own mean are untouched
    deviation = lambda x: x - x.mean((3, 4), keepdim=True)  # noqa: E731
    assert torch.allclose(deviation(shared), deviation(noise), atol=1e-6)
    with pytest.raises(ValueError, match=r"needs \(B, C, T, H, W\) noise"):
        share_frame_mean(torch.zeros(1, 3, 4, 4))


def test_each_frame_is_still_standard_normal():
    """Over many draws, every frame's mean has the variance of an independent frame's, 1/(H·W), every value variance
    1, and two frames' means are fully correlated: only the frames' joint law changes."""
    draws = share_frame_mean(torch.randn(20000, 1, 4, 3, 3, generator=torch.Generator().manual_seed(1)))
    means = frame_means(draws)[:, 0]  # (N, T)
    assert means.var(0).sub(1 / 9).abs().max() < 0.1 / 9
    assert draws.var(0).sub(1).abs().max() < 0.05
    assert draws.mean(0).abs().max() < 0.05
    assert torch.corrcoef(means.T)[0, 1] > 0.999
    independent = frame_means(torch.randn(20000, 1, 4, 3, 3, generator=torch.Generator().manual_seed(1)))[:, 0]
    assert torch.corrcoef(independent.T)[0, 1].abs() < 0.05


def test_randn_per_sample_shares_the_mean_of_each_rows_own_draw():
    like = torch.zeros(2, 3, 4, 5, 5)
    plain = randn_per_sample(like, seeded_generators([3, 4]))
    shared = randn_per_sample(like, seeded_generators([3, 4]), "shared-mean")
    assert torch.equal(shared, share_frame_mean(plain))
    with pytest.raises(ValueError, match="unknown frame noise 'x'"):
        randn_per_sample(like, seeded_generators([3, 4]), "x")  # type: ignore[arg-type]


def test_stochastic_samplers_draw_their_fresh_noise_with_shared_means():
    zero = torch.zeros(1, 2, 4, 6, 6)
    step = ddim_step(Prediction(x0=zero, eps=zero), 0.5, 0.9, 1.0, seeded_generators([0]), "shared-mean")
    means = frame_means(step)
    assert step.abs().sum() > 0 and torch.allclose(means, means[:, :, :1].expand_as(means), atol=1e-6)

    from vgen.config.base import DiffusionConfig
    from vgen.diffusion.schedules import schedule_from_config

    schedule = schedule_from_config(DiffusionConfig(schedule="linear", timesteps=100))
    inputs = []

    def predicts_zero(x, t):
        inputs.append(x)
        return Prediction(x0=torch.zeros_like(x), eps=x / math.sqrt(1 - schedule.alpha_bar_of(t)))

    sample_ddpm(predicts_zero, torch.zeros(1, 2, 4, 6, 6), schedule, steps=3, generators=seeded_generators([0]),
                frame_noise="shared-mean")
    fresh = inputs[1]  # from x_T = 0 with x0 = 0 predicted, the second input is the first step's fresh noise alone
    means = frame_means(fresh)
    assert fresh.abs().sum() > 0 and torch.allclose(means, means[:, :, :1].expand_as(means), atol=1e-6)


def test_training_draws_its_noise_as_the_config_says():
    from vgen.config.base import DiffusionConfig
    from vgen.diffusion.schedules import schedule_from_config
    from vgen.training.objectives import denoising_loss

    seen = {}

    def raw(x_t, t):
        seen["x_t"] = x_t
        return torch.zeros_like(x_t)

    for kind in ("independent", "shared-mean"):
        diffusion = DiffusionConfig(schedule="cosine", prediction="eps", frame_noise=kind)
        denoising_loss(raw, torch.zeros(2, 3, 4, 6, 6), schedule_from_config(diffusion), diffusion,
                       seeded_generators([0, 1]))
        means = frame_means(seen["x_t"])
        shared = torch.allclose(means, means[:, :, :1].expand_as(means), atol=1e-6)
        assert shared == (kind == "shared-mean")


def test_settings_refuse_an_unknown_kind_and_a_latent_without_frames():
    with pytest.raises(VgenError, match="unknown --frame-noise 'same'; choose one of: independent, shared-mean"):
        SamplerSettings(frame_noise="same")  # type: ignore[arg-type]
    from vgen.families.pvdm.config import PRESETS, PVDMConfig

    config = PRESETS["pvdm-tiny"].model_dump()
    config["diffusion"]["frame_noise"] = "shared-mean"
    with pytest.raises(ValueError, match="a PVDM latent is three planes, not frames"):
        PVDMConfig.model_validate(config)


def test_cli_refuses_shared_mean_for_a_plane_latent_before_writing(tmp_vgen_home: Path, tmp_path: Path,
                                                                    monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["sample", "--frame-noise", "shared-mean", "-o", "x.mp4"], monkeypatch, capsys)
    assert code == 2 and out == "" and not (tmp_path / "x.mp4").exists()
    assert err.strip().splitlines() == [
        "error: pvdm-mini (pvdm) has no frame axis in its latent (4, 320), so its frames cannot share noise; drop "
        "--frame-noise (or give independent)"]
    code, _, err = run_cli(["sample", "--model", "vdm-mini-bouncing", "--frame-noise", "mean", "-o", "x.mp4"],
                       monkeypatch, capsys)
    assert code == 2 and "unknown --frame-noise 'mean'" in err and not (tmp_path / "x.mp4").exists()


def test_cli_samples_a_video_model_with_shared_means(tmp_vgen_home: Path, tmp_path: Path, monkeypatch, capsys):
    """The start noise of each clip shares its frames' means, and every window of a long video (here 16 frames: a
    clip and two continuations) the same means; the same seed gives the same bytes, and the video differs from the
    independent one."""
    import vgen.pipelines.clip as clip
    from vgen.sampling.noise import VideoFrameMeans

    starts = []
    real_sample = clip.sample

    def spy(name, denoiser, x_T, schedule, **kw):
        starts.append((x_T.clone(), kw.get("frame_noise")))
        return real_sample(name, denoiser, x_T, schedule, **kw)

    monkeypatch.setattr(clip, "sample", spy)
    monkeypatch.chdir(tmp_path)
    base = ["sample", "--model", "vdm-mini-bouncing", "--steps", "2", "--frames", "16", "--format", "frames"]
    for name, extra in (("a", []), ("b", ["--frame-noise", "shared-mean"]),  # shared-mean: the model's default
                        ("c", ["--frame-noise", "independent"])):
        code, _, err = run_cli([*base, *extra, "-o", name], monkeypatch, capsys)
        assert code == 0, err
    assert len(starts) == 9  # three windows per video
    windows_a, windows_c = starts[:3], starts[6:]
    assert all(isinstance(kind, VideoFrameMeans) for _, kind in windows_a)
    assert all(kind == "independent" for _, kind in windows_c)
    first = frame_means(windows_a[0][0])
    for x_a, _ in windows_a:
        means = frame_means(x_a)
        assert torch.allclose(means, first[:, :, :1].expand_as(means), atol=1e-6)  # one mean for the whole video
    x_c = windows_c[0][0]
    assert not torch.allclose(frame_means(x_c), frame_means(x_c)[:, :, :1].expand_as(frame_means(x_c)), atol=1e-3)
    frames = lambda d: sorted((tmp_path / d).iterdir())  # noqa: E731
    assert [p.read_bytes() for p in frames("a")] == [p.read_bytes() for p in frames("b")]
    assert [p.read_bytes() for p in frames("a")] != [p.read_bytes() for p in frames("c")]


def test_video_frame_means_share_each_draws_mean_across_windows_and_keep_every_frame_standard_normal():
    """VideoFrameMeans: draw k of every window gets the first window's draw-k mean (not draw j's), the deviations are
    the window's own, and each frame's noise stays N(0, I): over 4,000 videos the frame means of a later window
    have variance 1/(H·W), and the whole noise mean 0 and variance 1."""
    from vgen.sampling.noise import VideoFrameMeans, randn_per_sample

    videos, shape = 4000, (1, 3, 4, 8, 8)
    later_means, values = [], []
    for v in range(videos):
        bank = VideoFrameMeans()
        g = torch.Generator().manual_seed(v)
        first_draws = []
        bank.start_window()
        for _ in range(2):
            first_draws.append(randn_per_sample(torch.empty(shape), [g], bank))
        bank.start_window()
        later = [randn_per_sample(torch.empty(shape), [g], bank) for _ in range(2)]
        for k in range(2):
            torch.testing.assert_close(frame_means(later[k]), frame_means(first_draws[k]))
        assert not torch.allclose(frame_means(later[0]), frame_means(later[1]))
        later_means.append(frame_means(later[1]).flatten())
        values.append(later[1].flatten())
    means, noise = torch.stack(later_means), torch.cat(values)
    assert abs(float(means.var()) * 64 - 1) < 0.05
    assert abs(float(noise.mean())) < 0.01 and abs(float(noise.var()) - 1) < 0.01


def test_train_frame_noise_is_recorded_and_becomes_the_models_default(tmp_vgen_home: Path, tmp_path: Path,
                                                                     monkeypatch, capsys):
    """`vgen train --stage temporal --frame-noise shared-mean` inflates an image model trained with independent
    noise, stores shared-mean in the model's config, and sampling then uses it without being asked; PVDM refuses."""
    import json

    import vgen.pipelines.clip as clip
    from vgen.sampling.noise import VideoFrameMeans

    data = ["--synthetic", "bouncing", "--synthetic-videos", "2", "--batch-size", "2", "--steps", "1"]
    code, _, err = run_cli(["train", "--model", "inflated-tiny", "--stage", "image", "--name", "img", *data,
                        "--out", str(tmp_path / "img")], monkeypatch, capsys)
    assert code == 0, err
    code, _, err = run_cli(["train", "--from", "img", "--stage", "temporal", "--frame-noise", "shared-mean",
                        "--name", "vid", *data, "--out", str(tmp_path / "vid")], monkeypatch, capsys)
    assert code == 0, err
    saved = json.loads((tmp_path / "vid" / "config.json").read_text())
    assert saved["model"]["diffusion"]["frame_noise"] == "shared-mean"
    kinds = []
    real_sample = clip.sample
    def kind(noise) -> str:  # a long video's shared means come as its VideoFrameMeans
        return "shared-mean" if isinstance(noise, VideoFrameMeans) else noise

    monkeypatch.setattr(clip, "sample", lambda *a, **kw: (kinds.append(kind(kw["frame_noise"])), real_sample(*a, **kw))[1])
    monkeypatch.chdir(tmp_path)
    assert run_cli(["sample", "--model", "vid", "--steps", "2", "-o", "v.mp4"], monkeypatch, capsys)[0] == 0
    assert run_cli(["sample", "--model", "vid", "--steps", "2", "--frame-noise", "independent", "-o", "w.mp4"],
               monkeypatch, capsys)[0] == 0
    assert kinds == ["shared-mean", "independent"]
    code, _, err = run_cli(["train", "--model", "pvdm-tiny", "--frame-noise", "shared-mean", *data, "--out",
                        str(tmp_path / "p")], monkeypatch, capsys)
    assert code == 2 and err.strip() == ("error: invalid --frame-noise: diffusion.frame_noise must be independent: "
                                         "a PVDM latent is three planes, not frames")
    assert not (tmp_path / "p").exists()
