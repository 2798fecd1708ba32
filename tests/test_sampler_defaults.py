"""A model's own sampler and step count (``diffusion.sampler``, ``diffusion.sampling_steps``): used when --sampler and
--steps are not given, reported in --json and in evaluate's protocol, overridden by the options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vgen.cli import app
from vgen.cli._guard import run_guarded


def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


@pytest.fixture
def ddpm_model(tmp_path: Path, tmp_vgen_home: Path, capsys) -> str:
    """A vdm-tiny trained 2 steps whose config says: sample with DDPM, 3 steps."""
    code = vgen("train", "--model", "vdm-tiny", "--set", "diffusion.sampler=ddpm", "--set", "diffusion.sampling_steps=3",
                "--synthetic", "bouncing", "--synthetic-videos", "2", "--steps", "2", "--batch-size", "2",
                "--name", "own-ddpm", "--out", str(tmp_path / "run"))
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    return "own-ddpm"


def _sample(capsys, out: Path, *args: str) -> dict:
    assert vgen("sample", *args, "--seed", "3", "-o", str(out), "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_the_models_sampler_and_steps_are_the_default_and_options_override_them(ddpm_model: str, tmp_path: Path,
                                                                              capsys):
    default = _sample(capsys, tmp_path / "default.mp4", "--model", ddpm_model)
    assert (default["sampler"], default["steps"]) == ("ddpm", 3)
    explicit = _sample(capsys, tmp_path / "explicit.mp4", "--model", ddpm_model, "--sampler", "ddpm", "--steps", "3")
    assert (explicit["sampler"], explicit["steps"]) == ("ddpm", 3)
    assert (tmp_path / "default.mp4").read_bytes() == (tmp_path / "explicit.mp4").read_bytes()

    # Another sampler runs vgen's default count (the model's 3 steps were chosen for DDPM); --steps still applies.
    other = _sample(capsys, tmp_path / "ddim.mp4", "--model", ddpm_model, "--sampler", "ddim")
    assert (other["sampler"], other["steps"]) == ("ddim", 50)
    assert (tmp_path / "ddim.mp4").read_bytes() != (tmp_path / "default.mp4").read_bytes()
    fewer = _sample(capsys, tmp_path / "ddpm2.mp4", "--model", ddpm_model, "--steps", "2")
    assert (fewer["sampler"], fewer["steps"]) == ("ddpm", 2)


def test_a_knob_of_another_sampler_is_refused_against_the_models_default(ddpm_model: str, tmp_path: Path, capsys):
    out = tmp_path / "eta.mp4"
    assert vgen("sample", "--model", ddpm_model, "--eta", "0.5", "-o", str(out)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--eta is a knob of the ddim sampler(s), not of ddpm (the model's default sampler)" in lines[0]
    assert not out.exists()
    # With --sampler ddim the knob is fine.
    assert vgen("sample", "--model", ddpm_model, "--sampler", "ddim", "--eta", "0.5", "--steps", "2", "-o", str(out)) == 0


def test_models_without_defaults_keep_ddim_50(tmp_path: Path, tmp_vgen_home: Path, capsys):
    report = _sample(capsys, tmp_path / "bundled.mp4", "--steps", "2")
    assert report["sampler"] == "ddim" and report["steps"] == 2
    from vgen.config import preset
    from vgen.pipelines.model import load_model
    from vgen.pipelines.settings import SamplerSettings

    assert preset("vdm-tiny").diffusion.sampler is None and preset("vdm-tiny").diffusion.sampling_steps is None
    run = SamplerSettings().for_model(load_model("pvdm-mini-bouncing", device="cpu"))
    assert run.sampler == "ddim" and run.steps == 50


def test_evaluate_generates_with_the_models_default_and_records_it(ddpm_model: str, capsys):
    assert vgen("evaluate", "--model", ddpm_model, "--metrics", "seam", "--num", "2", "--frames", "16", "--json") == 0
    generation = json.loads(capsys.readouterr().out)["protocol"]["generation"]
    assert (generation["sampler"], generation["steps"]) == ("ddpm", 3)
    assert vgen("evaluate", "--model", ddpm_model, "--metrics", "seam", "--num", "2", "--frames", "16", "--json",
                "--sampler", "dpm++") == 0
    generation = json.loads(capsys.readouterr().out)["protocol"]["generation"]
    assert (generation["sampler"], generation["steps"]) == ("dpm++", 50)


def test_models_lists_each_models_default_sampler(ddpm_model: str, capsys):
    from vgen.cli._common import STATE

    assert vgen("models", "--json") == 0
    installed = {row["name"]: row for row in json.loads(capsys.readouterr().out)["installed"]}
    assert (installed[ddpm_model]["sampler"], installed[ddpm_model]["steps"]) == ("ddpm", 3)
    assert (installed["pvdm-mini-bouncing"]["sampler"], installed["pvdm-mini-bouncing"]["steps"]) == ("ddim", 50)
    assert vgen("models") == 0
    table = capsys.readouterr().out
    assert "ddpm/3" in table and "ddim/50" in table, table
    STATE.update(debug=False, quiet=False)


def test_official_grid_models_run_and_list_the_same_sampler_and_steps():
    """A model whose config's grid is its family's official DDIM: the sampler and steps that run are the ones `vgen
    models` lists, its own diffusion.sampling_steps included; --schedule-grid official keeps the paper's count for a
    model with no steps of its own."""
    from vgen.cli.models import _sampling
    from vgen.pipelines.model import load_model
    from vgen.pipelines.settings import SamplerSettings

    model = load_model("pvdm-mini-bouncing", device="cpu")
    base, paper = model.config, model.family.official_sampler.steps
    for fields, expected in (({}, ("ddim", None, paper, "official")),
                             ({"sampling_steps": 7}, ("ddim", 7, 7, "official")),
                             ({"sampler": "ddpm", "sampling_steps": 7}, ("ddpm", 7, 7, "linspace"))):
        diffusion = base.diffusion.model_copy(update={"schedule_grid": "official", **fields})
        model.config = base.model_copy(update={"diffusion": diffusion})
        run, shown = SamplerSettings().for_model(model), _sampling(model.config)
        assert (shown["sampler"], shown["steps"], run.steps, run.grid) == expected, fields
        assert run.sampler == shown["sampler"]
    model.config = base
    assert SamplerSettings(schedule_grid="official").for_model(model).steps == paper
