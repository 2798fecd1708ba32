"""FI training objective: masked frame interpolation and extrapolation (Make-A-Video §3.3) on the residual from the
neighbouring keys' blend, with optional noise conditioning augmentation of the known frames (Imagen Video).

Per sample, in a fixed order from its own generator: the mask and frame skip, the augmentation level and noise (only
when ``aug_max_level > 0``), then the timestep and noise of the denoising loss. The loss covers the unknown frames.
"""

from __future__ import annotations

from torch import Tensor, nn

from vgen.diffusion.schedules import Schedule
from vgen.families.fi.conditioning import augment, neighbours, training_masks
from vgen.families.fi.config import FIConfig
from vgen.training.objectives import Generators, denoising_loss, randint_per_sample
from vgen.training.trainer import Batch, Objective


def fi_diffusion_objective(config: FIConfig, networks: dict[str, nn.Module], schedule: Schedule) -> Objective:
    unet = networks["unet"]

    def objective(batch: Batch, generators: Generators) -> dict[str, Tensor]:
        video = batch.video  # (B, 3, T, H, W)
        mask, skip = training_masks(generators, video.shape[2], config.p_extrapolate, video.device)
        known, level = video * mask, None
        if config.aug_max_level:
            level = randint_per_sample(generators, 0, config.aug_max_level, video.device)
            known = augment(known, mask, schedule, level, generators)
        residual = config.residual_scale * (video - neighbours(known, mask).blend)
        loss = denoising_loss(lambda x_t, t: unet(x_t, t, known=known, mask=mask, skip=skip, aug_level=level),
                              residual, schedule, config.diffusion, generators, 1 - mask)
        return {"unet": loss}

    return objective
