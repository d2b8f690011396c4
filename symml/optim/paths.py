"""Regularisation paths with warm starts.

:func:`regularization_path` fits one model over a grid of a hyper-parameter, from the
largest value to the smallest, each fit starting where the previous one stopped. For an
L1 penalty the default grid is that of scikit-learn's ``lasso_path``: 30 values from α_max
down to 10⁻³·α_max, geometrically, with α_max = ‖∇_w f(0, b₀)‖_∞ / c the smallest α whose
solution is w = 0 (b₀ the best intercept at w = 0, found by Newton steps; c the L1 weight
per unit α, measured as F − f at a unit vector: 1 for the lasso, ρ for the elastic net).

>>> import numpy as np
>>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 1.0]]); y = np.array([1.0, 0.0, 1.0, 2.0])
>>> path = regularization_path("lasso", (X, y), [0.5, 0.05], eta=1.0)
>>> path.coefs["w"].shape
(2, 2)

Takes: a Problem (or a derivation with data). Gives: OptimizeResult, or a RegularizationPath.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .methods import METHODS, options_of
from .problem import Problem, resolve
from .proximal import objective_value, prox_gradient, require_prox  # noqa: F401 - prox_gradient: re-exported
from .result import DivergedError, OptimizeResult

@dataclass
class RegularizationPath:
    """Fits over a grid of one hyper-parameter, in the order fitted (largest value first).

    Attributes:
        name: the hyper-parameter varied (e.g. "alpha").
        values: its values (k,), decreasing.
        coefs: each parameter stacked over the grid, e.g. coefs["w"] (k, d).
        results: the OptimizeResult of every fit.
    """

    name: str
    values: np.ndarray
    coefs: dict
    results: list

    @property
    def objectives(self) -> np.ndarray:
        return np.array([r.loss for r in self.results])


def _penalty(d) -> str:
    """The name of the hyper-parameter a path varies by default (the spec's penalty)."""
    t = d.penalty_param
    if t is None:
        raise ValueError(f"{d.name}: pass name=, the hyper-parameter to vary (one of "
                         f"{', '.join(h.name for h in d.hyper) or 'none'}), or give the Derivation a penalty")
    return t.name


def _l1_weight(problem, name) -> float:
    """c in F − f = c·α·‖w‖₁ at a unit vector in the first parameter (1 for the lasso, ρ for the net)."""
    unit = problem.with_hyper(**{name: 1.0})
    theta = np.zeros(problem.size)
    theta[0] = 1.0
    return objective_value(unit, theta) - float(unit.value(theta))


def alpha_max(problem, name: str | None = None) -> float:
    """The smallest value of the L1 weight ``name`` (default the spec's penalty) whose
    solution has w = 0, w the first parameter: ‖∇_w f(0, b₀)‖_∞ / c (see the module docstring).

    b₀, the best remaining parameters at w = 0, is found by Newton steps on those alone (one
    step for the quadratic f of the lasso and the elastic net).
    """
    require_prox(problem)
    name = name or _penalty(problem.derivation)
    first = int(problem.layout[1])
    zero = problem.with_hyper(**{name: 0.0})
    theta = np.zeros(problem.size)
    for _ in range(50):
        g = zero.grad(theta)
        if np.linalg.norm(g[first:]) <= 1e-12 * max(1.0, float(np.linalg.norm(g))):
            break
        theta[first:] -= np.linalg.solve(zero.hessian(theta)[first:, first:], g[first:])
    return float(np.max(np.abs(zero.grad(theta)[:first]))) / _l1_weight(problem, name)


def regularization_path(derivation, data=None, values=None, *, name=None, method="auto", tol=1e-10,
                        max_iter=10000, num=30, ratio=1e-3, **hyper) -> RegularizationPath:
    """Fit a model over a grid of one hyper-parameter with warm starts.

    Args:
        derivation: a catalog name or Derivation (with data), or a Problem (data=None).
        data: the data tensors.
        values: the grid; default (L1 models) ``num`` values from α_max down to ratio·α_max.
        name: the hyper-parameter varied; default the spec's ``penalty`` (or its only
            hyper-parameter other than the step size).
        method: "prox" (models with prox_step), "newton", or any method of :func:`symml.optim.fit`;
            "auto" picks prox, else newton.
        tol, max_iter: passed to each fit; tol is relative to the first fit's initial gradient
            norm (the cold start), for every fit of the path.
        **hyper: the other hyper-parameters (e.g. rho=0.5; the step size is set by the prox fits).

    Returns:
        RegularizationPath.
    """
    if isinstance(derivation, Problem):
        if data is not None or hyper:
            raise ValueError("regularization_path: pass either a Problem or (derivation, data, **hyper), not both")
        problem = derivation
    else:
        d = resolve(derivation)
        names = [t.name for t in d.hyper]
        unknown = sorted(set(hyper) - set(names))
        if unknown:
            raise ValueError(f"{d.name}: unknown hyper-parameter {unknown[0]!r}; it has {', '.join(names)}")
        # the varied one is set for each fit, and prox_gradient sets its own step size
        problem = Problem(d, data, {k: hyper.get(k, 1.0) for k in names})
    names = [t.name for t in problem.derivation.hyper]
    name = name or _penalty(problem.derivation)
    if name not in names:
        raise ValueError(f"{problem.derivation.name}: no hyper-parameter {name!r}; it has {', '.join(names)}")
    if method not in METHODS and method != "auto":
        raise ValueError(f"method: expected 'auto' or one of {', '.join(METHODS)}, got {method!r}")
    if method == "auto":
        method = "prox" if problem.has("prox_step") else "newton"
    if values is None:
        if not problem.has("prox_step"):
            raise ValueError(f"{problem.derivation.name}: pass values= (a default grid exists only for L1 penalties)")
        top = alpha_max(problem, name)
        values = np.geomspace(top, top * ratio, int(num))
    values = np.sort(np.asarray(values, dtype=np.float64).ravel())[::-1]
    if values.size == 0 or np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ValueError(f"values: expected non-negative finite numbers, got {values}")
    solver = METHODS[method]
    theta, results, gref = problem.theta0.copy(), [], None
    takes_gref = "gref" in options_of(solver)
    for v in values:
        pr = problem.with_hyper(**{name: float(v)})
        extra = {"gref": gref} if takes_gref and gref else {}
        r: OptimizeResult = solver(pr, theta0=theta, tol=tol, max_iter=max_iter, **extra)
        if r.diverged:
            raise DivergedError(f"regularization_path: the fit at {name} = {v:g} diverged: {r.message}", r)
        results.append(r)
        theta = r.theta
        # tol stays relative to the first (cold) fit's initial gradient: a warm start begins
        # near its optimum, and a test relative to its own start would be needlessly strict
        gref = gref or float(r.grad_norm_history[0])
    coefs = {k: np.array([r.params[k] for r in results]) for k in problem.param_names}
    return RegularizationPath(name, values, coefs, results)
