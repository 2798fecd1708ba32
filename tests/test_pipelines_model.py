"""LoadedModel / load_model, plus the tiny-model builders the other pipeline and CLI tests import."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vgen.config import preset
from vgen.errors import VgenError
from vgen.io.checkpoint import save_network
from vgen.models import build_networks
from vgen.pipelines.model import LoadedModel, load_model

TINY = ("pvdm-tiny", "vdm-tiny", "lvdm-tiny")


def tiny_networks(name: str, seed: int = 0) -> tuple[object, dict[str, torch.nn.Module]]:
    """Untrained networks of a tiny preset with fixed seeds. Zero-initialised output heads get small
    random weights so outputs depend on the input; LVDM gets latent statistics from random videos."""
    config = preset(name)
    torch.manual_seed(seed)
    networks = build_networks(config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for net in networks.values():
            for p in net.parameters():
                if p.ndim > 1 and not p.any():
                    p.copy_(torch.randn(p.shape, generator=g) * 0.05)
        if config.family == "lvdm":
            ae = networks["autoencoder"]
            video = torch.rand(2, 3, config.frames, config.resolution, config.resolution, generator=g) * 2 - 1
            ae.fit_latent_stats(ae.posterior(video).mean)
    return config, networks


def tiny_model(name: str, seed: int = 0) -> LoadedModel:
    config, networks = tiny_networks(name, seed)
    return LoadedModel(config, networks, "cpu")


def save_tiny(name: str, folder: Path, seed: int = 0) -> Path:
    """A model folder (one .safetensors per network) for a tiny preset."""
    config, networks = tiny_networks(name, seed)
    folder.mkdir(parents=True, exist_ok=True)
    for role, net in networks.items():
        save_network(folder / f"{role}.safetensors", net.state_dict(), config, role=role)
    return folder


@pytest.mark.parametrize("name", TINY)
def test_encode_decode_shapes_and_range(name: str) -> None:
    model = tiny_model(name)
    video = torch.rand(1, 3, model.clip_frames, model.resolution, model.resolution) * 2 - 1
    latent = model.encode(video)
    assert tuple(latent.shape[1:]) == model.latent_shape()
    decoded = model.decode(latent)
    assert decoded.shape == video.shape
    assert decoded.min() >= -1 and decoded.max() <= 1
    if name == "vdm-tiny":  # pixel space: identity
        assert torch.equal(latent, video)
    assert all(not net.training for net in model.networks.values())


def test_load_model_round_trip(tmp_path: Path) -> None:
    folder = save_tiny("vdm-tiny", tmp_path / "m")
    loaded = load_model(str(folder), device="cpu")
    fresh = tiny_model("vdm-tiny")
    assert loaded.config == fresh.config
    for (k, a), (_, b) in zip(loaded.unet.state_dict().items(), fresh.unet.state_dict().items()):
        assert torch.equal(a, b), k
    assert loaded.supports.sample == "mask"  # vdm-tiny is trained with known-frame masks: its own conditioning first
    assert loaded.frame_stride == 1


def test_load_model_unknown_name_says_how_to_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VGEN_HOME", str(tmp_path))
    with pytest.raises(VgenError, match="vgen train"):
        load_model("no-such-model", device="cpu")
