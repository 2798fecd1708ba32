"""C3D (Tran et al. 2015) fine-tuned on UCF-101, the classifier behind the video Inception Score.

Architecture: the "deepnetA" C3D of TGANv2 (Saito et al. 2020): eight 3x3x3 convs (pad 1, bias,
ReLU), max-pools (1,2,2) then 2x2x2, the last in ceil mode (7x7 -> 4x4), fc6/fc7 4096 and fc8 101.
Input BGR ``(B, 3, 16, 112, 112)`` in [0, 255] minus a per-pixel mean.

User-supplied weights (no package ships them):

* TGANv2 Chainer ``conv3d_deepnetA_ucf.npz`` (read with ``allow_pickle=False``) plus its mean file
  ``mean2.npz`` (key ``mean``, BGR ``(3, 16, 128, 128)`` or the Sports-1M ``(3, 16, 128, 171)``).
  Preprocessing as TGANv2: bilinear resize to 112x112 with aligned corners, RGB->BGR,
  ``(x + 1) * 128 - mean[:, :, 8:120, 8:120]`` (the 171-wide mean is first centre-cropped to 128).
* StyleGAN-V ``c3d_ucf101.pt``: a TorchScript module taking uint8 ``(B, 3, 16, H, W)`` and returning
  probabilities; loaded with ``torch.jit.load`` (TorchScript runs its own serialized graph code, not
  pickle; only load files you trust).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vgen.errors import VgenError
from vgen.metrics.cache import file_sha256

C3D_FRAMES = 16
C3D_SIZE = 112
CONVS: tuple[tuple[str, int, int], ...] = (
    ("conv1a", 3, 64), ("conv2a", 64, 128), ("conv3a", 128, 256), ("conv3b", 256, 256),
    ("conv4a", 256, 512), ("conv4b", 512, 512), ("conv5a", 512, 512), ("conv5b", 512, 512),
)
POOL_AFTER: dict[str, tuple[int, int, int]] = {"conv1a": (1, 2, 2), "conv2a": (2, 2, 2), "conv3b": (2, 2, 2),
                                               "conv4b": (2, 2, 2), "conv5b": (2, 2, 2)}


class C3D(nn.Module):
    """C3D deepnetA: BGR mean-subtracted ``(B, 3, 16, 112, 112)`` -> ``(B, 101)`` class probabilities."""

    def __init__(self, num_classes: int = 101) -> None:
        super().__init__()
        self.convs = nn.ModuleDict({name: nn.Conv3d(c_in, c_out, 3, padding=1) for name, c_in, c_out in CONVS})
        self.fc6 = nn.Linear(8192, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name, conv in self.convs.items():
            x = F.relu(conv(x))
            if name in POOL_AFTER:
                x = F.max_pool3d(x, POOL_AFTER[name], POOL_AFTER[name], ceil_mode=name == "conv5b")
        x = rearrange(x, "b c t h w -> b (c t h w)")
        x = F.relu(self.fc7(F.relu(self.fc6(x))))
        return self.fc8(x).softmax(dim=1)


def load_chainer_npz(path: Path) -> C3D:
    """Copy a TGANv2 Chainer npz (``conv1a/W``, ``conv1a/b``, ..., ``fc8/b``) into :class:`C3D`."""
    def name(layer: str, param: str) -> str:
        prefix = f"convs.{layer}" if layer.startswith("conv") else layer
        return f"{prefix}.{'weight' if param == 'W' else 'bias'}"

    layers = [layer for layer, _, _ in CONVS] + ["fc6", "fc7", "fc8"]
    try:
        with np.load(path, allow_pickle=False) as npz:
            state = {name(layer, p): torch.from_numpy(npz[f"{layer}/{p}"].astype(np.float32)) for layer in layers for p in ("W", "b")}
        with torch.device("meta"):
            model = C3D()
        model.load_state_dict(state, assign=True)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise VgenError(f"{path} is not the TGANv2 C3D npz (conv3d_deepnetA_ucf.npz): {str(exc).splitlines()[0]}") from None
    return model.eval().requires_grad_(False)


def load_mean(path: Path) -> torch.Tensor:
    """The C3D mean clip as BGR ``(3, 16, 112, 112)`` (centre 112 of a 128x128 or 128x171 mean)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            mean = np.asarray(npz["mean"] if "mean" in npz.files else npz[npz.files[0]], np.float32)
    except (ValueError, OSError, IndexError, zipfile.BadZipFile) as exc:
        raise VgenError(f"cannot read the C3D mean file {path} ({exc}); pass TGAN's mean2.npz to --c3d-mean") from None
    mean = mean.reshape(3, C3D_FRAMES, 128, -1) if mean.size % (3 * C3D_FRAMES * 128) == 0 else mean
    if mean.ndim != 4 or mean.shape[-1] not in (128, 171):
        raise VgenError(f"C3D mean in {path} has shape {mean.shape}; expected (3, 16, 128, 128) or (3, 16, 128, 171)")
    if mean.shape[-1] == 171:
        mean = mean[..., 21:149]
    return torch.from_numpy(np.ascontiguousarray(mean[:, :, 8:120, 8:120]))


