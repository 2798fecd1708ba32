"""The run/report loop that ``sample``, ``extend`` and ``interpolate`` share: checks before any work,
one progress bar per output, the closing line and the ``--json`` summary."""

from __future__ import annotations

from typing import Any

from vgen.cli._common import STATE, log, stderr_console
from vgen.cli._outputs import check_json_stdout
from vgen.cli.progress import ProgressReporter
from vgen.errors import VgenError


def check_common(*, output: str, json_out: bool, quiet: bool) -> None:
    """Validate the output options, before anything is loaded or written (the sampling options are validated
    by ``SamplerSettings`` itself)."""
    if quiet:
        STATE["quiet"] = True
    if json_out and output == "-":
        raise VgenError("--json needs -o to be a file: stdout already carries the video")
    check_json_stdout(json_out)


def maybe_compile(models: Any, enabled: bool) -> None:
    """``--compile``: torch.compile each loaded model's denoiser, saying that the first step will be slow."""
    from vgen.pipelines.model import COMPILE_NOTE

    if enabled:
        for model in models:
            model.compile()
        log(COMPILE_NOTE)


def compile_report(models: Any) -> dict[str, Any]:
    """After a ``--compile`` run: one log line per compiled model and the JSON field ``compile_s`` (a list for
    cascades); empty without ``--compile``."""
    from vgen.pipelines.model import compiled_line

    times = [m.compile_seconds for m in models if m.compiled]
    if not times:
        return {}
    for seconds in times:
        log(compiled_line(seconds))
    rounded = [None if s is None else round(s, 3) for s in times]
    return {"compile_s": rounded[0] if len(rounded) == 1 else rounded}


def write_and_report(target: Any, generation: Any, *, steps: int, fps: float, what: str) -> Any:
    """Make ``generation`` into ``target`` under one progress bar (windows × steps); log the final line."""
    from vgen.io.output import write_chunks

    total = generation.windows * steps if generation.windows else None
    with ProgressReporter(what, total=total) as progress:
        written = write_chunks(target, generation.chunks(progress), fps=fps)
    name = "stdout" if written.path == "-" else written.path
    final_line(f"wrote {name}: {written.frames} frames, {written.frames / fps:.2f} s at {fps:g} fps, "
               f"{written.width}x{written.height}, in {written.seconds:.1f} s")
    return written


def final_line(message: str) -> None:
    """The closing line on stderr, never wrapped (scripts grep it), hidden by --quiet."""
    if not STATE["quiet"]:
        stderr_console().print(message, soft_wrap=True, markup=False)


def sampling_report(settings: Any, loaded: Any) -> dict[str, Any]:
    """The sampler and step count a model ran with (``--sampler``/``--steps``, else the model's defaults), for --json."""
    run = settings.for_model(loaded)
    return {"sampler": run.sampler, "steps": run.steps}


def summary(written: list[Any], *, fps: float, seeds: list[int], seconds: float, **extra: Any) -> dict[str, Any]:
    first = written[0]
    return {
        "output": first.path if len(written) == 1 else [w.path for w in written],
        "frames": first.frames, "fps": fps, "size": [first.width, first.height],
        "seeds": seeds, "seconds": round(seconds, 3), **extra,
    }
