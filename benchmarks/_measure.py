"""What the benchmark scripts share: running a child process and reading its peak RSS from ``os.wait4``.

``ru_maxrss`` of one waited-for child is what ``/usr/bin/time -v`` reports as "Maximum resident set size".
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass
class ChildRun:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mib: float
    seconds: float


def run_child(args: list[str], *, env: Optional[dict[str, str]] = None, cwd: Optional[Path] = None,
              capture_stdout: bool = True) -> ChildRun:
    """Run ``args`` to completion; its exit code, output, peak RSS (MiB) and wall-clock seconds."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    return ChildRun(os.waitstatus_to_exitcode(status), out, err, usage.ru_maxrss / 1024, seconds)
