"""The regression part of the catalog: least squares, ridge, lasso, elastic net, Poisson
regression and linear SVMs (squared hinge, hinge), and the proximal operators of
symml.prox.

Oracles: sm.evaluate (every kernel, extras included), finite differences (sm.check),
scipy.optimize (numeric optima of the loss kernels, brute-force 1-D prox problems),
numpy.linalg.lstsq and scikit-learn (Ridge, Lasso, ElasticNet, PoissonRegressor,
LinearSVC). Tests that call generated kernels are marked ``compile``.
"""
import importlib
import warnings

import numpy as np
import pytest
import sympy as sp

import symml as sm
from symml.catalog import load
from symml.nodes import leaves
from symml.prox import ProxError, derive_prox, soft_threshold, soft_threshold_derivation
from symml.verify import sample_inputs

scipy_opt = pytest.importorskip("scipy.optimize")
sklearn_linear = pytest.importorskip("sklearn.linear_model")
sklearn_svm = pytest.importorskip("sklearn.svm")

NAMES = ["least_squares", "ridge", "lasso", "elastic_net", "poisson_regression", "svm_primal", "svm_hinge"]
#: n > d, so that closed forms exist; two sizes, as the kernels hold for every size
SIZES = [{"n": 9, "d": 3}, {"n": 31, "d": 7}]


def _kernels(name):
    return importlib.import_module(f"generated.{name}")


def _minimize(k, args, x0, **kw):
    """The numeric optimum of a catalog loss over θ = [w; b] with its own gradient and Hessian."""
    def fun(t):
        v, (gw, gb) = k.value_and_grad(t[:-1], t[-1], *args)
        return v, np.append(gw, gb)

    def hess(t):
        return k.hessian(t[:-1], t[-1], *args)

    r = scipy_opt.minimize(fun, x0, jac=True, hess=hess, method="trust-exact", options={"gtol": 1e-12, **kw})
    # near gtol the trust region may stop on rounding noise ("bad approximation"): judge by the gradient
    assert np.max(np.abs(r.jac)) < 1e-9 * max(1.0, abs(r.fun)), r.message
    return r


# ---------------------------------------------------------------- prox (no numba)


def test_soft_threshold_is_derived_piece_by_piece():
    p = soft_threshold_derivation()
    v, t = p.v, p.t
    (pos, pos_region), (neg, neg_region) = p.branches
    assert sp.simplify(pos - (v - t)) == 0 and pos_region == sp.Interval.open(t, sp.oo)
    assert sp.simplify(neg - (v + t)) == 0 and neg_region == sp.Interval.open(-sp.oo, -t)
    assert p.zero_region == sp.Interval(-t, t)
    assert p.closed_form == sp.sign(v) * sp.Max(sp.Abs(v) - t, 0)


def test_derive_prox_of_other_penalties():
    x = sp.Symbol("x", real=True)
    # |x| + x²/2 (the elastic-net penalty with equal weights): S_t(v) / (1 + t)
    p = derive_prox(sp.Abs(x) + x**2 / 2, x)
    assert sp.simplify(p.closed_form - sp.sign(p.v) * sp.Max(sp.Abs(p.v) - p.t, 0) / (1 + p.t)) == 0
    # a smooth penalty: x = 0 only at v = 0
    assert derive_prox(x**2 / 2, x).zero_region == sp.FiniteSet(0)
    # not even: pieces and regions, no sign·max form
    q = derive_prox(sp.Max(x, 0), x)
    assert q.closed_form is None and q.zero_region == sp.Interval(0, q.t)
    with pytest.raises(ProxError, match="not an interval or a point"):
        derive_prox(-sp.Abs(x), x)  # concave: x = 0 is never the minimiser
    with pytest.raises(ProxError, match="2 roots"):
        derive_prox(sp.Abs(x) ** 3, x)


def _prox_objective(x, v, t):
    return 0.5 * (x - v) ** 2 + t * abs(x)


def _brute_prox(v, t):
    r = scipy_opt.minimize_scalar(_prox_objective, bounds=(-abs(v) - 1.0, abs(v) + 1.0), args=(v, t),
                                  method="bounded", options={"xatol": 1e-12})
    return r.x


def test_soft_threshold_matches_brute_force_minimisation(rng):
    d = sm.dims("d")
    v, t = sm.tensor("v", (d,)), sm.scalar("t")
    S = soft_threshold(v, t)
    for tv in (0.05, 0.7, 3.0):
        vs = np.concatenate([rng.normal(scale=3.0, size=60), [0.0, tv, -tv, tv * (1 + 1e-9)]])
        got = sm.evaluate(S, v=vs, t=tv)
        brute = np.array([_brute_prox(vi, tv) for vi in vs])
        # Brent's method stops within about √ε·|x|
        assert np.all(np.abs(got - brute) <= 1e-7 * np.maximum(1.0, np.abs(vs)))
        # the prox is the minimiser: no point found by brute force does better
        assert np.all(_prox_objective(got, vs, tv) <= _prox_objective(brute, vs, tv) + 1e-13)


