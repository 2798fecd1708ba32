"""`--model ""` (or blank) is one clear line about the empty name, not a message about the bundled folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vgen.errors import VgenError
from vgen.io.store import resolve_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("spec", ["", "  "])
def test_resolve_refuses_an_empty_name(spec, tmp_vgen_home):
    with pytest.raises(VgenError, match="model name is empty") as info:
        resolve_model(spec)
    assert "assets" not in str(info.value) and ".safetensors checkpoints" not in str(info.value)


@pytest.mark.parametrize("command", [["sample", "-o", "out.mp4"], ["train", "--synthetic", "bouncing", "--dry-run"]])
def test_cli_empty_model_is_one_line(command, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VGEN_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-m", "vgen", *command, "--model", ""], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "model name is empty" in lines[0] and "vgen models" in lines[0]
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "runs").exists()
