"""``vgen train --set KEY=VALUE``: a preset's config changed by dotted path, recorded everywhere, checked in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vgen.cli import app
from vgen.cli._guard import run_guarded
from vgen.config import preset
from vgen.config.overrides import apply_sets, parse_set
from vgen.errors import VgenError


def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


@pytest.mark.parametrize("text, expected", [
    ("unet.model_channels=96", ("unet.model_channels", 96)),
    ("cond_prob=0.25", ("cond_prob", 0.25)),
    ("unet.channel_mult=1,2,4", ("unet.channel_mult", [1, 2, 4])),
    ("unet.channel_mult=[1, 2]", ("unet.channel_mult", [1, 2])),
    ("autoencoder.pixel_head=conv", ("autoencoder.pixel_head", "conv")),
    ("unet.gradient_checkpointing=true", ("unet.gradient_checkpointing", True)),
    ("diffusion.min_snr_gamma=null", ("diffusion.min_snr_gamma", None)),
    (" unet.dropout = 0.1 ", ("unet.dropout", 0.1)),
])
def test_values_parse_as_json_then_comma_lists_then_strings(text: str, expected: tuple):
    assert parse_set(text) == expected


def test_sets_change_only_the_named_fields_and_keep_the_preset():
    base = preset("pvdm-mini")
    changed = apply_sets(base, [parse_set("autoencoder.patch_size=2"), parse_set("unet.channel_mult=1,2"),
                                parse_set("diffusion.prediction=eps"), parse_set("cond_prob=0.7")])
    assert changed.autoencoder.patch_size == 2 and changed.unet.channel_mult == (1, 2)
    assert changed.diffusion.prediction == "eps" and changed.cond_prob == 0.7
    assert base.autoencoder.patch_size == 4 and base.diffusion.prediction == "v" and base.cond_prob == 0.5
    untouched = json.loads(base.model_dump_json())
    after = json.loads(changed.model_dump_json())
    untouched["autoencoder"]["patch_size"], untouched["unet"]["channel_mult"] = 2, [1, 2]
    untouched["diffusion"]["prediction"], untouched["cond_prob"] = "eps", 0.7
    assert after == untouched


@pytest.mark.parametrize("text, message", [
    ("unet.model_channels", "write KEY=VALUE"),
    ("=3", "write KEY=VALUE"),
    ("unet..x=3", "write KEY=VALUE"),
    ("unet.widht=96", "no field 'widht' at unet; fields there: model_channels"),
    ("bogus=1", "no field 'bogus' at the top level"),
    ("frames.x=1", "no field 'x' at frames"),
    ("unet=96", "is a group of fields"),
    ("name=mine", "cannot be set (the stored name comes from --name)"),
    ("family=vdm", "cannot be set"),
    ("autoencoder.patch_size=3", "invalid --set autoencoder.patch_size=3: resolution 32 is not divisible by patch_size 3"),
    ("unet.model_channels=4", "invalid --set unet.model_channels=4 (at unet.model_channels): Input should be greater"),
    ("diffusion.prediction=velocity", "invalid --set diffusion.prediction=\"velocity\""),
])
def test_bad_sets_are_one_line_errors(text: str, message: str):
    with pytest.raises(VgenError) as excinfo:
        apply_sets(preset("pvdm-mini"), [parse_set(text)])
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_the_error_names_the_set_that_failed_among_several():
    with pytest.raises(VgenError) as excinfo:
        apply_sets(preset("vdm-tiny"), [parse_set("unet.dropout=0.2"), parse_set("unet.head_dim=2")])
    assert "--set unet.head_dim=2 " in str(excinfo.value) and "dropout" not in str(excinfo.value)


def test_dry_run_shows_the_changed_config(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = vgen("train", "--model", "pvdm-tiny", "--synthetic", "bouncing", "--set", "autoencoder.patch_size=2",
                "--set", "unet.model_channels=16", "--dry-run")
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["model"]["autoencoder"]["patch_size"] == 2 and report["model"]["unet"]["model_channels"] == 16
    plain = vgen("train", "--model", "pvdm-tiny", "--synthetic", "bouncing", "--dry-run")
    assert plain == 0
    assert json.loads(capsys.readouterr().out)["parameters"]["unet"] > report["parameters"]["unet"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--set", "unet.widht=3"], "no field 'widht'"),
    (["--set", "autoencoder.patch_size=5"], "invalid --set autoencoder.patch_size=5"),
    (["--set", "nothing"], "write KEY=VALUE"),
])
def test_cli_refusals_exit_2_with_one_line_and_write_nothing(args: list[str], message: str, tmp_path: Path,
                                                            monkeypatch, capsys, tmp_vgen_home: Path):
    monkeypatch.chdir(tmp_path)
    code = vgen("train", "--model", "pvdm-tiny", "--synthetic", "bouncing", "--steps", "1", *args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert list(tmp_path.iterdir()) == [tmp_vgen_home] and list(tmp_vgen_home.iterdir()) == []


def test_trained_variant_is_recorded_and_samples_then_fine_tuning_keeps_shapes(tmp_path: Path, monkeypatch, capsys,
                                                                              tmp_vgen_home: Path):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    code = vgen("train", "--model", "pvdm-tiny", "--set", "autoencoder.patch_size=2", "--set", "cond_prob=0.6",
                "--synthetic", "bouncing", "--synthetic-videos", "4", "--steps", "2", "--batch-size", "2",
                "--name", "p2", "--out", str(run))
    assert code == 0, capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["model"]["autoencoder"]["patch_size"] == 2

    from vgen.io.store import model_config
    config, _ = model_config("p2")
    assert config.autoencoder.patch_size == 2 and config.cond_prob == 0.6

    out = tmp_path / "p2.mp4"
    assert vgen("sample", "--model", "p2", "--steps", "2", "-o", str(out)) == 0
    assert out.stat().st_size > 0
    capsys.readouterr()

    # Fine-tuning the stored model: a field that shapes no weight may change, one that does is refused.
    assert vgen("train", "--model", "p2", "--stage", "diffusion", "--set", "cond_prob=0.9", "--synthetic", "bouncing",
                "--dry-run") == 0
    assert json.loads(capsys.readouterr().out)["model"]["cond_prob"] == 0.9
    assert vgen("train", "--model", "p2", "--set", "cond_prob=0.9", "--set", "autoencoder.patch_size=4",
                "--synthetic", "bouncing", "--steps", "1") == 2
    err = capsys.readouterr().err.strip().splitlines()  # names the set that changes a shape, not the harmless one
    assert len(err) == 1 and err[0].startswith("error: --set autoencoder.patch_size changes the shape of the weights of "
                                               "'p2'"), err

    # --resume keeps the run's config.
    assert vgen("train", "--out", str(run), "--resume", "--set", "cond_prob=0.1") == 2
    assert "--set cond_prob cannot change on --resume" in capsys.readouterr().err
    # ... and the command that started the run may be given again with --resume (the recipes re-run theirs).
    assert vgen("train", "--out", str(run), "--resume", "--set", "cond_prob=0.6", "--set", "autoencoder.patch_size=2",
                "--dry-run") == 0, capsys.readouterr().err
