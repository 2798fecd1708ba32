"""A trained model ready to sample: config + networks on a device, with ``encode``/``decode``.

``LoadedModel`` holds a model's config, networks and family (``vgen.families``): ``encode``/``decode`` and
the latent shape come from the family (VDM works in pixel space, PVDM and LVDM go through their
autoencoders), so the pipelines never ask which family they hold. It can
be built from in-memory networks (training previews) or loaded from a model directory with
``load_model``.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from vgen.config.base import ModelConfigBase
from vgen.devices import autocast, pick_device
from vgen.errors import VgenError
from vgen.families import Capabilities, capabilities, family_of


class LoadedModel:
    """Networks of one model in eval mode on ``device``; videos are (B, 3, T, H, W) in [-1, 1].

    The networks are taken over: moved to ``device``, put in eval mode, gradients off. Training
    previews pass copies of their live networks.
    """

    def __init__(self, config: ModelConfigBase, networks: dict[str, nn.Module], device: torch.device | str) -> None:
        self.config = config
        self.family = family_of(config)
        self.device = torch.device(device)
        self.ema: bool | None = None  # whether the diffusion weights are an EMA (None: unknown / in-memory)
        self.networks = {role: net.to(self.device).eval() for role, net in networks.items()}
        for net in self.networks.values():
            net.requires_grad_(False)
        self.compiled = False

    def compile(self, backend: str = "inductor") -> None:
        """Opt-in ``torch.compile`` of the denoiser (``--compile``): see :class:`CompiledDenoiser`."""
        if not self.compiled:
            self.networks["unet"] = CompiledDenoiser(self.networks["unet"], backend)
            self.compiled = True

    @property
    def compile_seconds(self) -> Optional[float]:
        """How long the first compiled denoiser call took, compilation included (None: not compiled or not run)."""
        return self.unet.first_call_seconds if self.compiled else None

    @property
    def clip_frames(self) -> int:
        """Frames in one generated clip."""
        return self.config.frames

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def fps(self) -> int:
        return self.config.fps

    @property
    def supports(self) -> Capabilities:
        """Which methods sample/extend/interpolate accept for this model (first = default)."""
        return capabilities(self.config)

    @property
    def unet(self) -> nn.Module:
        return self.networks["unet"]

    @property
    def frame_stride(self) -> int | None:
        """Video frames per latent frame (1 for VDM, the temporal factor for LVDM); None when latents are not
        frame-aligned (PVDM)."""
        return self.family.frame_stride(self.config)

    def autocast(self) -> AbstractContextManager:
        """Mixed precision on CUDA, fp32 elsewhere."""
        return autocast(self.device)

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """Video (B, 3, T, H, W) -> the latent the UNet diffuses (the video itself in pixel space)."""
        return self.family.encode(self, video)

    def decode(self, latent: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """Latent -> video (B, 3, T, H, W), clamped to [-1, 1] unless ``clamp`` is off (for gradients)."""
        video = self.family.decode(self, latent)
        return video.clamp(-1, 1) if clamp else video

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor | None = None,
                **network_kwargs: object) -> torch.Tensor:
        """The raw network output (eps, v or x0, per ``config.diffusion.prediction``) for latents ``x_t`` (B, *latent_shape)
        at timesteps ``t`` ((B,) or one int). ``cond`` is the family's clip condition: the previous clip's clean latent
        for PVDM (None = the null condition); other families take their conditioning as keyword arguments (VDM
        ``known``/``mask``, LVDM ``mask``/``s``, DiT ``known``/``mask``/``motion``, every family ``class_labels``)."""
        if not torch.is_tensor(t):
            t = torch.full((x_t.shape[0],), int(t), dtype=torch.long, device=x_t.device)
        with torch.no_grad(), self.autocast():
            return self.unet(x_t, t, **self.family.condition_kwargs(self, cond), **network_kwargs).float()

    def latent_shape(self, frames: int | None = None) -> tuple[int, ...]:
        """Shape (without batch) of the latent of a clip of ``frames`` (default: one model clip)."""
        return self.family.latent_shape(self, frames or self.clip_frames)


def check_model_dir(config: ModelConfigBase, directory: Path) -> None:
    """Check that ``directory`` holds one ``<role>.safetensors`` per network of ``config``, each with exactly
    the tensor names and shapes those networks have.

    The networks are built on the meta device and compared with the files' headers, so nothing is
    allocated and no tensor is read: a config edited to an enormous size fails here in one line
    instead of exhausting memory while the real networks are built.
    """
    from vgen.io.checkpoint import check_fits
    from vgen.models import build_networks

    try:
        with torch.device("meta"):
            networks = build_networks(config)
    except (ValueError, TypeError, AssertionError, RuntimeError) as exc:
        raise VgenError(f"the model config of {str(directory)!r} does not describe a buildable network "
                        f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); the files were edited "
                        "or are corrupt") from None
    for role, net in networks.items():
        path = directory / f"{role}.safetensors"
        if not path.is_file():
            raise VgenError(f"model folder {str(directory)!r} lacks {path.name}; it needs "
                            f"{', '.join(f'{r}.safetensors' for r in networks)}")
        check_fits(net, path, role=role)


def load_weights(networks: dict[str, nn.Module], directory: Path, config: ModelConfigBase, *,
                 mismatch: str = "the model folder") -> dict[str, dict]:
    """Load ``directory``'s ``<role>.safetensors`` into each network (checked by ``check_model_dir`` first) and return
    each file's metadata; every file must carry ``config``, the config the networks were built from (``mismatch``
    names where that config came from in the error)."""
    from vgen.io.checkpoint import load_into

    metas = {}
    for role, net in networks.items():
        path = directory / f"{role}.safetensors"
        carried, metas[role] = load_into(net, path, role=role)
        if carried != config:
            raise VgenError(f"checkpoint {str(path)!r} carries another model config than {mismatch}; one of them "
                            "was edited")
    return metas


COMPILE_NOTE = "--compile: the first denoising step compiles the network (seconds to minutes); the time is reported"


def compiled_line(seconds: Optional[float]) -> str:
    """The info line after a ``--compile`` run, for every command that offers it."""
    if seconds is None:
        return "the denoiser was compiled but never called"
    return f"compiled the denoiser in {seconds:.1f} s (first step, compilation included)"


class CompiledDenoiser(nn.Module):
    """A denoiser behind ``torch.compile``: the first call compiles it and is timed (``first_call_seconds``), a
    compiler failure becomes one error line, and attribute reads (``sizes``, ``spec``, ...) reach the network.

    A call with new input shapes (another batch size, a shorter last window) compiles again. Outputs match the eager
    network to float rounding, not to the bit, so a seed's video may differ by a grey level from an uncompiled run.
    """

    def __init__(self, network: nn.Module, backend: str = "inductor") -> None:
        super().__init__()
        try:
            self.network = torch.compile(network, backend=backend)
        except (RuntimeError, ValueError) as exc:  # e.g. a Python version dynamo does not support yet
            raise VgenError(f"torch.compile is not available here ({exc}); run without --compile") from exc
        self.first_call_seconds: Optional[float] = None

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["network"], name)

    def forward(self, *args, **kwargs):
        if self.first_call_seconds is not None:
            return self.network(*args, **kwargs)
        started = time.perf_counter()
        try:
            out = self.network(*args, **kwargs)
        except VgenError:
            raise
        except Exception as exc:  # dynamo and inductor raise many kinds: no C++ compiler, an unsupported op, ...
            text = str(exc).strip()
            first = text.splitlines()[0][:200] if text else ""
            raise VgenError(f"torch.compile failed ({type(exc).__name__}: {first}); run without --compile") from exc
        self.first_call_seconds = time.perf_counter() - started
        return out


def load_model(spec: str | Path | None, device: str = "auto") -> LoadedModel:
    """Load a model by store name, bundled name or directory path (see ``vgen.io.store.resolve_model``).

    Each ``<role>.safetensors`` in the directory holds one network with the model config in its
    metadata; the config is read from a header (no tensors), checked against every file's tensor
    shapes on the meta device (``check_model_dir``), and only then are the networks built and each
    file loaded once. ``vgen train`` exports the EMA weights of the diffusion network, recorded in
    its metadata and exposed as ``LoadedModel.ema``.
    """
    from vgen.io.store import model_config
    from vgen.models import build_networks

    config, directory = model_config(spec)
    target = pick_device(device)
    check_model_dir(config, directory)
    networks = build_networks(config)
    metas = load_weights(networks, directory, config)
    model = LoadedModel(config, networks, target)
    model.ema = metas["unet"]["extra"].get("ema")
    return model
