"""Building blocks shared by every network family.

Layouts are named in each docstring; attention always goes through
``torch.nn.functional.scaled_dot_product_attention`` so CUDA gets fused kernels and CPU stays exact.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vgen.errors import VgenError


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps, laid out ``[cos | sin]``.

    t: (B,) -> (B, dim). Frequencies are ``max_period^(-i/half)`` as in guided-diffusion/LDM.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class TimestepMLP(nn.Module):
    """sinusoid(model_channels) -> Linear -> SiLU -> Linear, giving the block embedding (B, emb_dim)."""

    def __init__(self, model_channels: int, emb_dim: int) -> None:
        super().__init__()
        self.model_channels = model_channels
        self.net = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.net(timestep_embedding(t, self.model_channels))


class ClassEmbedding(nn.Embedding):
    """Class-label embedding with a learned null label at index ``num_classes`` (classifier-free guidance)."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__(num_classes + 1, dim)
        self.num_classes = num_classes


def class_embedding(embed: ClassEmbedding | None, labels: torch.Tensor | None, batch: int,
                    device: torch.device, model: str) -> torch.Tensor | None:
    """(B, dim) label embeddings, the null label where ``labels`` is None; None for unconditional models.

    A label passed to an unconditional model is a user error, never silently ignored.
    """
    if embed is None:
        if labels is not None:
            raise VgenError(f"this {model} model is unconditional; drop the class label or train with num_classes > 0")
        return None
    if labels is None:
        labels = torch.full((batch,), embed.num_classes, dtype=torch.long, device=device)
    return embed(labels)


def known_frame_channels(
    x_t: torch.Tensor, known: torch.Tensor | None, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_t, known·mask, mask) broadcast to full frames, for inputs ``concat[x_t, known·mask, mask]`` on
    (B, C, T, H, W) tensors; ``mask`` is (B, 1, T, 1, 1), 1 at known frames. No mask means no known frames."""
    batch, _, frames, height, width = x_t.shape
    if mask is None:
        if known is not None:
            raise VgenError("known frames were given without a mask; pass mask (B,1,T,1,1) with 1 at known frames")
        mask = x_t.new_zeros(batch, 1, frames, 1, 1)
    if mask.shape != (batch, 1, frames, 1, 1):
        raise VgenError(f"mask has shape {tuple(mask.shape)}; expected {(batch, 1, frames, 1, 1)}")
    mask = mask.to(x_t.dtype).expand(-1, -1, -1, height, width)
    if known is None:
        known = torch.zeros_like(x_t)
    elif known.shape != x_t.shape:
        raise VgenError(f"known frames have shape {tuple(known.shape)}; expected {tuple(x_t.shape)}")
    return x_t, known * mask, mask


class Conv3d(nn.Conv3d):
    """``nn.Conv3d`` that runs on oneDNN for CPU fp32 inference, where PyTorch's own choice is much slower.

    For a small batch on few threads PyTorch's CPU dispatch picks ``slow_conv3d`` (unfold + matmul) over oneDNN
    (its size heuristic was tuned on 2D convs); for vgen's 3D UNets at batch 1 that path is 2-6x slower per conv
    and was half of a ``vdm-mini`` forward (``benchmarks/harness.py``, "oneDNN 3D convolutions" in
    benchmarks/README.md). Without gradients, on a float32 CPU tensor, with a kernel larger than 1x1x1 and zero
    padding, this calls oneDNN directly; everything else (training, CUDA, other dtypes, 1x1x1 kernels, where the
    default is as fast or faster, and ``torch.compile``, which picks its own kernels) goes through ``nn.Conv3d``
    unchanged. Same parameters and state-dict keys.
    """

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if _onednn_conv3d_applies(self, input, weight):
            return torch.ops.aten.mkldnn_convolution(input.contiguous(), weight.contiguous(), bias, self.padding,
                                                     self.stride, self.dilation, self.groups)
        return super()._conv_forward(input, weight, bias)


_ONEDNN_CONV3D = [True]


@contextlib.contextmanager
def onednn_conv3d(enabled: bool) -> Iterator[None]:
    """Turn :class:`Conv3d`'s oneDNN path on or off inside the block (the benchmark harness times both ways)."""
    before = _ONEDNN_CONV3D[0]
    _ONEDNN_CONV3D[0] = enabled
    try:
        yield
    finally:
        _ONEDNN_CONV3D[0] = before


def _onednn_conv3d_applies(conv: nn.Conv3d, input: torch.Tensor, weight: torch.Tensor) -> bool:
    return (
        _ONEDNN_CONV3D[0] and not torch.compiler.is_compiling()
        and input.device.type == "cpu" and input.dtype == torch.float32 and weight.dtype == torch.float32
        and input.layout == torch.strided and input.dim() == 5
        and not (torch.is_grad_enabled() and (input.requires_grad or weight.requires_grad))
        and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
        and math.prod(conv.kernel_size) > 1
        and torch.backends.mkldnn.is_available()
    )


def zero_module(module: nn.Module) -> nn.Module:
    """Zero every parameter so a residual branch or output head starts as the identity / zero."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def group_norm(channels: int, groups: int = 32) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= ``groups`` that divides ``channels``."""
    g = min(groups, channels)
    while channels % g:
        g -= 1
    return nn.GroupNorm(g, channels, eps=1e-6)


def multihead_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Softmax attention of (N, L, heads*d) queries over (N, S, heads*d) keys/values -> (N, L, heads*d).

    ``mask`` is boolean, broadcastable to (N, heads, L, S); True means "may attend".
    """
    q, k, v = (rearrange(x, "n l (h d) -> n h l d", h=heads) for x in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return rearrange(out, "n h l d -> n l (h d)")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
