"""``vgen import``: official checkpoints into the store as ordinary vgen models (LVDM fixtures; parity itself is in
tests/test_official_*.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import vgen
from vgen.cli import app
from vgen.cli._guard import run_guarded

FIXTURES = Path(__file__).parent / "fixtures" / "official" / "lvdm"
pytest.importorskip("yaml")


def run(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


def test_import_lvdm_stores_a_model_that_loads_and_denoises_like_the_converted_networks(tmp_path: Path, monkeypatch,
                                                                                       capsys):
    from vgen.families.lvdm.official import import_official
    from vgen.models import build_networks

    monkeypatch.setenv("VGEN_HOME", str(tmp_path / "home"))
    args = ["import", "lvdm", "--autoencoder", str(FIXTURES / "ae_small.ckpt"), "--unet",
            str(FIXTURES / "short_small.ckpt"), "--config", str(FIXTURES / "lvdm_small.yaml"), "--name", "lvdm-fixture"]
    assert run(*args, "--json") == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["name"] == "lvdm-fixture" and report["unet"]["weights"] == "model_ema"
    assert "diffusion weights: model_ema" in captured.err
    folder = tmp_path / "home" / "models" / "lvdm-fixture"
    card = json.loads((folder / "card.json").read_text())
    assert "official LVDM" in card["summary"] and card["import_report"]["latent"]["scale_factor"] is not None

    model = vgen.load_model("lvdm-fixture", device="cpu")
    assert model.ema is True
    assert model.config.diffusion.schedule_grid == "official"  # samples with the paper's DDIM unless told otherwise
    assert "--schedule-grid official" in captured.err
    config, states, _ = import_official(FIXTURES / "ae_small.ckpt", FIXTURES / "short_small.ckpt",
                                        config_yaml=FIXTURES / "lvdm_small.yaml")
    direct = build_networks(config)["unet"].eval()
    direct.load_state_dict(states["unet"])
    x = torch.randn(1, *model.latent_shape(), generator=torch.Generator().manual_seed(0))
    t = torch.tensor([321])
    with torch.no_grad():
        assert torch.equal(model.denoise(x, t), direct(x, t))

    assert run(*args) == 2  # the name is taken
    assert "already exists" in capsys.readouterr().err
    assert run(*args, "--overwrite") == 0


def test_wrong_files_leave_nothing_in_the_store(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("VGEN_HOME", str(tmp_path / "home"))
    swapped = ["import", "lvdm", "--autoencoder", str(FIXTURES / "short_small.ckpt"), "--unet",
               str(FIXTURES / "ae_small.ckpt"), "--config", str(FIXTURES / "lvdm_small.yaml"), "--name", "bad"]
    assert run(*swapped) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
    assert run("import", "lvdm", "--autoencoder", str(tmp_path / "missing.ckpt"), "--unet",
               str(FIXTURES / "short_small.ckpt"), "--name", "bad") == 2
    assert "is not a file" in capsys.readouterr().err
    assert not (tmp_path / "home" / "models" / "bad").exists()


def test_import_pvdm_prefers_ema_and_needs_diffusion_weights(tmp_path: Path, monkeypatch, capsys):
    pvdm = Path(__file__).parent / "fixtures" / "official" / "pvdm"
    monkeypatch.setenv("VGEN_HOME", str(tmp_path / "home"))
    assert run("import", "pvdm", "--autoencoder", str(pvdm / "ae_unet.pth"), "--name", "p") == 2
    assert "--unet and/or --ema" in capsys.readouterr().err
    assert run("import", "pvdm", "--autoencoder", str(pvdm / "ae_unet.pth"), "--unet", str(pvdm / "model.pth"),
               "--ema", str(pvdm / "ema_model.pth"), "--config", str(pvdm / "diffusion.yaml"), "--name", "pvdm-fixture",
               "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["unet"]["weights"] == "ema"
    model = vgen.load_model("pvdm-fixture", device="cpu")
    assert model.ema is True and model.family.name == "pvdm"
    assert model.config.diffusion.schedule_grid == "official"
    z = torch.randn(1, *model.latent_shape(), generator=torch.Generator().manual_seed(0))
    assert model.denoise(z, 10, cond=z).shape == z.shape
