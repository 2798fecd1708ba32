"""``--strength`` (SDEdit-style in-betweening): start from the keys blended, noised to a level, and denoise from there."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from test_pipelines_generate import model
from vgen.diffusion.schedules import make_schedule
from vgen.errors import VgenError
from vgen.pipelines.clip import Condition, blended_init
from vgen.pipelines.generate import interpolate_video
from vgen.pipelines.settings import SamplerSettings
from vgen.sampling import sample
from vgen.sampling.steps import step_pairs


def test_step_pairs_from_a_start_keep_the_tail_of_the_grid() -> None:
    schedule = make_schedule("linear", 1000)
    full = step_pairs(schedule, 20, "linspace")
    tail = step_pairs(schedule, 20, "linspace", start=300)
    assert tail == [p for p in full if p[0] <= 300] and tail[-1][1] == -1 and 0 < len(tail) < len(full)
    assert step_pairs(schedule, 20, "linspace", start=0) == full[-1:]  # below the grid: the last step still runs
    assert step_pairs(schedule, 20, "linspace", start=999) == full


@pytest.mark.parametrize("name", ["ddim", "ddpm", "dpm++", "langevin"])
def test_every_sampler_runs_only_the_steps_below_start(name: str) -> None:
    schedule = make_schedule("linear", 1000)
    seen: list[int] = []

    def denoiser(x, t):
        from vgen.diffusion.parameterisation import Prediction

        seen.append(int(t))
        return Prediction(x0=torch.zeros_like(x), eps=x)

    sample(name, denoiser, torch.randn(1, 2, 3), schedule, steps=10, generators=[torch.Generator().manual_seed(0)],
           start=400)
    assert seen and max(seen) <= 400


def test_blended_start_interpolates_between_and_copies_at_the_ends() -> None:
    m = model("vdm-tiny")
    clip = torch.zeros(1, 1, 6, 1, 1)
    clip[:, :, 1], clip[:, :, 4] = 1.0, 4.0
    known = torch.tensor([False, True, False, False, True, False])
    out = blended_init(m, Condition(latent=clip, latent_mask=known)).flatten().tolist()
    assert out == [1.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    with pytest.raises(VgenError, match="drop --strength"):
        blended_init(m, Condition(latent=clip, latent_mask=torch.zeros(6, dtype=torch.bool)))


def _inbetween(m, keys: np.ndarray, **settings) -> np.ndarray:
    job = interpolate_video(m, [keys], SamplerSettings(steps=4, **settings), between=1, seed=0)
    return np.concatenate(list(job.chunks(None))).astype(np.float64)


@pytest.mark.parametrize("method", ["mask", "replacement", "reconstruction"])
def test_tiny_strength_returns_the_blend_and_full_strength_is_sampling_from_noise(method: str) -> None:
    m = model("vdm-tiny")  # pixel space, so the blend is checkable without an autoencoder in the way
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 256, (3, m.resolution, m.resolution, 3), dtype=np.uint8)
    blend = (keys[:-1].astype(np.float64) + keys[1:]) / 2
    near = _inbetween(m, keys, method=method, strength=1e-4)
    free = _inbetween(m, keys, method=method)
    # an untrained network cannot move a clip at noise level ~0: the in-betweens are the blend, to 8-bit rounding
    assert np.abs(near[1::2] - blend).mean() < 1.0 < np.abs(free[1::2] - blend).mean() / 10
    assert np.array_equal(_inbetween(m, keys, method=method, strength=1.0), free)


def test_strength_on_a_latent_model_starts_from_the_encoded_blend() -> None:
    m = model("lvdm-tiny")
    keys = np.random.default_rng(2).integers(0, 256, (3, m.resolution, m.resolution, 3), dtype=np.uint8)
    near, mid = _inbetween(m, keys, strength=1e-4), _inbetween(m, keys, strength=0.5)
    assert near.shape == mid.shape == (5, m.resolution, m.resolution, 3)
    assert np.array_equal(near[::2], keys) and not np.array_equal(near, mid)


def test_strength_out_of_range_or_without_known_frames_is_refused() -> None:
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(VgenError, match=r"--strength must lie in \(0, 1\]"):
            SamplerSettings(strength=bad)
    from vgen.pipelines.generate import sample_video

    with pytest.raises(VgenError, match="drop --strength"):
        list(sample_video(model("vdm-tiny"), SamplerSettings(steps=2, strength=0.5), seed=0).chunks(None))


@pytest.mark.parametrize("args,message", [
    (["interpolate", "a.png", "b.png", "--model", "vdm-tiny", "--strength", "0"], "--strength must lie in (0, 1]"),
    (["interpolate", "a.png", "b.png", "--model", "vdm-tiny", "--strength", "nan"], "--strength"),
    (["evaluate", "--real", "r/", "--model", "vdm-tiny", "--strength", "0.2"], "--strength is for --inbetween"),
])
def test_cli_refuses_bad_strength_in_one_line(tmp_path, args: list[str], message: str) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "VGEN_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "vgen", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == [] or [p.name for p in tmp_path.iterdir()] == ["home"]


def test_fi_strength_starts_from_a_zero_residual_so_a_tiny_strength_is_the_blend() -> None:
    """FI diffuses the residual from blending: its blended start is the zero residual, not the blended clip."""
    m = model("fi-tiny")
    keys = np.random.default_rng(3).integers(0, 256, (3, m.resolution, m.resolution, 3), dtype=np.uint8)
    blend = (keys[:-1].astype(np.float64) + keys[1:]) / 2
    near = _inbetween(m, keys, strength=1e-4)
    assert np.abs(near[1::2] - blend).mean() < 1.0
