"""PVDM networks (vgen/families/pvdm/): latent layout, shapes, sizes, init, gradients, checkpoints, overfitting."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from vgen.config import PVDMConfig, config_from_json, preset
from vgen.errors import VgenError
from vgen.io.checkpoint import load_into, save_network
from vgen.models import build_networks
from vgen.models.layers import count_parameters
from vgen.families.pvdm.autoencoder import PVDMAutoencoder
from vgen.families.pvdm.planes import join_planes, plane_sizes, split_planes
from vgen.families.pvdm.unet import PVDMUNet

# Exact sizes of our networks at the paper's settings; the official code has 62.06M / 132.2M / 528.3M
# (pvdm.md §1.4, §2.2), of which the joint 1-D attentions are 14.6M / 58.3M.
AE_PARAMS = 62_064_399
UNET_S_PARAMS = 132_163_588
UNET_L_PARAMS = 528_273_412
JOINT_ATTN_S, JOINT_ATTN_L = 14_599_680, 58_297_344




def tiny_config(frames: int = 8, resolution: int = 32, num_classes: int = 0) -> PVDMConfig:
    config = preset("pvdm-tiny")
    return PVDMConfig.model_validate({**config.model_dump(), "frames": frames, "resolution": resolution,
                                      "num_classes": num_classes})


def tiny_networks(**kwargs: int) -> tuple[PVDMAutoencoder, PVDMUNet]:
    torch.manual_seed(0)
    nets = build_networks(tiny_config(**kwargs))
    return nets["autoencoder"], nets["unet"]


def randomise_zero_params(module: torch.nn.Module) -> None:
    """Perturb zero-initialised layers so gradients can flow through them."""
    with torch.no_grad():
        for p in module.parameters():
            if not p.any():
                p.normal_(0.0, 0.2)


def video(batch: int, frames: int, resolution: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, frames, resolution, resolution, generator=g) * 2 - 1


# -- latent layout ----------------------------------------------------------------------------------

@pytest.mark.parametrize("frames", [4, 8, 12])
@pytest.mark.parametrize("resolution", [16, 32])
def test_shapes_through_every_network(frames: int, resolution: int) -> None:
    ae, unet = tiny_networks(frames=frames, resolution=resolution)
    x = video(2, frames, resolution)
    s, h = frames, resolution // 4
    expected_length = h * h + s * h + s * h  # H'W' + S·W' + S·H'
    with torch.no_grad():
        z = ae.encode(x)
        recon = ae.decode(z)
        eps = unet(z, torch.tensor([0, 999]), cond=z)
    assert z.shape == (2, 4, expected_length) == ae.latent_shape(tuple(x.shape))
    assert ae.plane_shapes(frames, resolution) == ((4, h, h), (4, s, h), (4, s, h))
    assert recon.shape == x.shape and eps.shape == z.shape
    assert z.abs().max() < 1 and recon.abs().max() < 1  # tanh bottleneck, 2·sigmoid − 1 head


def test_split_join_round_trip_and_plane_order() -> None:
    sizes = plane_sizes(frames=6, resolution=40, patch_size=8)  # S=6, H'=W'=5
    assert sizes.length == 25 + 30 + 30
    z = torch.randn(3, 4, sizes.length)
    xy, yt, xt = split_planes(z, sizes)
    assert (xy.shape, yt.shape, xt.shape) == ((3, 4, 5, 5), (3, 4, 6, 5), (3, 4, 6, 5))
    assert torch.equal(join_planes(xy, yt, xt), z)
    # Row-major: element (t=1, w=2) of yt sits right after the 25 xy entries at 1·W' + 2.
    assert torch.equal(yt[:, :, 1, 2], z[:, :, 25 + 1 * 5 + 2])
    with pytest.raises(ValueError):
        split_planes(torch.randn(1, 4, sizes.length + 1), sizes)


def test_each_projection_collapses_its_own_axis() -> None:
    """Changing token (s, h, w) of the cube changes only z^s[h, w], z^h[s, w] and z^w[s, h]."""
    ae, _ = tiny_networks()
    u = torch.randn(1, 8, 8, 8, ae.cfg.width)
    s0, h0, w0 = 2, 5, 1
    bumped = u.clone()
    bumped[0, s0, h0, w0] += 1.0
    with torch.no_grad():
        before, after = ae.project(u), ae.project(bumped)
    changed = [(a - b).abs().amax(dim=(0, 1)) > 0 for a, b in zip(before, after)]
    for plane, (i, j) in zip(changed, [(h0, w0), (s0, w0), (s0, h0)]):
        expected = torch.zeros_like(plane)
        expected[i, j] = True
        assert torch.equal(plane, expected)


# -- sizes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "unet_params", "joint_params", "official"),
                         [("pvdm-s", UNET_S_PARAMS, JOINT_ATTN_S, 132.2e6), ("pvdm-l", UNET_L_PARAMS, JOINT_ATTN_L, 528.3e6)])
def test_paper_size_parameter_counts(name: str, unet_params: int, joint_params: int, official: float) -> None:
    with torch.device("meta"):
        nets = build_networks(preset(name))
    ae, unet = nets["autoencoder"], nets["unet"]
    joint = sum(count_parameters(m.joint_attn) for m in unet.modules() if hasattr(m, "joint_attn"))
    assert count_parameters(ae) == AE_PARAMS and abs(AE_PARAMS / 62.06e6 - 1) < 0.02
    assert count_parameters(unet) == unet_params and abs(unet_params / official - 1) < 0.02
    assert joint == joint_params
    # Component sizes of the official autoencoder (pvdm.md §1.4).
    assert count_parameters(ae.encoder) + count_parameters(ae.patch_embed) == pytest.approx(26.87e6, rel=0.001)
    assert count_parameters(ae.decoder) == pytest.approx(26.79e6, rel=0.001)
    assert count_parameters(ae.proj_xy.layers) == pytest.approx(2.76e6, rel=0.002)
    assert count_parameters(ae.to_pixel) == 73_731


def test_tiny_preset_is_small() -> None:
    ae, unet = tiny_networks()
    assert count_parameters(ae) + count_parameters(unet) < 3_000_000


def test_geometry_is_validated() -> None:
    for bad in ({"resolution": 30}, {"frames": 7}):  # 30 px is not a multiple of the patch; 7 frames can't halve
        with pytest.raises(VgenError):
            config_from_json(preset("pvdm-tiny").model_copy(update=bad).model_dump_json())
    ae, _ = tiny_networks()
    with pytest.raises(VgenError, match="8×32×32"):
        ae.encode(video(1, 4, 32))
    with pytest.raises(VgenError, match="PVDM latent"):
        ae.decode(torch.zeros(1, 4, 100))


# -- init and gradients -----------------------------------------------------------------------------

def test_unet_output_is_exactly_zero_at_init() -> None:
    _, unet = tiny_networks(num_classes=3)
    with torch.no_grad():
        out = unet(torch.randn(2, 4, 192), torch.tensor([1, 999]), class_labels=torch.tensor([0, 3]))
    assert torch.equal(out, torch.zeros_like(out))


def test_null_condition_is_the_zero_latent_and_labels_default_to_null() -> None:
    _, unet = tiny_networks(num_classes=3)
    randomise_zero_params(unet)
    z, t = torch.randn(2, 4, 192), torch.tensor([5, 600])
    with torch.no_grad():
        base = unet(z, t)
        assert torch.equal(base, unet(z, t, cond=torch.zeros_like(z), class_labels=torch.tensor([3, 3])))
        assert not torch.allclose(base, unet(z, t, cond=torch.randn_like(z)))
        assert not torch.allclose(base, unet(z, t, class_labels=torch.tensor([0, 1])))
        assert torch.allclose(unet(z, torch.tensor(5)), unet(z, torch.tensor([5, 5])))


@pytest.mark.parametrize("which", ["autoencoder", "unet"])
def test_gradients_reach_every_parameter(which: str) -> None:
    ae, unet = tiny_networks(num_classes=3)
    net = ae if which == "autoencoder" else unet
    randomise_zero_params(net)
    if which == "autoencoder":
        out = ae(video(2, 8, 32))
    else:
        out = unet(torch.randn(2, 4, 192), torch.tensor([3, 700]), cond=torch.randn(2, 4, 192),
                   class_labels=torch.tensor([1, 2]))
    (out * torch.randn_like(out)).sum().backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.any()]
    assert not dead, dead


def test_gradient_checkpointing_gives_the_same_gradients() -> None:
    config = tiny_config()
    torch.manual_seed(0)
    plain = PVDMUNet(config)
    randomise_zero_params(plain)
    config.unet.gradient_checkpointing = True
    ckpt = PVDMUNet(config)
    ckpt.load_state_dict(plain.state_dict())
    z, t = torch.randn(2, 4, 192), torch.tensor([3, 700])
    grads = []
    for net in (plain, ckpt):
        net(z, t).square().sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


# -- checkpoints ------------------------------------------------------------------------------------

def test_checkpoint_round_trip_is_bit_exact(tmp_path: Path) -> None:
    config = tiny_config()
    ae, unet = tiny_networks()
    randomise_zero_params(unet)
    x, z, t = video(1, 8, 32), torch.randn(1, 4, 192), torch.tensor([123])
    fresh = build_networks(config)
    for role, net in (("autoencoder", ae), ("unet", unet)):
        save_network(tmp_path / f"{role}.safetensors", net.state_dict(), config, role=role)
        loaded_config, _ = load_into(fresh[role], tmp_path / f"{role}.safetensors", role=role)
        assert loaded_config == config
    with torch.no_grad():
        assert torch.equal(ae(x), fresh["autoencoder"](x))
        assert torch.equal(unet(z, t), fresh["unet"](z, t))


# -- overfitting ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_tiny_autoencoder_overfits_one_clip(make_frames: Callable[..., np.ndarray]) -> None:
    """The pvdm-tiny autoencoder reaches 30 dB PSNR on one smooth moving 8×32² clip within 60 s."""
    torch.manual_seed(0)
    ae = build_networks(preset("pvdm-tiny"))["autoencoder"]
    frames = torch.from_numpy(make_frames(t=8, h=32, w=32, seed=0)).float()
    x = (frames / 127.5 - 1).permute(3, 0, 1, 2)[None]
    opt = torch.optim.Adam(ae.parameters(), lr=3e-3)
    start, best = time.perf_counter(), 0.0
    for _ in range(300):
        recon = ae(x)
        loss = (recon - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        best = max(best, 10 * math.log10(4 / (recon.detach() - x).square().mean().item()))
        if best >= 30 or time.perf_counter() - start > 60:
            break
    assert best >= 30, f"PSNR {best:.1f} dB"


def test_a_class_label_for_an_unconditional_unet_is_a_user_error() -> None:
    networks = build_networks(preset("pvdm-tiny"))
    unet = networks["unet"]
    z = torch.zeros(networks["autoencoder"].latent_shape((1, 3, 8, 32, 32)))
    with pytest.raises(VgenError, match="unconditional"):
        unet(z, torch.tensor([10]), class_labels=torch.tensor([0]))


@pytest.mark.parametrize("head", ["linear", "conv"])
def test_conv_pixel_head_couples_neighbouring_patches_and_linear_does_not(head: str) -> None:
    """A token's features reach the pixels of the next patch only through the conv head."""
    torch.manual_seed(0)
    config = preset("pvdm-tiny")
    config.autoencoder = config.autoencoder.model_copy(update={"pixel_head": head})
    to_pixel = PVDMAutoencoder(config.autoencoder, config.frames, config.resolution).to_pixel
    p, tokens = config.autoencoder.patch_size, config.resolution // config.autoencoder.patch_size
    features = torch.randn(1, config.autoencoder.width, tokens, tokens, requires_grad=True)
    pixels = to_pixel(features)
    assert pixels.shape == (1, 3, config.resolution, config.resolution)
    pixels[0, :, 0, p].sum().backward()  # first pixel of the second patch in row 0
    grad_first_token = features.grad[0, :, 0, 0].abs().sum().item()
    assert (grad_first_token > 0) == (head == "conv")


def test_pvdm_mini_is_a_16_frame_model_with_the_conv_head() -> None:
    config = preset("pvdm-mini")
    assert (config.frames, config.resolution, config.autoencoder.pixel_head) == (16, 32, "conv")
    assert preset("pvdm-s").autoencoder.pixel_head == "linear"
