"""The shared factorised space-time blocks (vgen/models/unet3d.py, relative_attention.py) used by VDM and LVDM."""

from __future__ import annotations

import math

import pytest
import torch

from vgen.models.relative_attention import ShawRelativeAttention
from vgen.models.unet3d import (
    ResBlock3D, SpaceTimeUNet, SpatialAttention, TemporalAttention, UNet3DSpec, image_video_mask,
)


def randomise_zero_params(module: torch.nn.Module) -> None:
    """Give zero-initialised parameters (output heads, attention projections) random values so signal flows."""
    with torch.no_grad():
        for p in module.parameters():
            if not p.any():
                p.normal_(0.0, 0.2)


def reference_shaw_attention(q, k, v, rel_k, rel_v, max_rel, mask=None):
    """Shaw et al. (2018) eqs. 3-4 written out with an explicit softmax."""
    t, d = q.shape[-2], q.shape[-1]
    pos = torch.arange(t)
    index = (pos[None, :] - pos[:, None]).clamp(-max_rel, max_rel) + max_rel
    logits = (torch.einsum("nhid,nhjd->nhij", q, k) + torch.einsum("nhid,ijd->nhij", q, rel_k[index])) / math.sqrt(d)
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    weights = logits.softmax(-1)
    return weights @ v + torch.einsum("nhij,ijd->nhid", weights, rel_v[index])


@pytest.mark.parametrize("frames,max_rel,image_frames", [(6, 2, 0), (5, 8, 2), (1, 3, 0)])
def test_shaw_attention_matches_explicit_formula(frames: int, max_rel: int, image_frames: int) -> None:
    torch.manual_seed(0)
    attention = ShawRelativeAttention(head_dim=8, max_relative_position=max_rel)
    q, k, v = (torch.randn(3, 2, frames, 8) for _ in range(3))
    mask = image_video_mask(frames, image_frames)
    expected = reference_shaw_attention(q, k, v, attention.rel_k, attention.rel_v, max_rel, mask)
    torch.testing.assert_close(attention(q, k, v, mask), expected, atol=1e-5, rtol=1e-5)


def test_relative_index_is_clipped_distance() -> None:
    index = ShawRelativeAttention(head_dim=4, max_relative_position=2).relative_index(5, torch.device("cpu"))
    # Row i, column j holds clip(j - i, -2, 2) + 2.
    assert index[0].tolist() == [2, 3, 4, 4, 4]
    assert index[4].tolist() == [0, 0, 0, 1, 2]
    assert index.diagonal().eq(2).all()


def test_image_video_mask_is_block_diagonal() -> None:
    mask = image_video_mask(6, 2)
    assert mask[:4, :4].all()
    assert mask[4:, 4:].equal(torch.eye(2, dtype=torch.bool))
    assert not mask[:4, 4:].any() and not mask[4:, :4].any()
    assert image_video_mask(6, 0) is None


def test_temporal_attention_is_permutation_sensitive_only_through_positions() -> None:
    torch.manual_seed(0)
    block = TemporalAttention(channels=16, heads=2, max_relative_position=4).eval()
    randomise_zero_params(block)
    x = torch.randn(2, 16, 6, 3, 3)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        permuted_out = block(x[:, :, perm])
        assert not torch.allclose(permuted_out, block(x)[:, :, perm], atol=1e-4)
        # Without the relative-position tables attention is permutation-equivariant.
        block.attention.rel_k.zero_()
        block.attention.rel_v.zero_()
        torch.testing.assert_close(block(x[:, :, perm]), block(x)[:, :, perm], atol=1e-5, rtol=1e-5)


def test_temporal_attention_mixes_frames_but_mask_isolates_them() -> None:
    torch.manual_seed(0)
    block = TemporalAttention(channels=16, heads=2, max_relative_position=4).eval()
    randomise_zero_params(block)
    x = torch.randn(1, 16, 5, 4, 4)
    x2 = x.clone()
    x2[:, :, 4] += torch.randn_like(x2[:, :, 4])
    with torch.no_grad():
        assert not torch.allclose(block(x)[:, :, :4], block(x2)[:, :, :4])
        mask = image_video_mask(5, 1)
        torch.testing.assert_close(block(x, mask)[:, :, :4], block(x2, mask)[:, :, :4], atol=0, rtol=0)


def test_spatial_attention_never_mixes_frames() -> None:
    torch.manual_seed(0)
    block = SpatialAttention(channels=16, heads=2).eval()
    randomise_zero_params(block)
    x = torch.randn(2, 16, 4, 5, 5)
    for k in range(4):
        x2 = x.clone()
        x2[:, :, k] += torch.randn_like(x2[:, :, k])
        with torch.no_grad():
            out, out2 = block(x), block(x2)
        others = [f for f in range(4) if f != k]
        assert torch.equal(out[:, :, others], out2[:, :, others])
        assert not torch.allclose(out[:, :, k], out2[:, :, k])


def test_resblock_applies_per_frame_embedding_to_its_frame_only() -> None:
    torch.manual_seed(0)
    block = ResBlock3D(8, 16, emb_dim=12).eval()
    randomise_zero_params(block)
    x, emb = torch.randn(2, 8, 3, 4, 4), torch.randn(2, 3, 12)
    emb2 = emb.clone()
    emb2[:, 1] += 1.0
    with torch.no_grad():
        out, out2 = block(x, emb), block(x, emb2)
    assert out.shape == (2, 16, 3, 4, 4)
    assert torch.equal(out[:, :, [0, 2]], out2[:, :, [0, 2]])
    assert not torch.allclose(out[:, :, 1], out2[:, :, 1])


def test_gradient_checkpointing_matches_plain_backward() -> None:
    spec = dict(in_channels=3, out_channels=3, model_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                attention_levels=(1,), emb_dim=16, max_relative_position=4, head_dim=4)
    torch.manual_seed(0)
    plain = SpaceTimeUNet(UNet3DSpec(**spec))
    randomise_zero_params(plain)
    checkpointed = SpaceTimeUNet(UNet3DSpec(**spec, gradient_checkpointing=True))
    checkpointed.load_state_dict(plain.state_dict())
    x, emb = torch.randn(1, 3, 3, 8, 8), torch.randn(1, 16)
    plain(x, emb).square().sum().backward()
    checkpointed(x, emb).square().sum().backward()
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(q.grad, p.grad, msg=name)
