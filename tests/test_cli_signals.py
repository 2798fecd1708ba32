"""SIGTERM (batch schedulers, ``kill``) takes the Ctrl-C path in every command: partial outputs are removed and
the exit code is 143 (Ctrl-C stays 130). Real subprocesses, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

# A command that holds an atomic output open (its temporary file exists) until it is stopped.
_HOLDER = """
import sys, time
sys.argv = ["vgen", *sys.argv[1:]]
from vgen.cli import app, main
from vgen.io.atomic import atomic_path

def hold(out: str) -> None:
    with atomic_path(out) as tmp:
        tmp.write_bytes(b"partial")
        while True:
            time.sleep(0.02)

app.command("hold")(hold)
main()
"""


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "VGEN_HOME": str(home), "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}


def _wait(condition: Callable[[], bool], proc: subprocess.Popen, seconds: float) -> bool:
    """Wait until ``condition`` holds (True) or ``seconds`` pass (False); the process must stay alive."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, proc.communicate()[1]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _holder(tmp_path: Path, **popen: object) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, "hold", str(tmp_path / "out.mp4")], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)  # type: ignore[call-overload]
    assert _wait(lambda: any(tmp_path.iterdir()), proc, 60), "the command never opened its output"
    return proc


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_signal_removes_the_partial_output_and_sets_the_exit_code(tmp_path: Path, signum: int, code: int, word: str):
    proc = _holder(tmp_path)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == word and "Traceback" not in err
    assert out == "" and list(tmp_path.iterdir()) == []


def test_sigterm_ignored_by_the_parent_stays_ignored(tmp_path: Path):
    # nohup-style launchers may ignore signals on purpose; vgen must not take that choice back.
    proc = _holder(tmp_path, preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130 and list(tmp_path.iterdir()) == []


def test_sigterm_during_sample_removes_the_partial_video_and_exits_143(tmp_path: Path, tmp_vgen_home: Path):
    work = tmp_path / "work"
    work.mkdir()
    # So many clips of so many denoising steps that sampling is still running when the signal comes.
    proc = subprocess.Popen([sys.executable, "-m", "vgen", "sample", "--steps", "1000", "--frames", "4000", "-o",
                             "x.mp4"], cwd=work,
                            env=_env(tmp_vgen_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The temporary `.x.mp4.<id>.part.mp4` appears once the writer opens; signal a moment later (or after a
        # generous wait if this writer opens lazily: the outcome must be the same).
        if _wait(lambda: any(work.iterdir()), proc, 60):
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "terminated" and "Traceback" not in err
    assert out == ""
    assert list(work.iterdir()) == []
