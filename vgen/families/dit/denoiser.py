"""The DiT family's denoiser: a video transformer with AdaLN-Zero blocks over patchified latents.

Method (DiT, Peebles & Xie 2023, extended to video as in Latte, GenTron and W.A.L.T.):

1. Input. The latents x (B, C, T, h, w) are concatenated with ``known·mask`` and ``mask`` (W.A.L.T.'s frame
   conditioning for prediction and interpolation, VDM's ``conditional_frames``), 2C + 1 channels, and cut into
   ``patch_frames × p × p`` patches by a strided Conv3d: a grid of T'·h'·w' tokens of width D, laid out
   row-major (time, row, column) as (B, N, D). T is zero-padded at the end to a multiple of ``patch_frames``
   (so T = 1 images work for any patch) and the padding is cropped from the output.
2. Positions. ``learned``: a spatial table for the config's token grid (bilinearly resized for other grids)
   plus a temporal table of ``max_frames`` rows, added to the tokens. ``rope``: nothing is added; queries and keys
   are rotated (:mod:`vgen.models.rope`). Attention within a frame uses axial 2-D RoPE over the whole head
   dim, attention along time 1-D RoPE over the whole head dim, and attention over space and time (windowed and
   full layouts) splits the head dim: about a third (a multiple of 4) to time, the rest axial rows/columns.
   Both are the same rotate-half RoPE with the per-channel angle tables concatenated.
3. Conditioning. c = MLP(sinusoid(t)) (+ the class-label embedding, label ``num_classes`` = null). Every block
   regresses (shift, scale, gate) for each sub-layer from SiLU(c): h = x + gate·f(LN(x)·(1 + scale) + shift).
   The regressions and the output layer are zero-initialised (AdaLN-Zero), so a fresh network outputs zero.
4. Blocks, by ``layout``:
   - ``factorised`` (Latte, GenTron): spatial attention over the h'·w' tokens of each frame, then temporal
     attention over T' at each position (its own AdaLN-Zero gates), then the MLP;
   - ``windowed`` (W.A.L.T.): even blocks attend within whole frames (1 × h' × w' windows), odd blocks within
     spatio-temporal windows T' × p × p (p = ``window`` tokens, clamped to the grid; h' and w' must be
     multiples of it — no padding);
   - ``full``: joint attention over all T'·h'·w' tokens.
   Windows are cut by reshapes of the (B, N, heads, d) queries/keys/values into contiguous
   (B·windows, heads, L, d) tensors, so ``scaled_dot_product_attention`` runs its fused kernel without masks.
   QK-normalisation (``qk_norm``) applies a per-head RMSNorm to queries and keys before RoPE.
5. Motion-free switch (GenTron): ``motion`` False for a sample makes its frames independent — the factorised
   temporal sub-layer is gated off, spatio-temporal windows shrink to 1 × p × p and full attention to one frame —
   and learned temporal positions use row 0 for every frame. A 1-frame input (an image) is always run this way
   (the factorised temporal sub-layer is skipped for it too), so a still sample is processed frame by frame
   exactly as T = 1 images are (up to float rounding; RoPE time angles cancel within a frame): one image model.
6. Output: LN with AdaLN (shift, scale), a zero-initialised linear to ``patch_frames·p·p·C`` values per token,
   then unpatchify back to (B, C, T, h, w).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

from vgen.errors import VgenError
from vgen.families.dit.config import DiTConfig
from vgen.models.layers import ClassEmbedding, Conv3d, TimestepMLP, class_embedding, known_frame_channels, zero_module
from vgen.models.rope import apply_rope, rope_1d, rope_axial

Grid = tuple[int, int, int]
Rope = tuple[torch.Tensor, torch.Tensor]

# Sub-layer roles: which tokens attend together. "time" is the factorised temporal attention.
SPACE, TIME, LOCAL, JOINT = "space", "time", "local", "joint"
LAYOUT_ROLES = {"factorised": ((SPACE, TIME),), "windowed": ((SPACE,), (LOCAL,)), "full": ((JOINT,),)}
FREQUENCY_CHANNELS = 256  # sinusoid width of the timestep embedding, as in DiT


def joint_rope_split(head_dim: int) -> tuple[int, int]:
    """(spatial, temporal) channels of a head for RoPE over space and time: about a third to time, both
    multiples of 4 (axial RoPE needs that for rows/columns; time then gets whole rotate-half pairs)."""
    temporal = 4 * max(1, round(head_dim / 12))
    if head_dim - temporal < 4:
        raise VgenError(f"RoPE over space and time needs a head dim of at least 8, got {head_dim}")
    return head_dim - temporal, temporal


def window_shape(role: str, grid: Grid, window: int, moving: bool) -> Grid:
    """The (time, rows, columns) extent in tokens of one attention window of ``role``; a still (motion-free)
    sample gets the one-frame version."""
    t, h, w = grid
    if role == SPACE:
        return 1, h, w
    if role == TIME:
        return t, 1, 1
    if role == LOCAL:
        return t if moving else 1, min(window, h), min(window, w)
    return t if moving else 1, h, w


def windowed_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid: Grid, shape: Grid) -> torch.Tensor:
    """Self-attention within non-overlapping windows of ``shape`` tokens: (B, N, heads, d) -> (B, N, heads·d).

    Tokens are the row-major (time, row, column) grid; the windows become extra batch entries, each a contiguous
    (heads, L, d) block, so one fused ``scaled_dot_product_attention`` call covers them all.
    """
    (t, h, w), (wt, wh, ww) = grid, shape
    if t % wt or h % wh or w % ww:
        raise VgenError(f"attention windows {shape} must tile the token grid {grid}: make the latent rows and "
                        f"columns (after patching) multiples of the window")
    split = "b (nt wt nh wh nw ww) n d -> (b nt nh nw) n (wt wh ww) d"
    sizes = dict(wt=wt, wh=wh, ww=ww, nh=h // wh, nw=w // ww)
    q, k, v = (rearrange(x, split, **sizes).contiguous() for x in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v)
    merge = "(b nt nh nw) n (wt wh ww) d -> b (nt wt nh wh nw ww) (n d)"
    return rearrange(out, merge, nt=t // wt, **sizes)


@dataclass
class Tokens:
    """What every block needs besides the tokens, computed once per forward.

    ``rope``: per role a (cos, sin) pair of (N, 1, d/2) tables, or None for learned positions. ``motion``:
    "moving" (every sample uses temporal attention), "still" (none does) or "mixed"; ``moving`` is the (B,) bool
    switch unless all move, ``groups`` the indices of the moving and of the still samples when mixed.
    """

    grid: Grid
    window: int
    rope: dict[str, Rope] | None
    motion: str = "moving"
    moving: torch.Tensor | None = None
    groups: tuple[torch.Tensor, torch.Tensor] | None = None


class Attention(nn.Module):
    """Multi-head self-attention of (B, N, D) tokens within the windows of one role, with optional
    QK-normalisation (per-head RMSNorm) and RoPE."""

    def __init__(self, hidden: int, heads: int, qk_norm: bool) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        head_dim = hidden // heads
        self.q_norm = nn.RMSNorm(head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.proj = nn.Linear(hidden, hidden)

    def project(self, x: torch.Tensor, rope: Rope | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values (B, N, heads, d), normalised and rotated."""
        q, k, v = rearrange(self.qkv(x), "b l (three n d) -> three b l n d", three=3, n=self.heads).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        return q, k, v

    def forward(self, x: torch.Tensor, role: str, tokens: Tokens) -> torch.Tensor:
        q, k, v = self.project(x, None if tokens.rope is None else tokens.rope[role])
        if tokens.groups is None or role in (SPACE, TIME):  # the block gates TIME off for still samples
            shape = window_shape(role, tokens.grid, tokens.window, tokens.motion != "still")
            return self.proj(windowed_attention(q, k, v, tokens.grid, shape))
        out = x.new_empty(x.shape)
        for idx, moving in zip(tokens.groups, (True, False)):
            shape = window_shape(role, tokens.grid, tokens.window, moving)
            out[idx] = windowed_attention(q[idx], k[idx], v[idx], tokens.grid, shape)
        return self.proj(out)


