"""symml.optim: the optimizers on generated kernels, the scipy adapter, paths and bad input.

Oracles: the derived closed form of ridge (every optimizer must reach it), scipy.optimize
(the same optimum through the adapter), scikit-learn's lasso_path and enet_path (warm-started
paths), and the exact mean of mini-batch gradient estimates over a partition of the rows.
Tests that compile kernels are marked ``compile``; the agreement with scikit-learn's
estimators lives in test_fit_sklearn.py, the datasets and the scikit-learn pipeline in test_optim_pipeline.py.
"""
import importlib

import numpy as np
import pytest

import symml as sm
from symml.optim import (DivergedError, Problem, adam, fit, gd, kkt_newton, minibatch, minimize, momentum,
                         newton, regularization_path, rmsprop, scipy_objective, sgd, trust_region)
from symml.optim import adapters

scipy_opt = pytest.importorskip("scipy.optimize")
sklearn_linear = pytest.importorskip("sklearn.linear_model")
from sklearn.impute import SimpleImputer  # noqa: E402

pytestmark = pytest.mark.compile


@pytest.fixture(scope="module")
def ridge():
    """A ridge problem (n = 200, d = 5, non-centred columns) and its derived closed form."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)) + rng.normal(size=5)
    y = X @ rng.normal(size=5) + 1.5 + 0.3 * rng.normal(size=200)
    w, b = importlib.import_module("generated.ridge").closed_form(X, y, 2.0)
    return Problem("ridge", (X, y), {"lam": 2.0}), np.append(w, b)


@pytest.fixture(scope="module")
def logistic():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 + rng.normal(size=300) > 0).astype(float)
    return Problem("logistic_regression", (X, y), {"lam": 0.5})


def _rel(theta, ref):
    return float(np.max(np.abs(theta - ref)) / np.max(np.abs(ref)))


# Step sizes: gd, momentum and SVRG default to 1/L̂ (½/L̂_B); RMSprop and Adam take steps of
# about lr per coordinate and so settle within ~lr of the optimum: an exponentially decaying
# lr (or AMSGrad, whose steps never grow back) takes them to 1e-6.
OPTIMIZERS = {
    "gd": (gd, {"max_iter": 5000}),
    "sgd (SVRG)": (sgd, {"variance_reduction": True, "max_iter": 100}),
    "minibatch (SVRG)": (minibatch, {"variance_reduction": True, "max_iter": 400}),
    "momentum": (momentum, {"max_iter": 5000}),
    "nesterov": (momentum, {"nesterov": True, "max_iter": 5000}),
    "rmsprop": (rmsprop, {"lr": 0.1, "schedule": "exponential", "decay": 0.999, "max_iter": 20000}),
    "adam": (adam, {"lr": 0.1, "schedule": "exponential", "decay": 0.999, "max_iter": 20000}),
    "amsgrad": (adam, {"lr": 0.1, "amsgrad": True, "max_iter": 20000}),
    "newton": (newton, {}),
    "newton (CG on hvp)": (newton, {"hessian": "hvp"}),
    "trust_region": (trust_region, {}),
    "kkt_newton": (kkt_newton, {}),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_reaches_the_ridge_optimum(ridge, name):
    problem, ref = ridge
    method, options = OPTIMIZERS[name]
    r = method(problem, tol=1e-10, **options)
    assert not r.diverged
    assert _rel(r.theta, ref) < 1e-6, (name, r.message)
    assert r.loss_history.shape == r.grad_norm_history.shape == (r.n_iter + 1,)
    assert r.loss <= r.loss_history[0]
    assert set(r.params) == {"w", "b"} and r.params["w"].shape == (5,) and isinstance(r.params["b"], float)


def test_plain_sgd_converges_with_a_decaying_rate(ridge):
    problem, ref = ridge
    r = sgd(problem, schedule="inverse", decay=1.0, max_iter=300)
    assert _rel(r.theta, ref) < 1e-2
    assert r.loss < r.loss_history[0] / 10


def test_newton_is_quadratic_and_trust_region_agrees(logistic):
    r = newton(logistic, tol=1e-12)
    assert r.converged and r.n_iter < 10
    # the last steps square the gradient norm (up to a constant)
    g = r.grad_norm_history
    assert g[-1] < 1e-8 * g[0]
    t = trust_region(logistic, tol=1e-12)
    assert t.converged and _rel(t.theta, r.theta) < 1e-8


@pytest.mark.parametrize("method, options", [(sgd, {}), (minibatch, {"batch_size": 7}),
                                             (adam, {"batch_size": 16, "max_iter": 5})])
def test_same_seed_same_result(logistic, method, options):
    a = method(logistic, seed=3, max_iter=options.pop("max_iter", 3), **options)
    b = method(logistic, seed=3, max_iter=a.n_iter, **options)
    c = method(logistic, seed=4, max_iter=a.n_iter, **options)
    assert np.array_equal(a.theta, b.theta) and np.array_equal(a.loss_history, b.loss_history)
    assert not np.array_equal(a.theta, c.theta)


@pytest.mark.parametrize("name, rule", [("ridge", (1, 0)), ("logistic_regression", (1, 0)), ("lasso", (0, -1)),
                                        ("elastic_net", (0, -1)), ("mlp_tanh_squared", (1, -1))])
def test_batch_rule_gives_unbiased_gradients(name, rule):
    """The mean of the scaled gradient estimates over a partition of the rows is ∇L exactly."""
    d = sm.load(name)
    rng = np.random.default_rng(2)
    n = 12
    X = rng.normal(size=(n, 3))
    y = rng.normal(size=(n, 2)) if name.startswith("mlp") else (rng.random(n) < 0.5).astype(float)
    hyper = {t.name: v for t, v in zip(d.hyper, (0.7, 0.4, 0.1))}
    pr = Problem(d, (X, y), hyper, sizes={"h1": 3, "h2": 2}, seed=1) if name.startswith("mlp") \
        else Problem(d, (X, y), hyper)
    assert pr.batch_rule == rule
    theta = pr.theta0 + rng.normal(size=pr.size)
    mode, hidx = rule
    estimates = []
    for rows in np.split(rng.permutation(n), 4):
        sub = pr.subset(rows)
        s = n / len(rows) if mode == 1 else 1.0
        if hidx >= 0:
            sub.hyper = sub.hyper.copy()
            sub.hyper[hidx] /= s
        estimates.append(s * sub.grad(theta))
    np.testing.assert_allclose(np.mean(estimates, axis=0), pr.grad(theta), rtol=1e-10, atol=1e-10)


def test_a_diverging_learning_rate_is_flagged_with_a_finite_iterate(ridge):
    problem, _ = ridge
    L = problem.lipschitz()
    for method, options in ((gd, {}), (sgd, {"max_iter": 50}), (momentum, {})):
        r = method(problem, lr=10 / L if method is not sgd else 1e3 / L, **options)
        assert r.diverged and not r.converged and "diverged" in r.message
        assert np.all(np.isfinite(r.theta)) and np.all(np.isfinite(r.loss_history))
        assert r.loss == pytest.approx(problem.value(r.theta))
    with pytest.raises(DivergedError, match="diverged") as err:
        fit("ridge", problem.data, method="gd", lam=2.0, lr=10 / L)
    assert np.all(np.isfinite(err.value.result.theta))


# ---------------------------------------------------------------- the scipy adapter


@pytest.mark.parametrize("method", ["L-BFGS-B", "Newton-CG", "trust-ncg"])
def test_scipy_adapter_methods_reach_newtons_optimum(logistic, method):
    ref = newton(logistic, tol=1e-12).theta
    obj = scipy_objective(logistic)
    kw = {"jac": obj.jac} | ({"hessp": obj.hessp} if method != "L-BFGS-B" else {})
    options = {"L-BFGS-B": {"gtol": 1e-10, "ftol": 0.0}, "Newton-CG": {"xtol": 1e-12}, "trust-ncg": {"gtol": 1e-10}}
    res = scipy_opt.minimize(obj.fun, obj.x0, method=method, **kw, options=options[method])
    assert _rel(res.x, ref) < 1e-6
    r = minimize(logistic, method)
    assert _rel(r.theta, ref) < 1e-6 and r.loss_history[-1] <= r.loss_history[0]


def test_scipy_adapter_matches_the_generated_flat_adapters(logistic, rng):
    k = importlib.import_module("generated.logistic_regression")
    fun, jac, hess, hessp = scipy_objective("logistic_regression", logistic.data, {"lam": 0.5})
    args = (*logistic.data, 0.5)
    theta, p = rng.normal(size=5), rng.normal(size=5)
    assert fun(theta) == pytest.approx(k.fun(theta, *args), rel=1e-12)
    np.testing.assert_allclose(jac(theta), k.jac(theta, *args), rtol=1e-12)
    np.testing.assert_allclose(hess(theta), k.hess(theta, *args), rtol=1e-12)
    np.testing.assert_allclose(hessp(theta, p), k.hessp(theta, p, *args), rtol=1e-10)


def test_scipy_adapter_without_second_order_kernels(rng):
    X = rng.normal(size=(30, 2))
    obj = scipy_objective("gaussian_mixture", (X,), sizes={"K": 2})
    assert obj.hess is None and obj.hessp is None
    with pytest.raises(ValueError, match="trust-ncg needs hess"):
        minimize(obj.problem, "trust-ncg")
    mlp = scipy_objective("mlp", (X, rng.integers(0, 3, 30)), sizes={"h1": 3, "h2": 2})
    H = mlp.hess(mlp.x0)  # from hvps
    np.testing.assert_allclose(H @ np.arange(mlp.x0.size), mlp.hessp(mlp.x0, np.arange(mlp.x0.size)), atol=1e-9)


# ---------------------------------------------------------------- regularisation paths


@pytest.fixture(scope="module")
def diabetes():
    X, y = pytest.importorskip("sklearn.datasets").load_diabetes(return_X_y=True)
    return X, y


def test_lasso_path_matches_sklearn(diabetes):
    X, y = diabetes
    path = regularization_path("lasso", (X, y), num=12, eta=1.0)
    alphas, coefs, _ = sklearn_linear.lasso_path(X - X.mean(0), y - y.mean(), alphas=path.values, tol=1e-12,
                                                  max_iter=200000)
    np.testing.assert_allclose(alphas, path.values)
    assert np.max(np.abs(path.coefs["w"] - coefs.T)) < 1e-4 * np.max(np.abs(coefs))
    assert np.all(path.coefs["w"][0] == 0.0)  # α_max: the first solution is w = 0
    assert np.count_nonzero(path.coefs["w"][1]) >= 1


def test_elastic_net_path_and_warm_starts(diabetes):
    X, y = diabetes
    path = regularization_path("elastic_net", (X, y), num=8, rho=0.5, eta=1.0)
    _, coefs, _ = sklearn_linear.enet_path(X - X.mean(0), y - y.mean(), l1_ratio=0.5, alphas=path.values,
                                           tol=1e-12, max_iter=200000)
    assert np.max(np.abs(path.coefs["w"] - coefs.T)) < 1e-4 * np.max(np.abs(coefs))
    # α_max = ‖Xᵀ(y − ȳ)‖_∞/(nρ): zero at the top of the grid, not below it
    assert path.values[0] == pytest.approx(np.max(np.abs(X.T @ (y - y.mean()))) / (len(y) * 0.5), rel=1e-10)
    assert np.all(path.coefs["w"][0] == 0.0) and np.any(path.coefs["w"][1] != 0.0)
    # a cold start at every value needs more iterations in total than the warm-started path
    cold = sum(fit("elastic_net", (X, y), alpha=a, rho=0.5, eta=1.0, tol=1e-10).n_iter for a in path.values)
    assert sum(r.n_iter for r in path.results) < cold


def test_ridge_path_matches_ridge(diabetes):
    X, y = diabetes
    lams = [10.0, 1.0, 0.1, 0.01]
    path = regularization_path("ridge", (X, y), lams)
    for lam, w in zip(path.values, path.coefs["w"]):
        ref = sklearn_linear.Ridge(alpha=lam).fit(X, y).coef_  # α = λ, see derivations/ridge.py
        assert np.max(np.abs(w - ref)) < 1e-6 * np.max(np.abs(ref))
    with pytest.raises(ValueError, match="values="):
        regularization_path("ridge", (X, y))


# ---------------------------------------------------------------- bad input


def test_mismatched_lengths_raise_before_any_work(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("compiled something")

    monkeypatch.setattr(adapters, "build", fail)
    with pytest.raises(ValueError, match="X has 10 rows but y has 9"):
        fit("logistic_regression", (np.zeros((10, 2)), np.zeros(9)), lam=1.0)
    with pytest.raises(ValueError, match="X has 10 rows but Y has 11"):
        Problem("mlp", {"X": np.zeros((10, 2)), "Y": np.zeros(11)}, sizes={"h1": 2, "h2": 2})


def test_nan_raises_naming_the_column_or_goes_through_the_imputer(rng):
    X = rng.normal(size=(20, 3))
    y = (rng.random(20) < 0.5).astype(float)
    X[[2, 5], 1] = np.nan
    with pytest.raises(ValueError, match=r"X: column 1 \('b'\) contains NaN or inf in 2 of 20 rows.*Imputer"):
        fit("logistic_regression", (X, y), lam=1.0, columns=["a", "b", "c"])
    r = fit("logistic_regression", (SimpleImputer().fit_transform(X), y), lam=1.0)
    assert r.converged
    with pytest.raises(ValueError, match="y: contains NaN"):
        fit("logistic_regression", (np.ones((3, 1)), np.array([0.0, np.nan, 1.0])), lam=1.0)


@pytest.mark.parametrize("call, message", [
    (lambda X, y: fit("logistic_regression", (X, y)), "missing hyper-parameter 'lam'"),
    (lambda X, y: fit("logistic_regression", (X, y), lam=np.nan), "lam: expected a finite number"),
    (lambda X, y: fit("logistic_regression", (X, y), lam=1.0, step=3), "unknown option 'step'"),
    (lambda X, y: fit("logistic_regression", (X, y), method="bfgs", lam=1.0), "method: expected 'auto' or one of"),
    (lambda X, y: fit("poisson_regression", (X, y - 1), lam=1.0), "y: poisson_regression expects non-negative"),
    (lambda X, y: fit("svm_primal", (X, y), lam=1.0), r"expects labels in \{-1, \+1\}"),
    (lambda X, y: fit("no_such_model", (X, y)), "unknown derivation 'no_such_model'"),
    (lambda X, y: fit("mlp", (X, y)), r"do not fix the size h1 of parameter W1; pass sizes="),
    (lambda X, y: fit("logistic_regression", (X, y), lam=1.0, init={"w": np.zeros(3)}),
     r"init w: shape \(3,\) gives d = 3, but"),
    (lambda X, y: fit("logistic_regression", (X.astype(complex), y), lam=1.0), "X: expected real numbers"),
    (lambda X, y: fit("logistic_regression", (X,), lam=1.0), "expected 2 data tensors"),
    (lambda X, y: gd(Problem("logistic_regression", (X, y), {"lam": 1.0}), lr=-1.0), "lr: expected a positive"),
    (lambda X, y: sgd(Problem("logistic_regression", (X, y), {"lam": 1.0}), batch_size=0), "batch_size: expected"),
    (lambda X, y: fit("lasso", (X, y), method="newton", alpha=1.0, eta=1.0, schedule="x"), "unknown option"),
])
def test_bad_input_is_one_line_value_error(call, message):
    X = np.random.default_rng(0).normal(size=(8, 2))
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    with pytest.raises(ValueError, match=message) as err:
        call(X, y)
    assert "\n" not in str(err.value)


def test_labels_are_one_hot_encoded_and_ints_accepted(rng):
    X = rng.normal(size=(40, 3))
    labels = rng.integers(0, 3, 40)
    a = Problem("softmax_regression", (X, labels), {"lam": 1.0})
    b = Problem("softmax_regression", (X, np.eye(3)[labels]), {"lam": 1.0})
    assert a.shapes == [(3, 3), (3,)] and np.array_equal(a.data[1], b.data[1])
    assert Problem("softmax_regression", (X, labels), {"lam": 1.0}, sizes={"K": 4}).shapes == [(3, 4), (4,)]


def test_any_derivation_fits_not_only_the_catalog(rng):
    """An ad-hoc derivation (not in derivations/): its kernels are generated into the cache."""
    n, d = sm.dims("n d")
    X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
    lam = sm.scalar("lam")
    huber_free = sm.Derivation("adhoc_ridge_no_intercept", sm.norm2(X @ w - y) + lam * sm.norm2(w), params=[w],
                               data=[X, y], hyper=[lam], kernels=("loss", "grad", "value_and_grad", "hvp"))
    Xv, yv = rng.normal(size=(50, 3)), rng.normal(size=50)
    ref = np.linalg.solve(Xv.T @ Xv + 0.5 * np.eye(3), Xv.T @ yv)
    for method in ("gd", "newton", "trust_region"):
        r = fit(huber_free, (Xv, yv), method=method, lam=0.5, tol=1e-12)
        assert _rel(r.params["w"], ref) < 1e-8, method
    r = fit(huber_free, (Xv, yv), method="minibatch", lam=0.5, batch_size=10, variance_reduction=True, max_iter=300,
            tol=1e-12)
    assert _rel(r.params["w"], ref) < 1e-6
