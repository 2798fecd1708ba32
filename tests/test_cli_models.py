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


def run_models(home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VGEN_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "vgen", "models", "--json"], capture_output=True, text=True,
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
    # Counted from the file headers without loading tensors, so buffers (the LVDM latent scale/shift) count too.
    stored = sum(t.numel() for n in networks.values() for t in n.state_dict().values())
    assert installed["mine"]["parameters"] == stored
    assert stored - sum(count_parameters(n) for n in networks.values()) == 2
