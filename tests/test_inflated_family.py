"""The inflated family's declarations and pieces: presets, capabilities, the image-stage objective, sampling an image
model as independent frames, and the stage/name rules."""

from __future__ import annotations

import pytest
import torch

from vgen.config import config_from_json, preset
from vgen.errors import VgenError
from vgen.families import capabilities, family_of
from vgen.training.trainer import Batch


def test_presets_build_and_describe_the_video_model():
    from vgen.models import build_networks

    for name in ("inflated-tiny", "inflated-mini", "make-a-video"):
        config = preset(name)
        assert config.family == "inflated" and config.temporal
        with torch.device("meta"):
            unet = build_networks(config)["unet"]
        assert list(unet.temporal_parameters())
    assert (preset("make-a-video").frames, preset("make-a-video").resolution) == (16, 64)


def test_capabilities_of_video_and_image_models():
    video = preset("inflated-tiny")
    image = video.model_copy(update={"temporal": False})
    caps = capabilities(video)
    assert caps.sample == "reconstruction" and caps.extend == caps.interpolate == ("reconstruction", "replacement")
    caps = capabilities(image)
    assert (caps.sample, caps.long, caps.extend, caps.interpolate) == ("independent", ("independent",), (), ())
    assert "--stage temporal" in caps.hint


@pytest.mark.parametrize("update, message", [
    ({"resolution": 15}, "must be a multiple of 2"),
    ({"unet": {"model_channels": 12, "channel_mult": [1, 2], "head_dim": 8}}, "head_dim 8 must divide"),
    ({"unet": {"channel_mult": [1, 2], "attention_levels": [2]}}, "attention_levels must index channel_mult"),
])
def test_config_validation(update: dict, message: str):
    data = preset("inflated-tiny").model_dump(mode="json")
    for key, value in update.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    with pytest.raises(VgenError, match=message):
        config_from_json(__import__("json").dumps(data))


def test_stage_rules_and_default_names():
    config = preset("inflated-mini")
    family = family_of(config)
    assert family.stages(config, "image", fine_tuning=False) == ["image"]
    assert family.stages(config.model_copy(update={"temporal": False}), "temporal", fine_tuning=True) == ["temporal"]
    assert family.training_config(config, ["image"]).temporal is False
    assert family.training_config(config.model_copy(update={"temporal": False}), ["temporal"]).temporal is True
    assert family.default_name(config, "image") == "inflated-mini-image"
    assert family.default_name(config, "temporal") == "inflated-mini-temporal"


class Recorder(torch.nn.Module):
    """Returns zeros and keeps what it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []
        self.weight = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels=None) -> torch.Tensor:
        self.inputs.append(x_t)
        return x_t * self.weight


def test_image_objective_sees_one_random_frame_of_each_clip():
    from vgen.diffusion.schedules import schedule_from_config
    from vgen.families.inflated.objectives import inflated_objective

    config = preset("inflated-tiny").model_copy(update={"temporal": False})
    # x0 prediction of a zero network makes the loss the mean square of the chosen frames.
    config = config.model_copy(update={"diffusion": config.diffusion.model_copy(update={"prediction": "x0"})})
    recorder = Recorder()
    objective = inflated_objective(config, {"unet": recorder}, schedule_from_config(config.diffusion), 0.0)
    video = torch.arange(2 * 8, dtype=torch.float32).reshape(2, 1, 8, 1, 1).expand(2, 3, 8, 16, 16) / 16
    generators = [torch.Generator().manual_seed(5), torch.Generator().manual_seed(6)]
    loss = objective(Batch(video=video, labels=None, step=0), generators)["unet"]
    assert recorder.inputs[0].shape == (2, 3, 1, 16, 16)
    frames = [torch.randint(0, 8, (1,), generator=torch.Generator().manual_seed(s)).item() for s in (5, 6)]
    expected = torch.stack([video[i, :, frames[i]] for i in range(2)]).square().mean()
    torch.testing.assert_close(loss, expected)
    # The video model's objective takes the whole clip.
    recorder.inputs.clear()
    video_config = config.model_copy(update={"temporal": True})
    inflated_objective(video_config, {"unet": recorder}, schedule_from_config(config.diffusion), 0.0)(
        Batch(video=video, labels=None, step=0), generators)
    assert recorder.inputs[0].shape == (2, 3, 8, 16, 16)


def test_image_model_samples_any_length_as_independent_clips():
    import numpy as np

    from vgen.models import build_networks
    from vgen.pipelines.generate import sample_video
    from vgen.pipelines.model import LoadedModel
    from vgen.pipelines.settings import SamplerSettings

    config = preset("inflated-tiny").model_copy(update={"temporal": False})
    torch.manual_seed(0)
    model = LoadedModel(config, build_networks(config), "cpu")
    generation = sample_video(model, SamplerSettings(steps=2), frames=19, seed=3)
    assert (generation.method, generation.windows) == ("independent", 3)
    video = np.concatenate(list(generation.chunks(None)))
    assert video.shape == (19, 16, 16, 3)
    again = np.concatenate(list(sample_video(model, SamplerSettings(steps=2), frames=19, seed=3).chunks(None)))
    assert np.array_equal(video, again)  # same seed, same video
    with pytest.raises(VgenError, match="cannot make long videos with --method replacement"):
        sample_video(model, SamplerSettings(steps=2, method="replacement"), frames=19)


def test_memory_estimate_of_the_image_stage_uses_single_frames():
    from vgen.training.memory import estimate

    config = preset("inflated-mini")
    image = estimate(config.model_copy(update={"temporal": False}), "image", 4)
    video = estimate(config, "temporal", 4)
    assert image["activations_mib"] < video["activations_mib"] / 4
