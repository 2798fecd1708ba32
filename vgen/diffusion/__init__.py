"""The diffusion process: noise schedules, network parameterisations and training losses (no models, no I/O)."""

from vgen.diffusion.losses import LossOutput, diffusion_loss, min_snr_weight, regression_loss
from vgen.diffusion.parameterisation import Denoiser, DenoiserFn, Prediction, PredictionKind, to_prediction
from vgen.diffusion.schedules import Schedule, make_schedule, schedule_from_config

__all__ = [
    "Denoiser", "DenoiserFn", "LossOutput", "Prediction", "PredictionKind", "Schedule", "diffusion_loss",
    "make_schedule", "min_snr_weight", "regression_loss", "schedule_from_config", "to_prediction",
]
