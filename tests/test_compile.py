"""``--compile``: torch.compile of the denoiser, its timed first call, and a compiler failure as one error line.

The tests compile with dynamo's ``eager`` backend (graph capture without code generation: seconds, and the same
kernels, so outputs match exactly); the inductor backend's speed and compile time are measured by
``benchmarks/harness.py --only compile``, not here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_cli
from test_pipelines_model import save_tiny, tiny_model
from vgen.errors import VgenError
from vgen.io.video import read_all

EAGER_COMPILE = torch.compile


def eager_backend(network, backend: str = "inductor", **kwargs):
    return EAGER_COMPILE(network, backend="eager")


def test_compiled_denoiser_matches_eager_and_times_its_first_call() -> None:
    eager, compiled = tiny_model("pvdm-tiny"), tiny_model("pvdm-tiny")
    compiled.compile(backend="eager")
    assert compiled.compiled and compiled.compile_seconds is None
    assert compiled.unet.sizes == eager.unet.sizes  # attributes reach the wrapped network
    x = torch.randn(2, *eager.latent_shape(), generator=torch.Generator().manual_seed(0))
    out = compiled.denoise(x, 500)
    first = compiled.compile_seconds
    assert first is not None and first > 0
    assert torch.equal(out, eager.denoise(x, 500))
    compiled.denoise(x, 100)
    assert compiled.compile_seconds == first  # only the first call is the compile time


def test_a_compiler_failure_is_one_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: no working C++ compiler found\nlong details")

    monkeypatch.setattr(torch, "compile", lambda network, **kwargs: broken)
    model = tiny_model("pvdm-tiny")
    model.compile()
    with pytest.raises(VgenError, match=r"^torch.compile failed \(RuntimeError: InvalidCxxCompiler: no working C\+\+ "
                                        r"compiler found\); run without --compile$"):
        model.denoise(torch.zeros(1, *model.latent_shape()), 500)


@pytest.fixture
def tiny_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store holding one tiny PVDM model named ``t``, and ``tmp_path`` as the working folder."""
    save_tiny("pvdm-tiny", tmp_path / "home" / "models" / "t")
    monkeypatch.setenv("VGEN_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_sample_compile_reports_the_compile_time_and_makes_the_same_frames(
        tiny_store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    tmp_path = tiny_store
    code, out, err = run_cli(["sample", "--model", "t", "--steps", "3", "-o", "plain", "--format", "frames"],
                             monkeypatch, capsys)
    assert code == 0 and "compiled" not in err
    monkeypatch.setattr(torch, "compile", eager_backend)
    code, out, err = run_cli(["sample", "--model", "t", "--steps", "3", "-o", "fast", "--format", "frames",
                              "--compile", "--json"], monkeypatch, capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["compile_s"] > 0
    assert "the first denoising step compiles the network" in err and "compiled the denoiser in" in err
    assert np.array_equal(read_all(tmp_path / "fast"), read_all(tmp_path / "plain"))


def test_sample_compile_failure_exits_2_with_one_line_and_no_output(
        tiny_store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    tmp_path = tiny_store

    def broken(*args, **kwargs):
        raise RuntimeError("backend exploded")

    monkeypatch.setattr(torch, "compile", lambda network, **kwargs: broken)
    code, out, err = run_cli(["sample", "--model", "t", "--steps", "2", "-o", "out.mp4", "--compile", "--quiet"],
                             monkeypatch, capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["error: torch.compile failed (RuntimeError: backend exploded); "
                                        "run without --compile"]
    assert sorted(os.listdir(tmp_path)) == ["home"]


def test_evaluate_compile_needs_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["evaluate", "--real", "r", "--fake", "f", "--compile"], monkeypatch, capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["error: --compile compiles a --model's denoiser; drop it for --fake sets"]


def test_evaluate_compile_reports_the_compile_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture) -> None:
    """In-betweens are the quickest --model evaluation that runs the denoiser."""
    from vgen.io.video import write_video

    home = tmp_path / "home"
    save_tiny("vdm-tiny", home / "models" / "t")
    monkeypatch.setenv("VGEN_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch, "compile", eager_backend)
    rng = np.random.default_rng(0)
    (tmp_path / "keys").mkdir()
    for i in range(2):
        write_video(tmp_path / "keys" / f"v{i}", rng.integers(0, 255, (5, 16, 16, 3), dtype=np.uint8), fps=8,
                    format="frames")
    code, out, err = run_cli(["evaluate", "--model", "t", "--inbetween", "keys", "--num", "2", "--frames", "5",
                              "--steps", "2", "--compile", "--json"], monkeypatch, capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["protocol"]["compile_s"] > 0 and "compiled the denoiser in" in err


def test_bad_input_with_compile_is_still_one_line(tiny_store: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    """--compile's info line comes after every check, so a refusal stays the only line."""
    code, out, err = run_cli(["sample", "--model", "t", "--method", "nonsense", "--compile", "-o", "x.mp4"],
                             monkeypatch, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "compile" not in err, err
