"""The constrained part of the catalog, through its generated kernels (compiled: marked ``compile``).

Each dual is solved numerically with its own kernels (scipy.optimize with bounds and the dual's
equality constraint, then an exact solve on the active set found), the primal with scipy's SLSQP
on the original constrained problem, and then:

- strong duality: |P* − D*| ≤ 1e-6 · max(1, |P*|);
- the KKT residuals of ``kkt(problem)`` at (recovered primal, dual optimum) ≤ 1e-6;
- primal recovery: the recovered primal point against the primal optimum and an outside oracle
  (scikit-learn's SVC, Ridge and KernelRidge; numpy.linalg.pinv, eigh and eig).

Data: standardised two-class subsets of scikit-learn's iris (setosa/versicolor, separable, for
the hard margin; versicolor/virginica for the soft margin and the RBF kernel).
"""
import importlib

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

import symml as sm
from derivations import categorical_mle, least_norm, markov_stationary, max_entropy, ridge_dual
from derivations import svm_dual
from symml.catalog import load
from symml.duality import kkt
from symml.verify import sample_inputs

datasets = pytest.importorskip("sklearn.datasets")
sk_svm = pytest.importorskip("sklearn.svm")
sk_linear = pytest.importorskip("sklearn.linear_model")
sk_kernel_ridge = pytest.importorskip("sklearn.kernel_ridge")

pytestmark = pytest.mark.compile

NAMES = ["svm_dual", "svm_dual_hard", "svm_dual_rbf", "ridge_dual", "ridge_dual_rbf", "least_norm", "pca_lagrangian",
         "max_entropy", "categorical_mle", "markov_stationary"]
GAP, KKT = 1e-6, 1e-6


def _k(name):
    return importlib.import_module(f"generated.{name}")


def _gap(primal, dual):
    return abs(primal - dual) / max(1.0, abs(primal))


def _iris(classes):
    X, y = datasets.load_iris(return_X_y=True)
    keep = np.isin(y, classes)
    X = X[keep]
    return (X - X.mean(0)) / X.std(0), np.where(y[keep] == classes[1], 1.0, -1.0)


# ---------------------------------------------------------------- every kernel


@pytest.mark.parametrize("name", NAMES)
def test_kernels_agree_with_evaluate_and_finite_differences(name):
    d, k = load(name), _k(name)
    rng = np.random.default_rng(3)
    args = sample_inputs(d, rng, sizes={"n": 6, "d": 3, "K": 4, "m": 2})
    args.update({v.name: rng.normal(size=np.shape(args[p.name])) for v, p in zip(d.directions, d.params)})
    for spec in d.kernel_specs():
        got = getattr(k, spec.name)(*[args[t.name] for t in spec.args])
        got = got if isinstance(got, tuple) and spec.layout == "tuple" else (got,)
        if spec.layout in ("blocks", "pair"):
            continue  # the Hessian and value_and_grad are checked against the gradient by sm.check
        ref = sm.evaluate((*spec.outputs, *spec.args), **{t.name: args[t.name] for t in spec.args})
        for g, r in zip(got, ref[:len(spec.outputs)]):
            assert np.allclose(g, r, rtol=1e-10, atol=1e-10), (name, spec.name)
    report = sm.check(name, points=2)
    assert report.ok, str(report)


# ---------------------------------------------------------------- SVM


def _svm_dual(k, args, y, C, tol=1e-7):
    """The SVM dual with the generated kernels: SLSQP with 0 ≤ α ≤ C and yᵀα = 0 (``balance``), then
    an exact solve of the dual's KKT system on the free set, whose multiplier of yᵀα = 0 is b."""
    n = len(y)
    r = minimize(k.fun, np.zeros(n), args=args, jac=k.jac, bounds=[(0, C)] * n, method="SLSQP",
                 constraints=[{"type": "eq", "fun": lambda a: y @ a, "jac": lambda a: y}],
                 options={"ftol": 1e-12, "maxiter": 500})
    a, hi = r.x, np.inf if C is None else C
    free, upper = (a > tol) & (a < hi - tol), a >= hi - tol
    a = np.where(upper, hi, 0.0)
    Q = k.hessian(a, *args)  # the dual is quadratic: Q = (yyᵀ) ⊙ K
    F = np.flatnonzero(free)
    M = np.block([[Q[np.ix_(F, F)], y[F, None]], [y[None, F], np.zeros((1, 1))]])
    rhs = np.r_[1 - Q[np.ix_(F, np.flatnonzero(upper))] @ a[upper], -y[upper] @ a[upper]]
    sol = np.linalg.solve(M, rhs)
    a[F] = sol[:-1]
    return a, sol[-1]


