"""The tables commands print on stdout (their data, so ``| grep`` and ``> file`` capture them): Rich glue only."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vgen.metrics.runner import Result


def _cell(name: str, value: float | None, values: dict[str, float | None]) -> str:
    """A score as the table shows it."""
    if value is None:
        return "n/a"
    if name == "is_mean":
        return f"{value:.3f} ± {values.get('is_std') or 0.0:.3f}"
    if name == "kvd":
        return f"{value:.4g}"
    if name == "seam_jump_share":
        return f"{100 * value:.1f}%"
    return f"{value:.3f}"


def print_scores(result: "Result") -> None:
    """``vgen evaluate``'s scores and the protocol lines on stdout: the table is what that command exists to print."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    values = result.metrics
    table = Table(title=result.title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in values.items():
        if name != "is_std":
            table.add_row("is" if name == "is_mean" else name, _cell(name, value, values))
    console = Console(file=sys.stdout, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)
    console.print(table)
    for key, value in result.protocol.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
        console.print(f"  [dim]{key}:[/dim] {escape(str(value))}", soft_wrap=True)
    console.print(f"  [dim]elapsed:[/dim] {result.elapsed_s:.1f} s", soft_wrap=True)


def _millions(params: dict[str, int]) -> str:
    short = {"autoencoder": "AE", "unet": "UNet"}
    return " + ".join(f"{short.get(role, role)} {n / 1e6:.2f}M" for role, n in params.items())


def _factors(upscale: list[int] | None) -> str:
    """An upscaling stage's factors as the table shows them: ``x2 space``, ``x2 time``, ``x2 space, x2 time``."""
    if not upscale:
        return "-"
    parts = [f"x{factor} {axis}" for factor, axis in zip(upscale, ("space", "time")) if factor > 1]
    return ", ".join(parts)


def print_models(presets: list[dict[str, Any]], installed: list[dict[str, Any]],
                 cascades: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    """``vgen models``' listing on stdout: the presets table, the installed-models table, the cascades (each stage
    with its role and what it makes from the base's clip) and the model cards."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    # The table is this command's output: stdout, so `| grep` and `> file` capture it.
    console = Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False)
    console.width = max(console.width, 160)  # keep each row on one line when piped or in a narrow terminal
    table = Table(title="Presets", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("name", "parameters", "clip", "long video", "extend", "interpolate", "upscale"):
        table.add_column(column, no_wrap=True)
    for row in presets:
        table.add_row(
            row["name"], _millions(row["parameters"]),
            f"{row['frames']}x{row['resolution']}² {row['fps']}fps",
            row["sample"] or "-", ", ".join(row["extend"]) or "-", ", ".join(row["interpolate"]) or "-",
            _factors(row["upscale"]),
        )
    console.print(table)

    table = Table(title="Installed models", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("name", "source", "preset", "parameters", "clip", "sampler", "grid"):
        table.add_column(column, no_wrap=True)
    table.add_column("path", overflow="fold")  # the long column folds on a narrow terminal, the short ones stay whole
    for row in installed:
        if row["problem"]:
            table.add_row(row["name"], row["source"], "[red]unreadable[/red]", "-", "-", "-", "-", row["problem"])
            continue
        sampling = f"{row['sampler']}/{row['steps'] or 'paper'}"
        table.add_row(row["name"], row["source"], row["preset"], f"{row['parameters'] / 1e6:.2f}M",
                      f"{row['frames']}x{row['resolution']}²", sampling, row["schedule_grid"], row["path"])
    if not installed:
        table.caption = "none yet: train one with `vgen train --model pvdm-tiny --synthetic bouncing --name mine`"
    elif any(row.get("schedule_grid") == "official" for row in installed):
        table.caption = ("sampler: the default --sampler/--steps; grid: the default --schedule-grid; official = the "
                         "paper's own DDIM sampler (grid, eta, x0 clamp)")
    console.print(table)
    if cascades:
        table = Table(title="Cascades (vgen sample --model NAME)", title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("name", "stage", "role", "preset", "makes", "sampler/steps"):
            table.add_column(column, no_wrap=True)
        for row in cascades:
            if row["problem"]:
                table.add_row(row["name"], "-", "[red]unreadable[/red]", "-", "-", row["problem"])
                continue
            for i, stage in enumerate(row["stages"]):
                factors = "" if stage["role"] == "base" else f" ({_factors(stage['factors'])})"
                table.add_row(row["name"] if i == 0 else "", f"{i}: {stage['name']}", stage["role"] + factors,
                              stage["preset"], f"{stage['frames']}x{stage['resolution']}²",
                              f"{stage['sampler'] or '-'}/{stage['steps'] or '-'}")
        console.print(table)
    for row in installed:
        if row["card"] and row["card"].get("summary"):
            console.print(f"{row['name']}: {row['card']['summary']}", soft_wrap=True, highlight=False)
