"""``--threads`` (vgen/cli/_threads.py): the thread count reaches torch in the process, and the auto rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from vgen.cli._threads import SMALL_NETWORK_PARAMS, set_threads


def sample_threads(tmp_path: Path, *args: str, omp: str | None = None) -> int:
    """Run ``vgen sample`` on the bundled model (one step) and return the ``threads`` field of its --json summary."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["VGEN_HOME"] = str(tmp_path / "home")
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    res = subprocess.run([sys.executable, "-m", "vgen", "sample", "--steps", "1", "--json", "-o", "out.gif", *args],
                         cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    return json.loads(res.stdout)["threads"]


@pytest.mark.parametrize("threads", [1, 3])
def test_explicit_threads_reach_torch_in_the_sample_process(tmp_path: Path, threads: int) -> None:
    assert sample_threads(tmp_path, "--threads", str(threads)) == threads


def test_auto_runs_the_small_bundled_model_on_one_thread(tmp_path: Path) -> None:
    assert sample_threads(tmp_path) == 1


def test_auto_respects_omp_num_threads(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    torch_default = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=env,
                                   capture_output=True, timeout=120, check=True)
    expected = int(torch_default.stdout)  # torch caps OMP_NUM_THREADS at the core count
    if expected == 1:
        pytest.skip("one core: OMP_NUM_THREADS=2 and the small-model rule both give 1 thread")
    assert sample_threads(tmp_path, "--threads", "0", omp="2") == expected


@pytest.fixture
def torch_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start from 2 torch threads with OMP_NUM_THREADS unset; restore the count afterwards."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_auto_rule_by_network_size_and_device(torch_threads: None) -> None:
    large = nn.Linear(SMALL_NETWORK_PARAMS // 1000, 1000, device="meta")
    assert set_threads(0, [large]) == 2
    assert set_threads(0, []) == 2
    small = nn.Linear(10, 10)
    assert set_threads(0, [small], on_cpu=False) == 2
    assert set_threads(0, [small]) == 1
    assert set_threads(2, [small]) == 2


@pytest.mark.parametrize("command", ["sample", "extend", "interpolate", "upscale", "evaluate", "train"])
def test_every_network_command_takes_threads(command: str) -> None:
    res = subprocess.run([sys.executable, "-m", "vgen", command, "--help"], capture_output=True, timeout=120,
                         env={**os.environ, "COLUMNS": "200"})
    assert res.returncode == 0 and b"--threads" in res.stdout
