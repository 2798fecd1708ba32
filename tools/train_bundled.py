"""Retrain vgen's bundled models from scratch with `vgen train`, resumably across sittings.

    python tools/train_bundled.py pvdm-mini-bouncing            # run (or continue) every stage
    python tools/train_bundled.py lvdm-mini-bouncing --runs ~/vgen-recipe
    python tools/train_bundled.py pvdm-mini-bouncing --dry-run  # print the commands only
    python tools/train_bundled.py pvdm-mini-bouncing --install vgen/assets/models
    python tools/train_bundled.py vdm-mini-bouncing --device cuda --num-workers 2   # the GPU recipes

Each model is a list of `vgen train` stages. A stage writes its run folder under ``--runs`` and registers
its result in the model store (``$VGEN_HOME``) under ``<model>--<stage>``; the next stage fine-tunes that
stored model. Stop at any moment (Ctrl-C, SIGTERM, even kill -9: checkpoints are atomic) and run the same
command again: finished stages are skipped and an interrupted one continues bit-exactly with ``--resume``.
A model with sampling defaults in ``DEFAULTS`` gets a last step: a copy of the final stage with those fields set
(``tools/set_defaults.py``; ``<model>--defaults``, rebuilt on every run). With ``--install DIR`` the finished model
is copied to ``DIR/<model>`` (how the bundled copies were made).

Every stage draws fresh clips from vgen's synthetic generator (100,000 videos of dataset seed 0, or 1 for the
continuation stages, so they see other clips); evaluation uses other dataset seeds (1000 and up). Threads: one per process (``OMP_NUM_THREADS=1``), which
was the fastest setting on the shared 2-core machine the bundled models were trained on.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from vgen.errors import VgenError
from vgen.io.store import models_dir

DATA = ("--synthetic", "bouncing", "--synthetic-videos", "100000")


@dataclass(frozen=True)
class Stage:
    name: str
    start: str  # a preset, or the name of the previous stage ("@stage")
    args: tuple[str, ...]
    seed: int = 0  # the run's seed: data order, synthetic videos, initial weights and noise


RECIPES: dict[str, tuple[Stage, ...]] = {
    # PVDM: the projected autoencoder, then the plane UNet with v-prediction and previous-clip conditioning
    # (λ = 0.5, from the pvdm-mini preset). A second autoencoder stage at lr 4e-4 from step 1500 was tried and
    # scored lower on held-out clips at the same total steps (23.8 vs 25.0 dB), so the rate stays at 2e-3.
    "pvdm-mini-bouncing": (
        Stage("ae", "pvdm-mini", ("--stage", "ae", "--steps", "2500", "--lr", "2e-3", "--warmup", "200",
                                  "--batch-size", "8")),
        Stage("diffusion", "@ae", ("--stage", "diffusion", "--steps", "1750", "--lr", "1e-3",
                                   "--warmup", "100", "--batch-size", "16", "--ema-decay", "0.999")),
        # The autoencoder was still improving at 2500 steps (held-out PSNR bounds the seams), so it trains on,
        # carrying the plane UNet along, with the rate decayed to 0; then the UNet adapts to the sharper latents.
        Stage("ae-more", "@diffusion", ("--stage", "ae", "--steps", "2500", "--lr", "2e-3", "--warmup", "100",
                                        "--lr-decay", "cosine", "--batch-size", "8"), seed=1),
        Stage("diffusion-more", "@ae-more", ("--stage", "diffusion", "--steps", "800", "--lr", "1e-3",
                                             "--warmup", "50", "--lr-decay", "cosine", "--batch-size", "16",
                                             "--ema-decay", "0.999"), seed=1),
        # A fifth CPU stage, 1,600 more plane-UNet steps at 5e-4 (cosine, fresh clips, seed 2), changed nothing
        # measurable (FVD16 1236 -> 1198 at N = 128, seam ratio 5.33 -> 5.29). The last two stages ran on one H100
        # (bf16 autocast, `--device cuda --num-workers 3`, beside four other runs): 4x the batch and 3x the clips
        # of all CPU stages together (README "What limits quality").
        Stage("ae-gpu", "@diffusion-more", ("--stage", "ae", "--steps", "4640", "--lr", "1e-3", "--warmup", "100",
                                            "--lr-decay", "cosine", "--batch-size", "32"), seed=2),
        Stage("diffusion-gpu", "@ae-gpu", ("--stage", "diffusion", "--steps", "2056", "--lr", "1e-3", "--warmup",
                                           "100", "--lr-decay", "cosine", "--batch-size", "64", "--ema-decay",
                                           "0.9995"), seed=2),
        # Overlapping clips (#10's seams), one CPU thread, 58 min: the plane UNet fine-tuned to clips that begin with
        # the last 4 frames of the clip they are conditioned on (time-aligned condition), λ = 0.8 (README "What limits
        # quality", point 5). It started from the bundled six-stage model, which is this recipe's `diffusion-gpu`.
        Stage("overlap", "@diffusion-gpu", ("--stage", "diffusion", "--cond-overlap", "4", "--cond-prob", "0.8",
                                            "--steps", "2400", "--lr", "5e-4", "--warmup", "50", "--lr-decay",
                                            "cosine", "--batch-size", "16", "--ema-decay", "0.999"), seed=3),
    ),
    # VDM in pixel space, frame-aligned: the interpolation model (vdm-mini preset: 8-frame clips, v-prediction,
    # half of the known-frame masks are every 2nd/3rd/4th frame).
    # 2,000 steps at batch 8 on the CPU repainted the static background (25.7 dB against 32.6 for blending), so it
    # trains from scratch on the GPU: 5,408 steps at batch 32 (one H100, bf16 autocast, beside four other runs).
    "vdm-mini-bouncing": (
        Stage("diffusion", "vdm-mini", ("--stage", "diffusion", "--steps", "5408", "--lr", "1e-3", "--warmup", "200",
                                        "--lr-decay", "cosine", "--batch-size", "32", "--ema-decay", "0.9995"),
              seed=4),
    ),
    # DiT (GenTron / W.A.L.T.-style transformer over a causal 3D autoencoder's latents), the FVD check of the
    # transformer family: 17-frame 32² clips, latents 5 × 8 × 8. A first attempt with 1,000 autoencoder steps at
    # 2e-3 learned only the background (flat frames, 16.2 dB on a held-out clip), so the autoencoder trains longer.
    # 4,000 autoencoder steps at batch 8 took over 3 CPU hours, so both stages ran on the GPU (one H100, bf16
    # autocast, beside four other runs).
    "dit-mini-bouncing": (
        Stage("ae", "dit-mini", ("--stage", "ae", "--steps", "7395", "--lr", "1e-3", "--warmup", "200",
                                 "--lr-decay", "cosine", "--batch-size", "32"), seed=5),
        Stage("diffusion", "@ae", ("--stage", "diffusion", "--steps", "992", "--lr", "1e-3", "--warmup", "99",
                                   "--lr-decay", "cosine", "--batch-size", "32", "--ema-decay", "0.9995"), seed=5),
    ),
    # FI (Make-A-Video's frame interpolation network) in pixel space: the fi-mini preset (5-frame clips, keys every
    # 2nd/3rd/4th frame or the first/last frames, residual from frame blending, v-prediction), 4200 steps in two
    # stages, about 30 CPU minutes on one thread of the shared 2-core CPU.
    "fi-mini-bouncing": (
        Stage("diffusion", "fi-mini", ("--stage", "diffusion", "--steps", "2400", "--lr", "1e-3", "--warmup", "100",
                                       "--lr-decay", "cosine", "--batch-size", "8", "--ema-decay", "0.999")),
        # After 2400 steps it beat blending on lossless held-out clips but still painted about 1.7 grey levels of
        # error over the static background, so it trains on, on fresh clips, at half the rate, decayed to 0.
        Stage("diffusion-more", "@diffusion", ("--stage", "diffusion", "--steps", "1800", "--lr", "5e-4",
                                               "--warmup", "50", "--lr-decay", "cosine", "--batch-size", "8",
                                               "--ema-decay", "0.999"), seed=1),
    ),
    # LVDM, frame-aligned (no temporal downsampling): the 3D-conv autoencoder, then the latent UNet with
    # prediction, interpolation and every-r-th-frame key masks and v-prediction (the lvdm-mini preset).
    "lvdm-mini-bouncing": (
        Stage("ae", "lvdm-mini", ("--stage", "ae", "--steps", "3000", "--lr", "2e-3", "--warmup", "200",
                                  "--batch-size", "8")),
        Stage("diffusion", "@ae", ("--stage", "diffusion", "--steps", "4000", "--lr", "1e-3", "--warmup", "100",
                                   "--batch-size", "16", "--ema-decay", "0.999")),
    ),
    # Spatial super-resolution (the sr-mini preset: 8 x 32² from 8 x 16², pixel space, v-prediction, residual
    # preconditioning over bicubic upsampling, noise conditioning augmentation).
    "sr-mini-bouncing": (
        Stage("diffusion", "sr-mini", ("--steps", "1000", "--lr", "1e-3", "--warmup", "50", "--lr-decay", "cosine",
                                       "--batch-size", "4", "--ema-decay", "0.995")),
    ),
    # An inflated image model (the inflated-mini preset, pixel space): the 2D UNet on single frames of the clips,
    # then its temporal layers alone (every spatial weight frozen) on the clips. Not bundled: the measurement of
    # README "Inflating an image model".
    "inflated-mini-bouncing": (
        Stage("image", "inflated-mini", ("--stage", "image", "--steps", "1000", "--lr", "1e-3", "--warmup", "100",
                                         "--lr-decay", "cosine", "--batch-size", "16", "--ema-decay", "0.999")),
        Stage("temporal", "@image", ("--stage", "temporal", "--steps", "1000", "--lr", "1e-3", "--warmup", "100",
                                     "--lr-decay", "cosine", "--batch-size", "4", "--ema-decay", "0.999")),
        # After 1,000 temporal steps the first frames matched the image model's but the clips still changed 4.1x as
        # much per frame as real ones (11.6 against 2.8 grey levels), so the temporal layers train on, on fresh clips.
        Stage("temporal-more", "@temporal", ("--stage", "temporal", "--steps", "1500", "--lr", "5e-4", "--warmup",
                                             "50", "--lr-decay", "cosine", "--batch-size", "4", "--ema-decay", "0.999"),
              seed=1),
    ),
    # The same two stages from scratch on one H100 (bf16 autocast, beside four other runs): larger batches, 4.7 times
    # the clips in the temporal stage; motion 10.8 -> 8.51 grey levels per frame (README "Inflating an image model").
    "inflated-mini-bouncing-gpu": (
        Stage("image", "inflated-mini", ("--stage", "image", "--steps", "3552", "--lr", "1e-3", "--warmup", "100",
                                         "--lr-decay", "cosine", "--batch-size", "64", "--ema-decay", "0.9995"), seed=6),
        Stage("temporal", "@image", ("--stage", "temporal", "--steps", "2925", "--lr", "1e-3", "--warmup", "100",
                                     "--lr-decay", "cosine", "--batch-size", "16", "--ema-decay", "0.9995"), seed=6),
    ),
}


# Sampling defaults stored with a finished model (``tools/set_defaults.py``: fields read only at sampling, the
# weights copied bit for bit), chosen from the measurements in README "What limits quality".
DEFAULTS: dict[str, tuple[str, ...]] = {
    # DDPM 50 with shared-mean frame noise: FVD16 219 against 328 for DDIM 50 with independent noise (point 6)
    "vdm-mini-bouncing": ("diffusion.sampler=ddpm", "diffusion.sampling_steps=50", "diffusion.frame_noise=shared-mean"),
}


def stored_name(model: str, stage: Stage) -> str:
    return f"{model}--{stage.name}"


def is_finished(run_dir: Path) -> bool:
    """A run is finished once its ``latest`` checkpoint is a stage's ``-done`` checkpoint."""
    pointer = run_dir / "checkpoints" / "latest"
    return pointer.is_file() and pointer.read_text().strip().endswith("-done")


