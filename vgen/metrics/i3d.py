"""Inception-v1 inflated to 3D (I3D, Carreira & Zisserman 2017) as used by FVD (Unterthiner et al. 2018).

The network reproduces the TF-Hub ``deepmind/i3d-kinetics-400/1`` graph: TF "SAME" padding computed
per input size (asymmetric for even kernels / strided layers), BatchNorm without scale (Sonnet
``scale=False``), and the FVD feature is the 400-d Kinetics logits averaged over the remaining time
steps (``RGB/inception_i3d/Mean:0``). Input: ``(B, 3, T, 224, 224)`` RGB in [-1, 1], ``T >= 9``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MIN_FRAMES = 9
INPUT_SIZE = 224
NUM_CLASSES = 400


def same_padding(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[int]:
    """TF "SAME" padding for ``F.pad`` (last dim first): ``total = max((ceil(n/s)-1)s + k - n, 0)``, extra at the end."""
    pads: list[int] = []
    for n, k, s in zip(reversed(size), reversed(kernel), reversed(stride)):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


class FrozenBatchNorm3d(nn.Module):
    """Inference BatchNorm with beta only: ``(x - mean) / sqrt(var + eps) + beta``."""

    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, None, self.bias, False, 0.0, self.eps)


class Unit3D(nn.Module):
    """Conv3d (TF SAME padding, no bias) + frozen BN + ReLU; the logits unit has a bias and no BN/ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int, int] = 1, stride: int | tuple[int, int, int] = 1,
                 *, eps: float = 1e-3, logits: bool = False) -> None:
        super().__init__()
        self.kernel = (kernel,) * 3 if isinstance(kernel, int) else kernel
        self.stride = (stride,) * 3 if isinstance(stride, int) else stride
        self.conv = nn.Conv3d(c_in, c_out, self.kernel, self.stride, bias=logits)
        self.bn = None if logits else FrozenBatchNorm3d(c_out, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = same_padding(tuple(x.shape[2:]), self.kernel, self.stride)
        symmetric = _symmetric(pads)
        if symmetric is None:
            x = F.conv3d(F.pad(x, pads), self.conv.weight, self.conv.bias, self.stride)
        else:  # equal padding on both sides: let the convolution pad without copying the input
            x = F.conv3d(x, self.conv.weight, self.conv.bias, self.stride, symmetric)
        return x if self.bn is None else F.relu(self.bn(x))


def _symmetric(pads: list[int]) -> tuple[int, int, int] | None:
    """``(pad_t, pad_h, pad_w)`` when an ``F.pad`` list pads both sides equally, else ``None``."""
    if pads[0::2] != pads[1::2]:
        return None
    return (pads[4], pads[2], pads[0])


def max_pool_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    """TF max-pool with SAME padding: padded cells never win (pad with -inf)."""
    pads = same_padding(tuple(x.shape[2:]), kernel, stride)
    symmetric = _symmetric(pads)
    if symmetric is not None and all(2 * p <= k for p, k in zip(symmetric, kernel)):
        return F.max_pool3d(x, kernel, stride, symmetric)  # implicit padding is -inf
    return F.max_pool3d(F.pad(x, pads, value=float("-inf")), kernel, stride)


class Mixed(nn.Module):
    """Inception block: [1x1 | 1x1>3x3x3 | 1x1>3x3x3 | maxpool 3x3x3 s1>1x1], concatenated on channels."""

    def __init__(self, c_in: int, widths: tuple[int, int, int, int, int, int], eps: float) -> None:
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3b = widths
        self.b0 = Unit3D(c_in, b0, eps=eps)
        self.b1a = Unit3D(c_in, b1a, eps=eps)
        self.b1b = Unit3D(b1a, b1b, 3, eps=eps)
        self.b2a = Unit3D(c_in, b2a, eps=eps)
        self.b2b = Unit3D(b2a, b2b, 3, eps=eps)
        self.b3b = Unit3D(c_in, b3b, eps=eps)
        self.out_channels = b0 + b1b + b2b + b3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = max_pool_same(x, (3, 3, 3), (1, 1, 1))
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(pooled)], dim=1)


# (endpoint, input channels, branch widths) for every Inception block, in order (Szegedy et al. 2015, Table 1).
MIXED_BLOCKS: tuple[tuple[str, int, tuple[int, int, int, int, int, int]], ...] = (
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)
# Max-pools that precede a block: name -> (kernel, stride).
POOLS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "Mixed_3b": ((1, 3, 3), (1, 2, 2)),
    "Mixed_4b": ((3, 3, 3), (2, 2, 2)),
    "Mixed_5b": ((2, 2, 2), (2, 2, 2)),
}


class I3D(nn.Module):
    """Kinetics-400 I3D returning the FVD features: 400-d logits averaged over time.

    Attributes set by :func:`vgen.metrics.i3d_weights.load_i3d`: ``weights_hash`` (hash of the
    source weight file), ``weights_format`` and ``bn_eps``, recorded with every score.
    """

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        self.bn_eps = eps
        self.weights_hash = ""
        self.weights_format = ""
        self.Conv3d_1a_7x7 = Unit3D(3, 64, 7, 2, eps=eps)
        self.Conv3d_2b_1x1 = Unit3D(64, 64, 1, eps=eps)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, 3, eps=eps)
        self.mixed = nn.ModuleDict({name: Mixed(c_in, widths, eps) for name, c_in, widths in MIXED_BLOCKS})
        self.logits = Unit3D(1024, NUM_CLASSES, 1, logits=True)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, 224, 224)`` in [-1, 1] -> ``(B, 400)`` time-averaged logits."""
        if video.shape[2] < MIN_FRAMES or tuple(video.shape[3:]) != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"I3D needs (B, 3, T>={MIN_FRAMES}, 224, 224) input, got {tuple(video.shape)}")
        # channels-last activations run the 3D convolutions about 1.5-2x faster on CPU (same values up to round-off).
        x = self.Conv3d_1a_7x7(video.contiguous(memory_format=torch.channels_last_3d))
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        for name, block in self.mixed.items():
            if name in POOLS:
                x = max_pool_same(x, *POOLS[name])
            x = block(x)
        # Logits: VALID average pool (2, 7, 7) stride 1, 1x1x1 conv with bias, then the mean over time.
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)
        x = self.logits(x)
        return x.mean(dim=(2, 3, 4))
