"""Linear models of the catalog as scikit-learn estimators, fitted by symml's kernels.

Classifiers: :class:`LogisticRegression`, :class:`SoftmaxRegression`, :class:`LinearSVC`.
Regressors: :class:`LinearRegression`, :class:`Ridge`, :class:`Lasso`, :class:`ElasticNet`,
:class:`PoissonRegressor`. Each docstring states the catalog loss it minimises and how its
hyper-parameter maps onto scikit-learn's estimator of the same name.

Sample weights (squared-error models). With weights s ≥ 0, the weighted means x̄, ȳ give the
intercept b = ȳ − x̄ᵀw, and w minimises Σᵢ sᵢ((xᵢ − x̄)ᵀw − (yᵢ − ȳ))² + penalty, a least-squares
problem on the rows √sᵢ(xᵢ − x̄), √sᵢ(yᵢ − ȳ). Those rows are handed to the catalog model
together with their negatives: the stacked columns then have mean zero, so the model's own
intercept comes out as zero and its loss is exactly twice the weighted one (ridge's λ is
doubled to match; the lasso's 1/(2n) absorbs the factor). The losses with a link (logistic,
softmax, Poisson, hinge) have no per-row weights in the catalog, so they take none.

>>> import numpy as np
>>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([1.0, 3.0, 5.0, 7.0])
>>> Ridge(alpha=0.0).fit(X, y).coef_.round(6)
array([2.])

Takes: X (n, d), y (n,). Gives: coef_, intercept_ and predictions.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ..optim import Problem
from ._base import check_X, check_Xy, encode_labels, one_hot, positive_param, run_fit, weights
from .svm import dual_svm


class _LinearClassifier(ClassifierMixin, BaseEstimator):
    """decision_function, predict and (where a probability model exists) predict_proba from coef_."""

    def decision_function(self, X):
        """Scores X coef_ᵀ + intercept_: (n,) for two classes (positive: classes_[1]), else (n, K)."""
        check_is_fitted(self)
        X = check_X(self, X, reset=False)
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """The class with the largest score."""
        scores = self.decision_function(X)
        return self.classes_[(scores > 0).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)]


class _Probabilistic(_LinearClassifier):
    def predict_proba(self, X):
        """Class probabilities (n, K): σ(score) for two classes, softmax of the scores otherwise."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = expit(scores)
            return np.column_stack([1 - p, p])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))


def _softmax_fit(est, X, index, K):
    r = run_fit(est, "softmax_regression", (X, one_hot(index, K)), "newton", hyper={"lam": 1 / est.C},
                tol=est.tol, max_iter=est.max_iter)
    c = r.params["c"]
    est.coef_, est.intercept_ = r.params["W"].T.copy(), c - c.mean()  # the gauge: intercepts up to a shift


class LogisticRegression(_Probabilistic):
    """Logistic regression with an L2 penalty on the weights, fitted by Newton's method.

    Two classes: the catalog's ``logistic_regression``,
    L(w, b) = Σᵢ [softplus(zᵢ) − yᵢzᵢ] + (λ/2)‖w‖², z = Xw + b, y ∈ {0, 1} (1 = classes_[1]).
    More classes: ``softmax_regression`` (the multinomial loss, as scikit-learn's default).

    Map to scikit-learn: ``LogisticRegression(C=C)`` minimises C Σᵢ ℓᵢ + ½‖w‖², which is C·L
    with λ = 1/C; the intercept is unpenalised in both. With K > 2 classes the intercepts are
    determined up to one common shift; they are reported centred (Σ_k intercept_k = 0).

    Args:
        C: inverse penalty strength (λ = 1/C), > 0.
        tol: Newton stops when ‖∇L‖ ≤ tol·‖∇L(θ₀)‖.
        max_iter: the most Newton steps.

    Attributes:
        coef_ (1, d) or (K, d), intercept_ (1,) or (K,), classes_, n_iter_, fit_result_
        (symml's OptimizeResult; it renders as a table in Jupyter).
    """

    def __init__(self, C=1.0, tol=1e-8, max_iter=100):
        self.C = C
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X, y):
        positive_param(self, "C")
        X, y = check_Xy(self, X, y, classifier=True)
        index = encode_labels(self, y)
        if len(self.classes_) > 2:
            _softmax_fit(self, X, index, len(self.classes_))
            return self
        r = run_fit(self, "logistic_regression", (X, index.astype(np.float64)), "newton",
                    hyper={"lam": 1 / self.C}, tol=self.tol, max_iter=self.max_iter)
        self.coef_, self.intercept_ = r.params["w"][None, :].copy(), np.array([r.params["b"]])
        return self


