"""Every sampler, driven by the exact denoiser of Gaussian data, must sample N(mu, Sigma).

Monte-Carlo tests use N = 8000 independent rows of d = 8 (one (1, N, d) state, so one generator
call per step) and accept a moment error of 4 standard errors of the estimator (gaussian_oracle
.tolerances) plus a stated discretisation allowance. Deterministic samplers are affine in x_T for
the oracle, so their exact output moments are computed with ``affine_pushforward`` (no MC noise).
"""

from __future__ import annotations

import pytest
import torch

from gaussian_oracle import (DTYPE, GaussianOracle, affine_pushforward, gaussian_kl, moments, random_gaussian,
                             single_thread, tolerances)
from vgen.diffusion import Denoiser, make_schedule
from vgen.errors import VgenError
from vgen.sampling import SAMPLERS, ddim_invert, sample, seeded_generators
from vgen.sampling.langevin import langevin_correct

pytestmark = pytest.mark.usefixtures(single_thread.__name__)

D, ROWS = 8, 8000
SCHEDULE = make_schedule("scaled_linear")  # PVDM's: alpha_bar[T-1] = 1.4e-4
MU, SIGMA = random_gaussian(D, seed=0)
ORACLE = GaussianOracle(MU, SIGMA, SCHEDULE)
DENOISER = Denoiser(ORACLE.raw("eps"), SCHEDULE, "eps")
# x_T ~ N(0, I) is not quite the t = 999 marginal N(a·mu, ...) with a = 0.012: measured with the exact
# 1000-step DDIM push-forward this alone moves the output mean by 0.019 and the covariance by 0.007.
PRIOR_MISMATCH = 0.025


