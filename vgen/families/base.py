"""The ``Family`` interface: everything one model family knows, in one object.

A family builds its networks from a config, maps videos to the latents its UNet diffuses and back,
binds the network to each conditioning method it supports, says what carries from one window of a
long video to the next, may provide its own long-video plan, says whether and how it upscales a given
video (cascade stages), and defines its training stages and objectives. Pipelines and training call these methods and never test which family they hold.

The base class implements what is the same for every family: autoencoder ``encode``/``decode``, and the
training-free methods ``none``, ``replacement`` and ``reconstruction`` (VDM §3.1); a family overrides
what differs. Its torch-free declarations (config class, presets, capabilities) live in its
``config.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional

import numpy as np
import torch
from torch import Tensor, nn

from vgen.config.base import ModelConfigBase
from vgen.errors import VgenError

if TYPE_CHECKING:  # pragma: no cover
    from vgen.diffusion.parameterisation import RawFn
    from vgen.diffusion.schedules import Schedule
    from vgen.pipelines.settings import OfficialSampler, SamplerSettings
    from vgen.pipelines.clip import Condition, DenoiseKit, DenoiserAndFinalize
    from vgen.pipelines.model import LoadedModel
    from vgen.pipelines.upscale import UpscaleOptions
    from vgen.pipelines.windows import Step
    from vgen.training.options import TrainOptions
    from vgen.training.trainer import Objective


# The method name of an upscaling window (``vgen upscale``): its ``Condition.source`` is the video to enhance.
UPSCALE = "upscale"


@dataclass
class Carry:
    """What the next window of a long video is conditioned on: the video's last ``frames`` (1, 3, c, H, W)
    and, when the method works in latent space, their latent (PVDM: the whole last clip's latent)."""

    frames: Tensor
    latent: Optional[Tensor] = None


@dataclass
class AutoencoderStage:
    """The autoencoder stage of a family: its objective, the modules it trains, and what runs after it."""

    objective: "Objective"
    trainable: dict[str, nn.Module]
    finish: Optional[Callable[[Any], None]] = None


def _identity(z: Tensor) -> Tensor:
    return z


class Family(ABC):
    """Base class of the model families (see the module docstring); a family must at least build its networks and
    define its diffusion objective."""

    name: str = ""
    motion_free: bool = False  # whether the denoiser has a motion-free mode (``--motion-guidance``)
    official_sampler: Optional["OfficialSampler"] = None  # the paper's released DDIM (``--schedule-grid official``)

    # ------------------------------------------------------------------ networks and latent space
    @abstractmethod
    def build_networks(self, config: ModelConfigBase) -> dict[str, nn.Module]:
        """The named networks of ``config`` (``"unet"`` always; ``"autoencoder"`` for latent models)."""

    def frame_stride(self, config: ModelConfigBase) -> Optional[int]:
        """Video frames per latent frame; None when latents are not frame-aligned (PVDM's planes)."""
        return None

    def encode(self, model: "LoadedModel", video: Tensor) -> Tensor:
        """Video (B, 3, T, H, W) -> the latent the UNet diffuses."""
        with model.autocast():
            return model.networks["autoencoder"].encode(video).float()

    def decode(self, model: "LoadedModel", latent: Tensor) -> Tensor:
        """Latent -> video (B, 3, T, H, W), unclamped."""
        with model.autocast():
            return model.networks["autoencoder"].decode(latent).float()

    def latent_shape(self, model: "LoadedModel", frames: int) -> tuple[int, ...]:
        """Shape (without batch) of the latent of a ``frames``-frame clip."""
        shape = (1, 3, frames, model.resolution, model.resolution)
        return tuple(model.networks["autoencoder"].latent_shape(shape)[1:])

    # ------------------------------------------------------------------ conditioning
    def raw(self, model: "LoadedModel", settings: "SamplerSettings", **cond: object) -> "RawFn":
        """The network with its conditioning (and class label, with classifier-free guidance) bound."""
        from vgen.pipelines.clip import labelled_raw

        return labelled_raw(model, settings, **cond)

    def condition_kwargs(self, model: "LoadedModel", cond: Optional[Tensor]) -> dict[str, Any]:
        """The network keyword arguments of ``LoadedModel.denoise``'s ``cond`` (families without a clip condition
        take none)."""
        if cond is not None:
            raise VgenError(f"{self.name} networks take no clip condition; pass their conditioning as keyword "
                            "arguments instead")
        return {}

    def denoiser(self, model: "LoadedModel", method: str, condition: "Condition", kit: "DenoiseKit"
                 ) -> "DenoiserAndFinalize":
        """(denoiser for the sampler, function applied to the sampled latent) for ``method``."""
        from vgen.sampling.guidance import ReconstructionGuidance, Replacement

        generators = [kit.generator]
        if method == "none":
            return kit.wrap(self.raw(model, kit.settings)), _identity
        base = kit.wrap(self.raw(model, kit.settings))
        if method == "replacement":
            return Replacement(base, kit.schedule, condition.latent, condition.mask_5d(), generators), _identity
        if method == "reconstruction":
            if condition.latent is not None:
                return ReconstructionGuidance(base, kit.schedule, condition.latent, w_r=kit.settings.recon_weight,
                                              mask=condition.mask_5d(), generators=generators), _identity
            positions = condition.positions

            def observe(x0_pred: Tensor) -> Tensor:
                return model.decode(x0_pred, clamp=False)[:, :, positions]

            return ReconstructionGuidance(base, kit.schedule, condition.frames, w_r=kit.settings.recon_weight,
                                          observe=observe), _identity
        raise VgenError(f"{model.config.name} ({self.name}) has no conditioning method {method!r}")

    def blended_start(self, model: "LoadedModel", condition: "Condition") -> Tensor:
        """The state ``--strength`` noises and denoises from: the clip latent the known frames suggest."""
        from vgen.pipelines.clip import blended_init

        return blended_init(model, condition)

    # ------------------------------------------------------------------ long videos
    def context_frames(self, model: "LoadedModel", method: str) -> int:
        """How many trailing frames of the video the next window is conditioned on."""
        return model.clip_frames // 2

    def window_overlap(self, model: "LoadedModel", method: str) -> int:
        """Frames a ``method`` window re-makes of the window before it (to be cross-faded), 0 by default."""
        return 0

    def carry(self, model: "LoadedModel", method: str, frames: Tensor, latent: Optional[Tensor] = None) -> Carry:
        """What the next window needs, from the video's last ``context_frames`` frames (and the last window's
        latent when there is one; a family that carries latents encodes ``frames`` otherwise)."""
        return Carry(frames=frames.clone())

    def long_plan(self, model: "LoadedModel", method: str, frames: int
                  ) -> Optional[tuple[Iterator["Step"], int]]:
        """A family's own long-video plan for ``method`` (steps, windows), or None for the generic continuation."""
        return None

    # ------------------------------------------------------------------ upscaling (cascade stages)
    def upscale_factors(self, config: ModelConfigBase) -> tuple[int, int]:
        """(spatial, temporal) factors of an upscaling stage, as its ``config.py`` declares them
        (``Capabilities.upscale``); any other model is refused with one line."""
        from vgen.families import capabilities

        factors = capabilities(config).upscale
        if factors is None:
            raise VgenError(f"{config.name} ({self.name}) generates videos but cannot upscale one; give --model an "
                            "upscaling model, e.g. one trained from the sr-mini preset")
        return factors

    def upscale_plan(self, model: "LoadedModel", chunks: Iterable[np.ndarray], options: "UpscaleOptions",
                     total_frames: Optional[int] = None) -> Optional[tuple[Iterator["Step"], Optional[int]]]:
        """A family's own upscaling plan (steps, windows or None), or None for the generic sliding windows of
        ``vgen.pipelines.upscale`` (one output frame per input frame: spatial upscaling). ``total_frames``: the
        input's length when known (to size the progress)."""
        self.upscale_factors(model.config)
        return None

    def upscale_input(self, model: "LoadedModel", video: Tensor) -> Tensor:
        """A full-resolution video (B, 3, T, H, W) -> the lower-resolution video this stage was trained to enhance
        (the degradation ``vgen evaluate --upscale`` scores against)."""
        factors = self.upscale_factors(model.config)
        raise VgenError(f"{self.name} declares upscaling by {factors} but defines no degradation (upscale_input)")

    def upscale_baseline(self, model: "LoadedModel", source: Tensor) -> Tensor:
        """The plain, model-free upscaling of ``source`` (e.g. bicubic) that the stage must beat."""
        factors = self.upscale_factors(model.config)
        raise VgenError(f"{self.name} declares upscaling by {factors} but defines no baseline (upscale_baseline)")

    # ------------------------------------------------------------------ training
    def stages(self, config: ModelConfigBase, choice: str, fine_tuning: bool) -> list[str]:
        """The training stages ``--stage choice`` runs (latent families: autoencoder, then diffusion)."""
        if choice not in ("ae", "diffusion", "all"):
            raise VgenError(f"{self.name.upper()} has no {choice} stage; use --stage ae, diffusion or all")
        if choice == "all":
            return ["ae", "diffusion"]
        if choice == "diffusion" and not fine_tuning:
            raise VgenError(
                f"--stage diffusion needs a trained autoencoder but preset {config.name!r} starts untrained; "
                "use --stage all, or --model <stored model> to train diffusion on its autoencoder"
            )
        return [choice]

    def default_name(self, config: ModelConfigBase, choice: str) -> str:
        """The store name of a run of ``--stage choice`` from ``config`` (a preset or a stored model) given no ``--name``."""
        return f"{config.name}-trained"

    def training_config(self, config: ModelConfigBase, stages: list[str]) -> ModelConfigBase:
        """The config a run of ``stages`` trains, from the config it starts from (default: the same; a stage may
        change the architecture, as inflating an image model does)."""
        return config

    def load_start(self, networks: dict[str, nn.Module], directory: Path, start: ModelConfigBase,
                   config: ModelConfigBase) -> None:
        """Load the stored model a run starts from (``directory``, networks of config ``start``) into ``networks``,
        built from the run's ``config`` (by default the same architecture; options such as ``--cond-overlap`` may
        change fields that shape only the training)."""
        from vgen.pipelines.model import load_weights

        load_weights(networks, directory, start, mismatch="its model folder")

    def select_trainable(self, config: ModelConfigBase, stage: str, networks: dict[str, nn.Module]) -> None:
        """Switch gradients on for the denoiser parameters a denoiser stage trains (default: all of ``unet``)."""
        networks["unet"].requires_grad_(True)

    def clip_frames(self, config: ModelConfigBase, stage: str) -> int:
        """Frames per training clip of ``stage``."""
        return config.frames

    @abstractmethod
    def diffusion_objective(self, config: ModelConfigBase, networks: dict[str, nn.Module], schedule: "Schedule",
                            cond_drop_prob: float) -> "Objective":
        """The diffusion stage's training objective (see ``vgen.training.objectives``)."""

    def autoencoder_stage(self, config: ModelConfigBase, networks: dict[str, nn.Module], opts: "TrainOptions",
                          perceptual: Optional[nn.Module], device: torch.device,
                          log: Callable[[str], None]) -> AutoencoderStage:
        raise VgenError(f"{self.name} has no autoencoder stage")

    def example_inputs(self, config: ModelConfigBase, stage: str, networks: dict[str, nn.Module],
                       device: torch.device) -> tuple[nn.Module, tuple[Tensor, ...], dict[str, Any]]:
        """The trained network of ``stage`` and a batch-1 input for it (the shapes training uses)."""
        frames, res = config.frames, config.resolution
        if stage == "ae":
            return networks["autoencoder"], (torch.zeros(1, 3, frames, res, res, device=device),), {}
        shape = networks["autoencoder"].latent_shape((1, 3, frames, res, res))
        t = torch.zeros(1, dtype=torch.long, device=device)
        return networks["unet"], (torch.zeros(shape, device=device), t), {}


class PixelFamily(Family):
    """A family that diffuses pixels directly: no autoencoder, one latent frame per video frame."""

    channels = 3

    def frame_stride(self, config: ModelConfigBase) -> int:
        return 1

    def encode(self, model: "LoadedModel", video: Tensor) -> Tensor:
        return video

    def decode(self, model: "LoadedModel", latent: Tensor) -> Tensor:
        return latent

    def latent_shape(self, model: "LoadedModel", frames: int) -> tuple[int, ...]:
        return (self.channels, frames, model.resolution, model.resolution)

    def stages(self, config: ModelConfigBase, choice: str, fine_tuning: bool) -> list[str]:
        if choice not in ("diffusion", "all"):
            if choice == "ae":
                raise VgenError(f"{self.name.upper()} is a pixel-space model with no autoencoder; use --stage "
                                "diffusion or --stage all")
            raise VgenError(f"{self.name.upper()} has no {choice} stage; use --stage diffusion or all")
        return ["diffusion"]

    def example_inputs(self, config: ModelConfigBase, stage: str, networks: dict[str, nn.Module],
                       device: torch.device) -> tuple[nn.Module, tuple[Tensor, ...], dict[str, Any]]:
        video = torch.zeros(1, self.channels, config.frames, config.resolution, config.resolution, device=device)
        return networks["unet"], (video, torch.zeros(1, dtype=torch.long, device=device)), {}
