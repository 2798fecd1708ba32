"""eps / v / x0 parameterisations convert to one (x0, eps) prediction, consistently."""

from __future__ import annotations

import pytest
import torch

from gaussian_oracle import DTYPE, GaussianOracle, random_gaussian
from vgen.diffusion import Denoiser, make_schedule
from vgen.diffusion.parameterisation import target_of, to_prediction

SCHEDULE = make_schedule("cosine")


@pytest.mark.parametrize("kind", ["eps", "v", "x0"])
def test_target_and_prediction_round_trip(kind: str) -> None:
    x0, eps = torch.randn(4, 3, 5, dtype=DTYPE), torch.randn(4, 3, 5, dtype=DTYPE)
    a, s = SCHEDULE.coefficients(torch.tensor([0, 100, 600, 999]), x0)
    x_t = a * x0 + s * eps
    pred = to_prediction(target_of(kind, x0, eps, a, s), x_t, a, s, kind)
    torch.testing.assert_close(pred.x0, x0)
    torch.testing.assert_close(pred.eps, eps)


def test_v_is_imagen_video_definition() -> None:
    x0, eps = torch.randn(2, 3, dtype=DTYPE), torch.randn(2, 3, dtype=DTYPE)
    a, s = SCHEDULE.coefficients(250, x0)
    torch.testing.assert_close(target_of("v", x0, eps, a, s), a * eps - s * x0)


def test_three_kinds_of_the_exact_network_give_one_denoiser() -> None:
    mu, cov = random_gaussian(6, seed=1)
    oracle = GaussianOracle(mu, cov, SCHEDULE)
    x_t = torch.randn(3, 10, 6, dtype=DTYPE)
    t = torch.tensor([5, 400, 990])
    preds = [Denoiser(oracle.raw(kind), SCHEDULE, kind)(x_t, t) for kind in ("eps", "v", "x0")]
    for pred in preds[1:]:
        torch.testing.assert_close(pred.x0, preds[0].x0)
        torch.testing.assert_close(pred.eps, preds[0].eps)
    torch.testing.assert_close(preds[0].x0, oracle.x0_mean(x_t, t))


def test_scalar_and_per_sample_timesteps_agree() -> None:
    mu, cov = random_gaussian(4, seed=2)
    denoiser = Denoiser(GaussianOracle(mu, cov, SCHEDULE).raw("v"), SCHEDULE, "v")
    x_t = torch.randn(2, 3, 4, dtype=DTYPE)
    torch.testing.assert_close(denoiser(x_t, 300).x0, denoiser(x_t, torch.tensor([300, 300])).x0)


def test_clip_x0_clamps_and_keeps_eps_consistent() -> None:
    raw = lambda x_t, t: 3.0 * torch.ones_like(x_t)  # noqa: E731 (an x0 network predicting out of range)
    denoiser = Denoiser(raw, SCHEDULE, "x0", clip_x0=1.0)
    x_t = torch.randn(2, 5, dtype=DTYPE)
    pred = denoiser(x_t, 500)
    assert pred.x0.max().item() == 1.0
    a, s = SCHEDULE.coefficients(500, x_t)
    torch.testing.assert_close(a * pred.x0 + s * pred.eps, x_t)
    with pytest.raises(ValueError):
        denoiser(x_t, -1)