def _x_T(rows: int = ROWS, seed: int = 1234, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(1, rows, D, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _assert_matches_target(samples: torch.Tensor, allowance: float, label: str) -> None:
    mean, cov = moments(samples)
    mean_tol, cov_tol = tolerances(SIGMA, samples[0].shape[0])
    mean_err, cov_err = (mean - MU).abs(), (cov - SIGMA).abs()
    print(f"{label}: max|mean err| {mean_err.max():.4f}, max|cov err| {cov_err.max():.4f}, "
          f"KL {gaussian_kl(mean, cov, MU, SIGMA):.4f}")
    assert bool((mean_err <= mean_tol + allowance).all()), f"{label}: mean off by {mean_err.max():.4f}"
    assert bool((cov_err <= cov_tol + allowance).all()), f"{label}: covariance off by {cov_err.max():.4f}"


@pytest.mark.parametrize("kind", ["eps", "v", "x0"])
def test_ddpm_1000_steps_samples_the_data_distribution(kind: str) -> None:
    denoiser = Denoiser(ORACLE.raw(kind), SCHEDULE, kind)
    steps = 1000 if kind == "eps" else 250  # v / x0 parameterisations: same path, fewer steps for speed
    x0 = sample("ddpm", denoiser, _x_T(), SCHEDULE, steps=steps, generators=seeded_generators([7]))
    # Allowance: the prior mismatch (above); 250 respaced ancestral steps add < 0.01 (measured).
    _assert_matches_target(x0, PRIOR_MISMATCH + (0.0 if steps == 1000 else 0.01), f"ddpm-{steps} ({kind})")


def test_ddim_eta1_cosine_schedule_samples_the_data_distribution() -> None:
    schedule = make_schedule("cosine")
    denoiser = Denoiser(GaussianOracle(MU, SIGMA, schedule).raw("eps"), schedule, "eps")
    x0 = sample("ddim", denoiser, _x_T(), schedule, steps=50, generators=seeded_generators([3]), eta=1.0)
    # eta = 1 with 50 steps is a 50-step ancestral sampler: allowance 0.06 for its discretisation.
    _assert_matches_target(x0, 0.06, "ddim-50 eta=1 (cosine)")


def test_langevin_predictor_corrector_samples_the_data_distribution() -> None:
    x0 = sample("langevin", DENOISER, _x_T(), SCHEDULE, steps=500, generators=seeded_generators([5]))
    # Allowance: prior mismatch + the corrector's O(delta) stationary excess, <= 2.6% of sigma_s² per
    # move and only where noise dominates, hence vanishing as sigma_s -> 0 (see langevin.py).
    _assert_matches_target(x0, PRIOR_MISMATCH + 0.01, "langevin-500 delta=0.1")


@pytest.mark.parametrize("name, steps, max_kl", [("ddim", 50, 0.05), ("dpm++", 20, 0.07)])
def test_deterministic_samplers_exact_output_moments(name: str, steps: int, max_kl: float) -> None:
    """Exact push-forward moments, then a Monte-Carlo run checked against those exact moments."""
    mean, cov = affine_pushforward(lambda x: sample(name, DENOISER, x, SCHEDULE, steps=steps,
                                                    generators=seeded_generators([0])), D)
    kl = gaussian_kl(mean, cov, MU, SIGMA)
    print(f"{name}-{steps} exact: KL {kl:.4f}, max|mean err| {(mean - MU).abs().max():.4f}, "
          f"max|cov err| {(cov - SIGMA).abs().max():.4f}")
    assert kl < max_kl
    samples = sample(name, DENOISER, _x_T(), SCHEDULE, steps=steps, generators=seeded_generators([0]))
    mc_mean, mc_cov = moments(samples)
    mean_tol, cov_tol = tolerances(cov, ROWS)
    assert bool(((mc_mean - mean).abs() <= mean_tol).all()) and bool(((mc_cov - cov).abs() <= cov_tol).all())


def test_dpm_solver_beats_ddim_at_equal_steps_and_converges() -> None:
    """DPM-Solver++(2M) is second order: fewer steps for the same error than first-order DDIM."""
    def kl(name: str, steps: int) -> float:
        mean, cov = affine_pushforward(lambda x: sample(name, DENOISER, x, SCHEDULE, steps=steps,
                                                        generators=seeded_generators([0])), D)
        return gaussian_kl(mean, cov, MU, SIGMA)

    dpm = {steps: kl("dpm++", steps) for steps in (10, 20, 50)}
    ddim = {steps: kl("ddim", steps) for steps in (10, 20, 50)}
    print(f"exact KL to N(mu, Sigma): dpm++ {dpm}, ddim {ddim}")
    assert all(dpm[s] < ddim[s] for s in (10, 20, 50))
    assert dpm[10] > dpm[20] > dpm[50]


def test_ddim_eta0_is_deterministic_and_inverts() -> None:
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    x_T = _x_T(rows=256, dtype=DTYPE)
    first = sample("ddim", DENOISER, x_T, SCHEDULE, steps=50, generators=[generator])
    second = sample("ddim", DENOISER, x_T, SCHEDULE, steps=50, generators=[generator])
    assert torch.equal(first, second) and torch.equal(generator.get_state(), state)  # no noise drawn

    x0 = ORACLE.sample(256, torch.Generator().manual_seed(9)).unsqueeze(0)
    errors = {}
    for refine in (0, 3):
        x_T_inverted = ddim_invert(DENOISER, x0, SCHEDULE, 50, refine=refine)
        recovered = sample("ddim", DENOISER, x_T_inverted, SCHEDULE, steps=50, generators=[generator])
        errors[refine] = (recovered - x0).abs().max().item()
    print(f"DDIM-50 invert + resample, max abs error by refine iterations: {errors} (data std 0.22..1.41)")
    assert errors[3] < 0.01 < errors[0]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sample_i_of_a_batch_is_reproducible_alone(name: str) -> None:
    x_T = torch.randn(3, 5, D, generator=torch.Generator().manual_seed(0))
    batch = sample(name, DENOISER, x_T, SCHEDULE, steps=20, generators=seeded_generators([10, 11, 12]))
    alone = sample(name, DENOISER, x_T[1:2], SCHEDULE, steps=20, generators=seeded_generators([11]))
    assert torch.equal(batch[1:2], alone)  # the oracle is a per-sample bmm, so even the bits agree
    other = sample(name, DENOISER, x_T[1:2], SCHEDULE, steps=20, generators=seeded_generators([99]))
    if name != "dpm++" and name != "ddim":  # stochastic samplers: another seed gives another sample
        assert not torch.allclose(alone, other)


@pytest.mark.parametrize("name, calls_per_step", [("ddpm", 1), ("ddim", 1), ("dpm++", 1), ("langevin", 2)])
def test_callback_reports_every_step(name: str, calls_per_step: int) -> None:
    seen: list[tuple[int, int]] = []
    calls = 0

    def counting(x, t):
        nonlocal calls
        calls += 1
        return DENOISER(x, t)

    sample(name, counting, _x_T(rows=4), SCHEDULE, steps=7, generators=seeded_generators([0]),
           callback=lambda done, total, info: seen.append((done, total)))
    assert seen == [(i, 7) for i in range(1, 8)]
    assert calls == 7 * calls_per_step - (calls_per_step - 1)  # no corrector after the final step


def test_langevin_corrector_fixed_point_matches_the_derived_formula() -> None:
    """Repeated corrector moves at level s converge to C·(I − eta·C⁻¹/4)⁻¹, eta = delta·sigma_s²,
    where C is the exact marginal covariance: the ULA fixed point derived in langevin.py. delta = 0.5
    makes the excess (~0.1) larger than the 4-sigma tolerance (~0.06), so a wrong sign, factor or
    noise scale in the corrector fails here."""
    s, delta = 400, 0.5
    a, sigma = SCHEDULE.sqrt_alpha_bar[s].item(), SCHEDULE.sigma[s].item()
    marginal = a**2 * SIGMA + sigma**2 * torch.eye(D, dtype=DTYPE)
    eta = delta * sigma**2
    predicted = marginal @ torch.linalg.inv(torch.eye(D, dtype=DTYPE) - eta / 4 * torch.linalg.inv(marginal))
    generator = torch.Generator().manual_seed(4)
    z = (a * ORACLE.sample(ROWS, generator) + sigma * torch.randn(ROWS, D, generator=generator, dtype=DTYPE))
    z = z.float().unsqueeze(0)
    for _ in range(150):
        z = langevin_correct(DENOISER, z, SCHEDULE, s, delta, [generator])
    _, cov = moments(z)
    _, cov_tol = tolerances(predicted, ROWS)
    print(f"corrector fixed point: max|cov − predicted| {(cov - predicted).abs().max():.4f}, "
          f"max|cov − marginal| {(cov - marginal).abs().max():.4f}")
    assert bool(((cov - predicted).abs() <= cov_tol).all())
    assert bool(((cov - marginal).abs() > cov_tol).any())


def test_bad_sampler_requests_name_the_fix() -> None:
    with pytest.raises(VgenError, match="unknown sampler"):
        sample("euler", DENOISER, _x_T(rows=2), SCHEDULE, steps=5, generators=seeded_generators([0]))
    with pytest.raises(VgenError, match="takes no option"):
        sample("dpm++", DENOISER, _x_T(rows=2), SCHEDULE, steps=5, generators=seeded_generators([0]), eta=1.0)
    with pytest.raises(VgenError, match="steps"):
        sample("ddim", DENOISER, _x_T(rows=2), SCHEDULE, steps=0, generators=seeded_generators([0]))
    with pytest.raises(ValueError, match="one per sample"):
        sample("ddpm", DENOISER, _x_T(rows=2), SCHEDULE, steps=5, generators=seeded_generators([0, 1]))
