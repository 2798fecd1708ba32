"""Window seams of `vgen upscale`: the frame change where one sampler window ends and the next begins.

    python tools/upscale_seams.py --model my-sr --data held-out/ --num 16 --frames 32 --json seams.json

Consecutive windows of an SR model are conditioned on different low-resolution frames and sampled apart, so they
can flicker where they join. For each video of ``--data`` (read at the model's output size, first ``--frames``
frames), the tool degrades it as the model was trained, upscales it with each window scheme below, and reports the
mean frame change (``vgen.metrics.seams``: grey levels) at the window boundaries against inside windows, with the
PSNR against the true video:

- ``fresh``: no overlap, every window with its own seed (seed·1000 + window index);
- ``shared``: no overlap, every window with the run's seed (all windows start from the same noise);
- ``overlap``: ``--overlap`` frames (default: what `vgen upscale` uses) kept from the previous window by
  replacement, with the shared seed: the default of `vgen upscale`;
- ``truth`` and ``bicubic``: the true video and plain bicubic upscaling, measured at the default scheme's
  boundaries (real motion, for scale).

Prints a table on stderr and, with ``--json``, writes every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from vgen.io.atomic import refuse_existing, write_text_atomic
from vgen.io.video import frames_to_tensor, read_all
from vgen.metrics.clips import discover
from vgen.metrics.reconstruction import psnr_per_video
from vgen.metrics.seams import SeamReport
from vgen.metrics.upscale import baseline_frames, degrade_frames
from vgen.pipelines import windows as W
from vgen.pipelines.model import LoadedModel, load_model
from vgen.pipelines.settings import SamplerSettings
from vgen.pipelines.upscale import UpscaleOptions, check_options, sliding_windows


def upscale_with(model: LoadedModel, source: np.ndarray, settings: SamplerSettings, *, overlap: int,
                 seeds: Callable[[int], int], level: Optional[float]) -> np.ndarray:
    """``source`` upscaled by the generic sliding windows with the given overlap and per-window seeds."""
    plan = sliding_windows(model, [source], overlap=overlap, level=level, seeds=seeds)
    return np.concatenate(list(W.run(model, plan, settings=settings, seed=0)))


def psnr(truth: np.ndarray, made: np.ndarray) -> float:
    as_video = lambda x: frames_to_tensor(x).double().add(1).div(2)  # noqa: E731
    return float(psnr_per_video(as_video(truth), as_video(made))[0])


def measure(model: LoadedModel, videos: list[np.ndarray], settings: SamplerSettings, *, overlap: int, seed: int,
            level: Optional[float]) -> dict[str, dict[str, float | None]]:
    clip = model.clip_frames
    schemes = {"fresh": (0, lambda k: seed * 1000 + k), "shared": (0, lambda k: seed),
               "overlap": (overlap, lambda k: seed)}
    reports = {name: SeamReport(clip, clip - o) for name, (o, _) in schemes.items()}
    reports |= {"truth": SeamReport(clip, clip - overlap), "bicubic": SeamReport(clip, clip - overlap)}
    psnrs: dict[str, list[float]] = {name: [] for name in reports}
    for video in videos:
        source = degrade_frames(model, video)
        made = {name: upscale_with(model, source, settings, overlap=o, seeds=seeds, level=level)
                for name, (o, seeds) in schemes.items()}
        made["truth"] = video
        made["bicubic"] = baseline_frames(model, source)
        for name, frames in made.items():
            reports[name].add(frames)
            psnrs[name].append(psnr(video, frames))
    return {name: {**report.scores(), "psnr": float(np.mean(psnrs[name])) if name != "truth" else None,
                   "first_boundary": report.first, "every": report.every} for name, report in reports.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="an upscaling model: store name, bundled name or folder")
    parser.add_argument("--data", type=Path, required=True, help="folder of held-out videos (read at the model's size)")
    parser.add_argument("--num", type=int, default=16, help="videos to use")
    parser.add_argument("--frames", type=int, default=32, help="frames of each video (several windows)")
    parser.add_argument("--overlap", type=int, help="overlap of the default scheme (default: vgen upscale's)")
    parser.add_argument("--aug-level", type=float, help="noise-augmentation level (default: the model's)")
    parser.add_argument("--sampler", default="ddim")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    refusal = refuse_existing(args.json, "--json")
    if refusal:
        parser.error(refusal)

    model = load_model(args.model, device=args.device)
    overlap = check_options(model, UpscaleOptions(overlap=args.overlap, aug_level=args.aug_level))
    if args.frames <= model.clip_frames:
        parser.error(f"--frames must exceed the model's {model.clip_frames}-frame window to hold a seam")
    videos = []
    for source in discover(args.data):
        video = read_all(source.path, size=model.resolution, fit="crop", max_frames=args.frames)
        if len(video) == args.frames:
            videos.append(video)
        if len(videos) == args.num:
            break
    if not videos:
        parser.error(f"no video in {args.data} has {args.frames} frames")
    settings = SamplerSettings(sampler=args.sampler, steps=args.steps)  # type: ignore[arg-type]
    result = measure(model, videos, settings, overlap=overlap, seed=args.seed, level=args.aug_level)
    report = {"model": args.model, "videos": len(videos), "frames": args.frames, "sampler": args.sampler,
              "steps": args.steps, "overlap": overlap, "aug_level": args.aug_level, "schemes": result}
    print(f"{'scheme':<9} {'seam':>7} {'inside':>7} {'ratio':>6} {'PSNR':>6}", file=sys.stderr)
    for name, row in result.items():
        psnr_text = f"{row['psnr']:6.2f}" if row["psnr"] is not None else "     -"
        print(f"{name:<9} {row['seam_change']:7.2f} {row['inside_change']:7.2f} {row['seam_ratio']:6.2f} {psnr_text}",
              file=sys.stderr)
    if args.json:
        write_text_atomic(args.json, json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
