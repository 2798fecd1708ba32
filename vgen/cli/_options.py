"""The option types that ``sample``, ``extend``, ``interpolate`` and ``upscale`` share, and the default model."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vgen.cli._types import finite_float

DEFAULT_MODEL = "pvdm-mini-bouncing"
# `vgen interpolate` without --model: the bundled frame-aligned model, started from the blended keys at the strength
# that measured best for it (README "The bundled models").
DEFAULT_INTERPOLATION_MODEL = "vdm-mini-bouncing"
DEFAULT_INTERPOLATION_STRENGTH = 0.2

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model: a store name, a bundled name or a folder.",
                                       rich_help_panel="Model")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.", rich_help_panel="Model")]
SeedOpt = Annotated[int, typer.Option("--seed", "-s", min=0, help="Random seed; the same seed gives the same video.",
                                      rich_help_panel="Sampling")]
SamplerOpt = Annotated[Optional[str], typer.Option(
    "--sampler", help="ddpm, ddim, langevin or dpm++ \\[default: the model's, else ddim].", rich_help_panel="Sampling")]
StepsOpt = Annotated[Optional[int], typer.Option(
    "--steps", show_default=False, rich_help_panel="Sampling",
    help="Denoising steps per clip \\[default: the model's, else 50; with an official sampler, the paper's: PVDM 400, "
    "LVDM 50].")]
EtaOpt = Annotated[Optional[float], typer.Option(
    "--eta", parser=finite_float, help="DDIM stochasticity (0 = deterministic, 1 = DDPM-like); a DDIM knob, refused with "
    "other samplers \\[default: 0].", rich_help_panel="Sampling")]
GridOpt = Annotated[Optional[str], typer.Option(
    "--schedule-grid", help="Timestep grid: linspace, leading, trailing, or the official grids alone (pvdm, ldm); "
    "official = the model family's published DDIM sampler (PVDM, LVDM): its grid, eta 1 unless --eta, its x0 "
    "clamping \\[default: the model's: official for imported checkpoints, else linspace].", rich_help_panel="Sampling")]
FrameNoiseOpt = Annotated[Optional[str], typer.Option(
    "--frame-noise", show_default=False, rich_help_panel="Sampling",
    help="How the noise of a clip's frames relates: independent, or shared-mean (the frames share one spatial mean "
    "per channel, each frame's noise still N(0, I): no colour flicker from an inflated image model) \\[default: the "
    "model's diffusion.frame_noise, independent unless it was trained otherwise].")]
GuidanceOpt = Annotated[Optional[float], typer.Option(
    "--guidance", parser=finite_float, help="Guidance weight w in (1+w)·eps_cond − w·eps_uncond: PVDM previous-clip and class "
    "guidance (default 0), LVDM unconditional guidance (default: the model's, 0.1).", rich_help_panel="Sampling")]
MotionGuidanceOpt = Annotated[Optional[float], typer.Option(
    "--motion-guidance", parser=finite_float, help="Motion-free guidance weight w (GenTron; DiT models): (1+w)·out with "
    "temporal attention − w·out without it.", rich_help_panel="Sampling")]
StrengthOpt = Annotated[Optional[float], typer.Option(
    "--strength", parser=finite_float, help="Start each clip from the given frames blended, noised to this level, and "
    "denoise from there (SDEdit): 1 = from pure noise (default); 0.2 keeps blending's static background and lets the "
    "model redraw what moves.", rich_help_panel="Sampling")]
ReconOpt = Annotated[float, typer.Option(
    "--recon-weight", parser=finite_float, help="w_r of reconstruction guidance (VDM eq. 7); larger follows the known frames harder.",
    rich_help_panel="Sampling")]
FitStepsOpt = Annotated[int, typer.Option(
    "--fit-steps", min=0, help="PVDM models whose clips overlap (trained with --cond-overlap): Adam steps fitting each "
    "new clip's time-shared plane so the frames it re-makes match the video's; closer seams, but long videos decay "
    "(README, 'What limits quality') \\[default: 0, off].", rich_help_panel="Sampling")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="Output .mp4, .gif, a folder, or - for stdout.",
                                        rich_help_panel="Output")]
FormatOpt = Annotated[Optional[str], typer.Option("--format", "-f", help="mp4, gif or frames (needed with -o -).",
                                                  rich_help_panel="Output")]
FpsOpt = Annotated[Optional[float], typer.Option("--fps", parser=finite_float, help="Frame rate of the output file.",
                                                 rich_help_panel="Output")]
CompileOpt = Annotated[bool, typer.Option(
    "--compile", help="torch.compile the denoiser first (opt-in): the first step compiles (its time is printed); "
    "worth it for long runs and on GPUs, measure before relying on it (benchmarks/harness.py --only compile).",
    rich_help_panel="Model")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a one-line JSON summary on stdout.",
                                       rich_help_panel="Output")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or final line.",
                                        rich_help_panel="Output")]
AugLevelOpt = Annotated[Optional[float], typer.Option(
    "--aug-level", parser=finite_float, help="Upscaling models: noise-augmentation level s in [0, 1) the input is "
    "conditioned at (0 = as given; higher trusts its fine detail less) \\[default: the model's].",
    rich_help_panel="Sampling")]
