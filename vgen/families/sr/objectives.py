"""SR training objective: denoise the full-resolution clip given its degraded, noise-augmented low-resolution copy.

Per sample, in this order from its generator: the class-label dropout, the augmentation level s ~ U[0, aug_max], the
augmentation noise, then the diffusion timestep and noise. The low-resolution clip is rounded to 8 bits first, as
the videos ``vgen upscale`` reads are.
"""

from __future__ import annotations

from torch import Tensor, nn

from vgen.diffusion.schedules import Schedule
from vgen.families.sr.augment import augment, downscale, level_timestep
from vgen.families.sr.config import SRConfig
from vgen.sampling.noise import randn_per_sample
from vgen.training.objectives import Generators, denoising_loss, drop_labels, uniform_per_sample
from vgen.training.trainer import Batch, Objective


def quantise(video: Tensor) -> Tensor:
    """Round a [-1, 1] video to the 256 levels of an 8-bit frame (what ``frames_to_tensor`` gives back)."""
    return ((video + 1) * 127.5).round().clamp(0, 255) / 127.5 - 1


def sr_diffusion_objective(config: SRConfig, networks: dict[str, nn.Module], schedule: Schedule,
                           cond_drop_prob: float) -> Objective:
    """Noise conditioning augmentation (Cascaded Diffusion Models, Ho et al. 2021) on a pixel-space video model."""
    unet = networks["unet"]

    def objective(batch: Batch, generators: Generators) -> dict[str, Tensor]:
        video = batch.video  # (B, 3, T, H, W)
        labels = drop_labels(batch.labels, config.num_classes, cond_drop_prob, generators)
        lowres = quantise(downscale(video, config.scale))
        level = uniform_per_sample(generators, video.device) * config.aug_max
        noisy = augment(lowres, level, randn_per_sample(lowres, generators), schedule)
        aug_t = level_timestep(level, schedule).to(video.device)
        loss = denoising_loss(lambda x_t, t: unet(x_t, t, lowres=noisy, aug_t=aug_t, class_labels=labels),
                              video, schedule, config.diffusion, generators)
        return {"unet": loss}

    return objective
