"""Self-attention with Shaw-style relative position representations (Shaw, Uszkoreit & Vaswani, 2018).

Used by the temporal attention of the VDM and LVDM UNets (Ho et al. 2022 §3; He et al. 2022 §3.1): frames carry no
absolute time, only the clipped distance ``j - i`` between query frame ``i`` and key frame ``j``::

    e_ij = q_i · (k_j + R_K[clip(j - i)]) / sqrt(d)          (Shaw eq. 4)
    o_i  = sum_j softmax_j(e_ij) · (v_j + R_V[clip(j - i)])  (Shaw eq. 3)

with learned tables ``R_K``, ``R_V`` of shape ``(2L + 1, d_head)`` shared by all heads. Both terms go through
``scaled_dot_product_attention``: ``q·R_K`` becomes an additive float ``attn_mask`` (already scaled by ``1/sqrt(d)``,
since SDPA adds the mask after its own scaling), and the attention weights needed for the ``R_V`` term are returned by
the same SDPA call by appending a one-hot identity block to the values (``sum_j a_ij e_j = a_i``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ShawRelativeAttention(nn.Module):
    """Multi-head attention over a short sequence (frames) with learned relative-position tables.

    q, k, v: (N, heads, T, d_head); ``mask``: optional boolean (T, T), True = "query i may attend key j"
    (every row must allow at least one key). Returns (N, heads, T, d_head).
    """

    def __init__(self, head_dim: int, max_relative_position: int) -> None:
        super().__init__()
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
        # Key-side term as a logits bias, scaled like SDPA's own q·k.
        bias = torch.einsum("nhid,ijd->nhij", q, rel_k) / math.sqrt(head_dim)
        if mask is not None:
            bias = bias.masked_fill(~mask, float("-inf"))
        # Values augmented with the identity: the extra T output channels are the attention weights a_ij.
        # q and k get T zero channels too (q·k unchanged, scale kept at 1/sqrt(d)): the fused CPU kernel
        # needs q, k and v of one width, or SDPA falls back to its slow unfused path.
        eye = torch.eye(length, device=q.device, dtype=v.dtype).expand(*v.shape[:-1], length)
        q, k = (F.pad(x, (0, length)) for x in (q, k))
        out = F.scaled_dot_product_attention(q, k, torch.cat([v, eye], dim=-1), attn_mask=bias,
                                             scale=1 / math.sqrt(head_dim))
        out, weights = out.split([head_dim, length], dim=-1)
        # Value-side term: o_i += sum_j a_ij R_V[clip(j - i)].
        return out + torch.einsum("nhij,ijd->nhid", weights, rel_v)