class SoftmaxRegression(_Probabilistic):
    """Multinomial logistic regression (any K ≥ 2) with an L2 penalty on W, by Newton's method.

    The catalog's ``softmax_regression``: L(W, c) = Σᵢ [logsumexp(Zᵢ) − YᵢᵀZᵢ] + (λ/2)‖W‖²_F,
    Z = XW + 1cᵀ, Y one-hot. coef_ is Wᵀ (K, d), one row per class even for K = 2.

    Map to scikit-learn: ``LogisticRegression(C=C)`` with the multinomial loss minimises C·L
    with λ = 1/C; intercept_ is reported centred (the softmax ignores a common shift).

    Args:
        C: inverse penalty strength (λ = 1/C), > 0.
        tol: Newton's relative gradient tolerance.
        max_iter: the most Newton steps.
    """

    def __init__(self, C=1.0, tol=1e-8, max_iter=100):
        self.C = C
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X, y):
        positive_param(self, "C")
        X, y = check_Xy(self, X, y, classifier=True)
        index = encode_labels(self, y)
        _softmax_fit(self, X, index, len(self.classes_))
        return self

    def decision_function(self, X):
        """Scores (n, K), one column per class; for two classes their difference (n,), as scikit-learn's
        binary classifiers report it (positive: classes_[1])."""
        check_is_fitted(self)
        X = check_X(self, X, reset=False)
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores


class LinearSVC(_LinearClassifier):
    """A linear support vector machine, in the primal (squared hinge) or in the dual (hinge).

    ``dual=False``: the catalog's ``svm_primal``, L(w, b) = Σᵢ max(0, 1 − yᵢzᵢ)² + (λ/2)‖w‖²,
    by Newton's method on the generalized Hessian. Map: scikit-learn's ``LinearSVC(C=C,
    loss="squared_hinge")`` minimises C·L with λ = 1/C, except that it also penalises the
    intercept (as the weight of a constant feature of value ``intercept_scaling``); a large
    intercept_scaling makes the two agree.

    ``dual=True``: the Lagrange dual of the soft margin (hinge loss, slacks ξ), the catalog's
    ``svm_dual``: min over 0 ≤ α ≤ C, yᵀα = 0 of ½(α⊙y)ᵀXXᵀ(α⊙y) − Σα, solved by SMO on
    the matrix of its ``hessian`` kernel; w = Xᵀ(α⊙y) by its ``recover_w`` kernel, b from the
    free multipliers. This is scikit-learn's ``SVC(kernel="linear", C=C)`` (the same C, an
    unpenalised intercept).

    More than two classes: one against the rest, one binary machine per class.

    Args:
        C: the hinge's weight against ½‖w‖² (λ = 1/C in the primal), > 0.
        dual: solve the dual (hinge loss) instead of the primal (squared hinge).
        tol: Newton's relative gradient tolerance (primal); SMO's KKT tolerance (dual).
        max_iter: the most Newton steps (primal) or SMO pair updates (dual).
    """

    def __init__(self, C=1.0, dual=False, tol=1e-8, max_iter=None):
        self.C = C
        self.dual = dual
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X, y):
        C = positive_param(self, "C")
        X, y = check_Xy(self, X, y, classifier=True)
        index = encode_labels(self, y)
        K = len(self.classes_)
        coef, intercept, iters = [], [], []
        for k in ([1] if K == 2 else range(K)):
            ys = np.where(index == k, 1.0, -1.0)
            if self.dual:
                alpha, b, n_iter = dual_svm("svm_dual", X, ys, C, {}, self.tol, self.max_iter)
                w = Problem("svm_dual", (X, ys)).call("recover_w", alpha)
            else:
                r = run_fit(self, "svm_primal", (X, ys), "newton", hyper={"lam": 1 / C}, tol=self.tol,
                            max_iter=self.max_iter or 100)
                w, b, n_iter = r.params["w"], r.params["b"], r.n_iter
            coef.append(np.asarray(w, dtype=np.float64))
            intercept.append(float(b))
            iters.append(n_iter)
        self.coef_, self.intercept_, self.n_iter_ = np.array(coef), np.array(intercept), int(max(iters))
        return self


