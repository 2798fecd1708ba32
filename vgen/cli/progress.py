"""Progress of long commands on stderr: a Rich bar on a terminal, periodic plain lines elsewhere.

Under nohup, a batch scheduler (SLURM) or a CI log, stderr is a file or a pipe: a bar would not
draw, so every ``VGEN_PROGRESS_INTERVAL`` seconds (default 20) one line says what runs, how far it
is, its rate and the time left (their text: ``_progress_text.py``). ``--quiet`` silences both.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Optional

from vgen.cli._common import STATE, stderr_console
from vgen.cli._progress_text import DEFAULT_INTERVAL, closing_line, format_info, line_interval, status_line

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
            self._write(closing_line(self.description, self._done, self.total, self.rate(now), now - self.started))

    def rate(self, now: float) -> float:
        """Units per second since the first update (or since the start while there is only one)."""
        if self._first is not None and now > self._first[0] and self._done > self._first[1]:
            return (self._done - self._first[1]) / (now - self._first[0])
        return self._done / max(now - self.started, 1e-9)

    def _line(self, now: float, info: Optional[dict[str, Any]]) -> str:
        return status_line(self.description, self._done, self.total, self.rate(now), now - self.started, info)

    @staticmethod
    def _write(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started
