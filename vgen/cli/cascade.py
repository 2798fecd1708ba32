"""``vgen cascade``: make a cascade (a base video model and its upscaling stages) a model of its own; and the
cascade branch of ``vgen sample``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vgen.cli._common import emit_json, log
from vgen.errors import VgenError

StageSamplerOpt = Annotated[Optional[str], typer.Option(
    "--stage-sampler", show_default=False, rich_help_panel="Cascades",
    help="Cascades: each stage's sampler, comma-separated in stage order (or one for all), e.g. ddim,dpm++,dpm++.")]
StageStepsOpt = Annotated[Optional[str], typer.Option(
    "--stage-steps", show_default=False, rich_help_panel="Cascades",
    help="Cascades: each stage's steps, comma-separated in stage order (or one for all), e.g. 50,20,20.")]


def split_list(option: str, text: Optional[str], kind: type = str) -> list[Any]:
    """``a,b,c`` -> [a, b, c] (of ``kind``); one line naming the option when an item is empty or not a ``kind``."""
    if text is None:
        return []
    items = [item.strip() for item in text.split(",")]
    try:
        values = [kind(item) for item in items if item]
    except ValueError:
        values = []
    if len(values) != len(items) or (kind is int and any(v <= 0 for v in values)):
        what = "positive whole numbers" if kind is int else "names"
        raise VgenError(f"{option} takes {what} separated by commas, one per stage (got {text!r})")
    return values


def cascade_cmd(
    name: Annotated[str, typer.Argument(help="Store name of the new cascade.", show_default=False)],
    stages: Annotated[list[str], typer.Argument(help="The stage models in order: a base video model, then upscaling "
                                                    "models (spatial or temporal SR), each a store name or folder.",
                                                show_default=False)],
    stage_sampler: StageSamplerOpt = None,
    stage_steps: StageStepsOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the cascade's stages as one JSON line on stdout.")] = False,
) -> None:
    """Make a cascade from installed models: a base video model, then upscaling stages, run as one model by
    `vgen sample --model NAME`. The stages are copied into the cascade, and each must take exactly what the
    stage before it makes (checked now). --stage-sampler/--stage-steps store per-stage defaults.

    [bold]Examples[/bold]

      vgen cascade my-cascade my-base my-tsr my-ssr --stage-steps 50,20,20

      vgen sample --model my-cascade -o big.mp4
    """
    from vgen.pipelines.cascade import check_stage_values, create_cascade, describe_cascade

    samplers = split_list("--stage-sampler", stage_sampler)
    steps = split_list("--stage-steps", stage_steps, int)
    check_stage_values(stages, samplers, steps)
    expand = (lambda values: values * len(stages) if len(values) == 1 else values)
    target = create_cascade(name, stages, samplers=expand(samplers), steps=expand(steps))
    info = describe_cascade(target)
    chain = " -> ".join(f"{s['name']} {s['frames']}x{s['resolution']}²" for s in info["stages"])
    log(f"registered cascade {name!r} ({target}): {chain}; sample it with: vgen sample --model {name}")
    if json_out:
        emit_json(info)


def sample_cascade(directory: Path, *, model: str, frames: Optional[int], seeds: list[int], settings: Any,
                   stage_sampler: Optional[str], stage_steps: Optional[str], targets: list[Any], fps: Optional[float],
                   device: str, threads: int, compile: bool = False) -> tuple[list[Any], float, dict[str, Any]]:
    """``vgen sample`` for a cascade: the base stage's video streamed through every stage into each target."""
    from vgen.cli._run import compile_report, maybe_compile, write_and_report
    from vgen.cli._threads import model_threads
    from vgen.pipelines.cascade import cascade_video, load_cascade, stage_settings

    samplers = split_list("--stage-sampler", stage_sampler)
    steps = split_list("--stage-steps", stage_steps, int)
    cascade = load_cascade(directory, device=device)
    per_stage = stage_settings(cascade, settings, samplers, steps)
    used_threads = model_threads(threads, cascade.models[0])
    jobs = [cascade_video(cascade, per_stage, frames=frames, seed=s) for s in seeds]  # validated before any output
    maybe_compile(cascade.models, compile)
    shapes = cascade.shapes(frames)
    out_fps = fps or shapes[-1].fps
    written = [write_and_report(target, job, steps=0, fps=out_fps, what=f"cascade s{s}" if len(seeds) > 1 else "cascade")
               for s, target, job in zip(seeds, targets, jobs)]
    extra = {"model": model, "threads": used_threads,
             "stages": [{"name": shape.name, "role": shape.role, "frames": shape.frames, "resolution": shape.resolution,
                         "sampler": st.sampler_for(m), "steps": st.for_model(m).steps}
                        for shape, st, m in zip(shapes, per_stage, cascade.models)],
             **compile_report(cascade.models)}
    return written, out_fps, extra
