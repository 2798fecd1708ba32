"""``vgen sample``: videos of any length from a trained model, written clip by clip."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vgen.cli._common import emit_json
from vgen.cli.cascade import StageSamplerOpt, StageStepsOpt
from vgen.cli._options import (
    DEFAULT_MODEL, CompileOpt, DeviceOpt, EtaOpt, FitStepsOpt, FormatOpt, FpsOpt, FrameNoiseOpt, GridOpt, GuidanceOpt, JsonOpt, MotionGuidanceOpt,
    ModelOpt, OutputOpt, QuietOpt, ReconOpt, SeedOpt, StepsOpt,
)
from vgen.cli._outputs import OverwriteOpt
from vgen.cli._run import check_common, compile_report, maybe_compile, sampling_report, summary, write_and_report
from vgen.cli._threads import ThreadsOpt, model_threads
from vgen.errors import VgenError
from vgen.pipelines.settings import SamplerSettings


def sample_cmd(
    model: ModelOpt = DEFAULT_MODEL,
    frames: Annotated[Optional[int], typer.Option("--frames", "-n", help="Frames per video (any length; default: one "
                                                  "clip). Longer videos are made clip by clip.",
                                                  rich_help_panel="Sampling")] = None,
    num: Annotated[int, typer.Option("--num", "-k", help="Number of videos; video i uses seed S+i.",
                                     rich_help_panel="Sampling")] = 1,
    seed: SeedOpt = 0,
    sampler: Annotated[Optional[str], typer.Option(
        "--sampler", help="ddpm, ddim, langevin or dpm++ (default: the model's, else ddim; in a cascade: every "
        "stage without --stage-sampler, else each stage's stored sampler).", rich_help_panel="Sampling")] = None,
    steps: StepsOpt = None,
    eta: EtaOpt = None,
    schedule_grid: GridOpt = None,
    frame_noise: FrameNoiseOpt = None,
    guidance: GuidanceOpt = None,
    motion_guidance: MotionGuidanceOpt = None,
    recon_weight: ReconOpt = 2.0,
    fit_steps: FitStepsOpt = 0,
    class_label: Annotated[Optional[int], typer.Option("--class", help="Class label (class-conditional models).",
                                                       rich_help_panel="Sampling")] = None,
    method: Annotated[Optional[str], typer.Option(
        "--method", help="How clips beyond the first are made: PVDM latent|reconstruction, VDM "
        "reconstruction|replacement|mask, LVDM hierarchical|autoregressive, inflated reconstruction|replacement "
        "(an image model: independent) (default: the model's).",
        rich_help_panel="Sampling")] = None,
    stage_sampler: StageSamplerOpt = None,
    stage_steps: StageStepsOpt = None,
    fps: FpsOpt = None,
    output: OutputOpt = "sample.mp4",
    format: FormatOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = 0,
    compile: CompileOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Generate videos from a trained model. Long videos are made and written clip by clip, in constant memory.

    With --num K, video i uses seed S+i and is named OUT-s{seed}.mp4 (or DIR/sample-s{seed}.mp4 for a
    folder); `--seed S+i` alone makes the same video again. Existing outputs are refused unless
    --overwrite; -o /dev/null (or a FIFO) is streamed into, e.g. to time a run.

    [bold]Examples[/bold]

      vgen sample -o out.mp4

      vgen sample --model mine --frames 128 --steps 100 -o long.mp4

      vgen sample --model mine --num 8 --seed 100 -o samples/

      vgen sample -o - --format mp4 | ffplay -
    """
    import time

    from vgen.io.output import plan_outputs
    from vgen.pipelines.generate import sample_video
    from vgen.pipelines.cascade import find_cascade
    from vgen.pipelines.model import load_model

    settings = SamplerSettings(sampler=sampler, steps=steps, eta=eta, schedule_grid=schedule_grid, frame_noise=frame_noise,  # type: ignore[arg-type]
                               guidance=guidance, recon_weight=recon_weight, fit_steps=fit_steps,
                               class_label=class_label, method=method, motion_guidance=motion_guidance)
    check_common(output=output, json_out=json_out, quiet=quiet)
    if frames is not None and frames <= 0:
        raise VgenError(f"--frames must be positive (got {frames})")
    if num <= 0:
        raise VgenError(f"--num must be positive (got {num})")
    if fps is not None and fps <= 0:
        raise VgenError(f"--fps must be positive (got {fps})")
    seeds = [seed + i for i in range(num)]
    targets = plan_outputs(output, seeds, format, overwrite=overwrite)

    started = time.perf_counter()
    cascade = find_cascade(model)
    if cascade is not None:
        from vgen.cli.cascade import sample_cascade

        written, out_fps, extra = sample_cascade(cascade, model=model, frames=frames, seeds=seeds, settings=settings,
                                        stage_sampler=stage_sampler or sampler, stage_steps=stage_steps, targets=targets, fps=fps,
                                        device=device, threads=threads, compile=compile)
        if json_out:
            emit_json(summary(written, fps=out_fps, seeds=seeds, seconds=time.perf_counter() - started, **extra))
        return
    if stage_sampler is not None or stage_steps is not None:
        raise VgenError("--stage-sampler and --stage-steps are for cascades; give --sampler/--steps for one model")
    loaded = load_model(model, device=device)
    used_threads = model_threads(threads, loaded)
    jobs = [sample_video(loaded, settings, frames=frames, seed=s) for s in seeds]  # validated before any output
    maybe_compile([loaded], compile)
    out_fps = fps or float(loaded.fps)
    written = [write_and_report(target, job, steps=settings.for_model(loaded).steps, fps=out_fps, what=f"sample s{s}" if num > 1 else "sample")
               for s, target, job in zip(seeds, targets, jobs)]
    compiled = compile_report([loaded])
    if json_out:
        emit_json(summary(written, fps=out_fps, seeds=seeds, seconds=time.perf_counter() - started,
                          model=model, preset=loaded.config.name, threads=used_threads, clips=jobs[0].windows,
                          **sampling_report(settings, loaded),
                          **compiled))
