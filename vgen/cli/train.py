"""``vgen train``: train a model (autoencoder, then diffusion) on a folder of videos or synthetic data."""

from __future__ import annotations

from vgen.cli._common import emit_json, log, warn
from vgen.cli._threads import ThreadsOpt, set_threads
from vgen.cli._train_options import (
    AccumulateOpt, BatchPerDeviceOpt, BatchSizeOpt, CacheOpt, CondDropProbOpt, CondOverlapOpt, CondProbOpt, DataOpt,
    DecoderOnlyOpt, DeviceOpt, DryRunOpt, EmaDecayOpt, FrameNoiseTrainOpt, GanStartOpt, GradClipOpt, JsonOpt, LatentCacheOpt, LrDecayOpt, LrOpt,
    MaxBadStepsOpt, ModelOpt, NameOpt, NumWorkersOpt, OutOpt, PerceptualOpt, PrecisionOpt, PreviewEveryOpt,
    PreviewStepsOpt, ResumeOpt, SaveEveryOpt, SeedOpt, SetOpt, StageOpt, StepsOpt, SyntheticOpt, SyntheticVideosOpt, WarmupOpt,
)
from vgen.cli.progress import ProgressReporter


def train_cmd(
    model: ModelOpt = None,
    sets: SetOpt = None,
    data: DataOpt = None,
    synthetic: SyntheticOpt = None,
    synthetic_videos: SyntheticVideosOpt = None,
    name: NameOpt = None,
    out: OutOpt = None,
    resume: ResumeOpt = False,
    stage: StageOpt = None,
    steps: StepsOpt = None,
    batch_size: BatchSizeOpt = None,
    batch_per_device: BatchPerDeviceOpt = None,
    accumulate: AccumulateOpt = None,
    lr: LrOpt = None,
    warmup: WarmupOpt = None,
    lr_decay: LrDecayOpt = None,
    grad_clip: GradClipOpt = None,
    ema_decay: EmaDecayOpt = None,
    cond_drop_prob: CondDropProbOpt = None,
    cond_overlap: CondOverlapOpt = None,
    cond_prob: CondProbOpt = None,
    frame_noise: FrameNoiseTrainOpt = None,
    perceptual: PerceptualOpt = None,
    gan_start: GanStartOpt = None,
    decoder_only: DecoderOnlyOpt = None,
    max_bad_steps: MaxBadStepsOpt = None,
    seed: SeedOpt = None,
    save_every: SaveEveryOpt = None,
    preview_every: PreviewEveryOpt = None,
    preview_steps: PreviewStepsOpt = None,
    json_out: JsonOpt = False,
    dry_run: DryRunOpt = False,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = 0,
    precision: PrecisionOpt = None,
    num_workers: NumWorkersOpt = None,
    cache: CacheOpt = None,
    latent_cache: LatentCacheOpt = None,
) -> None:
    """Train a video diffusion model: the autoencoder, then diffusion on its latents; register it for `vgen sample`.

    Examples:

      vgen train --model pvdm-tiny --synthetic bouncing --steps 200 --name toy

      vgen train --model pvdm-s --data ~/videos/ --name mine --preview-every 1000

      vgen train --model pvdm-mini --set autoencoder.patch_size=2 --synthetic bouncing --name p2   (a preset, changed)

      vgen train --model pvdm-s --data ~/videos/ --name mine --resume      (continue after Ctrl-C)

      torchrun --nproc_per_node=4 -m vgen train --model lvdm --data sky/ --batch-size 32

      vgen train --model vdm --data ucf101/ --dry-run                      (config + memory estimate)

      vgen train --model inflated-mini --stage image --synthetic bouncing --name img

      vgen train --stage temporal --from img --synthetic bouncing --name vid   (inflate the image model)

    A run folder (runs/NNNNN-<name>) holds config.json, metrics.jsonl, previews/ and checkpoints/. Ctrl-C (exit 130)
    or SIGTERM (exit 143, e.g. from SLURM or Kubernetes) finishes the step and saves a checkpoint; --resume continues
    bit-exactly. The finished model is stored as --name (default: <preset>-trained).
    """
    from vgen.training import request as training
    from vgen.training.plan import Hooks

    request = training.make_request(
        model=model, name=name, out=out, resume=resume, device=device, batch_per_device=batch_per_device,
        data=data, synthetic=synthetic, synthetic_videos=synthetic_videos, cache=cache, latent_cache=latent_cache,
        stage=stage, steps=steps, batch_size=batch_size, accumulate=accumulate, lr=lr, warmup=warmup,
        lr_decay=lr_decay, grad_clip=grad_clip, ema_decay=ema_decay, cond_drop_prob=cond_drop_prob,
        cond_overlap=cond_overlap, cond_prob=cond_prob, frame_noise=frame_noise, sets=sets,
        perceptual=perceptual, gan_start=gan_start, decoder_only=decoder_only, max_bad_steps=max_bad_steps, seed=seed, save_every=save_every,
        preview_every=preview_every, preview_steps=preview_steps, precision=precision, num_workers=num_workers)
    set_threads(threads)
    hooks = Hooks(log=log, warn=warn, progress=ProgressReporter)
    if dry_run:
        emit_json(training.dry_run(request, hooks))
        return
    result = training.run(request, hooks)
    if not result.is_main:
        return
    if speed := result.speed_line():
        log(speed)
    if json_out:
        emit_json(result.summary())
