"""Conventions shared by every subcommand: stderr console, errors, seed lists (progress: ``progress.py``).

Nothing here imports torch. Command modules import what they need from here and keep their own
heavy imports inside the command function, so ``vgen --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from rich.console import Console

from vgen.errors import VgenError

# Global flags set by the root callback (``vgen --debug --quiet <command>``) or by a command's own
# ``--quiet``; ``terminated`` records that SIGTERM stopped the command. They live in one place so every
# command behaves the same way.
STATE: dict[str, bool] = {"debug": False, "quiet": False, "terminated": False}

# Exit codes of a command stopped by a signal: 128 + the signal number, as shells report them.
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


def stderr_console() -> Console:
    """A Rich console on stderr. Colour follows NO_COLOR and whether stderr is a terminal."""
    return Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


def log(message: str) -> None:
    """One informational line on stderr, suppressed by ``--quiet``."""
    if not STATE["quiet"]:
        stderr_console().print(message, soft_wrap=True)


def warn(message: str) -> None:
    """A warning on stderr; shown even with ``--quiet`` because it may change what the user does."""
    stderr_console().print(f"[yellow]warning:[/yellow] {message}", soft_wrap=True)


def emit_json(payload: dict[str, Any]) -> None:
    """Write a one-line JSON summary to stdout; a failed write (a full disk) is one error line, exit 2.

    A reader that closed the pipe early (``| head``) is not an error: ``BrokenPipeError`` goes on to the
    guard that ends such runs quietly.
    """
    from vgen.io.streams import stream_error_message

    try:
        sys.stdout.write(json.dumps(payload, separators=(",", ":"), default=str) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise VgenError(stream_error_message(exc, "the --json summary to stdout")) from None


def parse_seeds(text: str) -> list[int]:
    """Parse a seed list such as ``0-7``, ``3,5,9`` or ``0-3,10``."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if not part.startswith("-") else (part, "")
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise VgenError(f"invalid seed list {text!r}: use integers and ranges such as 0-7 or 1,4,9") from None
    if not seeds:
        raise VgenError(f"invalid seed list {text!r}: it names no seed")
    return seeds


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn common library exceptions that are really bad input into ``VgenError``."""
    try:
        yield
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        name = getattr(exc, "filename", None) or str(exc)
        raise VgenError(f"{exc.strerror or 'cannot access'}: {name}") from exc


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
