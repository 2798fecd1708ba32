"""Distances between feature sets: Fréchet distance (FVD) and polynomial-kernel MMD² (KVD), in float64.

* Fréchet distance (Heusel et al. 2017, eq. 6; FVD: Unterthiner et al. 2018):
  ``||mu_1 - mu_2||² + tr(S_1) + tr(S_2) - 2 tr((S_1 S_2)^½)``, with the unbiased covariance
  (``1/(N-1)``) as in TF-GAN ``frechet_classifier_distance_from_activations``. The trace term is
  ``sum_i sqrt(lambda_i)`` over the eigenvalues of the symmetric PSD ``S_1^½ S_2 S_1^½`` (eigh;
  negative or negligible round-off eigenvalues set to 0), which stays real when N < d makes S singular.
* KVD (TATS ``polynomial_mmd``; Bińkowski et al. 2018, eq. 2): the unbiased MMD² estimator with the
  kernel ``k(x, y) = (x·y/d + 1)³`` over all samples (no subsets, not scaled by 1000).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KVD_CONVENTION = "unbiased MMD^2, kernel (x.y/d+1)^3, all samples (TATS), unscaled"
FVD_CONVENTION = "Frechet distance, float64, covariance ddof=1 (TF-GAN), eigh trace sqrt"


@dataclass(frozen=True)
class FeatureStats:
    """Mean and unbiased covariance of a set of feature rows (kept with the rows for KVD)."""

    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray

    @classmethod
    def from_features(cls, features: np.ndarray) -> "FeatureStats":
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(f"features must be a non-empty (N, d) array, got shape {x.shape}")
        sigma = np.cov(x, rowvar=False, ddof=1) if len(x) > 1 else np.zeros((x.shape[1], x.shape[1]))
        return cls(mu=x.mean(axis=0), sigma=np.atleast_2d(sigma), features=x)


# Eigenvalues below this fraction of the largest are round-off of a singular covariance (N <= d) and
# are set to 0 before the square root, which would otherwise turn 1e-13 noise into 3e-7 per direction.
RELATIVE_EIGEN_FLOOR = 1e-10


def _clean_eigenvalues(w: np.ndarray) -> np.ndarray:
    """Zero the eigenvalues that are negative or negligible relative to the largest."""
    floor = RELATIVE_EIGEN_FLOOR * max(float(np.abs(w).max(initial=0.0)), 1e-300)
    return np.where(w > floor, w, 0.0)


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix via eigh (round-off eigenvalues -> 0)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(_clean_eigenvalues(w))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2), in float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    sqrt_s1 = _psd_sqrt(sigma1)
    middle = sqrt_s1 @ sigma2 @ sqrt_s1
    trace_sqrt = np.sqrt(_clean_eigenvalues(np.linalg.eigvalsh((middle + middle.T) / 2))).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def fvd(real: FeatureStats, fake: FeatureStats) -> float:
    """FVD between two I3D feature sets."""
    return frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma)


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with ``k(a, b) = (a·b/d + 1)³`` (diagonals excluded from the within-set terms)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n, d = len(x), len(y), x.shape[1]
    if m < 2 or n < 2:
        raise ValueError("KVD needs at least 2 samples in each set")
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    return float((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
                 + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
                 - 2.0 * k_xy.mean())
