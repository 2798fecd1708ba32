"""``vgen interpolate``: temporal up-sampling of a video, or in-betweens between key images."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vgen.cli._common import emit_json
from vgen.cli._options import (
    CompileOpt,
    DEFAULT_INTERPOLATION_MODEL, DEFAULT_INTERPOLATION_STRENGTH, DeviceOpt, EtaOpt, FormatOpt, FpsOpt, FrameNoiseOpt, GridOpt, GuidanceOpt, JsonOpt, MotionGuidanceOpt, QuietOpt, ReconOpt, SamplerOpt, SeedOpt, StepsOpt,
    StrengthOpt,
)
from vgen.cli._outputs import DerivedOutputOpt, OverwriteOpt
from vgen.cli._run import check_common, compile_report, maybe_compile, sampling_report, summary, write_and_report
from vgen.cli._threads import ThreadsOpt, model_threads
from vgen.errors import VgenError
from vgen.pipelines.settings import SamplerSettings

def interpolate_cmd(
    inputs: Annotated[list[str], typer.Argument(help="One video (or - for stdin), or two or more key images.",
                                                show_default=False)],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="A frame-aligned model (FI, VDM, LVDM, DiT, inflated): a store "
                                                 "name, a bundled name or a folder. PVDM models cannot interpolate. "
                                                 "\\[default: the bundled vdm-mini-bouncing, at --strength 0.2].",
                                                 rich_help_panel="Model", show_default=False)] = None,
    factor: Annotated[Optional[int], typer.Option("--factor", "-x", help="Video input: k−1 new frames between each "
                                                  "pair (output fps = input fps·k). Default 2.",
                                                  rich_help_panel="Sampling")] = None,
    frames: Annotated[Optional[int], typer.Option("--frames", "-n", help="Image inputs: in-between frames for each "
                                                  "consecutive pair. Default 1.", rich_help_panel="Sampling")] = None,
    method: Annotated[Optional[str], typer.Option(
        "--method", help="mask|replacement|reconstruction (default: the model's best that fits single key frames).",
        rich_help_panel="Sampling")] = None,
    no_keep: Annotated[bool, typer.Option("--no-keep", help="Keep the model's decode of the given frames instead of "
                                          "pasting the originals back.", rich_help_panel="Output")] = False,
    seed: SeedOpt = 0,
    sampler: SamplerOpt = None,
    steps: StepsOpt = None,
    eta: EtaOpt = None,
    schedule_grid: GridOpt = None,
    frame_noise: FrameNoiseOpt = None,
    guidance: GuidanceOpt = None,
    motion_guidance: MotionGuidanceOpt = None,
    recon_weight: ReconOpt = 2.0,
    strength: StrengthOpt = None,
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
    """Make a video smoother (--factor k) or fill in frames between key images (--frames N).

    Frames are resized (shorter side + centre crop) to the model's resolution. The given frames are
    kept exactly in the output unless --no-keep. Needs a frame-aligned model (FI, VDM, LVDM, DiT, inflated); PVDM's
    triplane latents cannot hold single known frames. Without -o, the output is named after the first
    input (clip.mp4 -> clip-interpolated.mp4, in the current folder); an existing output is refused
    unless --overwrite.

    [bold]Examples[/bold]

      vgen interpolate clip.mp4 -o smooth.mp4            (the bundled vdm-mini-bouncing, twice the frame rate)

      vgen interpolate clip.mp4 --model my-vdm --factor 2 -o smooth.mp4

      vgen interpolate a.png b.png c.png --model my-vdm --frames 3 --fps 8 -o inbetween.gif

      vgen interpolate clip.mp4 --model my-vdm --factor 2 --strength 0.2 -o smooth.mp4   (start from blending)

      vgen sample -o - --format mp4 | vgen interpolate - --model my-lvdm --factor 2 -o smooth.mp4
    """
    import time

    from vgen.io.output import derived_output, plan_outputs
    from vgen.pipelines.generate import interpolate_video
    from vgen.pipelines.keys import in_betweens, open_keys
    from vgen.pipelines.model import load_model

    if model is None:
        model = DEFAULT_INTERPOLATION_MODEL
        strength = DEFAULT_INTERPOLATION_STRENGTH if strength is None else strength
    settings = SamplerSettings(sampler=sampler, steps=steps, eta=eta, schedule_grid=schedule_grid, frame_noise=frame_noise,  # type: ignore[arg-type]
                               guidance=guidance, recon_weight=recon_weight, method=method,
                               motion_guidance=motion_guidance, strength=strength)
    output = output if output is not None else derived_output(inputs[0], "interpolated", format)
    check_common(output=output, json_out=json_out, quiet=quiet)
    between = in_betweens(inputs, factor=factor, frames=frames)
    if fps is not None and fps <= 0:
        raise VgenError(f"--fps must be positive (got {fps})")
    (target,) = plan_outputs(output, [seed], format, stem="interpolated", overwrite=overwrite)

    started = time.perf_counter()
    loaded = load_model(model, device=device)
    used_threads = model_threads(threads, loaded)
    keys = open_keys(inputs, size=loaded.resolution, chunk=loaded.clip_frames)
    job = interpolate_video(loaded, keys.chunks, settings, between=between, seed=seed, keep=not no_keep,
                            total_keys=keys.total)
    maybe_compile([loaded], compile)
    out_fps = fps or (keys.fps * (between + 1) if keys.fps else float(loaded.fps))
    written = write_and_report(target, job, steps=settings.for_model(loaded).steps, fps=out_fps, what="interpolate")
    compiled = compile_report([loaded])
    if json_out:
        emit_json(summary([written], fps=out_fps, seeds=[seed], seconds=time.perf_counter() - started,
                          model=model, preset=loaded.config.name, threads=used_threads, method=job.method,
                          between=between, strength=settings.strength or 1.0, **sampling_report(settings, loaded),
                          **compiled))
