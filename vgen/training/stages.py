"""Assemble a :class:`StagePlan` for (family, stage): which modules train, with which objective."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from vgen.config.base import ModelConfigBase
from vgen.diffusion.schedules import Schedule
from vgen.errors import VgenError
from vgen.families import family_of
from vgen.training.options import Stage, TrainOptions
from vgen.training.trainer import StagePlan

# Autoencoders of PVDM and LVDM are trained with Adam betas (0.5, 0.9) (pvdm.md §1.6, lvdm-vdm.md §A.2).
_AE_BETAS = (0.5, 0.9)


def clip_frames(config: ModelConfigBase, stage: Stage) -> int:
    """Frames per training clip of ``stage`` (PVDM diffusion loads two consecutive clips)."""
    return family_of(config).clip_frames(config, stage)


def stage_plan(stage: Stage, config: ModelConfigBase, networks: dict[str, nn.Module], opts: TrainOptions,
               schedule: Schedule, device: torch.device, log: Callable[[str], None]) -> StagePlan:
    """Which modules ``stage`` trains, with which objective (from the model's family). Every stage but ``ae`` trains
    the denoiser (``diffusion``; the inflated family's ``image`` and ``temporal``), the parameters the family selects."""
    family = family_of(config)
    if stage == "ae":
        return _autoencoder_plan(config, networks, opts, device, log)
    autoencoder = networks.get("autoencoder")
    if autoencoder is not None:
        autoencoder.requires_grad_(False).eval()
    family.select_trainable(config, stage, networks)
    cond_drop = opts.cond_drop_prob if opts.cond_drop_prob is not None else getattr(config, "cond_drop_prob", 0.1)
    seen = networks
    if autoencoder is not None and opts.latent_cache is not None:
        from vgen.data.cache import LatentCache
        from vgen.training.latent_cache import CachedEncoder

        seen = {**networks, "autoencoder": CachedEncoder(autoencoder, LatentCache(opts.latent_cache))}
        log(f"latent cache: {opts.latent_cache} (clips already encoded by this autoencoder are read, not encoded)")
    return StagePlan(
        stage=stage, networks=networks, trainable={"unet": networks["unet"]},
        objective=family.diffusion_objective(config, seen, schedule, cond_drop),
        clip_frames=clip_frames(config, stage), ema_role="unet",
    )


def _autoencoder_plan(config: ModelConfigBase, networks: dict[str, nn.Module], opts: TrainOptions,
                      device: torch.device, log: Callable[[str], None]) -> StagePlan:
    autoencoder = networks["autoencoder"]
    autoencoder.requires_grad_(True)
    networks["unet"].requires_grad_(False)
    stage = family_of(config).autoencoder_stage(config, networks, opts, _perceptual(opts, device, log), device, log)
    finish = stage.finish
    if opts.decoder_only:
        # The encoder, and so every latent (and its normalisation statistics), stays as it is: the diffusion model
        # trained on those latents still fits the fine-tuned decoder.
        for module in autoencoder.encoder_modules():
            module.requires_grad_(False)
        finish = None
        log("decoder only: the encoder is frozen, so the latents and the diffusion model on them stay as they are")
    return StagePlan(stage="ae", networks=networks, trainable=stage.trainable, objective=stage.objective,
                     clip_frames=config.frames, betas={name: _AE_BETAS for name in stage.trainable},
                     finish=finish)


def _perceptual(opts: TrainOptions, device: torch.device, log: Callable[[str], None]) -> nn.Module | None:
    """The perceptual loss network ``--perceptual`` names (LPIPS weights or I3D), or None for L1 only."""
    if opts.perceptual == "i3d":
        from vgen.metrics.i3d_perceptual import I3DPerceptual
        from vgen.metrics.i3d_weights import load_i3d

        log("perceptual loss: I3D features (Conv3d_2c, Mixed_3c) from the offline TF-Hub weights")
        return I3DPerceptual(load_i3d(None, device)).to(device)
    if opts.perceptual is not None:
        from safetensors import SafetensorError

        from vgen.losses.perceptual import LPIPS

        try:
            perceptual = LPIPS.from_files(opts.perceptual).to(device)
        except SafetensorError as exc:
            raise VgenError(f"--perceptual {opts.perceptual!r} is not a readable safetensors file "
                            f"({str(exc).splitlines()[0]}); pass the LPIPS weights file (VGG16 + lpips heads) "
                            "or --perceptual i3d") from None
        log(f"perceptual loss: LPIPS from {opts.perceptual}")
        return perceptual
    log("no perceptual weights: training the autoencoder with L1 only")
    return None
