"""The family interface: a new family is one folder and one registry line; settings are validated once."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from vgen import families
from vgen.cli import app
from vgen.cli._guard import run_guarded
from vgen.config import PRESETS, config_from_json, preset
from vgen.errors import VgenError
from vgen.pipelines.settings import SAMPLER_KNOBS, SAMPLER_NAMES, SamplerSettings

ROOT = Path(__file__).resolve().parents[1]


def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


@pytest.fixture
def toy_family():
    families.register("toy", "tests.toy_family")
    yield
    families.unregister("toy")


def test_a_registered_toy_family_trains_samples_and_extends(toy_family, tmp_path: Path, monkeypatch, capsys):
    """One folder (tests/toy_family: config + family) and one ``register`` call: train, sample, extend all work."""
    monkeypatch.setenv("VGEN_HOME", str(tmp_path / "home"))
    assert "toy-tiny" in PRESETS and preset("toy-tiny").family == "toy"
    assert config_from_json(preset("toy-tiny").model_dump_json()) == preset("toy-tiny")
    assert vgen("train", "--model", "toy-tiny", "--synthetic", "bouncing", "--steps", "2", "--batch-size", "2",
                "--out", str(tmp_path / "run"), "--name", "toy-trained") == 0
    assert (tmp_path / "home" / "models" / "toy-trained" / "unet.safetensors").is_file()
    out = tmp_path / "long.mp4"
    assert vgen("sample", "--model", "toy-trained", "--frames", "7", "--steps", "2", "-o", str(out), "-q") == 0
    more = tmp_path / "more.gif"
    assert vgen("extend", str(out), "--model", "toy-trained", "--frames", "3", "--steps", "2", "-o", str(more),
                "-q") == 0
    from vgen.io.video_read import read_all

    assert len(read_all(out)) == 7 and len(read_all(more)) == 10
    assert vgen("interpolate", str(out), "--model", "toy-trained", "--steps", "2", "-o", str(tmp_path / "i.mp4")) == 2
    assert "cannot interpolate" in capsys.readouterr().err


def test_unregistered_family_is_not_parsed(toy_family):
    text = preset("toy-tiny").model_dump_json()
    families.unregister("toy")
    with pytest.raises(VgenError, match="does not match any of the expected tags"):
        config_from_json(text)
    families.register("toy", "tests.toy_family")  # the fixture unregisters it again


def test_builtin_families_cannot_be_unregistered():
    with pytest.raises(ValueError):
        families.unregister("pvdm")


def test_sampler_knob_table_matches_the_samplers():
    from vgen.sampling import SAMPLERS

    assert tuple(SAMPLERS) == SAMPLER_NAMES
    for name, knobs in SAMPLER_KNOBS.items():
        accepted = inspect.signature(SAMPLERS[name]).parameters
        assert all(knob in accepted for knob in knobs), name


def test_a_knob_the_sampler_does_not_use_is_refused_not_dropped(capsys):
    with pytest.raises(VgenError, match="--eta is a knob of the ddim sampler"):
        SamplerSettings(sampler="ddpm", eta=0.5)
    assert SamplerSettings(sampler="ddim", eta=0.5).knobs() == {"eta": 0.5}
    assert SamplerSettings(sampler="ddpm").knobs() == {}
    assert vgen("sample", "--sampler", "dpm++", "--eta", "1", "-o", "x.mp4") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--eta" in err[0] and "dpm++" in err[0]


def test_settings_validate_once_with_one_line_errors():
    with pytest.raises(VgenError, match="--steps must be positive"):
        SamplerSettings(steps=0)
    with pytest.raises(VgenError, match="unknown sampler 'euler'"):
        SamplerSettings(sampler="euler")  # type: ignore[arg-type]
    with pytest.raises(VgenError, match="--eta must be >= 0"):
        SamplerSettings(eta=-1.0)


def test_eta_reaches_ddim_through_the_pipeline():
    import torch

    from vgen.models import build_networks
    from vgen.pipelines.generate import sample_video
    from vgen.pipelines.model import LoadedModel

    config = preset("vdm-tiny")
    torch.manual_seed(0)
    model = LoadedModel(config, build_networks(config), "cpu")
    plain, noisy = (np.concatenate(list(sample_video(model, SamplerSettings(steps=3, eta=eta), seed=1).chunks(None)))
                    for eta in (None, 1.0))
    assert not np.array_equal(plain, noisy)


def test_no_script_compares_a_loaded_models_family_object_with_a_string():
    """``LoadedModel.family`` is a Family object: comparing it with a name is always False (use ``.family.name``)."""
    pattern = re.compile(r"""(model|loaded)\.family\s*(==|!=)\s*["']""")
    offenders = [f"{path.relative_to(ROOT)}:{n}" for folder in ("vgen", "tools", "benchmarks", "tests")
                 for path in (ROOT / folder).rglob("*.py")
                 for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_no_family_name_is_tested_outside_the_families():
    """Family knowledge lives in vgen/families: no other module compares a config's family name."""
    pattern = re.compile(r"""family\s*(==|!=|in\s*\()|==\s*["'](pvdm|vdm|lvdm)["']""")
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in (ROOT / "vgen").rglob("*.py")
                 if "families" not in path.parts
                 for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_motion_guidance_is_refused_by_families_without_a_motion_free_mode(tmp_path: Path, capsys):
    out = tmp_path / "x.mp4"
    assert vgen("sample", "--motion-guidance", "1.5", "-o", str(out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no motion-free mode" in err[0] and "--motion-guidance" in err[0]
    assert not out.exists()
