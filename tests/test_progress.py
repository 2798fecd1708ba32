"""Progress off a terminal: periodic plain lines (what, done/total, rate, ETA) on stderr; --quiet silences them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vgen.cli import progress as progress_module
from vgen.cli._common import STATE
from vgen.cli._progress_text import format_duration, line_interval
from vgen.cli.progress import ProgressReporter

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^(?P<what>[\w ]+): (?P<done>\d+)/(?P<total>\d+) \((?P<pct>\d+)%\), (?P<rate>[\d.e+-]+)/s, "
                  r"eta (?P<eta>\w+), elapsed \w+")


def _vgen(tmp_path: Path, *args: str, interval: str = "0") -> subprocess.CompletedProcess:
    """Run vgen with stderr piped (not a terminal), as under nohup, SLURM or CI."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "VGEN_PROGRESS_INTERVAL": interval,
           "VGEN_HOME": str(tmp_path / "home"), "VGEN_CACHE": str(tmp_path / "cache")}
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR"):  # what makes Rich treat a pipe as a terminal
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "vgen", *args], capture_output=True, text=True, env=env,
                          timeout=600, cwd=tmp_path)


def _progress_lines(stderr: str, what: str) -> list[re.Match]:
    return [m for line in stderr.splitlines() if (m := LINE.match(line)) and m["what"] == what]


def test_sample_off_a_terminal_prints_lines_with_rate_and_eta(tmp_path):
    result = _vgen(tmp_path, "sample", "--steps", "4", "--device", "cpu", "-o", "out.mp4")
    assert result.returncode == 0, result.stderr
    lines = _progress_lines(result.stderr, "sample")
    assert [int(m["done"]) for m in lines] == [1, 2, 3, 4]
    assert all(int(m["total"]) == 4 and float(m["rate"]) > 0 for m in lines)
    assert lines[-1]["pct"] == "100" and lines[-1]["eta"] == "0s"
    assert re.search(r"^sample: 4/4 done in \w+, [\d.e+-]+/s$", result.stderr, re.M)
    assert result.stdout == ""


def test_train_off_a_terminal_prints_lines_with_rate_eta_and_loss(tmp_path):
    result = _vgen(tmp_path, "train", "--model", "vdm-tiny", "--synthetic", "bouncing", "--synthetic-videos", "4",
                   "--steps", "3", "--batch-size", "2", "--name", "t", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    lines = _progress_lines(result.stderr, "train diffusion")
    assert [int(m["done"]) for m in lines] == [1, 2, 3]
    assert all(float(m["rate"]) > 0 and "loss=" in m.string for m in lines)
    assert "train diffusion: 3/3 done in" in result.stderr


def test_quiet_silences_the_lines(tmp_path):
    result = _vgen(tmp_path, "sample", "--steps", "4", "--device", "cpu", "-o", "out.mp4", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    result = _vgen(tmp_path, "--quiet", "data", "synth", "toy", "--num", "3", "--frames", "4", "--size", "16")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_data_synth_off_a_terminal_reports_videos(tmp_path):
    result = _vgen(tmp_path, "data", "synth", "toy", "--num", "3", "--frames", "4", "--size", "16")
    assert result.returncode == 0, result.stderr
    assert [int(m["done"]) for m in _progress_lines(result.stderr, "synth bouncing")] == [1, 2, 3]


def test_the_default_interval_keeps_short_commands_to_their_final_line(tmp_path):
    result = _vgen(tmp_path, "sample", "--steps", "4", "--device", "cpu", "-o", "out.mp4", interval="")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("wrote out.mp4") and len(result.stderr.splitlines()) == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress_module.time, "perf_counter", fake)
    monkeypatch.setitem(STATE, "quiet", False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return fake


def test_lines_are_throttled_to_the_interval(clock, monkeypatch, capsys):
    monkeypatch.setenv("VGEN_PROGRESS_INTERVAL", "10")
    with ProgressReporter("train ae", total=100) as bar:
        for step in range(1, 101):
            clock.now += 1.0  # one step per second
            bar(step, 100, {"loss": 0.123456})
    err = capsys.readouterr().err.splitlines()
    # One line every 10 s of a 100 s run, then the closing line.
    assert len(err) == 11
    assert err[0] == "train ae: 10/100 (10%), 1/s, eta 1m30s, elapsed 10s, loss=0.1235"
    assert err[-1] == "train ae: 100/100 done in 1m40s, 1/s"


def test_a_resumed_count_does_not_inflate_the_rate(clock, monkeypatch, capsys):
    monkeypatch.setenv("VGEN_PROGRESS_INTERVAL", "30")
    with ProgressReporter("train diffusion", total=1000) as bar:
        for step in range(501, 601):  # resumed at step 500, 2 steps per second
            clock.now += 0.5
            bar(step, 1000, {})
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("train diffusion: 560/1000 (56%), 2/s, eta 3m40s")


def test_an_unknown_total_gives_count_and_rate_only(clock, monkeypatch, capsys):
    monkeypatch.setenv("VGEN_PROGRESS_INTERVAL", "0")
    with ProgressReporter("interpolate") as bar:
        clock.now += 2.0
        bar(4, None, {"clip": 1})
    assert capsys.readouterr().err.splitlines()[0] == "interpolate: 4, 2/s, elapsed 2s, clip=1"


def test_no_closing_line_after_an_error(clock, monkeypatch, capsys):
    monkeypatch.setenv("VGEN_PROGRESS_INTERVAL", "0")
    with pytest.raises(RuntimeError):
        with ProgressReporter("sample", total=10) as bar:
            clock.now += 1
            bar(1, 10, {})
            raise RuntimeError
    assert "done in" not in capsys.readouterr().err


def test_a_terminal_gets_the_rich_bar_not_lines(clock, monkeypatch, capsys):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("VGEN_PROGRESS_INTERVAL", "0")
    with ProgressReporter("sample", total=10) as bar:
        for step in range(1, 11):
            clock.now += 1
            bar(step, 10, {})
    err = capsys.readouterr().err
    assert "━" in err and not LINE.search(err) and "done in" not in err


@pytest.mark.parametrize("value,expected", [("", 20.0), ("0.5", 0.5), ("0", 0.0), ("-1", 20.0), ("soon", 20.0),
                                            ("nan", 20.0)])
def test_interval_from_the_environment(monkeypatch, capsys, value, expected):
    monkeypatch.setenv("VGEN_PROGRESS_INTERVAL", value)
    assert line_interval() == expected
    warned = "VGEN_PROGRESS_INTERVAL" in capsys.readouterr().err
    assert warned == (value in ("-1", "soon", "nan"))


def test_durations():
    assert [format_duration(s) for s in (0, 45.4, 192, 7500)] == ["0s", "45s", "3m12s", "2h05m"]
