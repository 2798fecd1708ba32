"""A model whose output goes NaN or infinite stops sampling with one line naming the step (exit 2, no output)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vgen.config import preset
from vgen.diffusion import Denoiser, make_schedule
from vgen.errors import VgenError
from vgen.io.checkpoint import save_network
from vgen.models import build_networks
from vgen.sampling import sample, seeded_generators
from vgen.sampling.finite import FiniteGuard

ROOT = Path(__file__).resolve().parents[1]


def _broken_model(folder: Path, damage) -> Path:  # noqa: ANN001
    """A pvdm-tiny model folder whose UNet output layer was damaged, written with vgen's own writer (valid hash)."""
    config = preset("pvdm-tiny")
    torch.manual_seed(0)
    networks = build_networks(config)
    with torch.no_grad():
        damage(networks["unet"].out_conv)
    folder.mkdir()
    for role, net in networks.items():
        save_network(folder / f"{role}.safetensors", net.state_dict(), config, role=role)
    return folder


def _sample(model: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "vgen", "sample", "--model", str(model), "--steps", "3",
                           "--device", "cpu", "-o", str(out), *extra],
                          capture_output=True, text=True, env=env, timeout=300, cwd=out.parent)


@pytest.mark.parametrize("damage,name", [
    (lambda conv: conv.bias.fill_(float("nan")), "nan"),
    # Huge weights overflow float32 to inf; x0 clipping would hide that and sample a flat field.
    (lambda conv: conv.weight.fill_(1e38), "huge"),
], ids=["nan-bias", "huge-weights"])
def test_sampling_a_broken_model_stops_with_one_line_naming_the_step(tmp_path, damage, name):
    model = _broken_model(tmp_path / f"broken-{name}", damage)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = _sample(model, out_dir / "x.mp4")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "not finite" in lines[0] and "step 1 of 3" in lines[0] and "t=" in lines[0]
    assert "Traceback" not in result.stderr
    assert list(out_dir.iterdir()) == []  # no video, no partial file


def test_a_healthy_model_still_samples(tmp_path):
    model = _broken_model(tmp_path / "healthy", lambda conv: None)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = _sample(model, out_dir / "x.mp4", "--json")
    assert result.returncode == 0, result.stderr
    assert (out_dir / "x.mp4").stat().st_size > 0


def test_the_guard_names_the_step_and_timestep_where_the_output_turns_non_finite():
    schedule = make_schedule("linear")
    steps = 5
    grid = schedule.timesteps(steps, "linspace")
    threshold = grid[2] + 1  # the network breaks from the third step on
    calls: list[tuple[int, int, dict]] = []

    def raw(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        bad = (t < threshold).reshape(-1, *[1] * (x.ndim - 1))
        return torch.where(bad, torch.full_like(x, float("nan")), torch.zeros_like(x))

    guard = FiniteGuard(steps, lambda done, total, info: calls.append((done, total, info)))
    denoiser = Denoiser(guard.raw(raw), schedule, "eps")
    with pytest.raises(VgenError, match=rf"step 3 of {steps} \(t={grid[2]}\)"):
        sample("ddim", denoiser, torch.randn(1, 4), schedule, steps=steps, generators=seeded_generators([0]),
               callback=guard.progress)
    assert [c[0] for c in calls] == [1, 2]  # progress was forwarded for the two good steps


def test_the_guard_refuses_a_non_finite_result_and_passes_a_finite_one():
    guard = FiniteGuard(4)
    x = torch.randn(2, 3)
    assert guard.result(x) is x
    with pytest.raises(VgenError, match="non-finite"):
        guard.result(torch.tensor([1.0, float("inf")]))
