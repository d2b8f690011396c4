"""Plots check their data, not only that they draw.

- landscape: the Taylor model from the Hessian kernel matches the loss to third order (the
  error falls 8-fold when the radius halves), and its gradient and curvature agree with
  central differences of the loss;
- trajectories: the recorded iterates are the optimizer's own (their losses are its loss
  history), and the paths end at the optimum (Rosenbrock's (1, 1); scikit-learn's logistic
  regression in two parameters);
- decision boundaries: the drawn zero set satisfies f = 0, and f is scikit-learn's decision
  function (logistic regression, the RBF SVM's dual).
"""
from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

import symml as sm
from symml import plot
from symml.optim import Problem
from symml.optim.result import OptimizeResult

mpl = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

sk_linear = pytest.importorskip("sklearn.linear_model")
sk_svm = pytest.importorskip("sklearn.svm")


def _lines(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines()}


def _blobs(rng, n=120):
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] - 0.7 * X[:, 1] + 0.5 * rng.normal(size=n) > 0).astype(float)
    return X, y


def _moons(rng, n=160):
    t, lab = rng.uniform(0, np.pi, n), rng.integers(0, 2, n)
    X = np.column_stack([np.cos(t) + lab - 0.5, np.sin(t) * (1 - 2 * lab) + 0.5 * lab - 0.25])
    return X + 0.08 * rng.normal(size=(n, 2)), lab


# --------------------------------------------------------------------------- landscape


@pytest.mark.compile
def test_landscape_taylor_model_matches_the_loss_to_third_order(rng):
    X, y = rng.normal(size=(40, 3)), (rng.random(40) < 0.5).astype(float)
    at = {"w": rng.normal(size=3), "b": 0.3}
    fig = plot.landscape("logistic_regression", (X, y), at=at, hyper={"lam": 0.5}, radius=0.1, resolution=21)
    assert isinstance(fig, Figure)
    data = fig.symml_data
    cut_ax = fig.axes[-1]
    for k in "uv":
        drawn = _lines(cut_ax)
        s, L, M = drawn[f"L along {k}"].get_xdata(), drawn[f"L along {k}"].get_ydata(), \
            drawn[f"Taylor along {k}"].get_ydata()
        assert np.array_equal(L, data["cuts"][k]["loss"]) and np.array_equal(M, data["cuts"][k]["taylor"])
        err = np.abs(L - M)
        mid = len(s) // 2
        assert err[mid] < 1e-12 * abs(L[mid]) and np.isclose(s[-1], 0.1)
        inner = np.abs(s) <= s[-1] / 2 + 1e-12
        ratio = err.max() / err[inner].max()
        # third order: (r / (r/2))³ = 8 (16 where the third derivative vanishes); a wrong gradient
        # or Hessian leaves a first- or second-order error, ratio 2 or 4
        assert 6.5 < ratio < 17, ratio
    # the slice's gradient and curvature against central differences of the loss
    problem = Problem("logistic_regression", (X, y), {"lam": 0.5})
    theta, U = data["theta"], data["directions"]
    h = 1e-4
    for j, u in enumerate(U):
        plus, minus, mid = (problem.value(theta + c * u) for c in (h, -h, 0))
        assert np.isclose((plus - minus) / (2 * h), data["gradient"] @ u, rtol=1e-6)
        assert np.isclose((plus - 2 * mid + minus) / h ** 2, data["curvature"][j, j], rtol=1e-4)
    assert np.allclose(np.linalg.norm(U, axis=1), 1) and abs(U[0] @ U[1]) < 1e-12  # eigenvectors of ∇²L
    centre = len(data["s"]) // 2
    assert data["loss"][centre, centre] == pytest.approx(problem.value(theta), rel=1e-14)
    assert data["loss"][centre, -1] == pytest.approx(problem.value(theta + data["s"][-1] * U[0]), rel=1e-14)


@pytest.mark.compile
def test_landscape_of_a_fit_on_two_parameters_uses_the_axes(rng):
    X, y = rng.normal(size=(30, 1)), (rng.random(30) < 0.5).astype(float)
    r = sm.fit("logistic_regression", (X, y), lam=1.0)
    fig = plot.landscape(r, radius=0.5, resolution=11)
    assert np.array_equal(fig.symml_data["directions"], np.eye(2))
    assert np.array_equal(fig.symml_data["theta"], r.theta)
    assert np.allclose(fig.symml_data["gradient"], 0, atol=1e-6)  # at the optimum the model is a bowl
    assert fig.axes[0].get_xlabel() == "Δw[0]" and fig.axes[0].get_ylabel() == "Δb"
    with pytest.raises(ValueError, match="radius"):
        plot.landscape(r, radius=-1)
    with pytest.raises(ValueError, match="two directions of 2 entries"):
        plot.landscape(r, directions=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match="non-parallel"):
        plot.landscape(r, directions=[[1.0, 1.0], [2.0, 2.0]])


