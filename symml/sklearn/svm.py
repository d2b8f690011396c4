"""Support vector machines through the catalog's Lagrange duals: :class:`SVC` (RBF kernel) and
the dual solver that :class:`~symml.sklearn.LinearSVC` uses with ``dual=True``.

The soft-margin dual is min_α ½αᵀQα − Σα over 0 ≤ α ≤ C, yᵀα = 0, with Q = (yyᵀ) ⊙ K. Q is the
matrix of the derivation's ``hessian`` kernel (the dual is quadratic, so it is the same at every
α): ``svm_dual`` for K = XXᵀ, ``svm_dual_rbf`` for K = exp(−γ‖xᵢ − xⱼ‖²). The box and the
equality constraint need a constrained solver, which the catalog's optimizers are not, so the
problem is solved here by sequential minimal optimisation (Platt 1998, with the second-order
working-set choice of Fan, Chen & Lin 2005): pairs of multipliers move along yᵀα = 0 until the
largest KKT violation is below tol. Then the KKT system on the free multipliers (0 < αᵢ < C)
is solved exactly; its multiplier of yᵀα = 0 is the intercept b. That exact answer is kept when
it is feasible and no worse than SMO's, which makes the result agree with scikit-learn's SVC to
rounding rather than to tol.

Takes: X (n, d), labels y ∈ {−1, +1}, C and γ. Gives: α (n,), b and the number of SMO steps.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ..optim import Problem
from ._base import check_X, check_Xy, encode_labels, positive_param

TAU = 1e-12


def smo(Q, y, C, tol, max_iter):
    """α minimising ½αᵀQα − Σα over 0 ≤ α ≤ C, yᵀα = 0, and the steps taken (see the module)."""
    n = len(y)
    a, G, QD = np.zeros(n), -np.ones(n), np.diag(Q).copy()
    k = 0
    for k in range(1, max_iter + 1):
        v = -y * G
        up = np.where(y > 0, a < C, a > 0)
        low = np.where(y > 0, a > 0, a < C)
        i = int(np.argmax(np.where(up, v, -np.inf)))
        m, M = v[i], np.min(np.where(low, v, np.inf))
        if not up[i] or m - M < tol:
            return a, k - 1
        curv = np.maximum(QD[i] + QD - 2 * y[i] * y * Q[i], TAU)
        j = int(np.argmin(np.where(low & (v < m), -(m - v) ** 2 / curv, np.inf)))
        ai, aj = a[i], a[j]
        if y[i] != y[j]:
            delta = (-G[i] - G[j]) / max(QD[i] + QD[j] + 2 * Q[i, j], TAU)
            diff = ai - aj
            a[i], a[j] = ai + delta, aj + delta
            if diff > 0 and a[j] < 0:
                a[j], a[i] = 0.0, diff
            elif diff <= 0 and a[i] < 0:
                a[i], a[j] = 0.0, -diff
            if diff > 0 and a[i] > C:
                a[i], a[j] = C, C - diff
            elif diff <= 0 and a[j] > C:
                a[j], a[i] = C, C + diff
        else:
            delta = (G[i] - G[j]) / max(QD[i] + QD[j] - 2 * Q[i, j], TAU)
            total = ai + aj
            a[i], a[j] = ai - delta, aj + delta
            if total > C and a[i] > C:
                a[i], a[j] = C, total - C
            elif total <= C and a[j] < 0:
                a[j], a[i] = 0.0, total
            if total > C and a[j] > C:
                a[j], a[i] = C, total - C
            elif total <= C and a[i] < 0:
                a[i], a[j] = 0.0, total
        G += Q[i] * (a[i] - ai) + Q[j] * (a[j] - aj)
    return a, k


def _intercept(Q, y, C, a):
    v = -y * (Q @ a - 1)
    free = (a > 0) & (a < C)
    if free.any():
        return float(np.mean(v[free]))
    up, low = np.where(y > 0, a < C, a > 0), np.where(y > 0, a > 0, a < C)
    return float((np.max(v[up], initial=-np.inf) + np.min(v[low], initial=np.inf)) / 2) if up.any() and low.any() \
        else 0.0


def _polish(Q, y, C, a):
    """The exact solution on SMO's active set (α and b), or None where it is not feasible."""
    scale = 1e-8 * C
    upper, free = a >= C - scale, (a > scale) & (a < C - scale)
    F = np.flatnonzero(free)
    if F.size == 0:
        return None
    new = np.where(upper, C, 0.0)
    A = np.block([[Q[np.ix_(F, F)], y[F, None]], [y[None, F], np.zeros((1, 1))]])
    rhs = np.r_[1 - Q[np.ix_(F, np.flatnonzero(upper))] @ new[upper], -y[upper] @ new[upper]]
    try:
        sol = np.linalg.solve(A, rhs)
    except np.linalg.LinAlgError:
        return None
    new[F] = sol[:-1]
    if not (np.all(np.isfinite(sol)) and np.all(new >= 0) and np.all(new <= C)):
        return None
    return new, float(sol[-1])


