"""``vgen extend``: continue any video with a trained model."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vgen.cli._common import emit_json
from vgen.cli._options import (
    CompileOpt,
    DEFAULT_MODEL, DeviceOpt, EtaOpt, FormatOpt, FpsOpt, FrameNoiseOpt, GridOpt, GuidanceOpt, JsonOpt, MotionGuidanceOpt, ModelOpt, QuietOpt,
    FitStepsOpt, ReconOpt, SamplerOpt, SeedOpt, StepsOpt,
)
from vgen.cli._outputs import DerivedOutputOpt, OverwriteOpt
from vgen.cli._run import check_common, compile_report, maybe_compile, sampling_report, summary, write_and_report
from vgen.cli._threads import ThreadsOpt, model_threads
from vgen.errors import VgenError
from vgen.pipelines.settings import SamplerSettings


def extend_cmd(
    input: Annotated[str, typer.Argument(help="Video to continue (any size, fps, with or without audio), "
                                              "a folder of frames, or - for stdin.", show_default=False)],
    model: ModelOpt = DEFAULT_MODEL,
    frames: Annotated[Optional[int], typer.Option("--frames", "-n", help="New frames to generate (default: one clip).",
                                                  rich_help_panel="Sampling")] = None,
    method: Annotated[Optional[str], typer.Option(
        "--method", help="latent|reconstruction (PVDM), mask|reconstruction|replacement (VDM, LVDM); "
        "default: the model's.", rich_help_panel="Sampling")] = None,
    only_new: Annotated[bool, typer.Option("--only-new", help="Write only the generated frames.",
                                           rich_help_panel="Output")] = False,
    seed: SeedOpt = 0,
    sampler: SamplerOpt = None,
    steps: StepsOpt = None,
    eta: EtaOpt = None,
    schedule_grid: GridOpt = None,
    frame_noise: FrameNoiseOpt = None,
    guidance: GuidanceOpt = None,
    motion_guidance: MotionGuidanceOpt = None,
    recon_weight: ReconOpt = 2.0,
    fit_steps: FitStepsOpt = 0,
    fps: FpsOpt = None,
    output: DerivedOutputOpt = None,
    format: FormatOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = 0,
    compile: CompileOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Continue a video: it is fitted to the model (fps, shorter side + centre crop), then extended clip by clip.

    The output holds the input's frames (fitted to the model) followed by the new ones; --only-new keeps
    just the new ones. The input is streamed: only its last conditioning window is kept in memory.
    Without -o, clip.mp4 becomes clip-extended.mp4 in the current folder; an existing output is
    refused unless --overwrite.

    [bold]Examples[/bold]

      vgen extend holiday.mov -o more.mp4

      vgen extend clip.mp4 --model mine --frames 64 --method reconstruction -o longer.mp4

      cat clip.mp4 | vgen extend - -o - --format mp4 > out.mp4
    """
    import time

    from vgen.io.output import derived_output, plan_outputs
    from vgen.io.video import open_video
    from vgen.pipelines.generate import extend_video
    from vgen.pipelines.model import load_model

    settings = SamplerSettings(sampler=sampler, steps=steps, eta=eta, schedule_grid=schedule_grid, frame_noise=frame_noise,  # type: ignore[arg-type]
                               guidance=guidance, recon_weight=recon_weight, fit_steps=fit_steps, method=method,
                               motion_guidance=motion_guidance)
    output = output if output is not None else derived_output(input, "extended", format)
    check_common(output=output, json_out=json_out, quiet=quiet)
    if frames is not None and frames <= 0:
        raise VgenError(f"--frames must be positive (got {frames})")
    if fps is not None and fps <= 0:
        raise VgenError(f"--fps must be positive (got {fps})")
    (target,) = plan_outputs(output, [seed], format, stem="extended", overwrite=overwrite)

    started = time.perf_counter()
    loaded = load_model(model, device=device)
    used_threads = model_threads(threads, loaded)
    reader = open_video(input, fps=loaded.fps, size=loaded.resolution, fit="crop")
    job = extend_video(loaded, reader.chunks(loaded.clip_frames), settings, frames=frames, seed=seed, only_new=only_new)
    maybe_compile([loaded], compile)
    out_fps = fps or float(loaded.fps)
    written = write_and_report(target, job, steps=settings.for_model(loaded).steps, fps=out_fps, what="extend")
    compiled = compile_report([loaded])
    if json_out:
        emit_json(summary([written], fps=out_fps, seeds=[seed], seconds=time.perf_counter() - started, model=model,
                          preset=loaded.config.name, threads=used_threads, method=job.method,
                          new_frames=frames or loaded.clip_frames, **sampling_report(settings, loaded), **compiled))
