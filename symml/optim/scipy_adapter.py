"""``scipy_objective``: any derivation's kernels as fun, jac, hess and hessp for scipy.optimize.

The four callables take one flat θ (the layout of :class:`~symml.optim.Problem`) and nothing
else, so they go straight into ``scipy.optimize.minimize(fun, x0, jac=jac, hess=hess, ...)``
with no ``args``. ``fun`` and ``jac`` share one fused value-and-gradient pass: the last θ and
its (L, ∇L) are remembered, so scipy calling fun then jac at the same point reads the data
once. ``hess`` is the hessian kernel (else p hvps); ``hessp`` the hvp kernel (else products
with the Hessian); either is None when the derivation emits neither kernel.

:func:`minimize` runs scipy on a Problem and returns an :class:`OptimizeResult` with the loss
and gradient-norm histories (recorded by a callback, one entry per scipy iteration).

>>> import numpy as np
>>> from scipy.optimize import minimize as sp_minimize
>>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0.0, 1.0, 0.0, 1.0])
>>> obj = scipy_objective("logistic_regression", (X, y), {"lam": 1.0})
>>> res = sp_minimize(obj.fun, obj.x0, jac=obj.jac, hessp=obj.hessp, method="trust-ncg")
>>> bool(res.success)
True

Takes: a derivation (or Problem), data and hyper-parameters. Gives: callables over θ.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .problem import Problem
from .result import make_result

#: scipy methods and the option that carries our gradient tolerance (None: scipy's own tol)
METHODS = {"L-BFGS-B": "gtol", "Newton-CG": None, "trust-ncg": "gtol", "trust-krylov": "gtol",
           "trust-exact": "gtol", "BFGS": "gtol", "CG": "gtol"}
NEEDS = {"Newton-CG": ("hess", "hessp"), "trust-ncg": ("hess", "hessp"), "trust-krylov": ("hess", "hessp"),
         "trust-exact": ("hess",)}


@dataclass
class ScipyObjective:
    """fun, jac, hess, hessp over θ (unpack with ``fun, jac, hess, hessp = obj``), and x0."""

    problem: Problem

    def __post_init__(self):
        self._at = None
        self._value = None
        pr = self.problem
        self.hess = self._hess if (pr.has("hessian") or pr.has("hvp")) else None
        self.hessp = self._hessp if (pr.has("hessian") or pr.has("hvp")) else None

    @property
    def x0(self) -> np.ndarray:
        return self.problem.theta0.copy()

    def _eval(self, theta):
        theta = np.asarray(theta, dtype=np.float64)
        if self._at is None or not np.array_equal(theta, self._at):
            self._value = self.problem.value_and_grad(theta)
            self._at = theta.copy()
        return self._value

    def fun(self, theta) -> float:
        """L(θ)."""
        return self._eval(theta)[0]

    def jac(self, theta) -> np.ndarray:
        """∇L(θ), flat like θ."""
        return self._eval(theta)[1].copy()

    def fun_and_jac(self, theta):
        """(L(θ), ∇L(θ)), for minimize(..., jac=True)."""
        v, g = self._eval(theta)
        return v, g.copy()

    def _hess(self, theta) -> np.ndarray:
        return self.problem.hessian(theta)

    def _hessp(self, theta, p) -> np.ndarray:
        pr = self.problem
        if pr.has("hvp"):
            return pr.hvp(theta, p)
        return pr.hessian(theta) @ np.asarray(p, dtype=np.float64)

    def __iter__(self):
        return iter((self.fun, self.jac, self.hess, self.hessp))


def scipy_objective(derivation, data=None, hyper=None, **problem_options) -> ScipyObjective:
    """fun, jac, hess and hessp of a derivation's loss for ``scipy.optimize.minimize``.

    Args:
        derivation: an ``sm.Derivation``, a catalog name, or a :class:`~symml.optim.Problem`
            (then data and hyper must be omitted).
        data: the data tensors, by name or in the derivation's order.
        hyper: the hyper-parameters by name.
        **problem_options: sizes, init, seed, as for :class:`~symml.optim.Problem`.

    Returns:
        ScipyObjective with fun, jac, hess, hessp (callables over θ, or None) and x0.
    """
    if isinstance(derivation, Problem):
        if data is not None or hyper is not None or problem_options:
            raise ValueError("scipy_objective: pass either a Problem or (derivation, data, hyper), not both")
        return ScipyObjective(derivation)
    return ScipyObjective(Problem(derivation, data, hyper, **problem_options))


def minimize(problem: Problem, method: str = "L-BFGS-B", *, tol=1e-8, max_iter=1000, theta0=None, options=None):
    """scipy.optimize.minimize on a Problem, with histories; tol is relative to ‖∇L(θ₀)‖.

    Args:
        problem: a :class:`~symml.optim.Problem`.
        method: one of L-BFGS-B, Newton-CG, trust-ncg, trust-krylov, trust-exact, BFGS, CG.
        tol: the gradient tolerance, as tol·‖∇L(θ₀)‖ (Newton-CG: scipy's xtol = tol).
        max_iter: scipy's maxiter.
        options: further scipy options (they win over the ones set here).

    Returns:
        OptimizeResult; info["scipy"] is scipy's own result.
    """
    from scipy.optimize import minimize as sp_minimize

    if method not in METHODS:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    obj = ScipyObjective(problem)
    x0 = problem.theta0.copy() if theta0 is None else problem._theta(theta0).copy()
    f0, g0 = obj._eval(x0)
    losses, gnorms = [f0], [float(np.linalg.norm(g0))]
    for need in NEEDS.get(method, ()):
        if getattr(obj, need) is None:
            raise ValueError(f"{method} needs {need}; {problem.derivation.name} has neither a hessian nor an "
                             "hvp kernel")
    opts = {"maxiter": int(max_iter)}
    key = METHODS[method]
    if key:
        opts[key] = tol * max(gnorms[0], 1e-300)
    else:
        opts["xtol"] = tol
    if method == "L-BFGS-B":
        opts["ftol"] = 0.0  # stop on the gradient only (scipy's default ftol stops early)
    opts.update(options or {})

    last = [x0]

    def record(xk, *_):
        v, g = obj._eval(xk)
        if np.isfinite(v) and np.all(np.isfinite(g)):
            last[0] = np.array(xk, dtype=np.float64)
            losses.append(v)
            gnorms.append(float(np.linalg.norm(g)))

    kw = {}
    if method in ("Newton-CG", "trust-ncg", "trust-krylov"):
        kw["hessp"] = obj.hessp
    elif method == "trust-exact":
        kw["hess"] = obj.hess
    res = sp_minimize(obj.fun_and_jac, x0, jac=True, method=method, callback=record, options=opts, **kw)
    theta = np.asarray(res.x, dtype=np.float64)
    finite = bool(np.all(np.isfinite(theta)) and np.isfinite(res.fun))
    if not finite:  # never hand back NaN parameters: the last iterate with a finite loss
        theta = last[0]
    return make_result(problem, theta, losses, gnorms, res.nit, bool(res.success) and finite, not finite,
                       f"scipy {method}: {res.message}", f"scipy:{method}", scipy=res)