def dual_svm(model, X, y, C, hyper, tol, max_iter):
    """Solve the soft-margin dual of catalog model ``model`` ("svm_dual", "svm_dual_rbf") on (X, y)."""
    problem = Problem(model, (X, y), hyper)
    Q = np.asarray(problem.hessian(problem.theta0))  # quadratic: the Hessian is Q at every α
    a, steps = smo(Q, y, C, 1e-3 if tol is None else tol, max_iter or max(10000, 100 * len(y)))
    f = 0.5 * a @ Q @ a - a.sum()
    polished = _polish(Q, y, C, a)
    if polished is not None:
        new, b = polished
        if 0.5 * new @ Q @ new - new.sum() <= f + 1e-12 * (1 + abs(f)):
            return new, b, steps
    return a, _intercept(Q, y, C, a), steps


def rbf(A, B, gamma):
    """exp(−γ‖aᵢ − bⱼ‖²) (len(A), len(B)), for predictions on new rows."""
    sq = np.sum(A * A, axis=1)[:, None] + np.sum(B * B, axis=1)[None, :] - 2 * A @ B.T
    return np.exp(-gamma * np.maximum(sq, 0.0))


class SVC(ClassifierMixin, BaseEstimator):
    """A support vector classifier with the RBF kernel, through the kernelized dual.

    The catalog's ``svm_dual_rbf``: min over 0 ≤ α ≤ C, yᵀα = 0 of ½(α⊙y)ᵀK(α⊙y) − Σα,
    K = exp(−γ‖xᵢ − xⱼ‖²) (its ``hessian`` kernel gives (yyᵀ) ⊙ K), solved as the module
    docstring says; f(x) = Σᵢ αᵢyᵢ K(x, xᵢ) + b. Map: scikit-learn's ``SVC(kernel="rbf",
    C=C, gamma=γ)`` solves the same dual with the same C and γ (its dual_coef_ is αᵢyᵢ).
    More than two classes: one against the rest (scikit-learn's SVC uses one against one).

    Args:
        C: the box 0 ≤ α ≤ C, > 0.
        gamma: γ > 0, or "scale" (1/(d·Var X), scikit-learn's default) or "auto" (1/d).
        tol: SMO's KKT tolerance.
        max_iter: the most SMO steps per binary problem (default max(10⁴, 100n)).

    Attributes:
        support_vectors_ (s, d): the rows with αᵢ > 0 in some binary problem; dual_coef_
        (problems, s): αᵢyᵢ over those rows; intercept_ (problems,); classes_; n_iter_.
    """

    def __init__(self, C=1.0, gamma="scale", tol=1e-3, max_iter=None):
        self.C = C
        self.gamma = gamma
        self.tol = tol
        self.max_iter = max_iter

    def _gamma(self, X):
        if self.gamma == "scale":
            var = float(X.var())
            return 1.0 / (X.shape[1] * var) if var > 0 else 1.0
        if self.gamma == "auto":
            return 1.0 / X.shape[1]
        return positive_param(self, "gamma")

    def fit(self, X, y):
        C = positive_param(self, "C")
        X, y = check_Xy(self, X, y, classifier=True)
        index = encode_labels(self, y)
        self._gamma_ = gamma = self._gamma(X)
        K = len(self.classes_)
        coefs, intercepts, steps = [], [], []
        for k in ([1] if K == 2 else range(K)):
            ys = np.where(index == k, 1.0, -1.0)
            a, b, n = dual_svm("svm_dual_rbf", X, ys, C, {"gamma": gamma}, self.tol, self.max_iter)
            coefs.append(a * ys)
            intercepts.append(b)
            steps.append(n)
        coef = np.array(coefs)
        self.support_ = np.flatnonzero(np.any(coef != 0, axis=0))
        self.support_vectors_ = X[self.support_]
        self.dual_coef_ = coef[:, self.support_]
        self.intercept_ = np.array(intercepts)
        self.n_iter_ = int(max(steps))
        return self

    def decision_function(self, X):
        """f(x) = Σᵢ αᵢyᵢ K(x, xᵢ) + b: (n,) for two classes (positive: classes_[1]), else (n, K)."""
        check_is_fitted(self)
        X = check_X(self, X, reset=False)
        scores = rbf(X, self.support_vectors_, self._gamma_) @ self.dual_coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        scores = self.decision_function(X)
        return self.classes_[(scores > 0).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)]
