"""LVDM latent 3D UNet (vgen/models/lvdm.py): shapes, init, per-frame noise-level embedding, sizes, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vgen.config import preset
from vgen.errors import VgenError
from vgen.io.checkpoint import load_into, save_network
from vgen.models import build_networks
from vgen.models.layers import count_parameters
from vgen.families.lvdm.unet import LVDMUNet

LVDM_UNET_PARAMS = 550_237_828
LVDM_AUTOENCODER_PARAMS = 19_446_759


def randomise_zero_params(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            if not p.any():
                p.normal_(0.0, 0.2)


def tiny_unet(num_classes: int = 0) -> LVDMUNet:
    torch.manual_seed(0)
    config = preset("lvdm-tiny")
    config.num_classes = num_classes
    return build_networks(config)["unet"].eval()


def first_frame_mask(batch: int, frames: int) -> torch.Tensor:
    mask = torch.zeros(batch, 1, frames, 1, 1)
    mask[:, :, 0] = 1
    return mask


@pytest.mark.parametrize("frames,size", [(1, 8), (4, 8), (5, 4), (8, 16)])
def test_output_shape_matches_input(frames: int, size: int) -> None:
    unet = tiny_unet()
    z_t = torch.randn(2, 4, frames, size, size)
    with torch.no_grad():
        out = unet(z_t, torch.tensor([0, 999]), mask=first_frame_mask(2, frames), s=torch.tensor([0, 249]))
    assert out.shape == z_t.shape


def test_zero_initialised_head_gives_zero_output() -> None:
    unet = tiny_unet()
    with torch.no_grad():
        out = unet(torch.randn(2, 4, 4, 8, 8), torch.tensor([5, 500]), mask=first_frame_mask(2, 4))
    assert torch.equal(out, torch.zeros_like(out))


def test_gradients_reach_every_parameter() -> None:
    unet = tiny_unet(num_classes=2).train()
    randomise_zero_params(unet)
    z_t, t, mask = torch.randn(2, 4, 4, 8, 8), torch.tensor([10, 900]), first_frame_mask(2, 4)
    labels = torch.tensor([0, 2])
    loss = unet(z_t, t, mask=mask, s=torch.tensor([3, 100]), class_labels=labels).square().mean()
    loss = loss + unet(z_t, t, mask=mask, s=None, class_labels=labels).square().mean()
    loss.backward()
    for name, p in unet.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_noise_level_embedding_is_per_frame() -> None:
    unet = tiny_unet()
    randomise_zero_params(unet)
    z_t, t = torch.randn(1, 4, 4, 8, 8), torch.tensor([600])
    mask = first_frame_mask(1, 4)
    with torch.no_grad():
        s_low = unet(z_t, t, mask=mask, s=torch.tensor([10]))
        s_high = unet(z_t, t, mask=mask, s=torch.tensor([200]))
        s_zero = unet(z_t, t, mask=mask, s=torch.tensor([0]))
        s_null = unet(z_t, t, mask=mask, s=None)
        no_cond = [unet(z_t, t, s=torch.tensor([level])) for level in (0, 200)]
        no_cond_null = unet(z_t, t)
    assert not torch.allclose(s_low[:, :, 0], s_high[:, :, 0])
    assert not torch.allclose(s_zero, s_null)
    # Without conditioning frames, s has no effect at all.
    assert torch.equal(no_cond[0], no_cond[1]) and torch.equal(no_cond[0], no_cond_null)


def test_mask_channel_changes_the_prediction() -> None:
    unet = tiny_unet()
    randomise_zero_params(unet)
    z_t, t = torch.randn(1, 4, 4, 8, 8), torch.tensor([600])
    with torch.no_grad():
        # Same embedding on every frame (s-embedding = t-embedding), so only the mask channel differs.
        masked = unet(z_t, t, mask=first_frame_mask(1, 4), s=t)
        assert not torch.allclose(masked, unet(z_t, t))


def test_class_labels_and_bad_inputs() -> None:
    unet = tiny_unet(num_classes=2)
    randomise_zero_params(unet)
    z_t, t = torch.randn(1, 4, 4, 8, 8), torch.tensor([50])
    with torch.no_grad():
        assert torch.equal(unet(z_t, t), unet(z_t, t, class_labels=torch.tensor([2])))
        assert not torch.allclose(unet(z_t, t), unet(z_t, t, class_labels=torch.tensor([0])))
    with pytest.raises(VgenError, match="mask has shape"):
        unet(z_t, t, mask=torch.ones(1, 1, 3, 1, 1))
    with pytest.raises(VgenError, match="unconditional"):
        tiny_unet()(z_t, t, class_labels=torch.tensor([0]))


def test_paper_preset_parameter_counts() -> None:
    with torch.device("meta"):
        nets = build_networks(preset("lvdm"))
    assert count_parameters(nets["unet"]) == LVDM_UNET_PARAMS
    assert count_parameters(nets["autoencoder"]) == LVDM_AUTOENCODER_PARAMS


def test_checkpoint_round_trip_is_bit_exact(tmp_path: Path) -> None:
    config = preset("lvdm-tiny")
    torch.manual_seed(0)
    nets = build_networks(config)
    randomise_zero_params(nets["unet"])
    nets["autoencoder"].fit_latent_stats(torch.randn(64) * 3 + 1)
    for role, net in nets.items():
        save_network(tmp_path / f"{role}.safetensors", net.state_dict(), config, role=role)
    torch.manual_seed(1)
    restored = build_networks(config)
    for role, net in restored.items():
        load_into(net, tmp_path / f"{role}.safetensors", role=role)
        for (name, a), b in zip(nets[role].state_dict().items(), net.state_dict().values()):
            assert torch.equal(a, b), f"{role}.{name}"
    video = torch.rand(1, 3, 8, 32, 32) * 2 - 1
    with torch.no_grad():
        latent = restored["autoencoder"].encode(video)
        assert torch.equal(latent, nets["autoencoder"].encode(video))
        t = torch.tensor([77])
        assert torch.equal(restored["unet"].eval()(latent, t), nets["unet"].eval()(latent, t))
