"""Conventions shared by every subcommand: stderr console, info and warning lines, ``--json``, seed lists.

How a command ends (exit codes, Ctrl-C and SIGTERM) is ``_guard.py``; progress is ``progress.py``.
Nothing here imports torch. Command modules import what they need from here and keep their own
heavy imports inside the command function, so ``vgen --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console

from vgen.errors import VgenError

# Global flags set by the root callback (``vgen --debug --quiet <command>``) or by a command's own
# ``--quiet``; ``terminated`` records that SIGTERM stopped the command. They live in one place so every
# command behaves the same way.
STATE: dict[str, bool] = {"debug": False, "quiet": False, "terminated": False}


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
