"""How a command ends: exit codes 0 ok, 2 bad input (one ``error:`` line), 130 Ctrl-C, 143 SIGTERM.

SIGTERM takes the Ctrl-C path in every command, so partial outputs are removed and training saves a
checkpoint; only the exit code and the last line ("terminated") differ.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, Callable

from vgen.cli._common import STATE, stderr_console
from vgen.errors import VgenError

# Exit codes of a command stopped by a signal: 128 + the signal number, as shells report them.
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM handler: take the Ctrl-C path (``KeyboardInterrupt``: partial outputs are removed, training
    saves a checkpoint), remembered so that the exit code is 143. Repeats are ignored so the clean-up
    can finish."""
    if STATE["terminated"]:
        return
    STATE["terminated"] = True
    raise KeyboardInterrupt


def handle_sigterm() -> None:
    """Make SIGTERM (``kill``, SLURM, Kubernetes, ``docker stop``) stop a command as Ctrl-C does.

    A SIGTERM that the parent process set to be ignored stays ignored.
    """
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)


def _stopped() -> int:
    """Report a command stopped by Ctrl-C or SIGTERM; its exit code."""
    if STATE["terminated"]:
        stderr_console().print("terminated")
        return EXIT_TERMINATED
    stderr_console().print("interrupted")
    return EXIT_INTERRUPTED


def run_guarded(func: Callable[[], Any]) -> int:
    """Run the Typer app and map outcomes to exit codes: 0 ok, 2 bad input, 130 Ctrl-C, 143 SIGTERM."""
    import typer
    from typer.exceptions import TyperException

    try:
        # In non-standalone mode Typer *returns* exit codes (help/version -> 0, Ctrl-C -> 130).
        code = func()
        if isinstance(code, int) and not isinstance(code, bool):
            if code == EXIT_INTERRUPTED:
                return _stopped()
            return code
    except VgenError as exc:
        if STATE["debug"]:
            raise
        stderr_console().print(f"[red]error:[/red] {exc}", markup=True, soft_wrap=True)
        return 2
    except (KeyboardInterrupt, typer.Abort):
        if STATE["debug"]:
            raise
        return _stopped()
    except typer.Exit as exc:
        return exc.exit_code
    except TyperException as exc:  # usage errors: unknown command, bad option value, ...
        # One line like every other user error, naming where the help is.
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        ctx = getattr(exc, "ctx", None)
        where = f" (see `{ctx.command_path} -h`)" if ctx is not None else ""
        stderr_console().print(f"[red]error:[/red] {' '.join(message.split())}{where}", soft_wrap=True)
        return 2
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`); that is not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    return 0
