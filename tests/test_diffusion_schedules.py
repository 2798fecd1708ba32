"""Noise schedules: pinned values from the papers and pinned few-step timestep grids."""

from __future__ import annotations

import math

import pytest
import torch

from vgen.config import preset
from vgen.diffusion import make_schedule, schedule_from_config
from vgen.errors import VgenError


def test_scaled_linear_matches_pvdm_and_lvdm() -> None:
    pvdm = make_schedule("scaled_linear", beta_start=0.0015, beta_end=0.0195)
    assert pvdm.betas[0].item() == pytest.approx(0.0015) and pvdm.betas[-1].item() == pytest.approx(0.0195)
    assert pvdm.alphas_cumprod[-1].item() == pytest.approx(1.42e-4, rel=0.01)  # pvdm.md §2.5
    mid = (math.sqrt(0.0015) + math.sqrt(0.0195)) / 2
    assert pvdm.betas[[499, 500]].sqrt().mean().item() == pytest.approx(mid)  # linear in sqrt(beta)
    lvdm = schedule_from_config(preset("lvdm").diffusion)
    assert lvdm.betas[-1].item() == pytest.approx(0.0155)


def test_linear_is_ddpm_and_scales_with_T() -> None:
    ddpm = make_schedule("linear")
    assert ddpm.betas[0].item() == pytest.approx(1e-4) and ddpm.betas[-1].item() == pytest.approx(0.02)
    short = make_schedule("linear", 500)
    assert short.betas[0].item() == pytest.approx(2e-4) and short.betas[-1].item() == pytest.approx(0.04)


def test_cosine_follows_nichol_dhariwal() -> None:
    cosine = make_schedule("cosine")
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 250, 499, 900):
        assert cosine.alphas_cumprod[t].item() == pytest.approx(f((t + 1) / 1000) / f(0), rel=1e-9)
    assert cosine.betas.max().item() == pytest.approx(0.999)
    assert schedule_from_config(preset("vdm").diffusion).num_timesteps == 1000


def test_derived_quantities_are_consistent() -> None:
    s = make_schedule("scaled_linear")
    torch.testing.assert_close(s.sqrt_alpha_bar**2 + s.sigma**2, torch.ones(1000, dtype=torch.float64))
    assert bool((s.log_snr.diff() < 0).all())
    alpha_bar = s.alphas_cumprod[10].item()
    assert s.lambda_of(10) == pytest.approx(0.5 * math.log(alpha_bar / (1 - alpha_bar)))
    assert s.alpha_bar_of(-1) == 1.0


def test_q_sample_and_per_sample_lookup() -> None:
    s = make_schedule("scaled_linear")
    x0, noise = torch.randn(3, 2, 4), torch.randn(3, 2, 4)
    t = torch.tensor([0, 500, 999])
    x_t = s.q_sample(x0, t, noise)
    for i in range(3):
        a, sig = s.sqrt_alpha_bar[t[i]].item(), s.sigma[t[i]].item()
        torch.testing.assert_close(x_t[i], (a * x0[i] + sig * noise[i]).float())
    a, sig = s.coefficients(torch.tensor([-1, 3]), x0[:2])
    assert a.shape == (2, 1, 1) and a[0].item() == 1.0 and sig[0].item() == 0.0
    torch.testing.assert_close(s.q_sample(x0, 7, noise)[1], s.q_sample(x0[1:2], torch.tensor([7]), noise[1:2])[0])
    with pytest.raises(ValueError):
        s.coefficients(torch.tensor([1000]), x0)


def test_timestep_grids_are_pinned() -> None:
    s = make_schedule("scaled_linear")
    assert s.timesteps(10, "leading") == [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
    assert s.timesteps(10, "trailing") == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    assert s.timesteps(10, "linspace") == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert s.timesteps(100, "trailing")[:3] == [999, 989, 979] and s.timesteps(100, "trailing")[-1] == 9
    assert s.timesteps(50, "leading")[:2] == [980, 960]
    for spacing in ("leading", "trailing", "linspace"):
        assert s.timesteps(1000, spacing) == list(range(999, -1, -1))
        assert s.timesteps(1, spacing)[0] in (0, 999)
        grid = s.timesteps(37, spacing)
        assert len(grid) == 37 and grid == sorted(grid, reverse=True)


def test_official_grids_are_pinned() -> None:
    """PVDM: float32 linspace(-1, T-1, S+1) truncated (not trailing's rounding); LDM: range(0, T, T//S) + 1."""
    from vgen.sampling.steps import step_pairs

    s = make_schedule("scaled_linear")
    assert s.timesteps(7, "pvdm") == [999, 856, 713, 570, 427, 284, 141]
    assert s.timesteps(7, "trailing") == [999, 856, 713, 570, 428, 285, 142]
    assert s.timesteps(100, "pvdm") == s.timesteps(100, "trailing")
    assert 498 in s.timesteps(26, "pvdm")  # float32 linspace gives 498.99997 for -1 + 13·1000/26 = 499
    assert s.timesteps(1000, "pvdm") == list(range(999, -1, -1))
    assert s.timesteps(50, "ldm")[:2] == [981, 961] and s.timesteps(50, "ldm")[-1] == 1
    assert len(s.timesteps(30, "ldm")) == 31  # stride 1000 // 30 = 33, as the official code
    assert step_pairs(s, 50, "ldm")[-1] == (1, 0) and step_pairs(s, 7, "pvdm")[-1] == (141, -1)
    for steps in (3, 27, 1000):  # the official grid would index alphas_cumprod[1000]
        with pytest.raises(VgenError, match="past the last timestep"):
            s.timesteps(steps, "ldm")


@pytest.mark.parametrize("steps, spacing", [(0, "leading"), (1001, "trailing"), (10, "uniform")])
def test_bad_grid_requests_raise_vgen_errors(steps: int, spacing: str) -> None:
    with pytest.raises(VgenError):
        make_schedule("scaled_linear").timesteps(steps, spacing)  # type: ignore[arg-type]


def test_bad_schedules_raise_vgen_errors() -> None:
    with pytest.raises(VgenError, match="schedule"):
        make_schedule("quadratic")  # type: ignore[arg-type]
    with pytest.raises(VgenError, match="betas"):
        make_schedule("linear", 10)  # 1000/T scaling pushes beta above 1
