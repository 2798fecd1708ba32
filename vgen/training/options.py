"""Training options: everything ``vgen train`` decides that is not architecture (no torch here).

The model config (architecture, diffusion process) comes from a preset or a stored checkpoint; these
options say how to optimise it. Both are saved in the run folder's ``config.json`` and printed by
``--dry-run``.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from vgen.config.base import StrictModel

Stage = Literal["ae", "diffusion", "image", "temporal"]
StageChoice = Literal["ae", "diffusion", "all", "image", "temporal"]
SyntheticKind = Literal["bouncing", "sky", "mixed"]


class TrainOptions(StrictModel):
    """How to train one model. Defaults follow the papers where they agree (AdamW, EMA 0.9999)."""

    stage: StageChoice = Field("all", description="ae, diffusion, or all (autoencoder first, then diffusion); inflated "
                                                  "models: image, then temporal")
    steps: int = Field(1000, ge=1, description="optimisation steps of each stage that runs")
    batch_size: int = Field(8, ge=1, description="global batch: samples per optimisation step over all devices")
    accumulate: int = Field(1, ge=1, description="micro-batches accumulated per optimisation step")
    lr: float = Field(1e-4, gt=0, description="AdamW learning rate after warm-up")
    weight_decay: float = Field(0.01, ge=0)
    warmup: int = Field(0, ge=0, description="linear learning-rate warm-up steps")
    lr_decay: Literal["none", "cosine"] = Field("none", description="after warm-up: constant, or a half cosine to 0 at the last step")
    grad_clip: Optional[float] = Field(1.0, gt=0, description="clip the global gradient norm; None = off")
    ema_decay: float = Field(0.9999, ge=0, lt=1, description="EMA decay, warmed up as min(decay, (1+n)/(10+n))")
    cond_drop_prob: Optional[float] = Field(
        None, ge=0, le=1, description="class-label dropout for guidance; None = the model config's value or 0.1"
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    seed: int = Field(0, ge=0, description="every random choice of the run is a function of (seed, step, sample)")
    save_every: int = Field(500, ge=1, description="steps between checkpoints")
    preview_every: int = Field(0, ge=0, description="steps between preview GIFs; 0 = off")
    preview_steps: int = Field(10, ge=1, description="DDIM steps for preview samples")
    max_bad_steps: int = Field(10, ge=1, description="stop after this many consecutive non-finite losses")
    keep_checkpoints: int = Field(2, ge=1, description="checkpoints kept in the run folder (newest first)")
    num_workers: int = Field(0, ge=0, description="data-loading worker processes")
    cache: Optional[str] = Field(None, description="folder caching decoded, fitted videos of --data")
    latent_cache: Optional[str] = Field(None, description="folder caching autoencoder encodings for the diffusion stage")
    perceptual: Optional[str] = Field(None, description="autoencoder perceptual loss: an LPIPS weights file, or i3d (offline I3D features)")
    gan_start: Optional[int] = Field(None, ge=0, description="autoencoder step at which the GAN loss starts")
    decoder_only: bool = Field(False, description="ae stage of a trained model: train the decoder only, the encoder "
                                                  "frozen, so its latents (and the diffusion model on them) stay valid")
    data: Optional[str] = None
    synthetic: Optional[SyntheticKind] = None
    synthetic_videos: int = Field(64, ge=1, description="number of synthetic videos")
