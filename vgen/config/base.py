"""Fields shared by every model family's configuration (no torch imports here)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from vgen.frame_noise import FrameNoise
from vgen.schedule_grids import SamplerName, ScheduleGrid


class StrictModel(BaseModel):
    """Base for all vgen configs: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def check_heads_divide(model_channels: int, channel_mult: tuple[int, ...], head_dim: int) -> None:
    """``head_dim`` must divide the channels of every UNet level wider than one head (ValueError otherwise)."""
    for mult in channel_mult:
        channels = mult * model_channels
        if channels > head_dim and channels % head_dim:
            raise ValueError(f"head_dim {head_dim} must divide every level's channels (got {channels})")


class DiffusionConfig(StrictModel):
    """The forward process and training target of a diffusion model.

    ``scaled_linear`` is linear in sqrt(beta) (LDM/PVDM/LVDM); ``linear`` is DDPM's; ``cosine`` is
    Nichol & Dhariwal's. Beta endpoints left unset take the chosen schedule's published defaults.
    """

    schedule: Literal["linear", "scaled_linear", "cosine"] = "scaled_linear"
    timesteps: int = Field(1000, ge=2)
    beta_start: Optional[float] = Field(
        None, gt=0, description="None = the schedule's own default (linear 1e-4, scaled_linear 0.0015)")
    beta_end: Optional[float] = Field(
        None, gt=0, description="None = the schedule's own default (linear 0.02, scaled_linear 0.0195)")
    prediction: Literal["eps", "v", "x0"] = "eps"
    loss: Literal["mse", "l1"] = "mse"
    min_snr_gamma: Optional[float] = Field(None, gt=0)
    clip_x0: Optional[float] = Field(None, gt=0, description="clamp predicted x0 to [-c, c] while sampling")
    schedule_grid: ScheduleGrid = Field(
        "linspace", description="the step grid sampling uses unless --schedule-grid says otherwise; 'official' (set by "
                                "vgen import) = the family's published DDIM sampler: its grid, eta and x0 clamping")
    frame_noise: FrameNoise = Field(
        "independent", description="noise of a clip's frames, in training and sampling (--frame-noise overrides it at "
                                   "sampling): independent, or shared-mean (the frames share one spatial mean per "
                                   "channel; each frame's noise is still N(0, I)); frame-aligned latents only")
    sampler: Optional[SamplerName] = Field(
        None, description="the sampler this model samples with unless --sampler says otherwise (None: vgen's default, "
                          "ddim); chosen from measurements for the bundled models")
    sampling_steps: Optional[int] = Field(
        None, ge=1, description="the step count of that sampler unless --steps says otherwise (None: vgen's default, 50); "
                          "another sampler asked for with --sampler runs vgen's default count")


class ModelConfigBase(StrictModel):
    """What every family records: the clip it models and how it diffuses."""

    name: str = Field(description="preset or user-given model name")
    frames: int = Field(ge=1, description="frames in one generated clip")
    resolution: int = Field(ge=8, description="square frame size in pixels")
    fps: int = Field(8, ge=1, description="frame rate the model was trained at")
    num_classes: int = Field(0, ge=0, description="0 = unconditional; >0 = class-conditional with a null label")
    diffusion: DiffusionConfig = Field(default_factory=DiffusionConfig)
