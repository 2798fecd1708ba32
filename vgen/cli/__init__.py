"""The ``vgen`` command line: a Typer app whose subcommands are thin modules over library calls.

Each subcommand lives in its own module under ``vgen/cli/`` and is registered below. Command
modules import torch and models only inside their command functions, so start-up stays fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from vgen import __version__
from vgen.cli._common import STATE
from vgen.cli._guard import handle_sigterm, run_guarded

app = typer.Typer(
    name="vgen",
    help="Video generation with latent diffusion models (PVDM, VDM, LVDM, DiT, SR, FI, inflated image models, "
    "cascades): train, sample, extend, interpolate, upscale and evaluate.",
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"vgen {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or info lines on stderr.")] = False,
) -> None:
    """vgen: video diffusion from the command line. stdout carries only data; logs go to stderr."""
    STATE["debug"] = debug
    STATE["quiet"] = quiet


# Subcommands. Each module defines one command function (or sub-app) and is registered here.
from vgen.cli import data as _data  # noqa: E402
from vgen.cli import evaluate as _evaluate  # noqa: E402
from vgen.cli import extend as _extend  # noqa: E402
from vgen.cli import import_ as _import  # noqa: E402
from vgen.cli import interpolate as _interpolate  # noqa: E402
from vgen.cli import models as _models  # noqa: E402
from vgen.cli import sample as _sample  # noqa: E402
from vgen.cli import train as _train  # noqa: E402
from vgen.cli import upscale as _upscale  # noqa: E402
from vgen.cli import cascade as _cascade  # noqa: E402

app.command("sample")(_sample.sample_cmd)
app.command("extend")(_extend.extend_cmd)
app.command("interpolate")(_interpolate.interpolate_cmd)
app.command("upscale")(_upscale.upscale_cmd)
app.command("cascade")(_cascade.cascade_cmd)
app.command("train")(_train.train_cmd)
app.command("evaluate")(_evaluate.evaluate_cmd)
app.command("models")(_models.models_cmd)
app.add_typer(_data.app, name="data")
app.add_typer(_import.app, name="import")


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Python warnings raised by library code reach the user as one ``warning:`` line, not source dumps."""
    from vgen.cli._common import warn

    warn(str(message))


def main() -> None:
    """Console-script entry point: exit codes 0 ok, 2 bad input, 130 Ctrl-C, 143 SIGTERM.

    SIGTERM takes the Ctrl-C path in every command (partial outputs removed, training saves a
    checkpoint); only the exit code and the last line ("terminated") differ.
    """
    import warnings

    if "--debug" in sys.argv[1:]:
        STATE["debug"] = True
    else:
        warnings.showwarning = _one_line_warning
    handle_sigterm()
    code = run_guarded(lambda: app(standalone_mode=False))
    sys.exit(code)
