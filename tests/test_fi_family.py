"""The FI family: presets, network, training objective, and the interpolate / extend / frame-rate pipelines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from test_pipelines_model import tiny_networks
from vgen.config import config_from_json, preset
from vgen.diffusion.schedules import schedule_from_config
from vgen.errors import VgenError
from vgen.families import capabilities, family_of
from vgen.families.fi.config import FIConfig
from vgen.families.fi.conditioning import neighbours
from vgen.metrics.inbetween import blend
from vgen.models import build_networks
from vgen.pipelines.generate import extend_video, interpolate_video, sample_video
from vgen.pipelines.model import LoadedModel
from vgen.pipelines.settings import SamplerSettings
from vgen.training.memory import estimate
from vgen.training.trainer import Batch

STEPS = SamplerSettings(steps=2)
STEPS3 = SamplerSettings(steps=3)


def fi_networks(**changes: object) -> tuple[FIConfig, dict[str, torch.nn.Module]]:
    """fi-tiny, optionally with config changes, with small random weights where it starts at zero (output head,
    residual branches, frame-skip embedding), so that every input reaches the output."""
    if not changes:
        return tiny_networks("fi-tiny")
    config = preset("fi-tiny").model_copy(update=changes)
    torch.manual_seed(0)
    networks = build_networks(config)
    with torch.no_grad():
        for p in networks["unet"].parameters():
            if p.ndim > 1 and not p.any():
                p.normal_(0, 0.05)
    return config, networks


def fi_model(**changes: object) -> LoadedModel:
    return LoadedModel(*fi_networks(**changes), "cpu")


def keys(n: int, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def run(job) -> np.ndarray:
    return np.concatenate(list(job.chunks(None)))


class SkipSpy:
    """Wraps a network and records the frame skips it is given."""

    def __init__(self, model: LoadedModel) -> None:
        self.net, self.skips = model.networks["unet"], []
        model.networks["unet"] = self

    def __call__(self, *args, **kwargs):
        self.skips.append(int(kwargs["skip"][0]))
        return self.net(*args, **kwargs)


# ------------------------------------------------------------------------------------------ config


def test_presets_and_capabilities() -> None:
    for name in ("fi-tiny", "fi-mini"):
        config = preset(name)
        assert config.family == "fi" and config.frames == 5 and config.diffusion.prediction == "v"
        caps = capabilities(config)
        assert caps.long == () and caps.extend == ("mask",) and caps.interpolate == ("mask",)
    assert preset("fi-mini").resolution == 32 and preset("fi-mini").aug_max_level == 0
    assert config_from_json(preset("fi-mini").model_dump_json()) == preset("fi-mini")


@pytest.mark.parametrize("change,message", [
    ({"frames": 2}, "at least 3 frames"),
    ({"num_classes": 3}, "unconditional"),
    ({"aug_max_level": 100, "aug_sample_level": 100}, "must be below aug_max_level"),
    ({"aug_sample_level": 5}, "must be below aug_max_level"),
])
def test_bad_configs_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FIConfig(**{**preset("fi-tiny").model_dump(), **change})


# ------------------------------------------------------------------------------------------ network


def test_network_takes_the_frame_skip() -> None:
    model = fi_model()
    net = model.unet
    with torch.no_grad():
        net.skip_embed.weight.normal_()
    x = torch.randn(1, 3, 5, 16, 16)
    mask = torch.tensor([1.0, 0, 1, 0, 1]).reshape(1, 1, 5, 1, 1)
    t = torch.tensor([300])
    two = net(x, t, known=x * mask, mask=mask, skip=torch.tensor([2]))
    four = net(x, t, known=x * mask, mask=mask, skip=torch.tensor([4]))
    assert two.shape == x.shape and not torch.allclose(two, four)
    with pytest.raises(VgenError, match=r"frame skips must lie in \[1, 4\]"):
        net(x, t, known=x * mask, mask=mask, skip=torch.tensor([5]))
    with pytest.raises(VgenError, match="5-frame clips"):
        net(x[:, :, :4], t, known=x[:, :, :4], mask=mask[:, :, :4], skip=torch.tensor([2]))
    with pytest.raises(VgenError, match="without noise augmentation"):
        net(x, t, known=x * mask, mask=mask, skip=torch.tensor([2]), aug_level=torch.tensor([3]))


def test_dry_run_memory_estimate_measures_the_network() -> None:
    assert estimate(preset("fi-mini"), "diffusion", 8)["activations_mib"] > 0


# ------------------------------------------------------------------------------------------ training


def _objective(config: FIConfig, networks: dict):
    return family_of(config).diffusion_objective(config, networks, schedule_from_config(config.diffusion), 0.0)


def _batch(config: FIConfig) -> Batch:
    g = torch.Generator().manual_seed(1)
    video = torch.rand(4, 3, config.frames, config.resolution, config.resolution, generator=g) * 2 - 1
    return Batch(video=video, labels=None, step=0)


def _generators() -> list[torch.Generator]:
    return [torch.Generator().manual_seed(i) for i in range(4)]


@pytest.mark.parametrize("aug", [0, 200])
def test_objective_is_seeded_and_trains_the_skip_embedding(aug: int) -> None:
    config, networks = fi_networks(**({"aug_max_level": aug, "aug_sample_level": 50} if aug else {}))
    objective = _objective(config, networks)
    first = objective(_batch(config), _generators())["unet"]
    assert torch.equal(first, objective(_batch(config), _generators())["unet"])
    first.backward()
    assert networks["unet"].skip_embed.weight.grad.abs().sum() > 0
    if aug:
        assert networks["unet"].aug_embed.net[0].weight.grad.abs().sum() > 0


def test_objective_scores_the_unknown_frames_on_the_residual() -> None:
    """The loss ignores the prediction at known frames, and a network predicting the residual's own target (x0
    prediction: the scaled residual from the keys' blend) scores zero."""
    config = preset("fi-tiny").model_copy(update={"diffusion": preset("fi-tiny").diffusion.model_copy(
        update={"prediction": "x0"})})
    batch = _batch(config)

    def oracle(x_t, t, *, known, mask, skip, aug_level):
        return config.residual_scale * (batch.video - neighbours(known, mask).blend) + 7.0 * mask

    assert float(_objective(config, {"unet": oracle})(batch, _generators())["unet"]) < 1e-10


