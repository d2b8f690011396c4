"""Numeric maps from what a closed form solves for to the parameters a loss reads.

A closed form is derived where it is simplest: naive Bayes and the Gaussian mixture solve
for priors π̂ on the simplex and for covariances Σ̂, while their losses read logits
a (π = softmax(a)) and precision factors L (Σ⁻¹ = LLᵀ), so that the loss lives on an
unconstrained space. A derivation says how to go from one to the other in its spec
(``Derivation(params_from_solution=...)``), with these maps; the optimizers only call it.

>>> log_priors([0.25, 0.75]).round(4)
array([-1.3863, -0.2877])

Takes: numpy arrays. Gives: numpy arrays (a ValueError that names the cause where there is none).
"""
from __future__ import annotations

import numpy as np

__all__ = ["log_priors", "precision_factors", "random_from_data"]


def log_priors(pi) -> np.ndarray:
    """Logits a with softmax(a) = π, for priors π (K,) on the simplex: a = log π."""
    pi = np.asarray(pi, dtype=np.float64)
    if np.any(pi <= 0):
        raise ValueError(f"class or component {int(np.flatnonzero(pi <= 0)[0])} has no samples: its prior is 0")
    return np.log(pi)


def precision_factors(cov) -> np.ndarray:
    """L (K, d, d) with L_k L_kᵀ = Σ_k⁻¹ for covariances Σ (K, d, d), lower triangular (numpy's Cholesky)."""
    cov = np.asarray(cov, dtype=np.float64)
    try:
        return np.stack([np.linalg.cholesky(np.linalg.inv(c)) for c in cov])
    except np.linalg.LinAlgError:
        raise ValueError("a covariance is singular (a component collapsed onto too few points)") from None


def random_from_data(X, K: int, rng) -> tuple:
    """A mixture's start from its data X (n, d): (π, M, Σ) with K distinct rows as the means,
    uniform weights, and every covariance at the data's (plus 10⁻⁶·I), as scikit-learn's
    ``init_params="random_from_data"`` does."""
    X = np.asarray(X, dtype=np.float64)
    if K > X.shape[0]:
        raise ValueError(f"em: K = {K} components need at least K rows, got {X.shape[0]}")
    rows = rng.choice(X.shape[0], size=K, replace=False)
    cov = np.atleast_2d(np.cov(X, rowvar=False, bias=True)) + 1e-6 * np.eye(X.shape[1])
    return np.full(K, 1.0 / K), X[rows], np.stack([cov] * K)