class _LinearRegressor(RegressorMixin, BaseEstimator):
    def predict(self, X):
        """Xw + b (n,)."""
        check_is_fitted(self)
        return check_X(self, X, reset=False) @ self.coef_ + self.intercept_

    def _fit_squared(self, X, y, sample_weight, model, method, hyper, weighted_hyper=None, **options):
        """Fit a squared-error model, with sample weights by the mirrored rows of the module docstring."""
        s = weights(sample_weight, X)
        if s is None:
            r = run_fit(self, model, (X, y), method, hyper=hyper, **options)
            self.coef_, self.intercept_ = r.params["w"].copy(), float(r.params["b"])
            return self
        if not np.sum(s) > 0:
            raise ValueError(f"{type(self).__name__}: sample_weight sums to 0; at least one row needs a weight > 0")
        x_bar, y_bar = s @ X / s.sum(), s @ y / s.sum()
        root = np.sqrt(s * (len(s) / s.sum()))[:, None]  # weights rescaled to sum to n (scikit-learn's rule)
        Xs, ys = root * (X - x_bar), root[:, 0] * (y - y_bar)
        r = run_fit(self, model, (np.vstack([Xs, -Xs]), np.concatenate([ys, -ys])), method,
                    hyper=weighted_hyper(s) if weighted_hyper else hyper, **options)
        self.coef_ = r.params["w"].copy()
        self.intercept_ = float(y_bar - x_bar @ self.coef_)
        return self


class LinearRegression(_LinearRegressor):
    """Ordinary least squares with an intercept, by the catalog's derived normal equations.

    ``least_squares``: L(w, b) = ‖Xw + b − y‖², solved by its ``closed_form`` kernel (it needs
    X with full column rank after centring). Map: scikit-learn's ``LinearRegression()``
    minimises the same L; with sample weights both minimise Σᵢ sᵢ(xᵢᵀw + b − yᵢ)².
    """

    def fit(self, X, y, sample_weight=None):
        X, y = check_Xy(self, X, y, classifier=False, min_samples=2)
        return self._fit_squared(X, y, sample_weight, "least_squares", "closed_form", {})


class Ridge(_LinearRegressor):
    """Ridge regression by the catalog's derived closed form.

    ``ridge``: L(w, b) = ‖Xw + b − y‖² + λ‖w‖², the intercept unpenalised. Map: scikit-learn's
    ``Ridge(alpha=α)`` minimises the same L with λ = α (with sample weights, Σᵢ sᵢ rᵢ² + α‖w‖²
    in both).

    Args:
        alpha: λ ≥ 0 (0 needs X of full column rank after centring).
    """

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, X, y, sample_weight=None):
        lam = positive_param(self, "alpha", allow_zero=True)
        X, y = check_Xy(self, X, y, classifier=False, min_samples=2)
        # the mirrored rows double the loss; weights rescaled to sum to n scale it by n/Σs
        return self._fit_squared(X, y, sample_weight, "ridge", "closed_form", {"lam": lam},
                                 lambda s: {"lam": 2 * lam * len(s) / s.sum()})


