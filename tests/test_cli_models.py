"""`vgen models`: presets with parameter counts and capabilities, and installed models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from vgen.config import preset
from vgen.io.checkpoint import save_network
from vgen.io.store import register_model
from vgen.models import build_networks
from vgen.models.layers import count_parameters


ROOT = Path(__file__).resolve().parents[1]
# Run the CLI with the interpreter's exit state reported: whether torch was ever imported.
REPORT_TORCH = ("import atexit, sys; atexit.register(lambda: sys.stderr.write(f'torch imported: {\"torch\" in sys.modules}\\n')); "
                "from vgen.cli import main; sys.argv = ['vgen', *sys.argv[1:]]; main()")


def run_models(home: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "VGEN_HOME": str(home), "VGEN_CACHE": str(cache or home / "cache"), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "vgen", "models", *(args or ("--json",))], capture_output=True,
                          text=True, env=env, timeout=300)


def run_models_reporting_torch(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VGEN_HOME": str(home), "VGEN_CACHE": str(home / "cache"), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", REPORT_TORCH, "models", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_models_lists_presets_and_installed_models(tmp_path, monkeypatch):
    monkeypatch.setenv("VGEN_HOME", str(tmp_path / "home"))
    config = preset("lvdm-tiny")
    torch.manual_seed(0)
    networks = build_networks(config)
    folder = tmp_path / "export"
    folder.mkdir()
    for role, net in networks.items():
        save_network(folder / f"{role}.safetensors", net.state_dict(), config, role=role)
    register_model("mine", folder)

    result = run_models(tmp_path / "home")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)

    presets = {row["name"]: row for row in listing["presets"]}
    assert {"pvdm-s", "pvdm-l", "vdm", "lvdm", "pvdm-tiny", "vdm-tiny", "lvdm-tiny"} <= set(presets)
    # Paper-size counts as the model tests pin them (built on the meta device by the command).
    assert presets["pvdm-l"]["parameters"] == {"autoencoder": 62_064_399, "unet": 528_273_412}
    assert presets["pvdm-l"]["frames"] == 16 and presets["pvdm-l"]["resolution"] == 256
    assert presets["lvdm"]["sample"] == "hierarchical"
    assert presets["pvdm-s"]["interpolate"] == []  # triplanes are not frame-aligned
    assert "reconstruction" in presets["vdm"]["extend"]

    installed = {row["name"]: row for row in listing["installed"]}
    assert installed["mine"]["source"] == "store"
    assert installed["mine"]["preset"] == "lvdm-tiny"
    assert installed["mine"]["schedule_grid"] == "linspace"  # `vgen import` models say "official"
    # Counted from the file headers without loading tensors, so buffers (the LVDM latent scale/shift) count too.
    stored = sum(t.numel() for n in networks.values() for t in n.state_dict().values())
    assert installed["mine"]["parameters"] == stored
    assert stored - sum(count_parameters(n) for n in networks.values()) == 2


def test_the_table_is_printed_on_stdout_and_stderr_stays_empty(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vgen", "models"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "VGEN_HOME": str(tmp_path / "home"),
                                 "VGEN_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert any(line.startswith("Presets") for line in lines)
    tiny = [line for line in lines if line.split()[:1] == ["pvdm-tiny"]]
    assert len(tiny) == 1 and "AE 0.29M + UNet 0.91M" in tiny[0] and "8x32²" in tiny[0]
    assert any(line.split()[:2] == ["pvdm-mini-bouncing", "bundled"] for line in lines)


def test_counts_equal_a_full_build_and_later_listings_import_no_torch(tmp_path):
    first = run_models_reporting_torch(tmp_path / "home", "--json")
    assert first.returncode == 0, first.stderr
    second = run_models_reporting_torch(tmp_path / "home", "--json")
    assert second.returncode == 0, second.stderr
    assert "torch imported: True" in first.stderr  # the first listing builds the networks and caches the counts
    assert "torch imported: False" in second.stderr  # later ones read the cache
    for result in (first, second):
        presets = {row["name"]: row["parameters"] for row in json.loads(result.stdout)["presets"]}
        for name in ("pvdm-tiny", "vdm-tiny", "lvdm-tiny"):
            torch.manual_seed(0)
            built = build_networks(preset(name))
            assert presets[name] == {role: count_parameters(net) for role, net in built.items()}
        assert presets["pvdm-l"] == {"autoencoder": 62_064_399, "unet": 528_273_412}


def test_a_damaged_cache_is_a_miss(tmp_path):
    assert run_models(tmp_path / "home").returncode == 0
    (cache_file,) = (tmp_path / "home" / "cache" / "param-counts").iterdir()
    expected = json.loads(run_models(tmp_path / "home").stdout)["presets"]
    for damage in ("{not json", json.dumps({k: {"unet": -1} for k in json.loads(cache_file.read_text())}), "[]"):
        cache_file.write_text(damage)
        result = run_models(tmp_path / "home")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["presets"] == expected


def test_the_cache_key_follows_the_config(tmp_path, monkeypatch):
    from vgen.cli._param_counts import config_key, parameter_counts

    monkeypatch.setenv("VGEN_CACHE", str(tmp_path / "cache"))
    base = preset("vdm-tiny")
    wider = base.model_copy(update={"unet": base.unet.model_copy(update={"model_channels": base.unet.model_channels * 2})})
    assert config_key(base) != config_key(wider)
    counts = parameter_counts({"base": base, "wider": wider})
    torch.manual_seed(0)
    assert counts["wider"] == {role: count_parameters(net) for role, net in build_networks(wider).items()}
    assert counts["wider"]["unet"] > counts["base"]["unet"]


def test_a_model_card_is_shown_in_the_table_and_the_json(tmp_path, monkeypatch):
    monkeypatch.setenv("VGEN_HOME", str(tmp_path / "home"))
    config = preset("pvdm-tiny")
    folder = tmp_path / "export"
    folder.mkdir()
    for role, net in build_networks(config).items():
        save_network(folder / f"{role}.safetensors", net.state_dict(), config, role=role)
    card = {"summary": "trained 10 steps on bouncing videos, 1 min on a 2-core CPU; FVD16 999", "steps": {"ae": 10}}
    (folder / "card.json").write_text(json.dumps(card))
    register_model("carded", folder)
    listing = json.loads(run_models(tmp_path / "home").stdout)
    assert {row["name"]: row for row in listing["installed"]}["carded"]["card"] == card
    table = subprocess.run([sys.executable, "-m", "vgen", "models"], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "VGEN_HOME": str(tmp_path / "home"),
                                "VGEN_CACHE": str(tmp_path / "home" / "cache"), "PYTHONPATH": str(ROOT)})
    assert table.returncode == 0, table.stderr
    assert f"carded: {card['summary']}" in table.stdout.splitlines()
