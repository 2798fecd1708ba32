"""(2+1)D layers and the inflatable UNet (vgen/models/inflated.py): a freshly inflated layer or UNet computes exactly
what the 2D one computes on each frame, for any mixing factor α; trained temporal layers connect the frames."""

from __future__ import annotations

import pytest
import torch

from vgen.errors import VgenError
from vgen.models.inflated import (
    Conv2Plus1D, InflatedResBlock, InflatedSpec, InflatedUNet, SpaceTimeAttention, TemporalConv, TemporalMix,
)

FRAMES = 5


def spec(temporal: bool, **update: object) -> InflatedSpec:
    values = dict(in_channels=3, out_channels=3, model_channels=16, channel_mult=(1, 2), num_res_blocks=1,
                  attention_levels=(1,), head_dim=8, temporal=temporal, max_relative_position=4)
    values.update(update)
    return InflatedSpec(**values)  # type: ignore[arg-type]


def randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Random values for every parameter (zero-initialised heads included), as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def random_alphas(module: torch.nn.Module) -> None:
    """Mixing factors away from their initial ½: exactness must not depend on α."""
    with torch.no_grad():
        for i, mix in enumerate(m for m in module.modules() if isinstance(m, TemporalMix)):
            mix.alpha_logit.fill_(-2.0 + 0.7 * i)


def folded(batch: int = 2, channels: int = 16, size: int = 8, seed: int = 1) -> torch.Tensor:
    """(B·T, C, H, W): frames folded into the batch."""
    return torch.randn(batch * FRAMES, channels, size, size, generator=torch.Generator().manual_seed(seed))


def inflated_copy(layer_2d: torch.nn.Module, layer_3d: torch.nn.Module) -> torch.nn.Module:
    """``layer_3d`` with ``layer_2d``'s weights in its spatial part (its temporal part untouched)."""
    missing, unexpected = layer_3d.load_state_dict(layer_2d.state_dict(), strict=False)
    assert not unexpected and missing and all("temporal." in k for k in missing)
    return layer_3d


def test_temporal_conv_starts_as_the_identity():
    x = folded()
    assert torch.equal(TemporalConv(16)(x, FRAMES), x)


def test_mixing_factor_starts_at_one_half():
    mix = TemporalMix(TemporalConv(4))
    assert mix.alpha.item() == 0.5


@pytest.mark.parametrize("zero", [False, True])
def test_conv_2plus1d_inflated_equals_2d(zero: bool):
    conv_2d = Conv2Plus1D(16, 8, temporal=False, zero=zero)
    randomise(conv_2d)
    conv_3d = inflated_copy(conv_2d, Conv2Plus1D(16, 8, temporal=True))
    random_alphas(conv_3d)
    x = folded()
    assert torch.equal(conv_3d(x, FRAMES), conv_2d(x, FRAMES))


def test_attention_inflated_equals_2d():
    attention_2d = SpaceTimeAttention(16, heads=2, temporal=False, max_relative_position=4)
    randomise(attention_2d)
    attention_3d = inflated_copy(attention_2d, SpaceTimeAttention(16, heads=2, temporal=True, max_relative_position=4))
    random_alphas(attention_3d)
    x = folded()
    assert torch.equal(attention_3d(x, FRAMES), attention_2d(x, FRAMES))


def test_resblock_inflated_equals_2d():
    block_2d = InflatedResBlock(16, 32, emb_dim=12, dropout=0.0, temporal=False)
    randomise(block_2d)
    block_3d = inflated_copy(block_2d, InflatedResBlock(16, 32, emb_dim=12, dropout=0.0, temporal=True))
    random_alphas(block_3d)
    x, emb = folded(), torch.randn(2 * FRAMES, 12)
    assert torch.equal(block_3d(x, emb, FRAMES), block_2d(x, emb, FRAMES))


def trained_image_unet(**update: object) -> InflatedUNet:
    unet = InflatedUNet(spec(False, **update))
    randomise(unet)
    return unet


def video(batch: int = 2, seed: int = 3) -> torch.Tensor:
    return torch.randn(batch, 3, FRAMES, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_freshly_inflated_unet_is_the_image_unet_bit_for_bit():
    image = trained_image_unet()
    inflated = InflatedUNet(spec(True))
    inflated.load_image_weights(image.state_dict())
    random_alphas(inflated)
    x, t = video(), torch.tensor([3, 700])
    with torch.no_grad():
        assert torch.equal(inflated(x, t), image(x, t))


def test_image_unet_denoises_each_frame_on_its_own():
    image = trained_image_unet()
    x, t = video(), torch.tensor([3, 700])
    with torch.no_grad():
        whole = image(x, t)
        per_frame = torch.cat([image(x[:, :, i:i + 1], t) for i in range(FRAMES)], dim=2)
    torch.testing.assert_close(whole, per_frame, rtol=1e-5, atol=1e-5)


def test_trained_temporal_layers_connect_frames_and_the_image_model_never_does():
    image = trained_image_unet()
    inflated = InflatedUNet(spec(True))
    inflated.load_image_weights(image.state_dict())
    with torch.no_grad():
        for p in inflated.temporal_parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.2)
    x, t = video(), torch.tensor([3, 700])
    changed = x.clone()
    changed[:, :, 0] += 1.0  # only frame 0 changes
    with torch.no_grad():
        assert torch.equal(image(x, t)[:, :, 1:], image(changed, t)[:, :, 1:])
        assert not torch.allclose(inflated(x, t)[:, :, 1:], inflated(changed, t)[:, :, 1:])


def test_temporal_parameters_are_exactly_the_inserted_layers():
    image, inflated = InflatedUNet(spec(False)), InflatedUNet(spec(True))
    assert list(image.temporal_parameters()) == []
    temporal = {id(p) for p in inflated.temporal_parameters()}
    spatial = [name for name, p in inflated.named_parameters() if id(p) not in temporal]
    assert sorted(spatial) == sorted(name for name, _ in image.named_parameters())
    assert all(mix.alpha.item() == 0.5 for mix in inflated.temporal_mixes())
    assert len(list(inflated.temporal_mixes())) > 0


def test_load_image_weights_refuses_another_architecture():
    other = InflatedUNet(spec(False, model_channels=8))
    with pytest.raises(VgenError, match="does not fit this network's spatial layers") as info:
        InflatedUNet(spec(True)).load_image_weights(other.state_dict())
    assert "\n" not in str(info.value)


def test_class_labels_condition_a_class_conditional_unet_only():
    conditional = trained_image_unet(num_classes=2)
    x, t = video(1), torch.tensor([500])
    with torch.no_grad():
        assert not torch.equal(conditional(x, t, class_labels=torch.tensor([0])),
                               conditional(x, t, class_labels=torch.tensor([1])))
    with pytest.raises(VgenError, match="unconditional"):
        trained_image_unet()(x, t, class_labels=torch.tensor([0]))


def test_frame_size_must_fit_the_downsampling():
    with pytest.raises(VgenError, match="not divisible by 2"):
        InflatedUNet(spec(True))(torch.zeros(1, 3, 2, 15, 15), torch.tensor([1]))