class Mlp(nn.Sequential):
    def __init__(self, hidden: int, ratio: float, dropout: float) -> None:
        inner = int(hidden * ratio)
        super().__init__(nn.Linear(hidden, inner), nn.GELU(approximate="tanh"), nn.Dropout(dropout),
                         nn.Linear(inner, hidden))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class DiTBlock(nn.Module):
    """Attention sub-layers (one per role) and an MLP, each pre-LN with AdaLN-Zero (shift, scale, gate) from c."""

    def __init__(self, hidden: int, heads: int, mlp_ratio: float, roles: tuple[str, ...], qk_norm: bool,
                 dropout: float) -> None:
        super().__init__()
        self.roles = roles
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.attn = nn.ModuleList(Attention(hidden, heads, qk_norm) for _ in roles)
        self.dropout = nn.Dropout(dropout)
        self.mlp = Mlp(hidden, mlp_ratio, dropout)
        self.modulation = nn.Linear(hidden, 3 * (len(roles) + 1) * hidden)

    def forward(self, x: torch.Tensor, c: torch.Tensor, tokens: Tokens) -> torch.Tensor:
        """x: (B, N, D); c: (B, D)."""
        mods = self.modulation(F.silu(c))[:, None].chunk(3 * (len(self.roles) + 1), dim=-1)
        for i, (role, attn) in enumerate(zip(self.roles, self.attn)):
            shift, scale, gate = mods[3 * i:3 * i + 3]
            if role == TIME and tokens.motion == "still":
                continue
            if role == TIME and tokens.moving is not None:
                gate = gate * tokens.moving.to(gate.dtype)[:, None, None]  # still samples skip temporal mixing
            x = x + gate * self.dropout(attn(modulate(self.norm(x), shift, scale), role, tokens))
        shift, scale, gate = mods[-3:]
        return x + gate * self.mlp(modulate(self.norm(x), shift, scale))


