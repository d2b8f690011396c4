"""The catalog's generative models as scikit-learn estimators: :class:`GaussianNB` (the derived
maximum-likelihood estimate) and :class:`GaussianMixture` (the derived EM step).

Takes: X (n, d) (and labels for naive Bayes). Gives: the fitted distributions, probabilities and
log-likelihoods.
"""
from __future__ import annotations

import importlib

import numpy as np
from scipy.special import logsumexp, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, DensityMixin
from sklearn.utils.validation import check_is_fitted

from ._base import check_X, check_Xy, count_param, encode_labels, one_hot, positive_param, run_fit, seed_of, weights

LOG_2PI = np.log(2 * np.pi)


def _kernels(name):
    return importlib.import_module(f"generated.{name}")


class GaussianNB(ClassifierMixin, BaseEstimator):
    """Gaussian naive Bayes by the catalog's derived MLE (``gaussian_naive_bayes``, kernel ``mle``).

    π̂_k = N_k/Σ_k N_k, μ̂_kj = Σᵢ Y_ik x_ij/N_k, v̂_kj = Σᵢ Y_ik (x_ij − μ̂_kj)²/N_k, N_k = Σᵢ Y_ik,
    solved from the stationarity of the log-likelihood. Sample weights s enter as the one-hot
    rows scaled by sᵢ (the weighted likelihood; the derived forms hold for any Y ≥ 0). Then
    ε = var_smoothing·maxⱼ Var(x_j) is added to every variance.

    Map: scikit-learn's ``GaussianNB(var_smoothing=v)`` gives the same class_prior_, theta_ and
    var_ for the same v (with or without sample weights).

    Args:
        var_smoothing: the share of the largest feature variance added to every variance (≥ 0).

    Attributes:
        class_prior_ (K,), theta_ (K, d), var_ (K, d), class_count_ (K,), epsilon_, classes_.
    """

    def __init__(self, var_smoothing=1e-9):
        self.var_smoothing = var_smoothing

    def fit(self, X, y, sample_weight=None):
        smoothing = positive_param(self, "var_smoothing", allow_zero=True)
        X, y = check_Xy(self, X, y, classifier=True)
        index = encode_labels(self, y)
        Y = one_hot(index, len(self.classes_))
        s = weights(sample_weight, X)
        if s is not None:
            Y *= s[:, None]
        counts = Y.sum(axis=0)
        if np.any(counts <= 0):
            raise ValueError(f"GaussianNB: class {self.classes_[np.argmin(counts)]!r} has total sample weight 0")
        pi, M, V = _kernels("gaussian_naive_bayes").mle(X, Y)
        self.epsilon_ = smoothing * float(np.max(np.var(X, axis=0)))
        self.class_prior_, self.theta_, self.var_ = np.asarray(pi), np.asarray(M), np.asarray(V) + self.epsilon_
        self.class_count_ = counts
        return self

    def _joint_log_likelihood(self, X):
        check_is_fitted(self)
        X = check_X(self, X, reset=False)
        quad = ((X[:, None, :] - self.theta_[None]) ** 2 / self.var_[None]).sum(axis=2)
        return np.log(self.class_prior_) - 0.5 * np.sum(np.log(self.var_) + LOG_2PI, axis=1) - 0.5 * quad

    def predict_log_proba(self, X):
        jll = self._joint_log_likelihood(X)
        return jll - logsumexp(jll, axis=1, keepdims=True)

    def predict_proba(self, X):
        """p(class | x) (n, K)."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        jll = self._joint_log_likelihood(X)
        return self.classes_[np.argmax(jll, axis=1)]


class GaussianMixture(DensityMixin, BaseEstimator):
    """A Gaussian mixture with full covariances, by the catalog's derived EM (``gaussian_mixture``).

    Minimises L = −Σᵢ log Σ_k π_k N(xᵢ | μ_k, Σ_k) with its ``em_step`` kernel (E-step and
    M-step solved from stationarity) until L decreases by less than tol·(1 + |L|). The start:
    K distinct rows drawn with random_state as means, uniform weights, the data's covariance.

    Map to scikit-learn's ``GaussianMixture(covariance_type="full", reg_covar=0,
    init_params="random_from_data")``: the same model and the same EM iteration; its tol is on
    the mean log-likelihood's change (an absolute 10⁻³ by default), this one is relative on the
    total. There is no reg_covar: a component that collapses onto too few points raises.
    precisions_cholesky_ holds lower-triangular L_k with L_k L_kᵀ = Σ_k⁻¹ (scikit-learn keeps
    an upper-triangular factor of the same precision).

    Args:
        n_components: K.
        tol: the relative decrease of L that stops EM.
        max_iter: the most EM iterations.
        random_state: seeds the start.

    Attributes:
        weights_ (K,), means_ (K, d), covariances_ (K, d, d), precisions_ (K, d, d),
        precisions_cholesky_, converged_, n_iter_, lower_bound_ (the mean log-likelihood).
    """

    def __init__(self, n_components=1, tol=1e-8, max_iter=100, random_state=None):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y=None):
        K = count_param(self, "n_components")
        X = check_X(self, X, reset=True)
        if X.shape[0] < max(2, K):
            raise ValueError(f"GaussianMixture: n_components = {K} needs at least {max(2, K)} samples, got "
                             f"{X.shape[0]} sample{'s' * (X.shape[0] != 1)}")
        r = run_fit(self, "gaussian_mixture", (X,), "em", sizes={"K": K}, seed=seed_of(self.random_state),
                    tol=positive_param(self, "tol", allow_zero=True), max_iter=count_param(self, "max_iter", 0))
        p = r.params
        self.means_, self._a_, self.precisions_cholesky_ = p["M"].copy(), p["a"].copy(), p["L"].copy()
        self.weights_ = softmax(self._a_)
        self.precisions_ = np.einsum("kij,klj->kil", self.precisions_cholesky_, self.precisions_cholesky_)
        self.covariances_ = np.linalg.inv(self.precisions_)
        self.converged_ = bool(r.converged)
        self.lower_bound_ = -r.loss / X.shape[0]
        return self

    def _log_joint(self, X):
        check_is_fitted(self)
        X = check_X(self, X, reset=False)
        L = self.precisions_cholesky_
        proj = np.einsum("nkj,kji->nki", X[:, None, :] - self.means_[None], L)  # rows of (x − μ_k)ᵀ L_k
        logdet = np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
        return np.log(self.weights_) + logdet - 0.5 * X.shape[1] * LOG_2PI - 0.5 * np.sum(proj ** 2, axis=2)

    def score_samples(self, X):
        """log p(xᵢ) (n,)."""
        return logsumexp(self._log_joint(X), axis=1)

    def score(self, X, y=None):
        """The mean log-likelihood of X."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X):
        """The responsibilities R (n, K), by the catalog's ``responsibilities`` kernel."""
        check_is_fitted(self)
        X = check_X(self, X, reset=False)
        return np.asarray(_kernels("gaussian_mixture").responsibilities(self.means_, self._a_,
                                                                        self.precisions_cholesky_, X))

    def predict(self, X):
        """The most responsible component of each row."""
        return np.argmax(self.predict_proba(X), axis=1)

    def fit_predict(self, X, y=None):
        return self.fit(X).predict(X)
