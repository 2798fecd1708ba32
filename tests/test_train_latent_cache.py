"""`vgen train --latent-cache`: the diffusion stage reads encodings instead of recomputing them, and trains
exactly as without the cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vgen.cli import app
from vgen.cli._guard import run_guarded
from vgen.config import preset
from vgen.data.cache import LatentCache
from vgen.models import build_networks
from vgen.training.latent_cache import CachedEncoder


def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


@pytest.mark.parametrize("name", ["pvdm-tiny", "lvdm-tiny"])
def test_cached_encodings_equal_direct_ones_and_hit_on_the_second_call(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    ae = build_networks(preset(name))["autoencoder"].eval()
    video = torch.rand(3, 3, 8, 32, 32) * 2 - 1
    cached = CachedEncoder(ae, LatentCache(tmp_path / "latents"))
    with torch.no_grad():
        if name == "pvdm-tiny":
            direct, first, second = ae.encode(video), cached.encode(video), cached.encode(video)
        else:
            p, q1, q2 = ae.posterior(video), cached.posterior(video), cached.posterior(video)
            direct, first, second = (torch.cat([g.mean, g.std]) for g in (p, q1, q2))
    assert torch.equal(first, direct) and torch.equal(second, direct)
    assert (cached.misses, cached.hits) == (3, 3)
    # Other weights, other keys: a changed autoencoder never reads stale latents.
    with torch.no_grad():
        next(ae.parameters()).add_(0.01)
    other = CachedEncoder(ae, LatentCache(tmp_path / "latents"))
    with torch.no_grad():
        other.encode(video) if name == "pvdm-tiny" else other.posterior(video)
    assert other.hits == 0 and other.misses == 3


def test_training_with_the_latent_cache_matches_training_without(tmp_path: Path, tmp_vgen_home: Path, capsys) -> None:
    common = ["train", "--model", "lvdm-tiny", "--synthetic", "bouncing", "--synthetic-videos", "2", "--steps", "2",
              "--batch-size", "2"]
    assert vgen(*common, "--name", "plain", "--out", str(tmp_path / "plain")) == 0
    assert vgen(*common, "--name", "cached", "--out", str(tmp_path / "cached"),
                "--latent-cache", str(tmp_path / "latents")) == 0
    err = capsys.readouterr().err
    assert "latent cache:" in " ".join(err.split())
    assert len(list((tmp_path / "latents").glob("*.safetensors"))) >= 2
    plain = load_file(str(tmp_vgen_home / "models" / "plain" / "unet.safetensors"))
    cached = load_file(str(tmp_vgen_home / "models" / "cached" / "unet.safetensors"))
    assert plain.keys() == cached.keys() and all(torch.equal(plain[k], cached[k]) for k in plain)
