"""PVDM projected autoencoder (Yu et al. 2023, §3.1; pvdm.md §1).

Encoder f^shw: a TimeSformer with divided time/space attention over per-frame patch tokens.
Projections f^s, f^h, f^w: small transformers that each collapse one axis of the token cube into a
plane by reading out an appended learnable token. Bottleneck: 1×1 conv to C channels and tanh.
Decoder g_ψ: 1×1 convs back to the model width, broadcast-sum of the three planes into the cube,
a TimeSformer and a transposed-conv patch un-embedding followed by ``2·sigmoid − 1``.

Token cubes are laid out ``(B, S, H', W', D)`` throughout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vgen.families.pvdm.config import PVDMAutoencoderConfig
from vgen.errors import VgenError
from vgen.families.pvdm.planes import join_planes, plane_sizes, split_planes
from vgen.models.rope import apply_rope, rope_1d, rope_axial

Rope = tuple[torch.Tensor, torch.Tensor]


# --- The official code's rotary layout (``rope_layout="official"``) -------------------------------------------
# Tables hold one angle per channel, (L, d), and channels (2i, 2i+1) form the rotated pairs. The frame table is
# the rotate-half table [θ_0..θ_{d/2-1}, θ_0..θ_{d/2-1}] applied to these pairs, so channel c turns by the angle of
# frequency c mod d/2 and the two channels of a pair turn by different angles. The axial table gives both channels
# of a pair the same angle (row angles for the first d/4 pairs, column angles for the rest), i.e. the rotation of
# :func:`rope_axial` with interleaved pairs. The arithmetic follows the official order (frequencies as 1/10000^x,
# position·frequency·π for the axial grid) so the tables match bit for bit.


def official_rope_frames(length: int, dim: int, *, device: torch.device) -> Rope:
    """(cos, sin) of shape (length, dim) for frame positions 0..length-1 (official layout)."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2, device=device).float() / dim))
    angles = torch.arange(length, device=device).float()[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def official_rope_axial(height: int, width: int, dim: int, *, device: torch.device, max_freq: float = 10.0) -> Rope:
    """(cos, sin) of shape (height·width, dim) for a row-major token grid (official layout)."""
    scales = torch.logspace(0.0, math.log(max_freq / 2) / math.log(2), dim // 4, base=2, device=device)[None, :]
    rows = torch.linspace(-1.0, 1.0, height, device=device)[:, None] * scales * math.pi  # (H, d/4)
    cols = torch.linspace(-1.0, 1.0, width, device=device)[:, None] * scales * math.pi  # (W, d/4)
    angles = torch.cat([rows[:, None, :].expand(height, width, -1), cols[None, :, :].expand(height, width, -1)],
                       dim=-1).reshape(height * width, dim // 2)
    angles = angles.repeat_interleave(2, dim=-1)
    return angles.cos(), angles.sin()


def apply_rope_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x·cos + r(x)·sin with r turning each pair (x_2i, x_2i+1) to (−x_2i+1, x_2i); tables (L, d)."""
    pairs = x.unflatten(-1, (-1, 2))
    turned = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)
    return x * cos.to(x.dtype) + turned * sin.to(x.dtype)


class Attention(nn.Module):
    """Multi-head softmax self-attention on (N, L, D) with optional rotary queries/keys."""

    def __init__(self, dim: int, heads: int, head_dim: int, rope_layout: str = "half") -> None:
        super().__init__()
        self.heads = heads
        self.rotate = apply_rope_pairs if rope_layout == "official" else apply_rope
        self.to_qkv = nn.Linear(dim, 3 * heads * head_dim, bias=False)
        self.to_out = nn.Linear(heads * head_dim, dim)

    def forward(self, x: torch.Tensor, rope: Rope | None = None) -> torch.Tensor:
        """(N, L, D) -> (N, L, D); ``rope`` rotates queries and keys together in one pass."""
        qkv = rearrange(self.to_qkv(x), "n l (three h d) -> three n h l d", three=3, h=self.heads)
        qk, v = qkv[:2], qkv[2]
        if rope is not None:
            qk = self.rotate(qk, *rope)
        out = F.scaled_dot_product_attention(qk[0], qk[1], v)
        return self.to_out(rearrange(out, "n h l d -> n l (h d)"))


class GEGLU(nn.Module):
    """Gated-GELU feed-forward (Shazeer 2020): Linear(D→2F), a·gelu(b), Linear(F→D)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.proj_in = nn.Linear(dim, 2 * hidden)
        self.proj_out = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, gate = self.proj_in(x).chunk(2, dim=-1)
        return self.proj_out(a * F.gelu(gate))


class TimeAttention(nn.Module):
    """Pre-LN attention across frames at each spatial location, 1-D RoPE over frame index."""

    def __init__(self, dim: int, heads: int, head_dim: int, rope_layout: str = "half") -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, head_dim, rope_layout)

    def forward(self, x: torch.Tensor, rope: Rope) -> torch.Tensor:
        """x: (B, S, N, D) -> residual branch (B, S, N, D)."""
        b, n = x.shape[0], x.shape[2]
        seq = rearrange(self.norm(x), "b s n d -> (b n) s d")
        return rearrange(self.attn(seq, rope), "(b n) s d -> b s n d", b=b, n=n)


class SpaceAttention(nn.Module):
    """Pre-LN attention across the patches of one frame, axial RoPE over (row, column)."""

    def __init__(self, dim: int, heads: int, head_dim: int, rope_layout: str = "half") -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, head_dim, rope_layout)

    def forward(self, x: torch.Tensor, rope: Rope) -> torch.Tensor:
        """x: (B, S, N, D) -> residual branch (B, S, N, D); frames never mix."""
        b = x.shape[0]
        seq = rearrange(self.norm(x), "b s n d -> (b s) n d")
        return rearrange(self.attn(seq, rope), "(b s) n d -> b s n d", b=b)


class TimeSformerBlock(nn.Module):
    """Divided space-time attention (Bertasius et al. 2021): time-attn, space-attn, GEGLU FF, all pre-LN residual."""

    def __init__(self, dim: int, heads: int, head_dim: int, ff_hidden: int, rope_layout: str = "half") -> None:
        super().__init__()
        self.time_attn = TimeAttention(dim, heads, head_dim, rope_layout)
        self.space_attn = SpaceAttention(dim, heads, head_dim, rope_layout)
        self.ff_norm = nn.LayerNorm(dim)
        self.ff = GEGLU(dim, ff_hidden)

    def forward(self, x: torch.Tensor, rope_time: Rope, rope_space: Rope) -> torch.Tensor:
        x = x + self.time_attn(x, rope_time)
        x = x + self.space_attn(x, rope_space)
        return x + self.ff(self.ff_norm(x))


class TimeSformer(nn.Module):
    """A stack of :class:`TimeSformerBlock` on a (B, S, H', W', D) token cube (no final norm, pvdm.md §1.2)."""

    def __init__(self, cfg: PVDMAutoencoderConfig) -> None:
        super().__init__()
        self.head_dim = cfg.head_dim
        self.official_rope = cfg.rope_layout == "official"
        self.blocks = nn.ModuleList(
            TimeSformerBlock(cfg.width, cfg.heads, cfg.head_dim, cfg.ff_hidden, cfg.rope_layout)
            for _ in range(cfg.depth)
        )

    def forward(self, cube: torch.Tensor) -> torch.Tensor:
        _, s, h, w, _ = cube.shape
        if self.official_rope:
            rope_time = official_rope_frames(s, self.head_dim, device=cube.device)
            rope_space = official_rope_axial(h, w, self.head_dim, device=cube.device)
        else:
            rope_time = rope_1d(s, self.head_dim, device=cube.device)
            rope_space = rope_axial(h, w, self.head_dim, device=cube.device)
        x = rearrange(cube, "b s h w d -> b s (h w) d")
        for block in self.blocks:
            x = block(x, rope_time, rope_space)
        return rearrange(x, "b s (h w) d -> b s h w d", h=h, w=w)


class AxisProjection(nn.Module):
    """f^s / f^h / f^w: a pre-LN transformer over one axis of the cube, read out at a learnable token.

    The sequence of ``length`` tokens gets one learnable token appended and a learned position
    embedding added; the output at the appended token is the projection. (The official code reads
    position 0 instead, pvdm.md §1.3 quirk: ``proj_readout="first"``; by default we use the paper's
    learnable-token readout.)
    """

    def __init__(self, cfg: PVDMAutoencoderConfig, length: int) -> None:
        super().__init__()
        dim = cfg.width
        self.readout = 0 if cfg.proj_readout == "first" else -1
        self.token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, length + 1, dim))
        self.layers = nn.ModuleList(
            nn.ModuleList([
                nn.LayerNorm(dim),
                Attention(dim, cfg.proj_heads, cfg.proj_head_dim),
                nn.LayerNorm(dim),
                nn.Sequential(nn.Linear(dim, cfg.proj_mlp), nn.GELU(), nn.Linear(cfg.proj_mlp, dim)),
            ])
            for _ in range(cfg.proj_depth)
        )

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """seq: (N, length, D) -> (N, D)."""
        x = torch.cat([seq, self.token.expand(seq.shape[0], -1, -1)], dim=1) + self.pos_embedding
        for attn_norm, attn, ff_norm, ff in self.layers:
            x = x + attn(attn_norm(x))
            x = x + ff(ff_norm(x))
        return x[:, self.readout]