def _svm_primal(X, y, C):
    """min ½‖w‖² + CΣξ s.t. y ⊙ (Xw + b) ≥ 1 − ξ, ξ ≥ 0 (no ξ for C = None), by SLSQP."""
    n, d = X.shape
    slack = C is not None
    A = np.c_[y[:, None] * X, y, np.eye(n) if slack else np.zeros((n, 0))]
    f = lambda z: 0.5 * z[:d] @ z[:d] + (C * z[d + 1:].sum() if slack else 0.0)  # noqa: E731
    g = lambda z: np.r_[z[:d], 0.0, C * np.ones(n) if slack else []]  # noqa: E731
    r = minimize(f, np.zeros(A.shape[1]), jac=g, bounds=[(None, None)] * (d + 1) + [(0, None)] * (A.shape[1] - d - 1),
                 constraints=[{"type": "ineq", "fun": lambda z: A @ z - 1, "jac": lambda z: A}], method="SLSQP",
                 options={"ftol": 1e-14, "maxiter": 1000})
    return r.fun, r.x[:d], r.x[d]


@pytest.mark.parametrize("name, classes, C", [("svm_dual", (1, 2), 1.0), ("svm_dual_hard", (0, 1), None)])
def test_linear_svm_dual_against_svc_and_the_primal(name, classes, C):
    X, y = _iris(classes)
    k = _k(name)
    a, b = _svm_dual(k, (X, y), y, C)
    w = k.recover_w(a, X, y)
    clf = sk_svm.SVC(kernel="linear", C=C or 1e10, tol=1e-10).fit(X, y)
    assert np.allclose(w, clf.coef_[0], atol=1e-5) and abs(b - clf.intercept_[0]) < 1e-5
    assert np.array_equal(np.flatnonzero(a > 1e-8), clf.support_)
    assert np.allclose(a[clf.support_] * y[clf.support_], clf.dual_coef_[0], atol=1e-5)
    P_star, w_p, b_p = _svm_primal(X, y, C)
    assert _gap(P_star, -k.loss(a, X, y)) < GAP and np.allclose(w_p, w, atol=1e-6) and abs(b_p - b) < 1e-6
    problem = svm_dual.soft if C else svm_dual.hard
    values = dict(w=w, b=b, alpha=a, X=X, y=y)
    if C:
        values.update(xi=np.maximum(0.0, 1 - y * (X @ w + b)), mu=C - a, C=C)
    assert max(kkt(problem).residuals(**values).values()) < KKT
    D = svm_dual.soft_dual if C else svm_dual.hard_dual
    assert max(D.residuals(alpha=a, y=y, C=C or 0.0)) < KKT


def test_rbf_svm_dual_decision_values_match_svc():
    X, y = _iris((1, 2))
    k, C, gamma = _k("svm_dual_rbf"), 1.0, 0.5
    a, b = _svm_dual(k, (X, y, gamma), y, C)
    clf = sk_svm.SVC(kernel="rbf", C=C, gamma=gamma, tol=1e-10).fit(X, y)
    assert np.array_equal(np.flatnonzero(a > 1e-8), clf.support_)
    f = sm.evaluate(svm_dual.decision_rbf, Z=X, X=X, y=y, alpha=a, b=b, gamma=gamma)
    assert np.allclose(f, clf.decision_function(X), atol=1e-5)
    # the dual's own KKT conditions: (Qα − 𝟏 + by)ᵢ is ≥ 0 where αᵢ = 0, 0 on the free set, ≤ 0 where αᵢ = C
    g = k.grad(a, X, y, gamma) + b * y
    assert g[a < 1e-8].min() > -KKT and np.abs(g[(a > 1e-8) & (a < C - 1e-8)]).max() < KKT
    assert g[a > C - 1e-8].max(initial=0.0) < KKT and np.allclose(k.gram(X, gamma), np.exp(
        -gamma * ((X[:, None] - X[None]) ** 2).sum(-1)), atol=1e-12)


# ---------------------------------------------------------------- equality-constrained duals


def test_ridge_dual_and_kernel_ridge(rng):
    X, y, lam, gamma = rng.normal(size=(15, 4)), rng.normal(size=15), 0.5, 0.3
    k, kr = _k("ridge_dual"), _k("ridge_dual_rbf")
    a = minimize(k.fun, np.zeros(15), args=(X, y, lam), jac=k.jac, hess=k.hess, method="trust-exact",
                 options={"gtol": 1e-12}).x
    assert np.allclose(a, k.closed_form(X, y, lam), atol=1e-8)
    w = k.recover_w(k.closed_form(X, y, lam), X)
    assert np.allclose(w, sk_linear.Ridge(alpha=lam, fit_intercept=False).fit(X, y).coef_, atol=1e-10)
    r = y - X @ w  # the primal at the recovered point, and its dual value
    assert _gap(0.5 * w @ w + r @ r / (2 * lam), -k.loss(a, X, y, lam)) < GAP
    assert max(kkt(ridge_dual.problem).residuals(w=w, r=r, alpha=a, X=X, y=y, lam=lam).values()) < KKT
    ref = sk_kernel_ridge.KernelRidge(alpha=lam, kernel="rbf", gamma=gamma).fit(X, y).dual_coef_
    assert np.allclose(kr.closed_form(X, y, lam, gamma), ref, atol=1e-10)
    assert np.abs(kr.grad(ref, X, y, lam, gamma)).max() < 1e-10  # the dual optimum