def test_catalog_domains():
    assert load("poisson_regression").domains == {"y": "count"}
    assert load("svm_primal").domains == load("svm_hinge").domains == {"y": "sign"}


# ---------------------------------------------------------------- kernels against sm.evaluate


def _as_list(spec, out):
    if spec.layout == "value":
        return [out]
    if spec.layout == "tuple":
        return list(out)
    if spec.layout == "pair":
        rest = out[1] if isinstance(out[1], tuple) else (out[1],)
        return [out[0], *rest]
    return [out]


def _reference(spec, values, args):
    if spec.layout != "blocks":
        return list(values)
    sizes = [int(np.prod(np.shape(args[p.name]), dtype=int)) for p in spec.block_params]
    m = len(sizes)
    blocks = [np.reshape(v, (sizes[i // m], sizes[i % m])) for i, v in enumerate(values)]
    return [np.block([[blocks[i * m + j] for j in range(m)] for i in range(m)])]


@pytest.mark.compile
@pytest.mark.parametrize("sizes", SIZES, ids=["small", "larger"])
@pytest.mark.parametrize("name", NAMES)
def test_every_kernel_agrees_with_evaluate(name, sizes):
    d = load(name)
    k = _kernels(name)
    rng = np.random.default_rng(7)
    args = sample_inputs(d, rng, sizes=sizes)
    for t in d.directions:
        args[t.name] = rng.normal(size=np.shape(args[t.name.removeprefix("v_")]))
    if d.sample_split is not None:  # chunk kernels over all rows: the data term and the regulariser
        args[d.sample_split.n_total.name] = float(np.shape(args[d.sample_split.rows[0].name])[0])
    for spec in d.kernel_specs():
        a = [args[t.name] for t in spec.args]
        got = _as_list(spec, getattr(k, spec.name)(*a))
        used = {t.name for o in spec.outputs for t in leaves(o)}
        values = sm.evaluate(tuple(spec.outputs), dims=sizes, **{nm: args[nm] for nm in used})
        ref = _reference(spec, values, args)
        assert len(got) == len(ref), spec.name
        for g, r in zip(got, ref):
            scale = max(1.0, float(np.max(np.abs(r))))
            assert np.shape(g) == np.shape(r), spec.name
            assert np.max(np.abs(np.asarray(g) - r)) <= 1e-10 * scale, spec.name


@pytest.mark.compile
@pytest.mark.parametrize("name", NAMES)
def test_finite_differences(name):
    # the hinge kernels are checked at random points: a margin lands on 1 with probability 0
    assert sm.check(name).ok
    assert sm.check(name, dtype=np.float32).ok


# ---------------------------------------------------------------- closed forms


def _regression_data(rng, n, d, noise=0.3):
    X = rng.normal(size=(n, d)) + rng.normal(size=d)  # non-centred columns
    y = X @ rng.normal(size=d) + 1.7 + noise * rng.normal(size=n)
    return X, y


@pytest.mark.compile
def test_least_squares_closed_form_is_the_optimum(rng):
    k = _kernels("least_squares")
    X, y = _regression_data(rng, 40, 5)
    w, b = k.closed_form(X, y)
    ref = np.linalg.lstsq(np.c_[X, np.ones(len(y))], y, rcond=None)[0]
    assert np.max(np.abs(np.append(w, b) - ref)) < 1e-12 * max(1.0, np.max(np.abs(ref)))
    r = _minimize(k, (X, y), np.zeros(6))
    assert np.max(np.abs(np.append(w, b) - r.x)) < 1e-8
    gw, gb = k.grad(w, b, X, y)
    assert np.max(np.abs(gw)) < 1e-9 and abs(gb) < 1e-9


@pytest.mark.compile
@pytest.mark.parametrize("n, d", [(40, 5), (6, 10)], ids=["n>d", "d>n"])
def test_ridge_closed_form_matches_sklearn_and_scipy(rng, n, d):
    k = _kernels("ridge")
    X, y = _regression_data(rng, n, d)
    lam = 2.5
    w, b = k.closed_form(X, y, lam)
    skl = sklearn_linear.Ridge(alpha=lam, solver="svd").fit(X, y)  # α = λ
    assert np.max(np.abs(w - skl.coef_)) < 1e-10 and abs(b - skl.intercept_) < 1e-10
    r = _minimize(k, (X, y, lam), np.zeros(d + 1))
    assert np.max(np.abs(np.append(w, b) - r.x)) < 1e-8


# ---------------------------------------------------------------- lasso and elastic net


def _ista(k, X, y, hyper, eta, iters=5000):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(iters):
        w_new, b_new = k.prox_step(w, b, X, y, *hyper, eta, check_finite=False)
        if max(np.max(np.abs(w_new - w)), abs(b_new - b)) < 1e-15:
            return w_new, b_new
        w, b = w_new, b_new
    raise AssertionError("proximal gradient did not converge")


def _sparse_problem(rng):
    n, d = 50, 6
    X = rng.normal(size=(n, d))
    y = X @ np.array([1.5, 0.0, 0.0, -2.0, 0.0, 0.3]) + 0.7 + 0.1 * rng.normal(size=n)
    L = np.linalg.eigvalsh(np.c_[X, np.ones(n)].T @ np.c_[X, np.ones(n)] / n).max()
    return X, y, L


@pytest.mark.compile
def test_lasso_prox_gradient_converges_to_sklearn(rng):
    k = _kernels("lasso")
    X, y, L = _sparse_problem(rng)
    alpha = 0.1
    w, b = _ista(k, X, y, (alpha,), 1.0 / L)
    skl = sklearn_linear.Lasso(alpha=alpha, tol=1e-14, max_iter=100_000).fit(X, y)
    assert np.max(np.abs(w - skl.coef_)) < 1e-6 and abs(b - skl.intercept_) < 1e-6
    assert np.sum(w == 0.0) >= 1  # the prox sets coefficients exactly to zero
    assert k.objective(w, b, X, y, alpha) <= k.objective(skl.coef_, skl.intercept_, X, y, alpha) + 1e-12


@pytest.mark.compile
def test_elastic_net_prox_gradient_converges_to_sklearn(rng):
    k = _kernels("elastic_net")
    X, y, L = _sparse_problem(rng)
    alpha, rho = 0.2, 0.6
    w, b = _ista(k, X, y, (alpha, rho), 1.0 / (L + alpha * (1 - rho)))
    skl = sklearn_linear.ElasticNet(alpha=alpha, l1_ratio=rho, tol=1e-14, max_iter=100_000).fit(X, y)
    assert np.max(np.abs(w - skl.coef_)) < 1e-6 and abs(b - skl.intercept_) < 1e-6
    assert k.objective(w, b, X, y, alpha, rho) <= k.objective(skl.coef_, skl.intercept_, X, y, alpha, rho) + 1e-12


@pytest.mark.compile
def test_generated_prox_step_is_the_prox(rng):
    """With X = 0 and y = 0 the smooth part's w-gradient vanishes: the step is the prox itself."""
    k = _kernels("lasso")
    v = np.concatenate([rng.normal(scale=2.0, size=40), [0.0, 0.35, -0.35]])
    X, y = np.zeros((3, v.size)), np.zeros(3)
    eta, alpha = 0.5, 0.7  # threshold ηα = 0.35
    w, b = k.prox_step(v, 0.25, X, y, alpha, eta)
    brute = np.array([_brute_prox(vi, eta * alpha) for vi in v])
    assert np.all(np.abs(w - brute) <= 1e-7 * np.maximum(1.0, np.abs(v)))
    assert b == pytest.approx(0.25 * (1 - eta), abs=1e-15)  # ∂f/∂b = b with zero data
    assert np.array_equal(w[-3:], [0.0, 0.0, 0.0])


@pytest.mark.compile
@pytest.mark.parametrize("change, match", [
    (dict(w=np.zeros(5)), r"w: expected shape \(d,\) with d = 4 \(from X\), got shape \(5,\)"),
    (dict(y=np.zeros(9)), r"y: expected shape \(n,\) with n = 10 \(from X\), got shape \(9,\)"),
    (dict(eta=np.ones(2)), r"eta: expected a real number, got an array of shape \(2,\)"),
    (dict(alpha="big"), r"alpha: expected a real number, got str"),
    (dict(X=np.zeros((10, 4), dtype=np.int64)), r"X: expected a float32 or float64 array"),
    (dict(w=np.full(4, np.nan)), r"w: contains NaN or inf"),
])
def test_prox_step_refuses_bad_input(change, match):
    k = _kernels("lasso")
    a = dict(w=np.zeros(4), b=0.0, X=np.ones((10, 4)), y=np.ones(10), alpha=0.1, eta=0.5)
    a.update(change)
    with pytest.raises(ValueError, match=match):
        k.prox_step(a["w"], a["b"], a["X"], a["y"], a["alpha"], a["eta"])


# ---------------------------------------------------------------- Poisson regression


@pytest.mark.compile
def test_poisson_regression_matches_sklearn(rng):
    k = _kernels("poisson_regression")
    n, d = 60, 4
    X = 0.5 * rng.normal(size=(n, d))
    y = rng.poisson(np.exp(X @ np.array([0.5, -0.3, 0.2, 0.0]) + 0.4)).astype(float)
    lam = 1.5
    r = _minimize(k, (X, y, lam), np.zeros(d + 1))
    skl = sklearn_linear.PoissonRegressor(alpha=lam / n, solver="newton-cholesky", tol=1e-12,
                                          max_iter=1000).fit(X, y)  # α = λ/n
    assert np.max(np.abs(np.append(skl.coef_, skl.intercept_) - r.x)) < 1e-8


# ---------------------------------------------------------------- SVMs


def _svm_data(rng, n=60, d=3):
    X = rng.normal(size=(n, d))
    y = np.sign(X @ np.array([1.0, -1.0, 0.5])[:d] + 0.3 + 0.8 * rng.normal(size=n))
    return X, y


@pytest.mark.compile
def test_squared_hinge_optimum_matches_liblinear(rng):
    k = _kernels("svm_primal")
    X, y = _svm_data(rng)
    C = 0.5
    r = _minimize(k, (X, y, 1.0 / C), np.zeros(4))  # λ = 1/C
    # liblinear penalises b/intercept_scaling as a weight; a large scaling makes that negligible
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svc = sklearn_svm.LinearSVC(C=C, loss="squared_hinge", dual=False, intercept_scaling=1e3, tol=1e-12,
                                    max_iter=100_000).fit(X, y)
    theta = np.append(svc.coef_.ravel(), svc.intercept_)
    assert np.max(np.abs(theta - r.x)) < 1e-6
    assert abs(k.loss(theta[:-1], theta[-1], X, y, 1.0 / C) - r.fun) < 1e-9 * r.fun


def _on_the_kink():
    """A point where sample 0 has margin y₀z₀ = 1 exactly, the others are off it."""
    X = np.array([[1.0, 0.0], [0.5, -2.0], [-1.0, 0.3], [2.0, 1.0]])
    y = np.array([1.0, -1.0, 1.0, -1.0])
    w, b = np.array([1.0, 0.25]), 0.0
    margins = y * (X @ w + b)
    assert margins[0] == 1.0 and np.all(margins[1:] != 1.0)
    return w, b, X, y, 0.3


@pytest.mark.compile
def test_hinge_subgradient_at_a_kink_takes_zero_for_that_sample(rng):
    k = _kernels("svm_hinge")
    w, b, X, y, lam = _on_the_kink()
    gw, gb = k.grad(w, b, X, y, lam)
    active = (1.0 - y * (X @ w + b)) > 0  # strictly: sample 0 (margin exactly 1) is left out
    assert not active[0]
    assert np.allclose(gw, -X.T @ (y * active) + lam * w, rtol=0, atol=1e-15)
    assert np.isclose(gb, -np.sum(y * active), rtol=0, atol=1e-15)
    # it is a subgradient: L(θ') ≥ L(θ) + gᵀ(θ' − θ) for every θ' (L is convex)
    f0 = k.loss(w, b, X, y, lam)
    for _ in range(200):
        dw, db = rng.normal(scale=rng.choice([1e-3, 1.0]), size=2), rng.normal()
        assert k.loss(w + dw, b + db, X, y, lam) >= f0 + gw @ dw + gb * db - 1e-12
    # away from the kink it is the gradient: one-sided differences from both sides disagree at it
    h = 1e-6
    e = np.array([1.0, 0.0])
    right = (k.loss(w + h * e, b, X, y, lam) - f0) / h
    left = (f0 - k.loss(w - h * e, b, X, y, lam)) / h
    assert left < gw[0] + 1e-6 and gw[0] < right + 1e-6 and right - left > 0.5


@pytest.mark.compile
def test_squared_hinge_generalized_hessian_at_a_kink():
    k = _kernels("svm_primal")
    w, b, X, y, lam = _on_the_kink()
    H = k.hessian(w, b, X, y, lam)
    A = np.c_[X, np.ones(len(y))]
    active = (1.0 - y * (X @ w + b)) > 0  # sample 0 sits on the kink and counts as inactive
    ref = 2.0 * A.T @ (active[:, None] * A) + lam * np.diag([1.0, 1.0, 0.0])
    assert np.allclose(H, ref, rtol=0, atol=1e-12)
    # the gradient is continuous there: the one-sided Hessians differ by sample 0's term only
    h = 1e-7
    a0 = np.append(X[0], 1.0)
    u = y[0] * a0  # a step along −u lowers sample 0's margin below 1: it becomes active
    H_in = k.hessian(w - h * u[:2], b - h * u[2], X, y, lam)
    assert np.allclose(H_in - H, 2.0 * np.outer(a0, a0), atol=1e-12)