# --------------------------------------------------------------------------- trajectories


@pytest.mark.compile
def test_rosenbrock_trajectories_end_at_the_optimum():
    problem = Problem(plot.rosenbrock(), (), init=np.array([-1.2, 1.0]))
    runs = {"newton": plot.record(problem, "newton"),
            "momentum": plot.record(problem, "momentum", max_iter=8000, tol=1e-9),
            "adam": plot.record(problem, "adam", lr=0.02, max_iter=8000, tol=1e-9)}
    fig = plot.trajectories(runs, optimum=[1.0, 1.0])
    paths, drawn = fig.symml_data["paths"], _lines(fig.axes[0])
    for label, r in runs.items():
        P = r.info["path"]
        assert r.converged and np.allclose(P[-1], [1.0, 1.0], atol=1e-4), label
        assert np.array_equal(drawn[label].get_xydata(), P) and np.array_equal(paths[label][-1], r.theta)
        assert np.array_equal(P[0], [-1.2, 1.0])
        # the recorded iterates are the optimizer's: their losses are its loss history
        losses = [problem.value(t) for t in P]
        assert np.allclose(losses, r.loss_history[r.info["path_iterations"]], rtol=1e-12, atol=1e-15)
    assert fig.symml_data["loss_star"] == 0.0
    assert np.all(np.diff(fig.symml_data["gaps"]["newton"]) <= 0)  # a line search never goes uphill
    assert len(runs["momentum"].info["path"]) <= 200 < runs["momentum"].n_iter


@pytest.mark.compile
def test_logistic_trajectories_in_two_parameters_reach_sklearns_optimum(rng):
    X, y = rng.normal(size=(80, 1)) + 0.5, (rng.random(80) < 0.6).astype(float)
    lam = 1.0
    problem = Problem("logistic_regression", (X, y), {"lam": lam}, init={"w": np.array([-3.0]), "b": 3.0})
    A = np.c_[X, np.ones(len(X))]
    smooth = 0.25 * np.linalg.eigvalsh(A.T @ A).max() + lam  # σ' ≤ ¼: a global bound on the curvature
    runs = [plot.record(problem, "gd", lr=1 / smooth, max_iter=3000, tol=1e-9), plot.record(problem, "newton"),
            plot.record(problem, "sgd", max_iter=200, variance_reduction=True, tol=1e-9),
            plot.record(problem, "rmsprop", lr=0.05, max_iter=3000), plot.record(problem, "adam", lr=0.05, tol=1e-9),
            plot.record(problem, "momentum", tol=1e-9)]
    ref = sk_linear.LogisticRegression(C=1 / lam, tol=1e-12, max_iter=10_000).fit(X, y)
    star = np.r_[ref.coef_[0], ref.intercept_]
    fig = plot.trajectories(runs, optimum=star)
    tolerance = {"gd": 1e-6, "newton": 1e-6, "sgd": 1e-4, "rmsprop": 1e-4, "adam": 1e-6, "momentum": 1e-6}
    for label, P in fig.symml_data["paths"].items():
        assert np.allclose(P[-1], star, atol=tolerance[label]), (label, P[-1], star)
    assert min(g[-1] for g in fig.symml_data["gaps"].values()) < 1e-9


def test_trajectories_and_record_refuse_what_they_cannot_draw():
    bare = OptimizeResult(params={}, theta=np.zeros(2), loss_history=np.ones(2), grad_norm_history=np.ones(2),
                          n_iter=1, converged=True, method="gd")
    with pytest.raises(ValueError, match="has no path"):
        plot.trajectories({"gd": bare})
    with pytest.raises(TypeError, match="dict label"):
        plot.trajectories("gd")
    with pytest.raises(ValueError, match="record: method must be one of"):
        plot.record(None, "L-BFGS-B")


# --------------------------------------------------------------------------- decision boundaries


@pytest.mark.compile
def test_logistic_decision_boundary_is_f_zero_and_sklearns(rng):
    X, y = _blobs(rng)
    r = sm.fit("logistic_regression", (X, y), lam=1.0)
    fig = plot.decision_boundary(r, X, y)
    f, boundary = fig.symml_data["f"], np.vstack(fig.symml_data["boundary"])
    assert len(boundary) > 20 and np.max(np.abs(f(boundary))) < 1e-10  # f is linear: the drawn line is exact
    ref = sk_linear.LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X, y)
    Z = rng.normal(size=(50, 2)) * 3
    assert np.allclose(f(Z), ref.decision_function(Z), atol=1e-5)
    assert fig.symml_data["accuracy"] == pytest.approx(ref.score(X, y))


