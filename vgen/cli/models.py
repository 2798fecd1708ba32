"""``vgen models``: the model presets and the installed models, with their parameter counts.

The listing is the command's data, so it goes to stdout (a table, or one JSON document with
``--json``); it imports no torch once the presets' parameter counts are cached.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vgen.cli._common import emit_json


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
        })
    return rows


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
            "path": str(m.path),
            "problem": m.problem,
            "card": m.card,
        }
        for m in list_models()
    ]


def _millions(params: dict[str, int]) -> str:
    short = {"autoencoder": "AE", "unet": "UNet"}
    return " + ".join(f"{short.get(role, role)} {n / 1e6:.2f}M" for role, n in params.items())


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
    if json_out:
        emit_json({"presets": presets, "installed": installed})
        return

    import os

    from rich import box
    from rich.console import Console
    from rich.table import Table

    # The table is this command's output: stdout, so `| grep` and `> file` capture it.
    console = Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False)
    console.width = max(console.width, 160)  # keep each row on one line when piped or in a narrow terminal
    table = Table(title="Presets", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("name", "parameters", "clip", "long video", "extend", "interpolate"):
        table.add_column(column, no_wrap=True)
    for row in presets:
        table.add_row(
            row["name"], _millions(row["parameters"]),
            f"{row['frames']}x{row['resolution']}² {row['fps']}fps",
            row["sample"], ", ".join(row["extend"]) or "-", ", ".join(row["interpolate"]) or "-",
        )
    console.print(table)

    table = Table(title="Installed models", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("name", "source", "preset", "parameters", "clip", "path"):
        table.add_column(column, no_wrap=True)
    for row in installed:
        if row["problem"]:
            table.add_row(row["name"], row["source"], "[red]unreadable[/red]", "-", "-", row["problem"])
            continue
        table.add_row(row["name"], row["source"], row["preset"], f"{row['parameters'] / 1e6:.2f}M",
                      f"{row['frames']}x{row['resolution']}²", row["path"])
    if not installed:
        table.caption = "none yet: train one with `vgen train --model pvdm-tiny --synthetic bouncing --name mine`"
    console.print(table)
    for row in installed:
        if row["card"] and row["card"].get("summary"):
            console.print(f"{row['name']}: {row['card']['summary']}", soft_wrap=True, highlight=False)