def pixel_head(cfg: PVDMAutoencoderConfig) -> nn.Module:
    """Token features (N, D, H', W') -> pixel logits (N, 3, H, W).

    ``linear`` (official PVDM): a transposed conv with kernel = stride = patch, so each token paints its
    own patch and nothing ties neighbouring patches together (a visible patch grid until the
    transformer learns to agree at every border). ``conv``: the transposed conv paints pixel features,
    and a 3x3 conv mixes them across patch borders.
    """
    p = cfg.patch_size
    if cfg.pixel_head == "linear":
        return nn.ConvTranspose2d(cfg.width, 3, kernel_size=p, stride=p)
    hidden = cfg.pixel_head_channels
    return nn.Sequential(nn.ConvTranspose2d(cfg.width, hidden, kernel_size=p, stride=p), nn.SiLU(),
                         nn.Conv2d(hidden, 3, 3, padding=1))


class PVDMAutoencoder(nn.Module):
    """Video (B, 3, S, H, W) in [-1, 1]  <->  latent (B, C, L) in (-1, 1), L = H'W' + S·W' + S·H'."""

    def __init__(self, cfg: PVDMAutoencoderConfig, frames: int, resolution: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.frames = frames
        self.resolution = resolution
        self.sizes = plane_sizes(frames, resolution, cfg.patch_size)
        dim, c, p = cfg.width, cfg.latent_channels, cfg.patch_size

        self.patch_embed = nn.Linear(3 * p * p, dim)
        self.encoder = TimeSformer(cfg)
        self.proj_xy = AxisProjection(cfg, self.sizes.frames)  # over time
        self.proj_yt = AxisProjection(cfg, self.sizes.height)  # over height
        self.proj_xt = AxisProjection(cfg, self.sizes.width)  # over width
        self.pre_xy, self.pre_yt, self.pre_xt = (nn.Conv2d(dim, c, 1) for _ in range(3))
        self.post_xy, self.post_yt, self.post_xt = (nn.Conv2d(c, dim, 1) for _ in range(3))
        self.decoder = TimeSformer(cfg)
        self.to_pixel = pixel_head(cfg)

    def encoder_modules(self) -> list[nn.Module]:
        """Everything ``encode`` runs: frozen by ``vgen train --decoder-only``."""
        return [self.patch_embed, self.encoder, self.proj_xy, self.proj_yt, self.proj_xt,
                self.pre_xy, self.pre_yt, self.pre_xt]

    def plane_shapes(self, frames: int, resolution: int) -> tuple[tuple[int, int, int], ...]:
        """(C, H', W'), (C, S, W'), (C, S, H') of the xy, yt, xt planes for a clip of this size."""
        sizes = plane_sizes(frames, resolution, self.cfg.patch_size)
        return tuple((self.cfg.latent_channels, *shape) for shape in sizes.shapes)

    def latent_shape(self, video_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """(B, 3, S, H, W) -> (B, C, L)."""
        b, _, s, h, w = video_shape
        self._check_geometry(s, h, w)
        return (b, self.cfg.latent_channels, self.sizes.length)

    def _check_geometry(self, frames: int, height: int, width: int) -> None:
        if (frames, height, width) != (self.frames, self.resolution, self.resolution):
            raise VgenError(
                f"this PVDM autoencoder takes {self.frames}×{self.resolution}×{self.resolution} clips, "
                f"got {frames}×{height}×{width}; resize/trim the video to the model's frames and resolution"
            )

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, H, W) in [-1, 1] -> flat tanh-bounded latent (B, C, L) ordered [xy | yt | xt]."""
        if video.ndim != 5 or video.shape[1] != 3:
            raise VgenError(f"expected a (B, 3, T, H, W) video tensor, got shape {tuple(video.shape)}")
        self._check_geometry(*video.shape[2:])
        p = self.cfg.patch_size
        tokens = rearrange(video, "b c s (h p1) (w p2) -> b s h w (p1 p2 c)", p1=p, p2=p)
        xy, yt, xt = self.project(self.encoder(self.patch_embed(tokens)))
        return join_planes(torch.tanh(self.pre_xy(xy)), torch.tanh(self.pre_yt(yt)), torch.tanh(self.pre_xt(xt)))

    def project(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Token cube u (B, S, H', W', D) -> planes z^s (B,D,H',W'), z^h (B,D,S,W'), z^w (B,D,S,H') (paper eq. 2-4).

        z^s collapses time, z^h collapses height, z^w collapses width.
        """
        b, s, h, _, _ = u.shape
        xy = self.proj_xy(rearrange(u, "b s h w d -> (b h w) s d"))
        yt = self.proj_yt(rearrange(u, "b s h w d -> (b s w) h d"))
        xt = self.proj_xt(rearrange(u, "b s h w d -> (b s h) w d"))
        return (
            rearrange(xy, "(b h w) d -> b d h w", b=b, h=h),
            rearrange(yt, "(b s w) d -> b d s w", b=b, s=s),
            rearrange(xt, "(b s h) d -> b d s h", b=b, s=s),
        )

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, C, L) -> video (B, 3, S, H, W) in (-1, 1)."""
        if latent.ndim != 3 or latent.shape[1:] != (self.cfg.latent_channels, self.sizes.length):
            raise VgenError(
                f"expected a PVDM latent of shape (B, {self.cfg.latent_channels}, {self.sizes.length}), "
                f"got {tuple(latent.shape)}; was it produced by a different model?"
            )
        xy, yt, xt = split_planes(latent, self.sizes)
        # Broadcast-sum the planes back into the S×H'×W' cube (= concat + linear, pvdm.md §1.4).
        cube = (
            rearrange(self.post_xy(xy), "b d h w -> b 1 h w d")
            + rearrange(self.post_yt(yt), "b d s w -> b s 1 w d")
            + rearrange(self.post_xt(xt), "b d s h -> b s h 1 d")
        )
        v = self.decoder(cube)
        frames = self.to_pixel(rearrange(v, "b s h w d -> (b s) d h w"))
        return rearrange(2 * torch.sigmoid(frames) - 1, "(b s) c h w -> b c s h w", b=latent.shape[0])

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Reconstruction of ``video`` through the latent bottleneck."""
        return self.decode(self.encode(video))
