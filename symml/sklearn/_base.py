"""What every estimator of :mod:`symml.sklearn` shares: checking input the scikit-learn way,
one call into :func:`symml.optim.fit`, the fitted result kept without its data, and class labels.

Takes: an estimator and X, y. Gives: float64 arrays, an OptimizeResult, encoded labels.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, validate_data

from ..optim import fit as sm_fit

#: methods that solve in one step: a non-converged flag from them is an error, not a warning
EXACT = ("closed_form", "mle")


def seed_of(random_state) -> int:
    """An int seed for symml's optimizers from scikit-learn's random_state (None, int, RandomState)."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def writable(a: np.ndarray) -> np.ndarray:
    """a, or a copy of it if it is read-only (a memory map): numba compiles every kernel again for
    read-only arrays, a copy costs less than that."""
    return a if a.flags.writeable else a.copy()


def check_X(est, X, reset: bool):
    """X as a float64 (n, d) array, n_features_in_ set or compared (scikit-learn's validate_data)."""
    return writable(validate_data(est, X, reset=reset, dtype=np.float64, order="C"))


def check_Xy(est, X, y, *, classifier: bool, min_samples: int = 1):
    """(X, y) checked: X float64 (n, d), y a vector (labels for a classifier, float64 otherwise)."""
    X, y = validate_data(est, X, y, dtype=np.float64, order="C", y_numeric=not classifier,
                         ensure_min_samples=min_samples)
    if classifier:
        check_classification_targets(y)
    else:
        y = writable(np.ascontiguousarray(y, dtype=np.float64))
    return writable(X), y


def weights(sample_weight, X) -> np.ndarray | None:
    """sample_weight checked against X (non-negative, one per row), or None."""
    if sample_weight is None:
        return None
    return writable(_check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True))


def detached(result):
    """The OptimizeResult without the Problem it was fitted on (which holds the data and modules)."""
    return dataclasses.replace(result, info={k: v for k, v in result.info.items() if k != "problem"})


def run_fit(est, model, data, method, *, hyper=None, sizes=None, init=None, seed=0, **options):
    """sm.fit, a ConvergenceWarning when an iterative method stops early, and the result kept on est."""
    options = {k: v for k, v in options.items() if v is not None}
    result = sm_fit(model, data, method, init=init, sizes=sizes, seed=seed, options=options, progress=False,
                    **(hyper or {}))
    return keep_result(est, result)


def keep_result(est, result):
    """A ConvergenceWarning if an iterative method stopped early; fit_result_ and n_iter_ set."""
    if not result.converged:
        if result.method in EXACT:
            raise ValueError(f"{type(est).__name__}: {result.message}")
        warnings.warn(f"{type(est).__name__}: {result.message}; increase max_iter", ConvergenceWarning,
                      stacklevel=3)
    est.fit_result_ = detached(result)
    est.n_iter_ = int(result.n_iter)
    return result


def encode_labels(est, y):
    """classes_ set; y as indices 0..K−1 into classes_. One class only is refused, as scikit-learn does."""
    est.classes_, index = np.unique(y, return_inverse=True)
    if len(est.classes_) < 2:
        raise ValueError(f"{type(est).__name__}: needs samples of at least 2 classes in the data, but the data "
                         f"contain only one class: {est.classes_[0]!r}")
    return index.reshape(-1)


def one_hot(index, K) -> np.ndarray:
    """Indices 0..K−1 (n,) as a one-hot float64 matrix (n, K)."""
    Y = np.zeros((index.shape[0], K))
    Y[np.arange(index.shape[0]), index] = 1.0
    return Y


def positive_param(est, name: str, allow_zero: bool = False) -> float:
    """A hyper-parameter that must be a positive (or non-negative) finite number."""
    v = getattr(est, name)
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v) \
            or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{type(est).__name__}: {name} must be a {'non-negative' if allow_zero else 'positive'} "
                         f"number, got {v!r}")
    return float(v)


def count_param(est, name: str, minimum: int = 1) -> int:
    """A hyper-parameter that must be an int ≥ minimum."""
    v = getattr(est, name)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{type(est).__name__}: {name} must be an int ≥ {minimum}, got {v!r}")
    return int(v)


def choice_param(est, name: str, allowed) -> str:
    v = getattr(est, name)
    if v not in allowed:
        raise ValueError(f"{type(est).__name__}: {name} must be one of {', '.join(map(repr, allowed))}, got {v!r}")
    return v