def command_for(model: str, stage: Stage, runs: Path, device: str = "auto", num_workers: int = 0) -> list[str]:
    run_dir = runs / f"{model}--{stage.name}"
    start = stored_name(model, next(s for s in RECIPES[model] if s.name == stage.start[1:])) \
        if stage.start.startswith("@") else stage.start
    cmd = [sys.executable, "-m", "vgen", "train", "--model", start, *DATA, "--seed", str(stage.seed), *stage.args,
           "--name", stored_name(model, stage), "--out", str(run_dir), "--save-every", "100", "--device", device,
           "--num-workers", str(num_workers)]
    if (run_dir / "config.json").is_file():
        cmd.append("--resume")  # continues from its last checkpoint, or starts again if it was killed before one
    return cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(RECIPES))
    parser.add_argument("--runs", type=Path, default=Path("recipe-runs"), help="folder for the run folders")
    parser.add_argument("--install", type=Path, help="copy the finished model into DIR/<model>")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and stop")
    parser.add_argument("--device", default="auto", help="vgen train --device (auto: CUDA when there is one)")
    parser.add_argument("--num-workers", type=int, default=0, help="data-loading workers per run (3 on the GPU)")
    args = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    args.runs.mkdir(parents=True, exist_ok=True)
    for stage in RECIPES[args.model]:
        run_dir = args.runs / f"{args.model}--{stage.name}"
        if is_finished(run_dir) and (models_dir() / stored_name(args.model, stage)).is_dir():
            print(f"[{stage.name}] finished: {run_dir}", file=sys.stderr)
            continue
        cmd = command_for(args.model, stage, args.runs, args.device, args.num_workers)
        print(f"[{stage.name}] {shlex.join(cmd)}", file=sys.stderr)
        if args.dry_run:
            continue
        code = subprocess.call(cmd, env=env)
        if code:
            print(f"[{stage.name}] stopped with exit code {code}; run the same command to continue",
                  file=sys.stderr)
            return code
    final = models_dir() / stored_name(args.model, RECIPES[args.model][-1])
    if args.model in DEFAULTS:
        defaults = models_dir() / f"{args.model}--defaults"
        sets = [arg for text in DEFAULTS[args.model] for arg in ("--set", text)]
        print(f"[defaults] python tools/set_defaults.py --model {final.name} {shlex.join(sets)} --name {defaults.name}",
              file=sys.stderr)
        if not args.dry_run:  # always rebuilt (atomically): the last stage or DEFAULTS may have changed since
            from set_defaults import copy_with_defaults

            try:
                copy_with_defaults(final, defaults, list(DEFAULTS[args.model]))
            except VgenError as exc:
                print(f"[defaults] error: {exc}", file=sys.stderr)
                return 2
        final = defaults
    if args.install and not args.dry_run:
        target = args.install / args.model
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(final, target)
        print(f"installed {final} -> {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
