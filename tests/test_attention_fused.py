"""Every attention of the PVDM, VDM and LVDM networks runs PyTorch's fused CPU kernel, unchanged in value.

``scaled_dot_product_attention`` silently falls back to its slow unfused "math" path unless the inputs satisfy the
fused CPU (flash) kernel's checks; the ones our layers can break are, from torch's ``use_flash_attention_cpp``
(aten/src/ATen/native/transformers/sdp_utils_cpp.cpp) and confirmed with the profiler on torch 2.13 CPU:
4-D q/k/v, stride 1 along the last (head-channel) axis, and one head width for q, k and v. The VDM/LVDM temporal
(relative-position) attention needs its attention weights, which no fused kernel returns, so it writes its softmax out
instead of calling SDPA; the profiler test checks that no network reaches SDPA's unfused path.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.profiler import ProfilerActivity, profile

from vgen.config import preset
from vgen.models import build_networks
from vgen.models.layers import multihead_attention
from vgen.families.pvdm.unet import AttentionBlock
from vgen.models.relative_attention import ShawRelativeAttention
from vgen.models.unet3d import image_video_mask

SdpaCall = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def randomise(module: nn.Module, seed: int = 0) -> None:
    """Random weights everywhere, including the zero-initialised output heads, so every path carries signal."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.2)


def old_attention_block(block: AttentionBlock, x: torch.Tensor) -> torch.Tensor:
    """The plane UNet's attention as computed before the layout fix: conv outputs rearranged to (B, L, C) views."""
    q, k, v = rearrange(block.qkv(block.norm(x)), "b c l -> b l c").chunk(3, dim=-1)
    return x + block.proj(rearrange(multihead_attention(q, k, v, block.heads), "b l c -> b c l"))


def old_shaw_attention(attn: ShawRelativeAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       mask: torch.Tensor | None) -> torch.Tensor:
    """The relative attention as computed before: one SDPA call with q·R_K as a float mask and the attention weights
    recovered by appending an identity block to the values (this runs SDPA's unfused path)."""
    length, head_dim = q.shape[-2], q.shape[-1]
    index = attn.relative_index(length, q.device)
    bias = torch.einsum("nhid,ijd->nhij", q, attn.rel_k[index]) / math.sqrt(head_dim)
    if mask is not None:
        bias = bias.masked_fill(~mask, float("-inf"))
    eye = torch.eye(length).expand(*v.shape[:-1], length)
    out, weights = F.scaled_dot_product_attention(q, k, torch.cat([v, eye], dim=-1), attn_mask=bias).split(
        [head_dim, length], dim=-1)
    return out + torch.einsum("nhij,ijd->nhid", weights, attn.rel_v[index])


def test_plane_attention_equals_the_old_layout_and_keeps_its_parameters() -> None:
    torch.manual_seed(0)
    block = AttentionBlock(64, heads=4)
    randomise(block)
    assert sorted(block.state_dict()) == [
        "norm.bias", "norm.weight", "proj.bias", "proj.weight", "qkv.bias", "qkv.weight"]
    assert block.qkv.weight.shape == (192, 64, 1) and block.proj.weight.shape == (64, 64, 1)
    x = torch.randn(2, 64, 300)
    with torch.no_grad():
        diff = (block(x) - old_attention_block(block, x)).abs().max().item()
    assert diff < 1e-5


@pytest.mark.parametrize("image_frames", [0, 3])
def test_relative_attention_equals_the_old_sdpa_computation(image_frames: int) -> None:
    torch.manual_seed(0)
    attn = ShawRelativeAttention(head_dim=16, max_relative_position=3)
    q, k, v = (torch.randn(5, 2, 8, 16) for _ in range(3))
    mask = image_video_mask(8, image_frames)
    with torch.no_grad():
        diff = (attn(q, k, v, mask) - old_shaw_attention(attn, q, k, v, mask)).abs().max().item()
    assert diff < 1e-5


def forwards() -> dict[str, Callable[[], Callable[[], torch.Tensor]]]:
    """Per network, a builder returning a no-argument forward on random weights and inputs (tiny presets)."""

    def pvdm_unet() -> Callable[[], torch.Tensor]:
        nets = build_networks(preset("pvdm-tiny"))
        randomise(nets["unet"])
        z = nets["autoencoder"].encode(torch.randn(1, 3, 8, 32, 32))
        return lambda: nets["unet"](z, torch.tensor([5]), cond=z)

    def pvdm_autoencoder() -> Callable[[], torch.Tensor]:
        autoencoder = build_networks(preset("pvdm-tiny"))["autoencoder"]
        return lambda: autoencoder(torch.randn(1, 3, 8, 32, 32))

    def vdm_unet() -> Callable[[], torch.Tensor]:
        unet = build_networks(preset("vdm-tiny"))["unet"]
        randomise(unet)
        return lambda: unet(torch.randn(1, 3, 6, 16, 16), torch.tensor([5]), image_frames=2)

    def lvdm_unet() -> Callable[[], torch.Tensor]:
        unet = build_networks(preset("lvdm-tiny"))["unet"]
        randomise(unet)
        return lambda: unet(torch.randn(1, 4, 4, 8, 8), torch.tensor([5]))

    return {"pvdm-unet": pvdm_unet, "pvdm-autoencoder": pvdm_autoencoder, "vdm-unet": vdm_unet,
            "lvdm-unet": lvdm_unet}


@pytest.mark.parametrize("network", list(forwards()))
def test_every_attention_call_meets_the_fused_kernel_conditions(network: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    forward = forwards()[network]()
    calls: list[SdpaCall] = []
    sdpa = F.scaled_dot_product_attention

    def recording(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        calls.append((q, k, v))
        return sdpa(q, k, v, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(F, "scaled_dot_product_attention", recording)
    with torch.no_grad():
        forward()
    assert calls, f"{network} made no attention call"
    for q, k, v in calls:
        assert q.dim() == k.dim() == v.dim() == 4
        assert q.stride(-1) == k.stride(-1) == v.stride(-1) == 1, (q.stride(), k.stride(), v.stride())
        assert q.shape[-1] == k.shape[-1] == v.shape[-1]


@pytest.mark.parametrize("network", list(forwards()))
def test_profiler_sees_no_unfused_attention(network: str) -> None:
    torch.manual_seed(0)
    forward = forwards()[network]()
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        forward()
    ops = {event.key for event in prof.key_averages()}
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in ops
    assert "aten::_scaled_dot_product_attention_math" not in ops