class Lasso(_LinearRegressor):
    """The lasso, by proximal gradient (FISTA) with the catalog's ``prox_step`` kernel.

    ``lasso``: F(w, b) = 1/(2n)‖Xw + b − y‖² + α‖w‖₁. Map: scikit-learn's ``Lasso(alpha=α)``
    minimises the same F, α the same number. With sample weights both minimise
    1/(2Σs) Σᵢ sᵢ rᵢ² + α‖w‖₁.

    Args:
        alpha: the L1 weight α ≥ 0.
        tol: stop when the gradient mapping's norm ≤ tol·(its first value).
        max_iter: the most proximal-gradient iterations.
    """

    def __init__(self, alpha=1.0, tol=1e-12, max_iter=10000):
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X, y, sample_weight=None):
        alpha = positive_param(self, "alpha", allow_zero=True)
        X, y = check_Xy(self, X, y, classifier=False)
        return self._fit_squared(X, y, sample_weight, "lasso", "prox", {"alpha": alpha, "eta": 1.0},
                                 tol=self.tol, max_iter=self.max_iter)


class ElasticNet(_LinearRegressor):
    """The elastic net, by proximal gradient (FISTA) with the catalog's ``prox_step`` kernel.

    ``elastic_net``: F(w, b) = 1/(2n)‖Xw + b − y‖² + αρ‖w‖₁ + α(1 − ρ)/2‖w‖². Map:
    scikit-learn's ``ElasticNet(alpha=α, l1_ratio=ρ)`` minimises the same F (α and ρ the same
    numbers; with sample weights 1/(2Σs) Σᵢ sᵢ rᵢ² replaces the first term in both).

    Args:
        alpha: α ≥ 0.
        l1_ratio: ρ ∈ [0, 1].
        tol, max_iter: as :class:`Lasso`.
    """

    def __init__(self, alpha=1.0, l1_ratio=0.5, tol=1e-12, max_iter=10000):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X, y, sample_weight=None):
        alpha = positive_param(self, "alpha", allow_zero=True)
        rho = positive_param(self, "l1_ratio", allow_zero=True)
        if rho > 1:
            raise ValueError(f"ElasticNet: l1_ratio must be in [0, 1], got {rho!r}")
        X, y = check_Xy(self, X, y, classifier=False)
        return self._fit_squared(X, y, sample_weight, "elastic_net", "prox",
                                 {"alpha": alpha, "rho": rho, "eta": 1.0}, tol=self.tol, max_iter=self.max_iter)


class PoissonRegressor(_LinearRegressor):
    """Poisson regression (log link) with an L2 penalty, by Newton's method.

    ``poisson_regression``: L(w, b) = Σᵢ [exp(zᵢ) − yᵢzᵢ] + (λ/2)‖w‖², z = Xw + b, y ≥ 0.
    Map: scikit-learn's ``PoissonRegressor(alpha=α)`` minimises the mean half deviance plus
    (α/2)‖w‖², which is L/n + (terms in y only) with λ = nα: this estimator takes scikit-learn's
    α and passes λ = nα, so the same α gives the same coefficients.

    Args:
        alpha: α ≥ 0 (λ = n·α).
        tol: Newton's relative gradient tolerance.
        max_iter: the most Newton steps.
    """

    def __init__(self, alpha=1.0, tol=1e-8, max_iter=100):
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True
        return tags

    def fit(self, X, y):
        alpha = positive_param(self, "alpha", allow_zero=True)
        X, y = check_Xy(self, X, y, classifier=False)
        if np.any(y < 0):
            raise ValueError("PoissonRegressor: y must be non-negative (counts or rates), got a negative value")
        r = run_fit(self, "poisson_regression", (X, y), "newton", hyper={"lam": len(y) * alpha}, tol=self.tol,
                    max_iter=self.max_iter)
        self.coef_, self.intercept_ = r.params["w"].copy(), float(r.params["b"])
        return self

    def predict(self, X):
        """The mean exp(Xw + b) (n,)."""
        return np.exp(super().predict(X))


__all__ = ["LogisticRegression", "SoftmaxRegression", "LinearSVC", "LinearRegression", "Ridge", "Lasso",
           "ElasticNet", "PoissonRegressor"]