# ------------------------------------------------------------------------------------------ pipelines


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_interpolate_gives_the_network_the_factor_as_frame_skip(factor: int) -> None:
    model = fi_model()
    spy = SkipSpy(model)
    given = keys(4)
    out = run(interpolate_video(model, [given], STEPS, between=factor - 1, seed=0, total_keys=4))
    assert out.shape == (3 * factor + 1, 16, 16, 3)
    assert np.array_equal(out[::factor], given)
    assert spy.skips and set(spy.skips) == {factor}


def test_key_images_give_the_in_between_count_plus_one() -> None:
    model = fi_model()
    spy = SkipSpy(model)
    run(interpolate_video(model, [keys(2)], STEPS, between=2, seed=0))
    assert set(spy.skips) == {3}


def test_too_wide_a_factor_is_refused() -> None:
    with pytest.raises(VgenError, match="--factor at most 4"):
        interpolate_video(fi_model(), [keys(2)], STEPS, between=4)


def test_same_seed_same_video_streaming_or_not() -> None:
    model = fi_model()
    given = keys(9)
    whole = run(interpolate_video(model, [given], STEPS, between=1, seed=3))
    streamed = run(interpolate_video(model, [given[:2], given[2:3], given[3:]], STEPS, between=1, seed=3))
    assert np.array_equal(whole, streamed)
    assert not np.array_equal(whole, run(interpolate_video(model, [given], STEPS, between=1, seed=4)))


def test_a_zero_residual_is_frame_blending() -> None:
    """A network whose x0 is a zero residual reproduces plain frame blending: the residual formulation's floor."""
    model = fi_model(diffusion=preset("fi-tiny").diffusion.model_copy(update={"prediction": "x0"}))
    model.networks["unet"] = lambda x, t, **kwargs: torch.zeros_like(x)
    given = keys(5)
    out = run(interpolate_video(model, [given], STEPS, between=1, seed=0))
    assert np.abs(out.astype(int) - blend(given, 2).astype(int)).max() <= 1


def test_extend_extrapolates_with_frame_skip_one() -> None:
    model = fi_model()
    spy = SkipSpy(model)
    out = run(extend_video(model, [keys(3)], STEPS, frames=4, seed=0))
    assert out.shape == (7, 16, 16, 3) and set(spy.skips) == {1}


def test_sampling_from_noise_is_refused_with_the_commands_that_work() -> None:
    with pytest.raises(VgenError, match="cannot sample videos from noise.*vgen interpolate or vgen extend"):
        sample_video(fi_model(), STEPS)


def test_noise_augmented_model_interpolates_reproducibly_and_keeps_the_keys() -> None:
    model = fi_model(aug_max_level=200, aug_sample_level=50)
    given = keys(3)
    out = run(interpolate_video(model, [given], STEPS, between=1, seed=2))
    assert np.array_equal(out[::2], given)
    assert np.array_equal(out, run(interpolate_video(model, [given], STEPS, between=1, seed=2)))


# ------------------------------------------------------------------------------------------ golden values

def _summary(video: np.ndarray) -> tuple:
    """Shape, sum and a few values of the first made frame (frame 1)."""
    return video.shape, int(video.astype(np.int64).sum()), video[1].reshape(-1)[::97][:8].tolist()


GOLDEN = {
    "interpolate": ((13, 16, 16, 3), 1251889, [118, 245, 173, 155, 130, 192, 180, 132]),
    "extend": ((6, 16, 16, 3), 570214, [76, 224, 133, 31, 122, 206, 218, 92]),
    "interpolate-augmented": ((9, 16, 16, 3), 878672, [116, 241, 147, 147, 131, 211, 192, 142]),
    "objective": 5.70322,
    "objective-augmented": 5.74084,
}


def test_golden_values() -> None:
    """Fixed-seed outputs and losses of fi-tiny, recorded when the family was added: any change to the network,
    conditioning, residual or sampling path changes them."""
    torch.set_num_threads(1)
    with torch.no_grad():
        got = {
            "interpolate": _summary(run(interpolate_video(fi_model(), [keys(5)], STEPS3, between=2, seed=4))),
            "extend": _summary(run(extend_video(fi_model(), [keys(5)], STEPS3, frames=6, seed=3, only_new=True))),
            "interpolate-augmented": _summary(run(interpolate_video(
                fi_model(aug_max_level=100, aug_sample_level=20), [keys(5)], STEPS3, between=1, seed=4))),
        }
        for name, changes in (("objective", {}), ("objective-augmented", {"aug_max_level": 100})):
            config, networks = fi_networks(**changes)
            got[name] = pytest.approx(float(_objective(config, networks)(_batch(config), _generators())["unet"]),
                                      rel=1e-5)
    assert GOLDEN == got
