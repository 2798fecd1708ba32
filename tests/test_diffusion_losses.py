"""Training losses: targets, min-SNR-gamma weighting, masks and reproducibility."""

from __future__ import annotations

import pytest
import torch

from gaussian_oracle import DTYPE, GaussianOracle, random_gaussian
from vgen.diffusion import diffusion_loss, make_schedule, min_snr_weight, regression_loss

SCHEDULE = make_schedule("scaled_linear")


def test_min_snr_weights() -> None:
    snr = torch.tensor([0.5, 5.0, 50.0], dtype=DTYPE)
    torch.testing.assert_close(min_snr_weight(snr, 5.0, "x0"), torch.tensor([0.5, 5.0, 5.0], dtype=DTYPE))
    torch.testing.assert_close(min_snr_weight(snr, 5.0, "eps"), torch.tensor([1.0, 1.0, 0.1], dtype=DTYPE))
    torch.testing.assert_close(min_snr_weight(snr, 5.0, "v"), torch.tensor([0.5 / 1.5, 5 / 6, 5 / 51], dtype=DTYPE))


def _imperfect_x0_network(kind: str):
    """The same (deliberately imperfect) x0 estimate, expressed as an eps, v or x0 network."""
    mu, cov = random_gaussian(4, seed=3)
    oracle = GaussianOracle(mu, cov, SCHEDULE)

    def network(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = SCHEDULE.coefficients(t, x_t)
        x0 = 0.8 * oracle.x0_mean(x_t, t)
        return {"x0": x0, "eps": (x_t - a * x0) / s, "v": a * (x_t - a * x0) / s - s * x0}[kind]

    return network


def test_min_snr_makes_the_three_targets_one_loss() -> None:
    """Hang et al. 2023: with min-SNR weights, the eps, v and x0 losses of one x0 estimate coincide
    (each equals min(SNR, gamma)·||x0 error||²), so the target choice does not change the objective."""
    x0 = torch.randn(64, 5, 4, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    per_sample = [diffusion_loss(_imperfect_x0_network(k), x0, SCHEDULE, prediction=k, min_snr_gamma=5.0,
                                 generator=torch.Generator().manual_seed(1)).per_sample for k in ("eps", "v", "x0")]
    torch.testing.assert_close(per_sample[0], per_sample[2])
    torch.testing.assert_close(per_sample[1], per_sample[2])
    unweighted = diffusion_loss(_imperfect_x0_network("eps"), x0, SCHEDULE, prediction="eps",
                                generator=torch.Generator().manual_seed(1)).per_sample
    assert not torch.allclose(unweighted, per_sample[0])


def test_loss_is_reproducible_and_draws_timesteps_per_sample() -> None:
    net = torch.nn.Linear(4, 4)
    x0 = torch.randn(16, 3, 4)
    first = diffusion_loss(lambda x, t: net(x), x0, SCHEDULE, generator=torch.Generator().manual_seed(5))
    second = diffusion_loss(lambda x, t: net(x), x0, SCHEDULE, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first.loss, second.loss) and torch.equal(first.t, second.t)
    assert first.t.unique().numel() > 8 and first.per_sample.shape == (16,)
    first.loss.backward()
    assert net.weight.grad is not None


def test_exact_denoiser_beats_a_wrong_one() -> None:
    mu, cov = random_gaussian(4, seed=3)
    oracle = GaussianOracle(mu, cov, SCHEDULE)
    x0 = oracle.sample(4000, torch.Generator().manual_seed(2)).unsqueeze(0).expand(4, -1, -1).contiguous()
    losses = [diffusion_loss(net, x0, SCHEDULE, generator=torch.Generator().manual_seed(3)).loss
              for net in (oracle.raw("eps"), _imperfect_x0_network("eps"))]
    assert losses[0] < losses[1]


def test_regression_loss_kinds_and_mask() -> None:
    pred, target = torch.zeros(2, 4), torch.tensor([[1.0, -2.0, 0.0, 0.0], [3.0, 3.0, 3.0, 3.0]])
    torch.testing.assert_close(regression_loss(pred, target, "l1"), torch.tensor([0.75, 3.0]))
    torch.testing.assert_close(regression_loss(pred, target, "mse"), torch.tensor([1.25, 9.0]))
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    torch.testing.assert_close(regression_loss(pred, target, "l1", mask), torch.tensor([1.5, 3.0]))
    with pytest.raises(ValueError):
        regression_loss(pred, target, "huber")  # type: ignore[arg-type]
