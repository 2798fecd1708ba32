"""The CLI conventions every command shares: help, version, exit codes, fast start-up."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import vgen


def run_vgen(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vgen", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, **kw)


def test_version_goes_to_stdout():
    result = run_vgen("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"vgen {vgen.__version__}"


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_lists_commands(flag):
    result = run_vgen(flag)
    assert result.returncode == 0
    assert "models" in result.stdout


def test_help_is_fast_and_does_not_import_torch():
    # `vgen --help` must not pay for torch, nor for pydantic and the families' configs (about 80 ms): check the
    # import graph directly, then the wall time.
    code = "import sys, vgen.cli; print([m for m in ('torch', 'pydantic', 'vgen.config') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    start = time.perf_counter()
    assert run_vgen("--help").returncode == 0
    assert time.perf_counter() - start < 3.0  # generous for a loaded CI box; typically ~0.2 s


def test_unknown_command_is_exit_2_without_traceback():
    result = run_vgen("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_user_error_is_one_line_exit_2_and_debug_shows_traceback():
    # An invalid seed list is a user error raised from library code (VgenError).
    code = (
        "import sys; sys.argv=['vgen', *sys.argv[1:]];"
        "from vgen.cli import app, main;"
        "from vgen.cli._common import parse_seeds;"
        "app.command('seedcheck')(lambda seeds: print(parse_seeds(seeds)));"
        "main()"
    )
    bad = subprocess.run([sys.executable, "-c", code, "seedcheck", "3-1"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stdout == ""
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "invalid seed list" in lines[0]
    debug = subprocess.run([sys.executable, "-c", code, "--debug", "seedcheck", "3-1"], capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    good = subprocess.run([sys.executable, "-c", code, "seedcheck", "0-2,7"], capture_output=True, text=True)
    assert good.returncode == 0 and good.stdout.strip() == "[0, 1, 2, 7]"


def test_no_color_is_respected():
    code = (
        "import sys; sys.argv=['vgen', 'seedcheck', 'x'];"
        "from vgen.cli import app, main;"
        "from vgen.cli._common import parse_seeds;"
        "app.command('seedcheck')(lambda seeds: print(parse_seeds(seeds)));"
        "main()"
    )
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert "\x1b[" not in result.stderr


def test_ctrl_c_exits_130():
    code = (
        "import sys\nsys.argv=['vgen', 'boom']\n"
        "from vgen.cli import app, main\n"
        "def boom():\n    raise KeyboardInterrupt\n"
        "app.command('boom')(boom)\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 130
    assert "Traceback" not in result.stderr
