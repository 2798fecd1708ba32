"""PVDM TimeSformer attention and rotary embeddings (vgen/models/pvdm_autoencoder.py, rope.py)."""

from __future__ import annotations


import pytest
import torch

from vgen.families.pvdm.autoencoder import SpaceAttention, TimeAttention
from vgen.families.pvdm.unet import map_planes
from vgen.models.rope import apply_rope, rope_1d, rope_axial

B, S, H, W, D = 2, 6, 4, 4, 32




def tokens(seed: int = 0) -> torch.Tensor:
    return torch.randn(B, S, H * W, D, generator=torch.Generator().manual_seed(seed))


def tables(device: torch.device = torch.device("cpu")) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    return rope_1d(S, 8, device=device), rope_axial(H, W, 8, device=device)


def test_spatial_attention_never_mixes_frames() -> None:
    torch.manual_seed(0)
    attn = SpaceAttention(D, heads=4, head_dim=8)
    _, rope_space = tables()
    x = tokens()
    k = 3
    bumped = x.clone()
    bumped[:, k] += torch.randn_like(bumped[:, k])
    with torch.no_grad():
        out, out_bumped = attn(x, rope_space), attn(bumped, rope_space)
    others = [s for s in range(S) if s != k]
    assert torch.equal(out[:, others], out_bumped[:, others])
    assert not torch.allclose(out[:, k], out_bumped[:, k])


def test_temporal_attention_mixes_frames_but_not_locations() -> None:
    torch.manual_seed(0)
    attn = TimeAttention(D, heads=4, head_dim=8)
    rope_time, _ = tables()
    x = tokens()
    bumped = x.clone()
    bumped[:, 0, 5] += 1.0  # frame 0, patch 5
    with torch.no_grad():
        diff = (attn(x, rope_time) - attn(bumped, rope_time)).abs().amax(dim=(0, 3))  # (S, N)
    assert (diff[:, 5] > 0).all()  # every frame at patch 5 sees the change
    assert torch.equal(diff[:, [n for n in range(H * W) if n != 5]], torch.zeros(S, H * W - 1))


def test_temporal_attention_depends_on_frame_order() -> None:
    """Without RoPE, attention over frames is permutation-equivariant; RoPE makes it order-aware."""
    torch.manual_seed(0)
    attn = TimeAttention(D, heads=4, head_dim=8)
    rope_time, _ = tables()
    x = tokens()
    perm = torch.tensor([2, 0, 5, 1, 4, 3])
    no_rope = (torch.ones(S, 4), torch.zeros(S, 4))  # the identity rotation
    with torch.no_grad():
        assert torch.allclose(attn(x[:, perm], no_rope), attn(x, no_rope)[:, perm], atol=1e-6)
        assert not torch.allclose(attn(x[:, perm], rope_time), attn(x, rope_time)[:, perm], atol=1e-3)


def test_rope_scores_depend_only_on_relative_position() -> None:
    """RoFormer eq. 16: <R_m q, R_n k> is a function of m − n."""
    q, k = torch.randn(8), torch.randn(8)
    cos, sin = rope_1d(12, 8, device=torch.device("cpu"))
    qs, ks = apply_rope(q.expand(12, 8), cos, sin), apply_rope(k.expand(12, 8), cos, sin)
    scores = qs @ ks.T
    assert torch.allclose(scores[2, 5], scores[6, 9], atol=1e-5)
    assert torch.allclose(scores[0, 7], scores[4, 11], atol=1e-5)
    assert not torch.allclose(scores[2, 5], scores[2, 6], atol=1e-3)
    assert torch.allclose(qs.norm(dim=-1), q.norm().expand(12))  # rotations keep norms


def test_axial_rope_encodes_rows_and_columns_separately() -> None:
    cos, sin = rope_axial(3, 5, 8, device=torch.device("cpu"))
    assert cos.shape == sin.shape == (15, 4)
    grid = cos.view(3, 5, 4)
    assert torch.equal(grid[:, 0, :2], grid[:, 4, :2])  # first half: rows only
    assert torch.equal(grid[0, :, 2:], grid[2, :, 2:])  # second half: columns only
    with pytest.raises(ValueError):
        rope_axial(3, 5, 6, device=torch.device("cpu"))


def test_map_planes_shares_weights_across_shapes() -> None:
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    planes = [torch.randn(2, 2, 4, 4), torch.randn(2, 2, 6, 4), torch.randn(2, 2, 6, 5)]
    out = map_planes(lambda x, _: conv(x), planes, torch.zeros(2, 1))
    for p, o in zip(planes, out):
        assert torch.allclose(o, conv(p), atol=1e-6)
