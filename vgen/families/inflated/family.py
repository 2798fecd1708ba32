"""The inflated family: a pixel-space image UNet, trained on frames, then inflated into a video model.

Training runs in two stages, each a ``vgen train`` run (see ``vgen.models.inflated`` for the layers):

- ``image``: the 2D UNet (config ``temporal: false``) learns to denoise single frames: each sample of a batch is one
  random frame of one training clip, an independent image (Make-A-Video §3.2 trains its spatial layers on images).
- ``temporal``: a stored image model is inflated (temporal layers inserted after the spatial ones, starting as the
  identity) and only the temporal layers and their mixing factors α train on clips, every spatial parameter frozen
  (Align your Latents §3.1).

Sampling: the video model conditions long videos, ``extend`` and ``interpolate`` with the training-free methods every
family has (reconstruction guidance, replacement; VDM §3.1). An image model makes every frame on its own, any number of
frames, and refuses ``extend`` and ``interpolate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Optional

import torch
from torch import Tensor, nn

from vgen.errors import VgenError
from vgen.families.base import PixelFamily
from vgen.families.inflated.config import InflatedConfig

_TWO_RUNS = ("inflated models train in two runs: --stage image (the image model), then --stage temporal --from "
             "IMAGE_MODEL (its temporal layers)")


def unet_spec(config: InflatedConfig) -> Any:
    from vgen.models.inflated import InflatedSpec

    cfg = config.unet
    return InflatedSpec(in_channels=3, out_channels=3, model_channels=cfg.model_channels,
                        channel_mult=cfg.channel_mult, num_res_blocks=cfg.num_res_blocks,
                        attention_levels=cfg.attention_levels, head_dim=cfg.head_dim, temporal=config.temporal,
                        max_relative_position=cfg.max_relative_position, dropout=cfg.dropout,
                        num_classes=config.num_classes)


class InflatedFamily(PixelFamily):
    name = "inflated"

    def build_networks(self, config: InflatedConfig) -> dict[str, nn.Module]:
        from vgen.models.inflated import InflatedUNet

        return {"unet": InflatedUNet(unet_spec(config))}

    # ------------------------------------------------------------------ sampling
    def long_plan(self, model, method: str, frames: int) -> Optional[tuple[Iterator, int]]:
        """An image model's video: clip after clip of independent frames, nothing carried between them."""
        if method != "independent":
            return None
        from vgen.pipelines.clip import Condition
        from vgen.pipelines.windows import Emit, Window

        def plan() -> Iterator:
            while True:
                sampled = yield Window("none", Condition())
                yield Emit(sampled.video)

        return plan(), -(-frames // model.clip_frames)

    # ------------------------------------------------------------------ training
    def stages(self, config: InflatedConfig, choice: str, fine_tuning: bool) -> list[str]:
        if choice == "image":
            if fine_tuning and config.temporal:
                raise VgenError(f"--stage image trains image models but this stored model (from preset {config.name!r}) "
                                "is an inflated video model; pass a preset or a stored image model")
            return ["image"]
        if choice == "temporal":
            if not fine_tuning:
                raise VgenError(f"--stage temporal inflates a trained image model but preset {config.name!r} starts "
                                "untrained; train it with --stage image first, then pass that model as --from NAME")
            return ["temporal"]
        raise VgenError(_TWO_RUNS if choice == "all" else f"{_TWO_RUNS}; got --stage {choice}")

    def default_name(self, config: InflatedConfig, choice: str) -> str:
        """``<preset>-image`` and ``<preset>-temporal``: inflating an image model never replaces it in the store."""
        return f"{config.name}-{choice}" if choice in ("image", "temporal") else super().default_name(config, choice)

    def training_config(self, config: InflatedConfig, stages: list[str]) -> InflatedConfig:
        return config.model_copy(update={"temporal": stages == ["temporal"]})

    def load_start(self, networks: dict[str, nn.Module], directory: Path, start: InflatedConfig,
                   config: InflatedConfig) -> None:
        """Inflating: load the image model, then copy its weights into the spatial layers of the video model."""
        if start.temporal or not config.temporal:
            return super().load_start(networks, directory, start, config)
        from vgen.pipelines.model import load_weights

        # the run may choose its own frame noise (--frame-noise): the image network never sees the frames together
        as_run = start.model_copy(update={"temporal": True, "diffusion": start.diffusion.model_copy(
            update={"frame_noise": config.diffusion.frame_noise})})
        if as_run != config:
            raise VgenError(f"the image model in {str(directory)!r} is not the one this run inflates (config.json); "
                            "start a new run with --stage temporal --from that model")
        image = self.build_networks(start)
        load_weights(image, directory, start)
        networks["unet"].load_image_weights(image["unet"].state_dict())

    def select_trainable(self, config: InflatedConfig, stage: str, networks: dict[str, nn.Module]) -> None:
        """The temporal stage trains the temporal layers and α only; the image stage the whole (2D) UNet."""
        unet = networks["unet"]
        unet.requires_grad_(stage != "temporal")
        for p in unet.temporal_parameters():
            p.requires_grad_(True)

    def diffusion_objective(self, config, networks, schedule, cond_drop_prob):
        from vgen.families.inflated.objectives import inflated_objective

        return inflated_objective(config, networks, schedule, cond_drop_prob)

    def example_inputs(self, config: InflatedConfig, stage: str, networks: dict[str, nn.Module],
                       device: torch.device) -> tuple[nn.Module, tuple[Tensor, ...], dict[str, Any]]:
        """The image model trains on single frames."""
        frames = config.frames if config.temporal else 1
        video = torch.zeros(1, self.channels, frames, config.resolution, config.resolution, device=device)
        return networks["unet"], (video, torch.zeros(1, dtype=torch.long, device=device)), {}


FAMILY = InflatedFamily()
