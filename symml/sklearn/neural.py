"""The catalog's two-hidden-layer perceptrons as scikit-learn estimators, trained by Adam.

``mlp_<activation>_softmax`` (:class:`MLPClassifier`) and ``mlp_<activation>_squared``
(:class:`MLPRegressor`): a1 = XW1 + b1, h1 = φ(a1), a2 = h1W2 + b2, h2 = φ(a2), z = h2W3 + b3,
with φ ∈ {tanh, relu, logistic}; Adam runs on mini-batches in symml's numba loop.

Map to scikit-learn's MLPClassifier/MLPRegressor with ``alpha=0``: the same layers (two hidden
layers only), the same Adam (learning_rate_init, β₁, β₂, ε) and batch size. Their losses are
means over rows, symml's sums (L = n·theirs, and for the regressor ½‖z − y‖² against their
½ mean squared error): Adam's step does not depend on the loss's scale, so the same learning
rate trains the same way. The catalog has no L2 term, so there is no ``alpha``.

Takes: X (n, d), y. Gives: the weights and predictions.
"""
from __future__ import annotations

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._base import (
    check_X,
    check_Xy,
    choice_param,
    count_param,
    encode_labels,
    one_hot,
    positive_param,
    run_fit,
    seed_of,
)

#: scikit-learn's activation names → the catalog's
ACTIVATIONS = {"tanh": "tanh", "relu": "relu", "logistic": "sigmoid"}
PHI = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0), "logistic": lambda a: 0.5 * (1 + np.tanh(a / 2))}


class _MLP(BaseEstimator):
    def __init__(self, hidden_layer_sizes=(32, 16), activation="relu", learning_rate_init=1e-3, batch_size=32,
                 max_iter=200, tol=1e-6, random_state=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _train(self, X, Y, loss):
        act = choice_param(self, "activation", tuple(ACTIVATIONS))
        sizes = tuple(self.hidden_layer_sizes) if isinstance(self.hidden_layer_sizes, (tuple, list)) else ()
        if len(sizes) != 2 or not all(isinstance(h, (int, np.integer)) and h >= 1 for h in sizes):
            raise ValueError(f"{type(self).__name__}: hidden_layer_sizes must be two positive ints (the catalog's "
                             f"MLPs have two hidden layers), got {self.hidden_layer_sizes!r}")
        r = run_fit(self, f"mlp_{ACTIVATIONS[act]}_{loss}", (X, Y), "adam",
                    sizes={"h1": int(sizes[0]), "h2": int(sizes[1])}, seed=seed_of(self.random_state),
                    lr=positive_param(self, "learning_rate_init"), batch_size=count_param(self, "batch_size"),
                    max_iter=count_param(self, "max_iter"), tol=positive_param(self, "tol", allow_zero=True))
        p = r.params
        self.coefs_ = [p["W1"].copy(), p["W2"].copy(), p["W3"].copy()]
        self.intercepts_ = [p["b1"].copy(), p["b2"].copy(), p["b3"].copy()]
        self.loss_curve_ = r.loss_history.copy()

    def _forward(self, X):
        check_is_fitted(self)
        X = check_X(self, X, reset=False)
        phi = PHI[self.activation]
        h = phi(X @ self.coefs_[0] + self.intercepts_[0])
        h = phi(h @ self.coefs_[1] + self.intercepts_[1])
        return h @ self.coefs_[2] + self.intercepts_[2]


class MLPClassifier(ClassifierMixin, _MLP):
    """A two-hidden-layer perceptron with a softmax output, trained by Adam (``mlp_*_softmax``).

    L = −Σᵢ Σ_k Y_ik log softmax(zᵢ)_k (a sum over rows; scikit-learn's MLPClassifier with
    alpha=0 minimises L/n, and Adam's steps are the same for both). Two classes use two
    softmax outputs (scikit-learn: one logistic output, the same model).

    Args:
        hidden_layer_sizes: (h1, h2), the widths of the two hidden layers.
        activation: "relu", "tanh" or "logistic".
        learning_rate_init: Adam's step size.
        batch_size: rows per mini-batch.
        max_iter: epochs.
        tol: stop when ‖∇L‖ ≤ tol·‖∇L(θ₀)‖ at the end of an epoch.
        random_state: seeds the start and the shuffles.

    Attributes:
        coefs_, intercepts_ (the three layers), classes_, n_iter_ (epochs), loss_curve_, fit_result_.
    """

    def fit(self, X, y):
        X, y = check_Xy(self, X, y, classifier=True)
        index = encode_labels(self, y)
        self._train(X, one_hot(index, len(self.classes_)), "softmax")
        return self

    def predict_proba(self, X):
        """softmax(z) (n, K)."""
        return softmax(self._forward(X), axis=1)

    def predict_log_proba(self, X):
        z = self._forward(X)
        return z - np.logaddexp.reduce(z, axis=1, keepdims=True)

    def predict(self, X):
        z = self._forward(X)
        return self.classes_[np.argmax(z, axis=1)]


class MLPRegressor(RegressorMixin, _MLP):
    """A two-hidden-layer perceptron with a linear output and squared error (``mlp_*_squared``).

    L = ½Σᵢ (zᵢ − yᵢ)² (scikit-learn's MLPRegressor with alpha=0: L/n). Standardise y for best
    results (e.g. sklearn.compose.TransformedTargetRegressor), as for scikit-learn's.

    Args: as :class:`MLPClassifier`.
    """

    def fit(self, X, y):
        X, y = check_Xy(self, X, y, classifier=False)
        self._train(X, y[:, None], "squared")
        return self

    def predict(self, X):
        return self._forward(X)[:, 0]
