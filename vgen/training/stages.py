"""Assemble a :class:`StagePlan` for (family, stage): which modules train, with which objective."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from vgen.config.base import ModelConfigBase
from vgen.diffusion.schedules import Schedule
from vgen.errors import VgenError
from vgen.training import objectives
from vgen.training.options import Stage, TrainOptions
from vgen.training.order import derive_seed
from vgen.training.trainer import StagePlan, collate

# Autoencoders of PVDM and LVDM are trained with Adam betas (0.5, 0.9) (pvdm.md §1.6, lvdm-vdm.md §A.2).
_AE_BETAS = (0.5, 0.9)
# Clips encoded to fit the LVDM latent scale/shift after the autoencoder stage.
_STATS_CLIPS = 32


def clip_frames(config: ModelConfigBase, stage: Stage) -> int:
    """Frames per training clip: PVDM diffusion loads two consecutive clips (previous-clip conditioning)."""
    return 2 * config.frames if stage == "diffusion" and getattr(config, "family") == "pvdm" else config.frames


def make_plan(stage: Stage, config: ModelConfigBase, networks: dict[str, nn.Module], opts: TrainOptions,
              schedule: Schedule, device: torch.device, log: Callable[[str], None]) -> StagePlan:
    family = getattr(config, "family")
    if stage == "ae":
        return _autoencoder_plan(family, config, networks, opts, device, log)
    autoencoder = networks.get("autoencoder")
    if autoencoder is not None:
        autoencoder.requires_grad_(False).eval()
    networks["unet"].requires_grad_(True)
    cond_drop = opts.cond_drop_prob if opts.cond_drop_prob is not None else getattr(config, "cond_drop_prob", 0.1)
    make = {
        "pvdm": objectives.pvdm_diffusion_objective,
        "vdm": objectives.vdm_diffusion_objective,
        "lvdm": objectives.lvdm_diffusion_objective,
    }[family]
    seen = networks
    if autoencoder is not None and opts.latent_cache is not None:
        from vgen.data.cache import LatentCache
        from vgen.training.latent_cache import CachedEncoder

        seen = {**networks, "autoencoder": CachedEncoder(autoencoder, LatentCache(opts.latent_cache))}
        log(f"latent cache: {opts.latent_cache} (clips already encoded by this autoencoder are read, not encoded)")
    return StagePlan(
        stage="diffusion", networks=networks, trainable={"unet": networks["unet"]},
        objective=make(config, seen, schedule, cond_drop),
        clip_frames=clip_frames(config, "diffusion"), ema_role="unet",
    )


def _autoencoder_plan(family: str, config: ModelConfigBase, networks: dict[str, nn.Module], opts: TrainOptions,
                      device: torch.device, log: Callable[[str], None]) -> StagePlan:
    autoencoder = networks["autoencoder"]
    autoencoder.requires_grad_(True)
    networks["unet"].requires_grad_(False)
    perceptual = None
    if opts.perceptual == "i3d":
        from vgen.metrics.i3d_perceptual import I3DPerceptual
        from vgen.metrics.i3d_weights import load_i3d

        perceptual = I3DPerceptual(load_i3d(None, device)).to(device)
        log("perceptual loss: I3D features (Conv3d_2c, Mixed_3c) from the offline TF-Hub weights")
    elif opts.perceptual is not None:
        from safetensors import SafetensorError

        from vgen.models.perceptual import LPIPS

        try:
            perceptual = LPIPS.from_files(opts.perceptual).to(device)
        except SafetensorError as exc:
            raise VgenError(f"--perceptual {opts.perceptual!r} is not a readable safetensors file "
                            f"({str(exc).splitlines()[0]}); pass the LPIPS weights file (VGG16 + lpips heads) "
                            "or --perceptual i3d") from None
        log(f"perceptual loss: LPIPS from {opts.perceptual}")
    else:
        log("no perceptual weights: training the autoencoder with L1 only")
    trainable: dict[str, nn.Module] = {"autoencoder": autoencoder}
    finish = None
    if family == "pvdm":
        from vgen.models.pvdm_losses import AutoencoderLoss

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(opts.seed, "discriminator"))
            loss = AutoencoderLoss(perceptual=perceptual, gan=opts.gan_start is not None).to(device)
        if opts.gan_start is not None:
            trainable["discriminator"] = nn.ModuleList([loss.disc_2d, loss.disc_3d])
            log(f"adversarial loss (2D + 3D PatchGAN) from autoencoder step {opts.gan_start}")
        objective = objectives.pvdm_autoencoder_objective(autoencoder, loss, opts.gan_start)
    else:
        if opts.gan_start is not None:
            raise VgenError("--gan-start is available for PVDM autoencoders only; drop it for LVDM")
        objective = objectives.lvdm_autoencoder_objective(autoencoder, perceptual)
        finish = _fit_latent_stats(autoencoder, opts, device, log)
    return StagePlan(stage="ae", networks=networks, trainable=trainable, objective=objective,
                     clip_frames=config.frames, betas={name: _AE_BETAS for name in trainable}, finish=finish)


def _fit_latent_stats(autoencoder: nn.Module, opts: TrainOptions, device: torch.device,
                      log: Callable[[str], None]) -> Callable[[torch.utils.data.Dataset], None]:
    """LVDM: after the AE stage set shift = −mean, scale = 1/std of posterior-sample latents of training clips."""

    @torch.no_grad()
    def finish(dataset: torch.utils.data.Dataset) -> None:
        count = min(len(dataset), _STATS_CLIPS)
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(derive_seed(opts.seed, "stats")))
        autoencoder.eval()
        latents = []
        for start in range(0, count, 4):
            video, _ = collate([dataset[int(i)] for i in order[start:min(start + 4, count)]])
            g = torch.Generator(device=device).manual_seed(derive_seed(opts.seed, "stats", start))
            latents.append(autoencoder.posterior(video.to(device)).sample(g).float().cpu())
        autoencoder.fit_latent_stats(torch.cat(latents))
        log(f"latent statistics from {count} clips: scale {float(autoencoder.scale_factor):.4g}, "
            f"shift {float(autoencoder.shift_factor):.4g}")

    return finish