class DiTDenoiser(nn.Module):
    """eps/v/x0 network of the DiT family: ``forward(x (B, C, T, h, w), t (B,)) -> (B, C, T, h, w)``."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        cfg = config.denoiser
        self.latent_channels = c = config.autoencoder.latent_channels
        self.patch = (cfg.patch_frames, cfg.patch_size, cfg.patch_size)
        self.hidden, self.heads = cfg.hidden, cfg.heads
        self.layout, self.window, self.positions = cfg.layout, cfg.window, cfg.positions
        self.gradient_checkpointing = cfg.gradient_checkpointing
        side = config.resolution // config.autoencoder.spatial_downsample // cfg.patch_size
        self.grid_size = (side, side)

        self.patch_embed = Conv3d(2 * c + 1, cfg.hidden, self.patch, stride=self.patch)
        if cfg.positions == "learned":
            self.spatial_pos = nn.Parameter(torch.zeros(side, side, cfg.hidden))
            self.temporal_pos = nn.Parameter(torch.zeros(cfg.max_frames, cfg.hidden))
        else:
            self.register_parameter("spatial_pos", None)
            self.register_parameter("temporal_pos", None)
            if cfg.layout != "factorised":
                joint_rope_split(cfg.hidden // cfg.heads)  # fail at build time, not at the first forward
        self.time_embed = TimestepMLP(FREQUENCY_CHANNELS, cfg.hidden)
        self.class_embed = ClassEmbedding(config.num_classes, cfg.hidden) if config.num_classes > 0 else None

        cycle = LAYOUT_ROLES[cfg.layout]
        self.blocks = nn.ModuleList(
            DiTBlock(cfg.hidden, cfg.heads, cfg.mlp_ratio, cycle[i % len(cycle)], cfg.qk_norm, cfg.dropout)
            for i in range(cfg.depth)
        )
        self.out_norm = nn.LayerNorm(cfg.hidden, elementwise_affine=False, eps=1e-6)
        self.out_modulation = nn.Linear(cfg.hidden, 2 * cfg.hidden)
        self.out_proj = nn.Linear(cfg.hidden, c * cfg.patch_frames * cfg.patch_size ** 2)
        self._init_weights()

    def _init_weights(self) -> None:
        """DiT's init: Xavier-uniform linear layers (and patch embedding) with zero biases, N(0, 0.02) embeddings
        and positions; AdaLN regressions and the output layer stay zero."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        for module in (*(block.modulation for block in self.blocks), self.out_modulation, self.out_proj):
            zero_module(module)
        nn.init.xavier_uniform_(self.patch_embed.weight.view(self.hidden, -1))
        nn.init.zeros_(self.patch_embed.bias)
        for p in (self.spatial_pos, self.temporal_pos):
            if p is not None:
                nn.init.normal_(p, std=0.02)
        for module in (self.time_embed.net[0], self.time_embed.net[2]):
            nn.init.normal_(module.weight, std=0.02)
        if self.class_embed is not None:
            nn.init.normal_(self.class_embed.weight, std=0.02)

    def forward(self, x: torch.Tensor, t: torch.Tensor, *, known: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, class_labels: torch.Tensor | None = None,
                motion: torch.Tensor | bool | None = None) -> torch.Tensor:
        """Raw prediction for latents ``x`` (B, C, T, h, w) at timesteps ``t`` (B,) or scalar.

        known: (B, C, T, h, w) clean latents, read where ``mask`` (B, 1, T, 1, 1) is 1; class_labels: (B,) long,
        ``num_classes`` (or None) = null label; motion: None (all samples use temporal attention), a bool, or a
        (B,) / (1,) bool tensor — False switches that sample's temporal mixing off (frames independent).
        """
        b, channels, frames, h, w = x.shape
        pt, ph, pw = self.patch
        if channels != self.latent_channels or h % ph or w % pw:
            raise VgenError(f"latents of shape {tuple(x.shape)} do not fit this denoiser: expected "
                            f"{self.latent_channels} channels and a size that is a multiple of {ph}")
        net_in = torch.cat(known_frame_channels(x, known, mask), dim=1)
        net_in = F.pad(net_in, (0, 0, 0, 0, 0, -frames % pt))
        grid: Grid = (net_in.shape[2] // pt, h // ph, w // pw)
        motion_mode, moving, groups = self._motion(motion, b, x.device)
        if grid[0] == 1:  # one frame: nothing to mix in time, run as the image model that still samples are
            motion_mode, moving, groups = "still", None, None

        tokens = rearrange(self.patch_embed(net_in), "b d t h w -> b (t h w) d")
        if self.positions == "learned":
            tokens = tokens + self._learned_positions(grid, moving)
        context = Tokens(grid, self.window, self._rope(grid, x.device) if self.positions == "rope" else None,
                         motion_mode, moving, groups)

        t = torch.as_tensor(t, device=x.device)
        c = self.time_embed(t.expand(b) if t.ndim == 0 else t)
        label = class_embedding(self.class_embed, class_labels, b, x.device, "DiT")
        if label is not None:
            c = c + label

        for block in self.blocks:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                tokens = checkpoint(block, tokens, c, context, use_reentrant=False)
            else:
                tokens = block(tokens, c, context)

        shift, scale = self.out_modulation(F.silu(c))[:, None].chunk(2, dim=-1)
        out = self.out_proj(modulate(self.out_norm(tokens), shift, scale))
        out = rearrange(out, "b (t h w) (pt ph pw c) -> b c (t pt) (h ph) (w pw)", t=grid[0], h=grid[1], w=grid[2],
                        pt=pt, ph=ph, pw=pw)
        return out[:, :, :frames]

    @staticmethod
    def _motion(motion: torch.Tensor | bool | None, batch: int, device: torch.device
                ) -> tuple[str, torch.Tensor | None, tuple[torch.Tensor, torch.Tensor] | None]:
        """("moving" | "still" | "mixed", the (B,) switch unless all move, (moving, still) indices when mixed)."""
        if motion is None:
            return "moving", None, None
        moving = torch.as_tensor(motion, device=device)
        if moving.dtype != torch.bool or moving.ndim > 1 or moving.numel() not in (1, batch):
            raise VgenError(f"motion must be a bool or a ({batch},) bool tensor, got {tuple(moving.shape)} "
                            f"{moving.dtype}")
        moving = moving.reshape(-1).expand(batch)
        if bool(moving.all()):
            return "moving", None, None
        if not bool(moving.any()):
            return "still", moving, None
        return "mixed", moving, (moving.nonzero()[:, 0], (~moving).nonzero()[:, 0])

    def _learned_positions(self, grid: Grid, moving: torch.Tensor | None) -> torch.Tensor:
        """(B or 1, N, D): the spatial table (resized to the grid if needed) plus the temporal rows; still samples
        use row 0 for every frame, as an image would."""
        t, h, w = grid
        if t > self.temporal_pos.shape[0]:
            raise VgenError(f"{t} latent frames (after temporal patching) exceed max_frames "
                            f"{self.temporal_pos.shape[0]} of this denoiser's learned positions")
        spatial = self.spatial_pos
        if (h, w) != self.grid_size:
            spatial = F.interpolate(spatial.permute(2, 0, 1)[None], size=(h, w), mode="bilinear",
                                    align_corners=False)[0].permute(1, 2, 0)
        temporal = self.temporal_pos[:t]
        if moving is not None:
            temporal = torch.where(moving[:, None, None], temporal, self.temporal_pos[:1])  # (B, t, D)
        return (temporal[..., :, None, None, :] + spatial).flatten(-4, -2)

    def _rope(self, grid: Grid, device: torch.device) -> dict[str, Rope]:
        """Per role, (cos, sin) tables of shape (N, 1, d/2) for the row-major (time, row, column) tokens."""
        t, h, w = grid
        head_dim = self.hidden // self.heads

        def over_tokens(space: Rope | None, time: Rope | None) -> Rope:
            parts = []
            if space is not None:
                parts.append([table.repeat(t, 1) for table in space])
            if time is not None:
                parts.append([table.repeat_interleave(h * w, dim=0) for table in time])
            return tuple(torch.cat(tables, dim=-1)[:, None] for tables in zip(*parts))  # type: ignore[return-value]

        if self.layout == "factorised":
            return {SPACE: over_tokens(rope_axial(h, w, head_dim, device=device), None),
                    TIME: over_tokens(None, rope_1d(t, head_dim, device=device))}
        spatial, temporal = joint_rope_split(head_dim)
        joint = over_tokens(rope_axial(h, w, spatial, device=device), rope_1d(t, temporal, device=device))
        return {SPACE: joint, LOCAL: joint, JOINT: joint}
