"""The inflated family's training objective: the denoising loss of the image model on frames, or of the video model
on clips (which of its parameters train is the stage's choice, ``InflatedFamily.select_trainable``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vgen.diffusion.schedules import Schedule
from vgen.families.inflated.config import InflatedConfig
from vgen.training.objectives import Generators, denoising_loss, drop_labels, randint_per_sample
from vgen.training.trainer import Batch, Objective


def inflated_objective(config: InflatedConfig, networks: dict[str, nn.Module], schedule: Schedule,
                       cond_drop_prob: float) -> Objective:
    """The image model sees one random frame of each clip (drawn from the sample's generator) as an independent
    image; the video model sees the clip."""
    unet = networks["unet"]

    def objective(batch: Batch, generators: Generators) -> dict[str, Tensor]:
        x0 = batch.video  # (B, 3, T, H, W)
        if not config.temporal:
            frame = randint_per_sample(generators, 0, x0.shape[2], x0.device)
            x0 = x0[torch.arange(x0.shape[0], device=x0.device), :, frame].unsqueeze(2)  # (B, 3, 1, H, W)
        labels = drop_labels(batch.labels, config.num_classes, cond_drop_prob, generators)
        loss = denoising_loss(lambda x_t, t: unet(x_t, t, class_labels=labels), x0, schedule, config.diffusion,
                              generators)
        return {"unet": loss}

    return objective
