"""The text of progress off a terminal: how often a line is written, and what it says.

Under nohup, a batch scheduler (SLURM) or a CI log, one line every ``VGEN_PROGRESS_INTERVAL`` seconds
(default 20) says what runs, how far it is, its rate and the time left, e.g.
``sample: 120/400 (30%), 4.1/s, eta 1m08s, elapsed 29s, clip=3``; a closing line says how long it took.
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional

from vgen.cli._common import warn

DEFAULT_INTERVAL = 20.0
INTERVAL_ENV = "VGEN_PROGRESS_INTERVAL"


def line_interval() -> float:
    """Seconds between plain progress lines: ``$VGEN_PROGRESS_INTERVAL`` (>= 0), else the default."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return DEFAULT_INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        warn(f"{INTERVAL_ENV}={text!r} is not a number of seconds >= 0; using {DEFAULT_INTERVAL:g}")
        return DEFAULT_INTERVAL
    return value


def format_duration(seconds: float) -> str:
    """A short human duration: ``45s``, ``3m12s``, ``2h05m``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def format_info(info: Optional[dict[str, Any]]) -> str:
    """``key=value`` pairs of a progress callback's info (floats to 4 significant digits)."""
    if not info:
        return ""
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())


def status_line(description: str, done: int, total: Optional[int], rate: float, elapsed: float,
                info: Optional[dict[str, Any]]) -> str:
    """One progress line: done/total (percent), rate, time left (with a total), elapsed, then ``info``."""
    parts = [f"{done}/{total} ({100 * done / total:.0f}%)" if total else f"{done}", f"{rate:.3g}/s"]
    if total and rate > 0:
        parts.append(f"eta {format_duration(max(total - done, 0) / rate)}")
    parts.append(f"elapsed {format_duration(elapsed)}")
    extra = format_info(info)
    return f"{description}: {', '.join(parts)}" + (f", {extra}" if extra else "")


def closing_line(description: str, done: int, total: Optional[int], rate: float, elapsed: float) -> str:
    """The line after the last one: the count, the time it took and the rate."""
    count = f"{done}/{total}" if total else f"{done}"
    return f"{description}: {count} done in {format_duration(elapsed)}, {rate:.3g}/s"
