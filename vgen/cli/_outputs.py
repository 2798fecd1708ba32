"""What the commands that write user-named outputs share: ``--overwrite``, default names, a ``--json`` check.

``sample``, ``extend``, ``interpolate`` and ``data synth`` refuse, before any work, to replace an
output that already exists unless ``--overwrite``/``-y`` is given (stdout, ``/dev/null`` and FIFOs
are streams, not existing outputs).
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from vgen.errors import VgenError

_OVERWRITE_HELP = "Replace outputs that already exist (without it they are refused before any work)."
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", "-y", help=_OVERWRITE_HELP, rich_help_panel="Output")]
PlainOverwriteOpt = Annotated[bool, typer.Option("--overwrite", "-y", help=_OVERWRITE_HELP)]  # commands without panels
DerivedOutputOpt = Annotated[Optional[str], typer.Option(
    "--output", "-o", help="Output .mp4, .gif, a folder, or - for stdout \\[default: INPUT-<command>.mp4 in the "
    "current folder, e.g. clip-extended.mp4].", rich_help_panel="Output", show_default=False)]


def check_json_stdout(json_out: bool) -> None:
    """Refuse ``--json`` up front when stdout is closed (the summary could never be printed)."""
    if json_out and sys.stdout is None:
        raise VgenError("--json prints its summary on stdout, but stdout is closed; redirect it or drop --json")

