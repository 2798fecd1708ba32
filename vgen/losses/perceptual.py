"""LPIPS perceptual distance with a VGG16 backbone (Zhang et al., CVPR 2018), loaded from a local file.

Nothing is downloaded: the user supplies the weights (safetensors, or a torch state dict read with
``weights_only=True``). Accepted key layouts, which may be split over several files:

- torchvision's VGG16 (``features.<i>.weight``) — e.g. ``vgg16-397923af.pth`` from the torch hub cache;
- the lpips / taming-transformers module (``net.slice<k>.<i>.weight`` and ``lin<k>.model.1.weight``) —
  e.g. the heads file ``vgg.pth`` from the ``lpips`` package;
- this module's own ``state_dict`` (``features.<i>.*``, ``heads.<k>.weight``).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from vgen.errors import VgenError

# VGG16 ``features`` up to relu5_3: conv widths, "M" = 2×2 max-pool (Simonyan & Zisserman 2015, config D).
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# Indices in ``features`` of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3: the five LPIPS taps.
_TAPS = (3, 8, 15, 22, 29)
_TAP_CHANNELS = (64, 128, 256, 512, 512)


class LPIPS(nn.Module):
    """d(x, x̂) = Σ_l mean_hw ‖w_l ⊙ (φ̂_l(x) − φ̂_l(x̂))‖², φ̂ = channel-unit-normalised VGG activations (eq. 1)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for spec in _VGG16:
            if spec == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(spec), 3, padding=1), nn.ReLU()]
                channels = int(spec)
        self.features = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _TAP_CHANNELS)
        # The lpips input scaling: maps [-1, 1] images to ImageNet-normalised ones.
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LPIPS":
        """LPIPS is a frozen metric network: it stays in eval mode."""
        return super().train(False)

    @classmethod
    def from_files(cls, *paths: str | Path) -> "LPIPS":
        """Build from one or more local weight files whose union holds the backbone and the five heads."""
        if not paths:
            raise VgenError("LPIPS needs a weights file; pass --lpips PATH (VGG16 backbone + lpips heads)")
        state: dict[str, torch.Tensor] = {}
        for path in paths:
            state.update(_canonical_keys(_read_state_dict(Path(path))))
        model = cls()
        expected = set(model.state_dict())
        missing = sorted(expected - set(state))
        if missing:
            raise VgenError(
                f"LPIPS weights are incomplete (missing {len(missing)} tensors, e.g. {missing[0]}); "
                "supply both the VGG16 backbone and the lpips linear heads (vgg.pth)"
            )
        try:
            model.load_state_dict({k: state[k] for k in expected})
        except RuntimeError as exc:
            raise VgenError(f"LPIPS weights have the wrong shapes ({str(exc).splitlines()[-1].strip()}); "
                            "use VGG16 weights with lpips VGG heads") from None
        return model

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1] -> per-image distance (B,)."""
        h = torch.cat([x, x_hat]).sub(self.shift).div(self.scale)
        distance = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in _TAPS:
                f, f_hat = _unit_normalise(h).chunk(2)
                distance = distance + self.heads[_TAPS.index(i)]((f - f_hat).square()).mean(dim=(1, 2, 3))
        return distance


def _unit_normalise(h: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return h / (h.square().sum(dim=1, keepdim=True).sqrt() + eps)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise VgenError(f"LPIPS weights file not found: {path}; check the path")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        raise VgenError(f"cannot read LPIPS weights {path} ({type(exc).__name__}); give a .safetensors or a "
                        "torch state dict file") from None
    if not isinstance(state, dict):
        raise VgenError(f"{path} does not hold a state dict; give a .safetensors or a torch state dict file")
    return state.get("state_dict", state)


def _canonical_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename torchvision / lpips / taming keys to this module's names; drop everything else."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key.removeprefix("module.").removeprefix("perceptual_loss.")
        if m := re.fullmatch(r"(?:net\.)?slice\d\.(\d+)\.(weight|bias)", key):
            key = f"features.{m[1]}.{m[2]}"
        elif m := re.fullmatch(r"lins?\.?(\d)\.model\.1\.weight", key):
            key = f"heads.{m[1]}.weight"
        if re.fullmatch(r"features\.(\d+)\.(weight|bias)", key) and int(key.split(".")[1]) <= _TAPS[-1] \
                or re.fullmatch(r"heads\.\d\.weight", key):
            out[key] = value
    return out
