"""Progress of long commands on stderr: a Rich bar on a terminal, periodic plain lines elsewhere.

Under nohup, a batch scheduler (SLURM) or a CI log, stderr is a file or a pipe: a bar would not
draw, so every ``VGEN_PROGRESS_INTERVAL`` seconds (default 20) one line says what runs, how far it
is, its rate and the time left, e.g. ``sample: 120/400 (30%), 4.1/s, eta 1m08s, elapsed 29s, clip=3``.
``--quiet`` silences both.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Optional

from vgen.cli._common import STATE, stderr_console, warn

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


class ProgressReporter:
    """Progress on stderr that library code drives through a plain callback.

    Library functions accept ``callback(done: int, total: int, info: dict)``; this object is such a
    callable. With ``--quiet`` it shows nothing; when stderr is a terminal it draws a Rich bar;
    otherwise it writes a plain line at most every ``line_interval()`` seconds, and a closing line
    if it wrote any. The rate is measured from the first update on, so a resumed count (training
    from step 500) does not inflate it.
    """

    def __init__(self, description: str, total: int | None = None) -> None:
        self.description = description
        self.total = total
        self.started = time.perf_counter()
        self._progress: Any = None
        self._task: Any = None
        self._plain = False
        self._interval = DEFAULT_INTERVAL
        self._last_line = self.started
        self._lines = 0
        self._first: Optional[tuple[float, int]] = None
        self._done = 0

    def __enter__(self) -> "ProgressReporter":
        if STATE["quiet"]:
            return self
        console = stderr_console()
        if not console.is_terminal:
            self._plain = True
            self._interval = line_interval()
            return self
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=console, transient=False,
        )
        self._progress.__enter__()
        self._task = self._progress.add_task(self.description, total=self.total, info="", rate="")
        return self

    def __call__(self, done: int, total: int | None = None, info: dict[str, Any] | None = None) -> None:
        now = time.perf_counter()
        if total is not None:
            self.total = total
        self._done = done
        if self._first is None:
            self._first = (now, done)
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=self.total, info=format_info(info),
                                  rate=f"{self.rate(now):.2f}/s")
        elif self._plain and now - self._last_line >= self._interval:
            self._last_line = now
            self._lines += 1
            self._write(self._line(now, info))

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, *exc)
        elif self._plain and self._lines and exc_type is None:
            now = time.perf_counter()
            count = f"{self._done}/{self.total}" if self.total else f"{self._done}"
            self._write(f"{self.description}: {count} done in {format_duration(now - self.started)}, "
                        f"{self.rate(now):.3g}/s")

    def rate(self, now: float) -> float:
        """Units per second since the first update (or since the start while there is only one)."""
        if self._first is not None and now > self._first[0] and self._done > self._first[1]:
            return (self._done - self._first[1]) / (now - self._first[0])
        return self._done / max(now - self.started, 1e-9)

    def _line(self, now: float, info: Optional[dict[str, Any]]) -> str:
        rate = self.rate(now)
        parts = [f"{self._done}/{self.total} ({100 * self._done / self.total:.0f}%)" if self.total else f"{self._done}",
                 f"{rate:.3g}/s"]
        if self.total and rate > 0:
            parts.append(f"eta {format_duration(max(self.total - self._done, 0) / rate)}")
        parts.append(f"elapsed {format_duration(now - self.started)}")
        extra = format_info(info)
        return f"{self.description}: {', '.join(parts)}" + (f", {extra}" if extra else "")

    @staticmethod
    def _write(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started
