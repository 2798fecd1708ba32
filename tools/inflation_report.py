"""What inflating an image model kept and what it added, measured on held-out synthetic clips.

    python tools/inflation_report.py --image IMAGE_MODEL --video VIDEO_MODEL --num 128 --json report.json

Samples ``--num`` clips of each model (seeds 0..num-1, DDIM ``--steps``; the video model's frame noise as
``--frame-noise`` says, default its own, the image model's always its own) and takes ``--num`` real clips of vgen's
synthetic generator from two dataset seeds the models never saw (1000 and 2000), then reports:

- per-frame looks: the pixel Fréchet distance (``vgen.metrics.frames``) of the video model's first frames and of all
  its frames against the image model's samples and against real frames, next to the image model's own distance to
  real frames and the floor of two real sets (first frames: ``num`` frames a side; all frames: ``num·T``);
- motion: the mean absolute change between consecutive frames (grey levels) of real clips, of the image model's clips
  (independent frames) and of the video model's clips.

Prints the figures on stderr and, with ``--json``, writes them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from vgen.data.synthetic_dataset import SyntheticVideoDataset
from vgen.io.atomic import refuse_existing, write_text_atomic
from vgen.io.video import tensor_to_frames
from vgen.metrics.frames import frame_frechet_distance
from vgen.metrics.generated import generated_clips
from vgen.metrics.seams import frame_changes
from vgen.pipelines.model import LoadedModel, load_model
from vgen.pipelines.settings import SamplerSettings


def real_clips(kind: str, num: int, frames: int, resolution: int, seed: int) -> np.ndarray:
    """uint8 (num, T, H, W, 3) clips of the synthetic generator with dataset ``seed``."""
    data = SyntheticVideoDataset(kind, num, frames, resolution, seed=seed)
    return np.stack([tensor_to_frames(data[i]["video"]) for i in range(num)])


def model_clips(model: LoadedModel, num: int, steps: int, frame_noise: str | None = None) -> np.ndarray:
    """uint8 (num, T, H, W, 3): one clip per seed 0..num-1 (``frame_noise`` None: the model's own)."""
    settings = SamplerSettings(steps=steps, frame_noise=frame_noise)  # type: ignore[arg-type]
    return np.stack(list(generated_clips(model, list(range(num)), start=0, frames=model.clip_frames, stride=1,
                                         settings=settings)))


def motion(clips: np.ndarray) -> float:
    """Mean change between consecutive frames over every clip (grey levels)."""
    return float(np.mean([frame_changes(clip).mean() for clip in clips]))


def report(image: np.ndarray, video: np.ndarray, real_a: np.ndarray, real_b: np.ndarray) -> dict[str, dict[str, float]]:
    """The figures of the module docstring from uint8 (N, T, H, W, 3) clip sets."""
    first = {name: clips[:, 0] for name, clips in (("image", image), ("video", video), ("real_a", real_a),
                                                   ("real_b", real_b))}
    every = {name: clips.reshape(-1, *clips.shape[2:]) for name, clips in (("image", image), ("video", video),
                                                                           ("real_a", real_a), ("real_b", real_b))}
    pairs = (("video_vs_image", "video", "image"), ("video_vs_real", "video", "real_a"),
             ("image_vs_real", "image", "real_a"), ("real_vs_real", "real_b", "real_a"))
    return {
        "frechet_first_frames": {key: frame_frechet_distance(first[a], first[b]) for key, a, b in pairs},
        "frechet_all_frames": {key: frame_frechet_distance(every[a], every[b]) for key, a, b in pairs},
        "motion": {"real": motion(real_a), "image": motion(image), "video": motion(video)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True, help="the image model (stage image)")
    parser.add_argument("--video", required=True, help="the inflated model (stage temporal)")
    parser.add_argument("--num", type=int, default=128, help="clips per set (default 128)")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps (default 50)")
    parser.add_argument("--frame-noise", choices=("independent", "shared-mean"),
                        help="the video model's frame noise (default: its config's diffusion.frame_noise)")
    parser.add_argument("--kind", default="bouncing", help="synthetic data kind the models were trained on")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    refusal = refuse_existing(args.json, "--json")
    if refusal:
        parser.error(refusal)
    started = time.perf_counter()
    image_model, video_model = load_model(args.image, "cpu"), load_model(args.video, "cpu")
    frames, resolution = video_model.clip_frames, video_model.resolution
    figures = report(model_clips(image_model, args.num, args.steps), model_clips(video_model, args.num, args.steps, args.frame_noise),
                     real_clips(args.kind, args.num, frames, resolution, 1000),
                     real_clips(args.kind, args.num, frames, resolution, 2000))
    figures["setup"] = {"num": args.num, "frames": frames, "resolution": resolution, "steps": args.steps,
                        "video_frame_noise": SamplerSettings(frame_noise=args.frame_noise).for_model(video_model).frame_noise,
                        "seconds": round(time.perf_counter() - started, 1)}
    for section, values in figures.items():
        print(f"{section}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()), file=sys.stderr)
    if args.json:
        write_text_atomic(args.json, json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
