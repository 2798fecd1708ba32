"""VDM 3D UNet (vgen/models/vdm.py): shapes, init, conditioning, joint image-video masking, sizes, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vgen.config import preset
from vgen.families.vdm.config import VDMUNetConfig
from vgen.errors import VgenError
from vgen.io.checkpoint import load_into, save_network
from vgen.models import build_networks
from vgen.models.layers import count_parameters
from vgen.families.vdm.unet import VDMUNet

VDM_UNET_PARAMS = 291_653_763


def randomise_zero_params(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            if not p.any():
                p.normal_(0.0, 0.2)


def tiny_unet(num_classes: int = 0) -> VDMUNet:
    torch.manual_seed(0)
    config = preset("vdm-tiny")
    config.num_classes = num_classes
    return build_networks(config)["unet"].eval()


@pytest.mark.parametrize("frames", [1, 4, 8])
@pytest.mark.parametrize("resolution", [16, 32])
def test_output_shape_matches_input(frames: int, resolution: int) -> None:
    unet = tiny_unet()
    x_t = torch.randn(2, 3, frames, resolution, resolution)
    mask = torch.zeros(2, 1, frames, 1, 1)
    mask[:, :, 0] = 1
    with torch.no_grad():
        out = unet(x_t, torch.tensor([10, 500]), known=torch.randn_like(x_t), mask=mask)
    assert out.shape == x_t.shape


def test_zero_initialised_head_gives_zero_output() -> None:
    unet = tiny_unet(num_classes=3)
    with torch.no_grad():
        out = unet(torch.randn(2, 3, 4, 16, 16), torch.tensor([1, 999]), class_labels=torch.tensor([0, 3]))
    assert torch.equal(out, torch.zeros_like(out))


def test_gradients_reach_every_parameter() -> None:
    unet = tiny_unet(num_classes=3).train()
    randomise_zero_params(unet)
    x_t = torch.randn(2, 3, 6, 16, 16)
    mask = torch.zeros(2, 1, 6, 1, 1)
    mask[:, :, :2] = 1
    out = unet(x_t, torch.tensor([3, 700]), known=torch.randn_like(x_t), mask=mask,
               class_labels=torch.tensor([1, 3]), image_frames=2)
    out.square().mean().backward()
    for name, p in unet.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_appended_images_and_video_never_see_each_other() -> None:
    unet = tiny_unet()
    randomise_zero_params(unet)
    x_t = torch.randn(1, 3, 7, 16, 16)  # 5 video frames + 2 independent images
    t = torch.tensor([400])
    perturbed_image, perturbed_video = x_t.clone(), x_t.clone()
    perturbed_image[:, :, 5] += torch.randn_like(x_t[:, :, 5])
    perturbed_video[:, :, 1] += torch.randn_like(x_t[:, :, 1])
    with torch.no_grad():
        out = unet(x_t, t, image_frames=2)
        out_image = unet(perturbed_image, t, image_frames=2)
        out_video = unet(perturbed_video, t, image_frames=2)
        unmasked = unet(perturbed_image, t)
    assert torch.equal(out[:, :, [0, 1, 2, 3, 4, 6]], out_image[:, :, [0, 1, 2, 3, 4, 6]])
    assert not torch.allclose(out[:, :, 5], out_image[:, :, 5])
    assert torch.equal(out[:, :, 5:], out_video[:, :, 5:])
    assert not torch.allclose(out[:, :, [0, 2, 3, 4]], out_video[:, :, [0, 2, 3, 4]])
    # Without the mask the video does see the image frame.
    assert not torch.allclose(out[:, :, :5], unmasked[:, :, :5])


def test_known_frames_enter_only_where_masked() -> None:
    unet = tiny_unet()
    randomise_zero_params(unet)
    x_t, known = torch.randn(1, 3, 4, 16, 16), torch.randn(1, 3, 4, 16, 16)
    mask = torch.zeros(1, 1, 4, 1, 1)
    mask[:, :, 0] = 1
    changed_unmasked, changed_masked = known.clone(), known.clone()
    changed_unmasked[:, :, 2] += 1.0
    changed_masked[:, :, 0] += 1.0
    t = torch.tensor([250])
    with torch.no_grad():
        out = unet(x_t, t, known=known, mask=mask)
        assert torch.equal(out, unet(x_t, t, known=changed_unmasked, mask=mask))
        assert not torch.allclose(out, unet(x_t, t, known=changed_masked, mask=mask))
        assert not torch.allclose(out, unet(x_t, t))


def test_class_label_conditioning_and_null_label() -> None:
    unet = tiny_unet(num_classes=3)
    randomise_zero_params(unet)
    x_t, t = torch.randn(2, 3, 2, 16, 16), torch.tensor([100, 100])
    with torch.no_grad():
        null = unet(x_t, t, class_labels=torch.tensor([3, 3]))
        assert torch.equal(null, unet(x_t, t))
        assert not torch.allclose(null, unet(x_t, t, class_labels=torch.tensor([0, 1])))


def test_bad_inputs_raise_one_line_errors() -> None:
    unet = tiny_unet()
    x_t, t = torch.randn(1, 3, 4, 16, 16), torch.tensor([5])
    with pytest.raises(VgenError, match="mask has shape"):
        unet(x_t, t, mask=torch.ones(1, 4))
    with pytest.raises(VgenError, match="without a mask"):
        unet(x_t, t, known=x_t)
    with pytest.raises(VgenError, match="unconditional"):
        unet(x_t, t, class_labels=torch.tensor([0]))
    with pytest.raises(VgenError, match="image_frames"):
        unet(x_t, t, image_frames=5)
    with pytest.raises(VgenError, match="not divisible by 2"):
        unet(torch.randn(1, 3, 4, 15, 15), t)


def test_plain_input_variant_takes_only_x_t() -> None:
    config = preset("vdm-tiny")
    config.unet.conditional_frames = False
    unet = build_networks(config)["unet"]
    assert unet.backbone.input_conv.in_channels == 3
    x_t = torch.randn(1, 3, 2, 16, 16)
    assert unet(x_t, torch.tensor([9])).shape == x_t.shape
    with pytest.raises(VgenError, match="no known-frame inputs"):
        unet(x_t, torch.tensor([9]), mask=torch.ones(1, 1, 2, 1, 1))


def test_config_rejects_head_dim_that_does_not_divide_channels() -> None:
    with pytest.raises(ValueError, match="head_dim 64 must divide"):
        VDMUNetConfig(model_channels=96, head_dim=64)


def test_paper_preset_parameter_count() -> None:
    with torch.device("meta"):
        unet = build_networks(preset("vdm"))["unet"]
    assert count_parameters(unet) == VDM_UNET_PARAMS


def test_checkpoint_round_trip_is_bit_exact(tmp_path: Path) -> None:
    unet = tiny_unet(num_classes=2)
    randomise_zero_params(unet)
    config = preset("vdm-tiny")
    config.num_classes = 2
    save_network(tmp_path / "unet.safetensors", unet.state_dict(), config, role="unet")
    torch.manual_seed(1)
    restored = build_networks(config)["unet"].eval()
    loaded_config, _ = load_into(restored, tmp_path / "unet.safetensors", role="unet")
    assert loaded_config == config
    for (name, a), b in zip(unet.state_dict().items(), restored.state_dict().values()):
        assert torch.equal(a, b), name
    x_t, t, label = torch.randn(1, 3, 3, 16, 16), torch.tensor([42]), torch.tensor([1])
    with torch.no_grad():
        assert torch.equal(unet(x_t, t, class_labels=label), restored(x_t, t, class_labels=label))
