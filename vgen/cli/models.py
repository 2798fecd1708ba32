"""``vgen models``: the model presets and the installed models, with their parameter counts.

The listing is the command's data, so it goes to stdout (a table, or one JSON document with
``--json``); it imports no torch once the presets' parameter counts are cached.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vgen.cli._common import emit_json
from vgen.cli._tables import print_models


def _preset_rows() -> list[dict[str, Any]]:
    from vgen.cli._param_counts import parameter_counts
    from vgen.config import PRESETS
    from vgen.families import capabilities

    counts = parameter_counts(PRESETS)
    rows = []
    for name, config in PRESETS.items():
        caps = capabilities(config)
        rows.append({
            "name": name,
            "family": config.family,
            "parameters": counts[name],
            "frames": config.frames,
            "resolution": config.resolution,
            "fps": config.fps,
            "sample": caps.sample,
            "extend": list(caps.extend),
            "interpolate": list(caps.interpolate),
            "upscale": list(caps.upscale) if caps.upscale else None,
        })
    return rows


def _sampling(config: Any) -> dict[str, Any]:
    """The sampler and steps a model runs with when --sampler/--steps are not given (None for unreadable models;
    steps None: the paper's count of its family's official DDIM, shown as the grid)."""
    from vgen.pipelines.settings import model_sampling

    if config is None:
        return {"sampler": None, "steps": None}
    sampler, steps = model_sampling(config.diffusion)
    return {"sampler": sampler, "steps": steps}


def _installed_rows() -> list[dict[str, Any]]:
    from vgen.io.store import list_models

    return [
        {
            "name": m.name,
            "source": m.source,
            "family": m.config.family if m.config else None,
            "preset": m.config.name if m.config else None,
            "parameters": m.num_params,
            "networks": list(m.roles),
            "frames": m.config.frames if m.config else None,
            "resolution": m.config.resolution if m.config else None,
            "schedule_grid": m.config.diffusion.schedule_grid if m.config else None,
            **_sampling(m.config),
            "path": str(m.path),
            "problem": m.problem,
            "card": m.card,
        }
        for m in list_models()
    ]


def _cascade_rows() -> list[dict[str, Any]]:
    from vgen.io.store import list_cascades
    from vgen.pipelines.cascade import describe_cascade

    return [describe_cascade(path) for path in list_cascades()]


def models_cmd(
    json_out: Annotated[bool, typer.Option("--json", help="Print the listing as one JSON line on stdout.")] = False,
) -> None:
    """List model presets (architectures you can train) and installed models (weights you can sample), on stdout.

    [bold]Examples[/bold]

      vgen models

      vgen models --json | python -m json.tool
    """
    presets = _preset_rows()
    installed = _installed_rows()
    cascades = _cascade_rows()
    if json_out:
        emit_json({"presets": presets, "installed": installed, "cascades": cascades})
        return
    print_models(presets, installed, cascades)