def test_least_norm_dual_against_pinv_and_the_primal(rng):
    X, y = rng.normal(size=(4, 9)), rng.normal(size=4)
    k = _k("least_norm")
    nu = minimize(k.fun, np.zeros(4), args=(X, y), jac=k.jac, hess=k.hess, method="trust-exact",
                  options={"gtol": 1e-12}).x
    w = k.recover_w(nu, X)
    assert np.allclose(w, np.linalg.pinv(X) @ y, atol=1e-9) and np.allclose(k.closed_form(X, y), w, atol=1e-9)
    assert np.allclose(k.multiplier(X, y), nu, atol=1e-8)
    primal = minimize(lambda v: v @ v, np.zeros(9), jac=lambda v: 2 * v, method="SLSQP", options={"ftol": 1e-14},
                      constraints=[{"type": "eq", "fun": lambda v: X @ v - y, "jac": lambda v: X}])
    assert _gap(primal.fun, -k.loss(nu, X, y)) < GAP
    assert max(kkt(least_norm.problem).residuals(w=w, nu=nu, X=X, y=y).values()) < KKT


def test_pca_kkt_points_are_eigenpairs_and_the_maximum_is_the_top_eigenvalue(rng):
    A = rng.normal(size=(5, 5))
    S = A @ A.T
    k = _k("pca_lagrangian")
    vals, vecs = np.linalg.eigh(S)
    for lam, v in zip(vals, vecs.T):
        gw, gl = k.grad(v, lam, S)
        assert np.abs(gw).max() < 1e-10 * vals[-1] and abs(gl) < 1e-12
    x0 = rng.normal(size=5)
    primal = minimize(lambda v: -v @ S @ v, x0 / np.linalg.norm(x0), jac=lambda v: -2 * S @ v, method="SLSQP",
                      constraints=[{"type": "eq", "fun": lambda v: v @ v - 1, "jac": lambda v: 2 * v}],
                      options={"ftol": 1e-14, "maxiter": 500})
    assert _gap(-primal.fun, vals[-1]) < GAP  # the dual optimum: min λ s.t. λI ⪰ S
    assert abs(abs(primal.x @ vecs[:, -1]) - 1) < 1e-6


def test_max_entropy_dual_and_primal(rng):
    Kn, m = 6, 2
    F, p0 = rng.normal(size=(Kn, m)), rng.dirichlet(np.ones(Kn))
    mu = F.T @ p0  # feasible moments, in the interior
    k = _k("max_entropy")
    th = minimize(k.fun, np.zeros(m), args=(F, mu), jac=k.jac, hess=k.hess, method="trust-exact",
                  options={"gtol": 1e-12}).x
    p = k.gibbs(th, F)
    cons = [{"type": "eq", "fun": lambda q: np.r_[q.sum() - 1, F.T @ q - mu],
             "jac": lambda q: np.vstack([np.ones(Kn), F.T])}]
    primal = minimize(lambda q: q @ np.log(q), np.full(Kn, 1 / Kn), jac=lambda q: np.log(q) + 1, method="SLSQP",
                      bounds=[(1e-12, 1)] * Kn, constraints=cons, options={"ftol": 1e-15, "maxiter": 500})
    assert _gap(-primal.fun, k.loss(th, F, mu)) < GAP and np.allclose(primal.x, p, atol=1e-6)
    nu = k.multiplier_nu(th, F)
    assert max(kkt(max_entropy.problem).residuals(p=p, nu=nu, theta=th, F=F, mu=mu).values()) < KKT


def test_categorical_mle_dual_and_primal(rng):
    R = np.eye(4)[rng.integers(0, 4, 40)]
    k = _k("categorical_mle")
    nu = minimize_scalar(lambda v: k.loss(np.float64(v), R), bounds=(1, 100), method="bounded",
                         options={"xatol": 1e-10}).x
    assert abs(nu - 40) < 1e-4
    p = k.mle(R)
    assert np.allclose(p, R.sum(0) / 40)
    counts = R.sum(0)
    assert _gap(counts @ np.log(p), k.loss(40.0, R)) < GAP  # max ℓ = min q
    assert max(kkt(categorical_mle.problem).residuals(p=p, nu=40.0, R=R).values()) < KKT
    assert np.allclose(k.recover_p(40.0, R), p)


def test_markov_stationary_against_the_left_eigenvector(rng):
    P = rng.random((7, 7)) + 0.01
    P /= P.sum(1, keepdims=True)
    k = _k("markov_stationary")
    pi = k.stationary(P)
    vals, vecs = np.linalg.eig(P.T)
    lead = np.real(vecs[:, np.argmax(np.real(vals))])
    assert np.allclose(pi, lead / lead.sum(), atol=1e-10)
    nu = k.multiplier(P)
    gpi, gnu = k.grad(pi, nu, P)
    assert np.abs(gpi).max() < 1e-10 and abs(gnu) < 1e-12 and abs(k.loss(pi, nu, P)) < 1e-20  # P* = q(ν*) = 0
    assert max(kkt(markov_stationary.problem).residuals(pi=pi, nu=nu, P=P).values()) < KKT
    H = k.hessian(pi, nu, P)  # the KKT matrix [[M, 𝟏], [𝟏ᵀ, 0]]: nonsingular
    assert np.linalg.cond(H) < 1e8
