"""The SR family: presets, noise conditioning augmentation, the network, the training objective, golden values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from test_pipelines_model import tiny_model, tiny_networks
from vgen.config import config_from_json, preset
from vgen.diffusion.schedules import schedule_from_config
from vgen.errors import VgenError
from vgen.families import capabilities, family_of
from vgen.families.sr.augment import alpha_bar, augment, downscale, level_timestep, upscale
from vgen.families.sr.config import SRConfig
from vgen.families.sr.objectives import quantise
from vgen.io.video import frames_to_tensor, tensor_to_frames
from vgen.pipelines.settings import SAMPLER_NAMES, SamplerSettings
from vgen.pipelines.upscale import UpscaleOptions, upscale_video
from vgen.sampling.noise import seeded_generators
from vgen.training.trainer import Batch


def test_presets_geometry_and_capabilities():
    tiny, tiny32, mini = preset("sr-tiny"), preset("sr-tiny-32"), preset("sr-mini")
    assert (tiny.frames, tiny.resolution, tiny.resolution // tiny.scale) == (8, 16, 8)
    assert (tiny32.frames, tiny32.resolution, tiny32.resolution // tiny32.scale) == (16, 32, 16)
    assert (mini.frames, mini.resolution, mini.resolution // mini.scale) == (8, 32, 16)
    for config in (tiny, tiny32, mini):
        assert config.diffusion.prediction == "v"
        caps = capabilities(config)
        assert caps.upscale == (2, 1) and caps.long == caps.extend == caps.interpolate == ()
        assert config_from_json(config.model_dump_json()) == config
    assert capabilities(preset("vdm-tiny")).upscale is None


@pytest.mark.parametrize("update,match", [
    ({"resolution": 18, "scale": 4}, "not a multiple of scale"),
    ({"resolution": 21, "scale": 3}, "not divisible by the UNet"),
])
def test_bad_geometry_is_refused(update, match):
    with pytest.raises(ValueError, match=match):
        SRConfig(**{**preset("sr-tiny").model_dump(), **update})


def test_bad_attention_layout_is_refused():
    unet = preset("sr-tiny").unet.model_dump()
    for change, match in (({"attention_levels": (3,)}, "not a level"), ({"head_dim": 12}, "must divide")):
        with pytest.raises(ValueError, match=match):
            SRConfig(**{**preset("sr-tiny").model_dump(), "unet": {**unet, **change}})


def test_augmentation_level_is_continuous_time_of_the_models_own_schedule():
    schedule = schedule_from_config(preset("sr-tiny").diffusion)
    steps = schedule.num_timesteps
    levels = torch.tensor([0.0, 1.0, 10 / steps, 10.5 / steps])
    ab = alpha_bar(schedule, levels)
    assert ab[0] == 1.0 and ab[1] == schedule.alphas_cumprod[-1]
    assert ab[2] == pytest.approx(float(schedule.alphas_cumprod[9]), rel=1e-7)
    assert ab[3] == pytest.approx(0.5 * float(schedule.alphas_cumprod[9] + schedule.alphas_cumprod[10]))
    x, noise = torch.rand(4, 3, 2, 4, 4) * 2 - 1, torch.randn(4, 3, 2, 4, 4)
    noisy = augment(x, levels, noise, schedule)
    assert torch.equal(noisy[0], x[0])  # level 0 is the clean clip, exactly
    a, s = ab[2].sqrt().float(), (1 - ab[2]).sqrt().float()
    assert torch.allclose(noisy[2], a * x[2] + s * noise[2])
    assert torch.allclose(level_timestep(levels, schedule), levels * steps)


def test_resizing_keeps_flat_frames_flat_and_shapes():
    video = torch.full((1, 3, 2, 16, 16), 0.25)
    small = downscale(video, 2)
    assert small.shape == (1, 3, 2, 8, 8) and torch.allclose(small, video[..., :8, :8])
    assert torch.allclose(upscale(small, 16), video, atol=1e-6)
    x = torch.rand(1, 3, 2, 4, 4) * 2 - 1
    assert torch.allclose(quantise(x), frames_to_tensor(tensor_to_frames(x)), atol=1e-6)


def test_network_reads_the_low_resolution_clip_and_the_augmentation_level():
    model = tiny_model("sr-tiny")
    x = torch.randn(1, 3, 8, 16, 16)
    low = torch.rand(1, 3, 8, 8, 8) * 2 - 1
    t = torch.tensor([500])
    out = model.unet(x, t, lowres=low, aug_t=torch.tensor([0.0]))
    assert out.shape == x.shape
    assert not torch.allclose(out, model.unet(x, t, lowres=low, aug_t=torch.tensor([300.0])))
    assert not torch.allclose(out, model.unet(x, t, lowres=-low, aug_t=torch.tensor([0.0])))
    assert torch.equal(model.denoise(x, 500, cond=low), out)  # cond = the clean clip, level 0
    with pytest.raises(VgenError, match=r"needs \(1, 3, 8, 8, 8\)"):
        model.unet(x, t, lowres=torch.zeros(1, 3, 8, 16, 16))
    with pytest.raises(VgenError, match="needs the low-resolution clip"):
        model.denoise(x, 500)


def test_untrained_network_is_the_gaussian_residual_denoiser_around_bicubic():
    """F = 0 (zero-initialised head): x̂0 = u + c_skip·ỹ, so u at high noise and the noisy input at low noise."""
    from vgen.diffusion.parameterisation import to_prediction
    from vgen.models import build_networks
    from vgen.pipelines.model import LoadedModel

    config = preset("sr-tiny")
    model = LoadedModel(config, build_networks(config), "cpu")
    schedule = schedule_from_config(config.diffusion)
    low = torch.rand(1, 3, 8, 8, 8) * 2 - 1
    u, x0 = upscale(low, 16), torch.rand(1, 3, 8, 16, 16) * 2 - 1
    noise = torch.randn_like(x0)
    x0_of = {}
    for t in (999, 0):
        x_t = schedule.q_sample(x0, t, noise)
        x0_of[t] = to_prediction(model.denoise(x_t, t, cond=low), x_t, *schedule.coefficients(t, x_t), "v").x0
        a, s = (float(c) for c in schedule.coefficients(t, x_t))
        r = config.residual_std
        assert torch.allclose(x0_of[t], u + r * r * a / (s * s + a * a * r * r) * (x_t - a * u), atol=1e-4)
    assert torch.allclose(x0_of[999], u, atol=1e-6)
    assert (x0_of[0] - x0).abs().mean() < 0.1 * (u - x0).abs().mean()
    # At augmentation level s the condition z_s is rescaled by 1/√ᾱ(s) (unbiased) and the prior widens.
    x_t = schedule.q_sample(x0, 999, noise)
    aug_t = torch.tensor([100.0])
    raw = model.unet(x_t, torch.tensor([999]), lowres=low, aug_t=aug_t)
    high = to_prediction(raw, x_t, *schedule.coefficients(999, x_t), "v").x0
    assert torch.allclose(high, u / float(schedule.alphas_cumprod[99]) ** 0.5, atol=1e-4)


def test_objective_is_deterministic_and_trains_the_augmentation_embedding():
    config, networks = tiny_networks("sr-tiny")
    objective = family_of(config).diffusion_objective(config, networks, schedule_from_config(config.diffusion), 0.0)
    video = torch.rand(2, 3, 8, 16, 16) * 2 - 1
    loss = objective(Batch(video, None, 0), seeded_generators([0, 1]))["unet"]
    again = objective(Batch(video, None, 0), seeded_generators([0, 1]))["unet"]
    assert torch.isfinite(loss) and torch.equal(loss, again)
    loss.backward()
    unet = networks["unet"]
    assert unet.aug_embed.net[0].weight.grad.abs().sum() > 0
    assert unet.backbone.input_conv.weight.grad[:, 3:].abs().sum() > 0  # the condition channels learn


def test_family_degrades_and_has_a_bicubic_baseline():
    model = tiny_model("sr-tiny")
    video = torch.rand(1, 3, 8, 16, 16) * 2 - 1
    low = model.family.upscale_input(model, video)
    assert torch.equal(low, downscale(video, 2))
    assert torch.equal(model.family.upscale_baseline(model, low), upscale(low, 16))


def test_non_upscaling_families_refuse_with_one_line():
    model = tiny_model("vdm-tiny")
    for call in (lambda: model.family.upscale_factors(model.config),
                 lambda: model.family.upscale_input(model, torch.zeros(1, 3, 8, 16, 16)),
                 lambda: model.family.upscale_baseline(model, torch.zeros(1, 3, 8, 8, 8))):
        with pytest.raises(VgenError, match="cannot upscale one; give --model an upscaling model") as err:
            call()
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
def test_every_sampler_upscales(sampler: str):
    model = tiny_model("sr-tiny")
    video = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 3), dtype=np.uint8)
    job = upscale_video(model, [video], SamplerSettings(sampler=sampler, steps=2), seed=3)  # type: ignore[arg-type]
    out = np.concatenate(list(job.chunks(None)))
    assert out.shape == (8, 16, 16, 3) and job.method == "upscale" and job.windows is None


# Fixed-seed sr-tiny output (tiny_networks seed 0, input seed 0, DDIM 3 steps, seed 5): guards the whole path from
# the noise draws through augmentation, the network and replacement across two overlapping windows.
GOLDEN = {"sum": 1_055_434, "first": [79, 121, 233, 130, 153, 254]}


def test_golden_values():
    model = tiny_model("sr-tiny")
    video = np.random.default_rng(0).integers(0, 256, (11, 8, 8, 3), dtype=np.uint8)
    job = upscale_video(model, [video], SamplerSettings(steps=3), seed=5, options=UpscaleOptions(overlap=2))
    out = np.concatenate(list(job.chunks(None)))
    assert out.shape == (11, 16, 16, 3)
    assert {"sum": int(out.astype(np.int64).sum()), "first": out.reshape(-1)[:6].tolist()} == GOLDEN


def test_models_lists_the_upscaling_factors(capsys):
    from vgen.cli._tables import print_models
    from vgen.cli.models import _preset_rows

    rows = {row["name"]: row for row in _preset_rows()}
    assert rows["sr-mini"]["upscale"] == [2, 1] and rows["vdm-tiny"]["upscale"] is None
    assert rows["sr-mini"]["sample"] == "" and rows["sr-mini"]["parameters"] == {"unet": 726_171}
    print_models(list(rows.values()), [])
    line = next(line for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["sr-mini"])
    assert line.split()[-2:] == ["x2", "space"]


def test_dry_run_measures_the_activations_on_the_meta_device():
    from vgen.training.memory import estimate

    report = estimate(preset("sr-mini"), "diffusion", 4)
    assert report["activations_mib"] > 0 and report["activations_method"].startswith("measured")
