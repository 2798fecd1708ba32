"""``vgen sample``: videos of any length from a trained model, written clip by clip.

Also home of the options and the run/report loop that ``extend`` and ``interpolate`` share.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, Iterator, Optional

import typer

from vgen.cli._common import STATE, emit_json, stderr_console
from vgen.cli._outputs import OverwriteOpt, check_json_stdout
from vgen.cli._threads import ThreadsOpt, model_threads
from vgen.cli._types import finite_float
from vgen.cli.progress import ProgressReporter
from vgen.errors import VgenError

DEFAULT_MODEL = "pvdm-mini-bouncing"

# --------------------------------------------------------------------------- shared option types
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model: a store name, a bundled name or a folder.",
                                       rich_help_panel="Model")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.", rich_help_panel="Model")]
SeedOpt = Annotated[int, typer.Option("--seed", "-s", min=0, help="Random seed; the same seed gives the same video.",
                                      rich_help_panel="Sampling")]
SamplerOpt = Annotated[str, typer.Option("--sampler", help="ddpm, ddim, langevin or dpm++.", rich_help_panel="Sampling")]
StepsOpt = Annotated[int, typer.Option("--steps", help="Denoising steps per clip.", rich_help_panel="Sampling")]
EtaOpt = Annotated[float, typer.Option("--eta", parser=finite_float, help="DDIM stochasticity (0 = deterministic, 1 = DDPM-like).",
                                       rich_help_panel="Sampling")]
GuidanceOpt = Annotated[Optional[float], typer.Option(
    "--guidance", parser=finite_float, help="Guidance weight w in (1+w)·eps_cond − w·eps_uncond: PVDM previous-clip and class "
    "guidance (default 0), LVDM unconditional guidance (default: the model's, 0.1).", rich_help_panel="Sampling")]
ReconOpt = Annotated[float, typer.Option(
    "--recon-weight", parser=finite_float, help="w_r of reconstruction guidance (VDM eq. 7); larger follows the known frames harder.",
    rich_help_panel="Sampling")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="Output .mp4, .gif, a folder, or - for stdout.",
                                        rich_help_panel="Output")]
FormatOpt = Annotated[Optional[str], typer.Option("--format", "-f", help="mp4, gif or frames (needed with -o -).",
                                                  rich_help_panel="Output")]
FpsOpt = Annotated[Optional[float], typer.Option("--fps", parser=finite_float, help="Frame rate of the output file.",
                                                 rich_help_panel="Output")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a one-line JSON summary on stdout.",
                                       rich_help_panel="Output")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or final line.",
                                        rich_help_panel="Output")]


def check_common(*, steps: int, sampler: str, output: str, json_out: bool, quiet: bool) -> None:
    """Validate what needs no model, before anything is loaded or written."""
    from vgen.sampling import SAMPLERS

    if quiet:
        STATE["quiet"] = True
    if steps <= 0:
        raise VgenError(f"--steps must be positive (got {steps})")
    if sampler not in SAMPLERS:
        raise VgenError(f"unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}")
    if json_out and output == "-":
        raise VgenError("--json needs -o to be a file: stdout already carries the video")
    check_json_stdout(json_out)


def settings_from(sampler: str, steps: int, eta: float, guidance: Optional[float], recon_weight: float,
                  class_label: Optional[int] = None) -> Any:
    from vgen.pipelines.settings import SamplerSettings

    return SamplerSettings(sampler=sampler, steps=steps, eta=eta, guidance=guidance,  # type: ignore[arg-type]
                           recon_weight=recon_weight, class_label=class_label)


def write_and_report(target: Any, make_chunks: Callable[[Callable], Iterator], *, fps: float, total_steps: Optional[int],
                     what: str) -> Any:
    """Run ``make_chunks(progress_callback)`` into ``target`` under one progress bar; log the final line."""
    from vgen.pipelines.output import write_chunks

    with ProgressReporter(what, total=total_steps) as progress:
        written = write_chunks(target, make_chunks(progress), fps=fps)
    name = "stdout" if written.path == "-" else written.path
    final_line(f"wrote {name}: {written.frames} frames, {written.frames / fps:.2f} s at {fps:g} fps, "
        f"{written.width}x{written.height}, in {written.seconds:.1f} s")
    return written


def final_line(message: str) -> None:
    """The closing line on stderr, never wrapped (scripts grep it), hidden by --quiet."""
    if not STATE["quiet"]:
        stderr_console().print(message, soft_wrap=True, markup=False)


def summary(written: list[Any], *, fps: float, seeds: list[int], seconds: float, **extra: Any) -> dict[str, Any]:
    first = written[0]
    return {
        "output": first.path if len(written) == 1 else [w.path for w in written],
        "frames": first.frames, "fps": fps, "size": [first.width, first.height],
        "seeds": seeds, "seconds": round(seconds, 3), **extra,
    }


def sample_cmd(
    model: ModelOpt = DEFAULT_MODEL,
    frames: Annotated[Optional[int], typer.Option("--frames", "-n", help="Frames per video (any length; default: one "
                                                  "clip). Longer videos are made clip by clip.",
                                                  rich_help_panel="Sampling")] = None,
    num: Annotated[int, typer.Option("--num", "-k", help="Number of videos; video i uses seed S+i.",
                                     rich_help_panel="Sampling")] = 1,
    seed: SeedOpt = 0,
    sampler: SamplerOpt = "ddim",
    steps: StepsOpt = 50,
    eta: EtaOpt = 0.0,
    guidance: GuidanceOpt = None,
    recon_weight: ReconOpt = 2.0,
    class_label: Annotated[Optional[int], typer.Option("--class", help="Class label (class-conditional models).",
                                                       rich_help_panel="Sampling")] = None,
    method: Annotated[Optional[str], typer.Option(
        "--method", help="How clips beyond the first are made: PVDM latent|reconstruction, VDM "
        "reconstruction|replacement|mask, LVDM hierarchical|autoregressive (default: the model's).",
        rich_help_panel="Sampling")] = None,
    fps: FpsOpt = None,
    output: OutputOpt = "sample.mp4",
    format: FormatOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = 0,
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

    from vgen.pipelines.clip import class_kwargs
    from vgen.pipelines.generate import count_clips, generate_video
    from vgen.pipelines.model import load_model
    from vgen.pipelines.output import plan_outputs

    check_common(steps=steps, sampler=sampler, output=output, json_out=json_out, quiet=quiet)
    if frames is not None and frames <= 0:
        raise VgenError(f"--frames must be positive (got {frames})")
    if num <= 0:
        raise VgenError(f"--num must be positive (got {num})")
    if fps is not None and fps <= 0:
        raise VgenError(f"--fps must be positive (got {fps})")
    seeds = [seed + i for i in range(num)]
    targets = plan_outputs(output, seeds, format, overwrite=overwrite)

    started = time.perf_counter()
    loaded = load_model(model, device=device)
    used_threads = model_threads(threads, loaded)
    length = frames or loaded.clip_frames
    clips = count_clips(loaded, length, method)
    settings = settings_from(sampler, steps, eta, guidance, recon_weight, class_label)
    class_kwargs(loaded, settings)
    out_fps = fps or float(loaded.fps)
    written = []
    for seed_i, target in zip(seeds, targets):
        def chunks(callback: Callable, seed_i: int = seed_i) -> Iterator:
            return generate_video(loaded, frames=length, seed=seed_i, sampler=settings.sampler, steps=steps, eta=eta,
                                  guidance=guidance, class_label=class_label, method=method,
                                  recon_weight=recon_weight, callback=callback)

        label = f"sample s{seed_i}" if num > 1 else "sample"
        written.append(write_and_report(target, chunks, fps=out_fps, total_steps=clips * steps, what=label))
    if json_out:
        emit_json(summary(written, fps=out_fps, seeds=seeds, seconds=time.perf_counter() - started,
                          model=model, preset=loaded.config.name, threads=used_threads, clips=clips))