class C3DClassifier:
    """A C3D that maps uint8 clips ``(B, 16, H, W, 3)`` to UCF-101 probabilities ``(B, 101)``."""

    def __init__(self, path: str | Path, mean: str | Path | None, device: torch.device) -> None:
        path = Path(path)
        if not path.is_file():
            raise VgenError(f"C3D weights file not found: {path}; IS needs conv3d_deepnetA_ucf.npz (TGANv2) or c3d_ucf101.pt (StyleGAN-V)")
        self.device = device
        self.weights_hash = file_sha256(path)[:16]
        self._net: Callable[[torch.Tensor], torch.Tensor]
        names = zipfile.ZipFile(path).namelist() if zipfile.is_zipfile(path) else []
        if any(n.endswith(".npy") for n in names):
            if mean is None:
                raise VgenError("the TGANv2 C3D npz needs its mean clip: pass --c3d-mean mean2.npz")
            self.format = "tgan2-chainer-npz"
            model = load_chainer_npz(path).to(device)
            self._mean = load_mean(Path(mean)).to(device)
            self._net = lambda clips: model(self._preprocess(clips))
        elif any("/code/" in n or n.startswith("code/") for n in names):
            self.format = "stylegan-v-torchscript"
            try:
                script = torch.jit.load(str(path), map_location=device).eval()
            except RuntimeError as exc:
                raise VgenError(f"cannot load the TorchScript C3D {path}: {str(exc).splitlines()[0]}") from None
            self._net = lambda clips: script(rearrange(clips, "b t h w c -> b c t h w").contiguous())
        else:
            raise VgenError(f"{path} is not a C3D UCF-101 file; IS needs conv3d_deepnetA_ucf.npz (TGANv2) or c3d_ucf101.pt (StyleGAN-V)")

    def _preprocess(self, clips: torch.Tensor) -> torch.Tensor:
        """TGANv2: [-1, 1], align-corners bilinear to 112, BGR, ``(x + 1) * 128 - mean``."""
        b = clips.shape[0]
        x = rearrange(clips.float() / 127.5 - 1.0, "b t h w c -> (b t) c h w")
        x = F.interpolate(x, size=(C3D_SIZE, C3D_SIZE), mode="bilinear", align_corners=True)
        x = rearrange(x.flip(1), "(b t) c h w -> b c t h w", b=b)
        return (x + 1.0) * 128.0 - self._mean

    @torch.inference_mode()
    def __call__(self, clips: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(clips, device=self.device)
        if x.shape[1] != C3D_FRAMES:
            raise ValueError(f"C3D takes {C3D_FRAMES}-frame clips, got {x.shape[1]}")
        return self._net(x).double().cpu().numpy()
