"""Exact denoisers for Gaussian data (see /work/shared/reference/gaussian-oracle.md).

For x0 ~ N(mu, Sigma) and x_t = a·x0 + s·eps the posterior mean is linear:
    E[x0 | x_t] = mu + A_t·(x_t − a·mu),   A_t = a·Sigma·(a²·Sigma + s²·I)⁻¹,
so the optimal network is a matmul. Tensors have layout (B, N, d): B samples (each with its own
generator), each holding N independent rows of dimension d, so thousands of rows cost one generator
call per step. The Gaussian itself is float64; states may be float32 (the dtype vgen samples in, and
6x faster to draw noise for), the oracle casts its matrices to the state's dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pytest
import torch
from torch import Tensor

from vgen.diffusion.parameterisation import PredictionKind, target_of
from vgen.diffusion.schedules import Schedule

DTYPE = torch.float64


@pytest.fixture
def single_thread() -> Iterator[None]:
    """Run a test on one intra-op thread: the oracle's ops are small, and on a busy 2-core machine
    OpenMP spinning made a 1000-step run cost 26 s of CPU instead of 1.2 s (measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_gaussian(d: int, seed: int, *, mean_scale: float = 1.0) -> tuple[Tensor, Tensor]:
    """A mean and a non-diagonal covariance with eigenvalues spread over [0.05, 2]."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=DTYPE))
    eigenvalues = torch.linspace(0.05, 2.0, d, dtype=DTYPE)
    return mean_scale * torch.randn(d, generator=g, dtype=DTYPE), q @ torch.diag(eigenvalues) @ q.T


class GaussianOracle:
    """The exact denoiser of N(mu, cov) under ``schedule`` as a raw network of any prediction kind."""

    def __init__(self, mu: Tensor, cov: Tensor, schedule: Schedule) -> None:
        self.mu, self.cov, self.schedule = mu.to(DTYPE), cov.to(DTYPE), schedule
        d = mu.numel()
        a = schedule.sqrt_alpha_bar.reshape(-1, 1, 1)
        s2 = (1 - schedule.alphas_cumprod).reshape(-1, 1, 1)
        marginal_cov = a**2 * self.cov + s2 * torch.eye(d, dtype=DTYPE)
        # A_t = a·Sigma·(a²Sigma + s²I)⁻¹ for every t (T, d, d); Sigma and the inverse commute-symmetric.
        self.gain = a * torch.linalg.solve(marginal_cov, self.cov).transpose(-1, -2)

    def x0_mean(self, x_t: Tensor, t: Tensor) -> Tensor:
        """E[x0 | x_t] for x_t (B, N, d) and integer t (B,)."""
        a, _ = self.schedule.coefficients(t, x_t)
        gain = self.gain[t.cpu()].to(x_t)
        centred = x_t - a * self.mu.to(x_t)
        return self.mu.to(x_t) + torch.einsum("bij,bnj->bni", gain, centred)

    def raw(self, kind: PredictionKind = "eps"):
        """A raw network ``(x_t, t) -> output`` predicting ``kind`` exactly."""

        def network(x_t: Tensor, t: Tensor) -> Tensor:
            a, s = self.schedule.coefficients(t, x_t)
            x0 = self.x0_mean(x_t, t)
            return target_of(kind, x0, (x_t - a * x0) / s, a, s)

        return network

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n exact draws of x0, shape (n, d)."""
        chol = torch.linalg.cholesky(self.cov)
        return self.mu + torch.randn(n, self.mu.numel(), generator=generator, dtype=DTYPE) @ chol.T


@dataclass(frozen=True)
class Split:
    """Blocks of a joint Gaussian over x = (x_a, x_b) with x_a the first ``na`` coordinates."""

    mu: Tensor
    cov: Tensor
    na: int

    def conditional(self, x_a: Tensor) -> tuple[Tensor, Tensor]:
        """E[x_b | x_a] and Cov[x_b | x_a] (Schur complement)."""
        na = self.na
        s_aa, s_ab, s_bb = self.cov[:na, :na], self.cov[:na, na:], self.cov[na:, na:]
        k = torch.linalg.solve(s_aa, s_ab).T
        return self.mu[na:] + (x_a - self.mu[:na]) @ k.T, s_bb - k @ s_ab


class ConditionalGaussianOracle:
    """Exact eps network for x_b given x_a, with a per-sample null condition (marginal of x_b):
    ``raw(x_b, t, *, x_a (B, d_a), use_cond (B,) bool)``; a stand-in for a conditional network."""

    def __init__(self, split: Split, schedule: Schedule) -> None:
        self.split, self.schedule = split, schedule
        na = split.na
        _, cond_cov = split.conditional(split.mu[:na])
        self.cond = GaussianOracle(torch.zeros(len(split.mu) - na, dtype=DTYPE), cond_cov, schedule)
        self.uncond = GaussianOracle(split.mu[na:], split.cov[na:, na:], schedule)

    def __call__(self, x_b: Tensor, t: Tensor, *, x_a: Tensor, use_cond: Tensor) -> Tensor:
        a, s = self.schedule.coefficients(t, x_b)
        cond_mean = self.split.conditional(x_a.to(DTYPE))[0].to(x_b).unsqueeze(1)
        # The conditional denoiser is the zero-mean oracle applied to x_t − a·m(x_a), shifted by m(x_a).
        x0_cond = cond_mean + self.cond.x0_mean(x_b - a * cond_mean, t)
        x0 = torch.where(use_cond.reshape(-1, 1, 1), x0_cond, self.uncond.x0_mean(x_b, t))
        return (x_b - a * x0) / s


def moments(samples: Tensor) -> tuple[Tensor, Tensor]:
    """Sample mean and covariance (float64) of rows (..., d)."""
    rows = samples.reshape(-1, samples.shape[-1]).to(DTYPE)
    return rows.mean(0), torch.cov(rows.T)


def tolerances(cov: Tensor, n: int, sigmas: float = 4.0) -> tuple[Tensor, Tensor]:
    """``sigmas`` standard errors of the sample mean and of each sample covariance entry (Gaussian):
    sd(mean_i) = sqrt(S_ii/n), sd(cov_ij) = sqrt((S_ii·S_jj + S_ij²)/n)."""
    diag = cov.diagonal()
    return sigmas * (diag / n).sqrt(), sigmas * ((torch.outer(diag, diag) + cov**2) / n).sqrt()


def affine_pushforward(run, d: int) -> tuple[Tensor, Tensor]:
    """Exact output moments of a deterministic sampler that is affine in x_T (true for the oracle):
    ``run(x_T)`` on the rows [0, e_1, ..., e_d] gives c and M in x0 = M·x_T + c, so for
    x_T ~ N(0, I) the output is N(c, M·Mᵀ), free of Monte-Carlo noise."""
    basis = torch.cat([torch.zeros(1, d, dtype=DTYPE), torch.eye(d, dtype=DTYPE)]).unsqueeze(0)
    out = run(basis)[0]
    offset = out[0]
    gain = (out[1:] - offset).T
    return offset, gain @ gain.T


def gaussian_kl(mean: Tensor, cov: Tensor, ref_mean: Tensor, ref_cov: Tensor) -> float:
    """KL(N(mean, cov) || N(ref_mean, ref_cov)): one number for how far a sample's moments are off."""
    d = mean.numel()
    ref_inv = torch.linalg.inv(ref_cov)
    diff = mean - ref_mean
    return 0.5 * float(torch.trace(ref_inv @ cov) + diff @ ref_inv @ diff - d
                       + torch.logdet(ref_cov) - torch.logdet(cov))
