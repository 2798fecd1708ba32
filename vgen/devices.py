"""Device and precision choices, made once for every command (no hard-coded ``.cuda()``)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import ContextManager, Literal

import torch

from vgen.errors import VgenError

Precision = Literal["auto", "fp32", "bf16", "fp16"]


def pick_device(spec: str | None = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; otherwise any string torch understands."""
    if spec in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise VgenError(f"unknown device {spec!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VgenError(f"device {spec!r} requested but CUDA is not available; use --device cpu")
    return device


def autocast(device: torch.device, precision: Precision = "auto") -> ContextManager:
    """bf16/fp16 autocast on CUDA only; fp32 everywhere else (bf16 on CPU is ~100x slower here)."""
    if device.type != "cuda" or precision == "fp32":
        return nullcontext()
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)
