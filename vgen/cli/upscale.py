"""``vgen upscale``: one upscaling stage of a cascade (a super-resolution model) applied to any video."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vgen.cli._common import emit_json, log
from vgen.cli._options import (
    CompileOpt,
    AugLevelOpt, DeviceOpt, EtaOpt, FormatOpt, FpsOpt, FrameNoiseOpt, GridOpt, JsonOpt, QuietOpt, SamplerOpt, SeedOpt, StepsOpt,
)
from vgen.cli._outputs import DerivedOutputOpt, OverwriteOpt
from vgen.cli._run import check_common, compile_report, maybe_compile, sampling_report, summary, write_and_report
from vgen.cli._threads import ThreadsOpt, model_threads
from vgen.errors import VgenError
from vgen.pipelines.settings import SamplerSettings


def upscale_cmd(
    input: Annotated[str, typer.Argument(help="Video to upscale (any size, fps, length), a folder of frames, or - "
                                              "for stdin.", show_default=False)],
    model: Annotated[str, typer.Option("--model", "-m", help="An upscaling model (a super-resolution stage): a store "
                                       "name, a bundled name or a folder.", rich_help_panel="Model",
                                       show_default=False)],
    aug_level: AugLevelOpt = None,
    overlap: Annotated[Optional[int], typer.Option(
        "--overlap", help="Output frames each window shares with the previous one, kept by replacement (0 = "
        "independent windows) \\[default: a quarter of the model's clip].", rich_help_panel="Sampling")] = None,
    seed: SeedOpt = 0,
    sampler: SamplerOpt = None,
    steps: StepsOpt = None,
    eta: EtaOpt = None,
    schedule_grid: GridOpt = None,
    frame_noise: FrameNoiseOpt = None,
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
    """Raise a video's resolution with an upscaling model, window by window, in constant memory.

    The input is fitted to the model's input size (shorter side + centre crop, said on stderr) and keeps its
    frames and frame rate; every frame is upscaled. Windows of the model's clip length overlap by --overlap
    frames, and a last partial window is padded by repeating the last frame (the padding is not written).
    Without -o, clip.mp4 becomes clip-upscaled.mp4 in the current folder; an existing output is refused
    unless --overwrite.

    [bold]Examples[/bold]

      vgen upscale clip.mp4 --model my-sr -o big.mp4

      vgen upscale clip.mp4 --model my-sr --sampler dpm++ --steps 20 --aug-level 0 -o big.mp4

      vgen sample -o - --format mp4 | vgen upscale - --model my-sr -o big.mp4
    """
    import time

    from vgen.io.output import derived_output, plan_outputs
    from vgen.io.video import open_video
    from vgen.pipelines.model import load_model
    from vgen.pipelines.upscale import UpscaleOptions, check_options, upscale_video

    settings = SamplerSettings(sampler=sampler, steps=steps, eta=eta, schedule_grid=schedule_grid, frame_noise=frame_noise)  # type: ignore[arg-type]
    output = output if output is not None else derived_output(input, "upscaled", format)
    check_common(output=output, json_out=json_out, quiet=quiet)
    if fps is not None and fps <= 0:
        raise VgenError(f"--fps must be positive (got {fps})")
    (target,) = plan_outputs(output, [seed], format, stem="upscaled", overwrite=overwrite)

    started = time.perf_counter()
    loaded = load_model(model, device=device)
    spatial, temporal = loaded.family.upscale_factors(loaded.config)
    options = UpscaleOptions(overlap=overlap, aug_level=aug_level)
    check_options(loaded, options)
    used_threads = model_threads(threads, loaded)
    size = loaded.resolution // spatial
    reader = open_video(input, size=size, fit="crop")
    if (reader.source_width, reader.source_height) != (size, size):
        log(f"input {reader.source_width}x{reader.source_height} fitted to {size}x{size} (shorter side scaled, "
            f"centre crop), the input size of {model}; output {loaded.resolution}x{loaded.resolution}")
    job = upscale_video(loaded, reader.chunks(loaded.clip_frames), settings, seed=seed, options=options,
                        total_frames=reader.num_frames)
    maybe_compile([loaded], compile)
    out_fps = fps or reader.fps * temporal
    written = write_and_report(target, job, steps=settings.for_model(loaded).steps, fps=out_fps, what="upscale")
    compiled = compile_report([loaded])
    if json_out:
        emit_json(summary([written], fps=out_fps, seeds=[seed], seconds=time.perf_counter() - started, model=model,
                          preset=loaded.config.name, threads=used_threads, factors=[spatial, temporal],
                          input_size=[reader.source_width, reader.source_height], windows=job.windows,
                          **sampling_report(settings, loaded), **compiled))
