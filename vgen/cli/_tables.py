"""The tables commands print on stdout (their data, so ``| grep`` and ``> file`` capture them): Rich glue only."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

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
