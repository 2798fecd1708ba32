"""DiT family training objectives. The causal autoencoder stage: L1 reconstruction from a posterior sample drawn
with each sample's generator, + ``kl_weight`` · KL(q(z|x) || N(0, I)) (summed over latent elements, averaged over
the batch; zero for a plain latent), + an optional perceptual term (LPIPS on every frame, or a clip distance for a
``per_clip`` module such as I3D).
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from vgen.sampling.noise import randn_per_sample
from vgen.training.objectives import Generators
from vgen.training.trainer import Batch, Objective


def dit_autoencoder_objective(autoencoder: nn.Module, perceptual: nn.Module | None = None,
                              kl_weight: float = 1e-6) -> Objective:
    """The causal autoencoder's loss (``kl_weight`` defaults to ``CausalAutoencoderConfig.kl_weight``)."""

    def objective(batch: Batch, generators: Generators) -> dict[str, Tensor]:
        video = batch.video
        posterior = autoencoder.posterior(video)
        recon = autoencoder.decode_raw(posterior.mean + posterior.std * randn_per_sample(posterior.mean, generators))
        loss = (recon - video).abs().mean() + kl_weight * posterior.kl().mean()
        if perceptual is None:
            return {"autoencoder": loss}
        if getattr(perceptual, "per_clip", False):
            return {"autoencoder": loss + perceptual(video, recon)}
        frames = (rearrange(v, "b c t h w -> (b t) c h w") for v in (video, recon))
        return {"autoencoder": loss + perceptual(*frames).mean()}

    return objective
