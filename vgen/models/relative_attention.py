"""Self-attention with Shaw-style relative position representations (Shaw, Uszkoreit & Vaswani, 2018).

Used by the temporal attention of the VDM and LVDM UNets (Ho et al. 2022 §3; He et al. 2022 §3.1): frames carry no
absolute time, only the clipped distance ``j - i`` between query frame ``i`` and key frame ``j``::

    e_ij = q_i · (k_j + R_K[clip(j - i)]) / sqrt(d)          (Shaw eq. 4)
    o_i  = sum_j softmax_j(e_ij) · (v_j + R_V[clip(j - i)])  (Shaw eq. 3)

with learned tables ``R_K``, ``R_V`` of shape ``(2L + 1, d_head)`` shared by all heads. The softmax is written out
rather than run through ``scaled_dot_product_attention``: the ``R_V`` term needs the attention weights, which no fused
kernel returns, and over a few frames the plain matmuls are about twice as fast as SDPA's unfused path (measured
against an SDPA call with the weights recovered through an identity block appended to the values).

``layout="official"`` reproduces the key term of LVDM's official ``QKVAttention`` (needed for imported weights): its
einsum indexes the relative-key product by (key, query), so logit ``e_ij`` gets ``q_j · R_K[clip(i - j)]``, and that
product is scaled by ``d^(-1/4)`` (the official code scales only q) instead of ``d^(-1/2)``. The value term is Shaw's.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

RelativeLayout = Literal["shaw", "official"]


class ShawRelativeAttention(nn.Module):
    """Multi-head attention over a short sequence (frames) with learned relative-position tables.

    q, k, v: (N, heads, T, d_head); ``mask``: optional boolean (T, T), True = "query i may attend key j"
    (every row must allow at least one key). Returns (N, heads, T, d_head).
    """

    def __init__(self, head_dim: int, max_relative_position: int, layout: RelativeLayout = "shaw") -> None:
        super().__init__()
        self.layout = layout
        self.max_relative_position = max_relative_position
        num_distances = 2 * max_relative_position + 1
        self.rel_k = nn.Parameter(torch.empty(num_distances, head_dim))
        self.rel_v = nn.Parameter(torch.empty(num_distances, head_dim))
        nn.init.xavier_uniform_(self.rel_k)
        nn.init.xavier_uniform_(self.rel_v)

    def relative_index(self, length: int, device: torch.device) -> torch.Tensor:
        """(T, T) long: ``clip(j - i, -L, L) + L`` indexes the tables for query i and key j."""
        pos = torch.arange(length, device=device)
        distance = pos[None, :] - pos[:, None]
        return distance.clamp(-self.max_relative_position, self.max_relative_position) + self.max_relative_position

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        length, head_dim = q.shape[-2], q.shape[-1]
        index = self.relative_index(length, q.device)
        rel_k = self.rel_k[index].to(q.dtype)  # (T, T, d)
        rel_v = self.rel_v[index].to(q.dtype)
        if self.layout == "official":
            # official: q_j · R_K[index[j, i]] lands in logit (i, j), scaled by d^(-1/4)
            logits = (q @ k.transpose(-1, -2)) / math.sqrt(head_dim) + torch.einsum(
                "nhjd,jid->nhij", q, rel_k) * head_dim ** -0.25
        else:
            logits = (q @ k.transpose(-1, -2) + torch.einsum("nhid,ijd->nhij", q, rel_k)) / math.sqrt(head_dim)
        if mask is not None:
            logits = logits.masked_fill(~mask, float("-inf"))
        weights = logits.softmax(dim=-1)
        return weights @ v + torch.einsum("nhij,ijd->nhid", weights, rel_v)