@pytest.mark.compile
def test_svm_primal_boundary_and_margins(rng):
    X, y = _blobs(rng)
    s = 2 * y - 1
    r = sm.fit("svm_primal", (X, s), lam=1.0)
    fig = plot.decision_boundary(r, X, s, margins=(-1, 1))
    f = fig.symml_data["f"]
    assert np.max(np.abs(f(np.vstack(fig.symml_data["boundary"])))) < 1e-10
    dashed = [c for c in fig.axes[0].collections if hasattr(c, "levels") and list(c.levels) == [-1.0, 1.0]]
    (margins,) = dashed
    for level, path in zip(margins.levels, margins.get_paths()):
        assert np.allclose(f(path.vertices[path.codes != 79]), level, atol=1e-9)


@pytest.mark.compile
def test_mlp_decision_boundary_separates_the_moons(rng):
    X, y = _moons(rng)
    r = sm.fit("mlp_tanh_softmax", (X, y), sizes={"h1": 12, "h2": 12}, method="adam", lr=0.02, max_iter=1500)
    fig = plot.decision_boundary(r, X, y)
    data = fig.symml_data
    vertices = np.vstack(data["boundary"])
    # contour vertices are linear interpolations on a 200 × 200 grid: f vanishes to within that error
    assert np.max(np.abs(data["f"](vertices))) < 1e-2 * np.max(np.abs(data["scores"]))
    assert data["accuracy"] > 0.97


@pytest.mark.compile
def test_rbf_svm_dual_boundary_from_its_kernelized_decision_function():
    from sklearn import datasets

    from derivations import svm_dual

    X, y = datasets.make_moons(120, noise=0.15, random_state=0)
    y = 2.0 * y - 1
    C, gamma = 1.0, 1.0
    ref = sk_svm.SVC(kernel="rbf", C=C, gamma=gamma, tol=1e-10).fit(X, y)
    alpha = np.zeros(len(y))  # sklearn's α (an outside oracle), b from it as in the derivation's docstring
    alpha[ref.support_] = ref.dual_coef_[0] * y[ref.support_]
    free = (alpha > 1e-8) & (alpha < C - 1e-8)
    K = sm.evaluate(sm.rbf_kernel(svm_dual.gamma).gram(svm_dual.X), X=X, gamma=gamma)
    b = float(np.mean(y[free] - K[free] @ (alpha * y)))

    def f(Z):
        return sm.evaluate(svm_dual.decision_rbf, Z=Z, X=X, y=y, alpha=alpha, b=b, gamma=gamma)

    fig = plot.decision_boundary(f, X, y, margins=(-1, 1))
    data = fig.symml_data
    Z = np.column_stack([data["x"][::17], data["y"][::17]])
    assert np.allclose(f(Z), ref.decision_function(Z), atol=1e-6)
    assert np.max(np.abs(f(np.vstack(data["boundary"])))) < 1e-2 * np.max(np.abs(data["scores"]))
    assert data["accuracy"] == pytest.approx(ref.score(X, y))


def test_decision_function_errors_name_the_fix():
    d = sm.load("gaussian_naive_bayes")
    r = OptimizeResult(params={}, theta=np.zeros(1), loss_history=np.ones(1), grad_norm_history=np.ones(1),
                       n_iter=0, converged=True, info={"problem": SimpleNamespace(derivation=d, hyper=np.zeros(0))})
    with pytest.raises(TypeError, match="pass a function f"):
        plot.decision_function(r)
    with pytest.raises(TypeError, match="expected an OptimizeResult"):
        plot.decision_function(3)
    with pytest.raises(ValueError, match=r"expected X \(n, 2\)"):
        plot.decision_boundary(lambda Z: Z[:, 0], np.zeros((4, 3)), np.zeros(4))


def test_figures_never_touch_pyplot(monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show called"))
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    fig = plot.decision_boundary(lambda Z: Z[:, 0] - 0.5, X, np.array([0, 1, 0, 1]), resolution=20)
    assert isinstance(fig, Figure) and plt.get_fignums() == []
    assert np.allclose(np.vstack(fig.symml_data["boundary"])[:, 0], 0.5)


def test_a_missing_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'symml\[plot\]'"):
        plot.decision_boundary(lambda Z: Z[:, 0], np.zeros((3, 2)), np.zeros(3))
