"""The documented Python API: ``vgen.load_model`` with ``encode``, ``decode`` and ``denoise``."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import vgen
from vgen.errors import VgenError


def test_importing_vgen_pulls_in_no_torch():
    code = "import sys, vgen; assert 'torch' not in sys.modules; print(vgen.__version__)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


def test_load_model_encode_decode_denoise_on_the_bundled_model():
    model = vgen.load_model("pvdm-mini-bouncing", device="cpu")
    video = torch.rand(1, 3, model.clip_frames, model.resolution, model.resolution) * 2 - 1
    latent = model.encode(video)
    assert tuple(latent.shape[1:]) == model.latent_shape()
    assert model.decode(latent).shape == video.shape
    x_t = torch.randn_like(latent)
    with_cond, null = model.denoise(x_t, 500, cond=latent), model.denoise(x_t, torch.tensor([500]))
    assert with_cond.shape == null.shape == latent.shape
    assert not torch.allclose(with_cond, null)  # the previous-clip condition reaches the network
    assert torch.equal(null, model.denoise(x_t, 500, cond=torch.zeros_like(latent)))  # None = the null (zero) latent


def test_denoise_refuses_a_clip_condition_where_the_family_has_none():
    from vgen.config import preset
    from vgen.models import build_networks
    from vgen.pipelines.model import LoadedModel

    model = LoadedModel(preset("vdm-tiny"), build_networks(preset("vdm-tiny")), "cpu")
    x = torch.randn(1, *model.latent_shape())
    assert model.denoise(x, 10).shape == x.shape
    with pytest.raises(VgenError, match="take no clip condition"):
        model.denoise(x, 10, cond=x)
