"""Draw the README's gallery: python examples/make_gallery.py [OUT_DIR]  (default examples/figures).

Writes, from the catalog's generated kernels and symml.plot:

- trajectories_rosenbrock.png: GD, Momentum, RMSprop, Adam and Newton on the Rosenbrock function;
- trajectories_logistic.png: the same optimizers and SGD (SVRG) on a logistic loss in (w, b);
- landscape_logistic.png: a logistic loss around a point beside its Taylor model from the Hessian;
- boundary_logistic.png, boundary_svm_rbf.png, boundary_mlp.png: decision boundaries of logistic
  regression, an RBF-kernel SVM solved in the dual, and a two-hidden-layer MLP, on two moons;
- logistic_regression_report.md: the worked derivation (`symml show logistic_regression --report`).

The data are seeded, so the figures are the same from run to run.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import symml as sm  # noqa: E402
from symml import plot  # noqa: E402
from symml.optim import Problem  # noqa: E402
from symml.report import report  # noqa: E402

#: PNG metadata without the matplotlib version, so that a rerun gives the same bytes
PNG = {"dpi": 90, "metadata": {"Software": None}}


def moons(n: int, noise: float, seed: int):
    """Two interleaved half-circles, labels 0/1."""
    rng = np.random.default_rng(seed)
    t, labels = rng.uniform(0, np.pi, n), rng.integers(0, 2, n)
    X = np.column_stack([np.cos(t) + labels - 0.5, np.sin(t) * (1 - 2 * labels) + 0.5 * labels - 0.25])
    return X + noise * rng.normal(size=X.shape), labels


def rbf_svm(X, y, C: float, gamma: float):
    """The RBF dual solved with its generated kernels (SLSQP with 0 ≤ α ≤ C, yᵀα = 0) and its
    decision function f(Z) = K(Z, X)(α ⊙ y) + b, b from the free support vectors."""
    from scipy.optimize import minimize

    from derivations import svm_dual
    from generated import svm_dual_rbf as k

    res = minimize(k.fun, np.zeros(len(y)), args=(X, y, gamma), jac=k.jac, bounds=[(0, C)] * len(y),
                   method="SLSQP", constraints=[{"type": "eq", "fun": lambda a: y @ a, "jac": lambda a: y}],
                   options={"ftol": 1e-12, "maxiter": 500})
    alpha = res.x
    free = (alpha > 1e-6) & (alpha < C - 1e-6)
    b = float(np.mean(y[free] - k.gram(X, gamma)[free] @ (alpha * y)))
    return lambda Z: sm.evaluate(svm_dual.decision_rbf, Z=Z, X=X, y=y, alpha=alpha, b=b, gamma=gamma)


def main(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name):
        path = out / name
        fig.savefig(path, **PNG)
        written.append(path)

    rosen = Problem(plot.rosenbrock(), (), init=np.array([-1.2, 1.0]))
    runs = {"gd": plot.record(rosen, "gd", max_iter=5000),
            "momentum": plot.record(rosen, "momentum", max_iter=8000, tol=1e-9),
            "rmsprop": plot.record(rosen, "rmsprop", lr=0.01, max_iter=3000),
            "adam": plot.record(rosen, "adam", lr=0.02, max_iter=8000, tol=1e-9),
            "newton": plot.record(rosen, "newton")}
    save(plot.trajectories(runs, optimum=[1.0, 1.0]), "trajectories_rosenbrock.png")

    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 1)) + 0.5
    y = (rng.random(200) < 1 / (1 + np.exp(-(1.5 * x[:, 0] - 0.5)))).astype(float)
    logistic = Problem("logistic_regression", (x, y), {"lam": 1.0}, init={"w": np.array([-2.0]), "b": 2.0})
    A = np.c_[x, np.ones(len(x))]
    smooth = 0.25 * np.linalg.eigvalsh(A.T @ A).max() + 1.0  # σ' ≤ 1/4 bounds the curvature
    runs = {"gd": plot.record(logistic, "gd", lr=1 / smooth, max_iter=2000, tol=1e-8),
            "sgd (SVRG)": plot.record(logistic, "sgd", max_iter=60, variance_reduction=True, tol=1e-8),
            "momentum": plot.record(logistic, "momentum", lr=1 / smooth, max_iter=2000, tol=1e-8),
            "rmsprop": plot.record(logistic, "rmsprop", lr=0.05, max_iter=2000),
            "adam": plot.record(logistic, "adam", lr=0.05, max_iter=2000, tol=1e-8),
            "newton": plot.record(logistic, "newton")}
    save(plot.trajectories(runs, optimum=runs["newton"].theta), "trajectories_logistic.png")
    save(plot.landscape(logistic, at=logistic.theta0, radius=1.5, resolution=41), "landscape_logistic.png")

    X, labels = moons(240, 0.12, seed=0)
    fit = sm.fit("logistic_regression", (X, labels.astype(float)), lam=1.0)
    save(plot.decision_boundary(fit, X, labels), "boundary_logistic.png")
    signs = 2.0 * labels - 1
    save(plot.decision_boundary(rbf_svm(X, signs, C=1.0, gamma=2.0), X, signs, margins=(-1, 1),
                                title="RBF SVM, solved in the dual (margins dashed)"), "boundary_svm_rbf.png")
    mlp = sm.fit("mlp_tanh_softmax", (X, labels), sizes={"h1": 16, "h2": 16}, method="adam", lr=0.01, max_iter=2000)
    save(plot.decision_boundary(mlp, X, labels), "boundary_mlp.png")

    path = out / "logistic_regression_report.md"
    path.write_text(report("logistic_regression", "md"), encoding="utf-8")
    written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "figures"
    for p in main(target):
        print(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
