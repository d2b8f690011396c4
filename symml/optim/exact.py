"""Fits by a derived closed form or by EM: the catalog's ``closed_form``, ``mle`` and ``em_step``.

These kernels were derived by solving stationarity (:mod:`symml.stationarity`); here they are
called and their outputs mapped to the derivation's parameters. Outputs are the parameters
in order, unless the derivation's spec says how to convert them (``params_from_solution``:
naive Bayes and the mixture return priors and covariances, while their losses are
parametrised by logits and precision factors; see :mod:`symml.reparam`).

- :func:`closed_form`, :func:`mle`: one call; the history holds L at the start and at the solution.
- :func:`em`: EM iteration, θ ← em_step(θ), until the loss decreases by less than
  tol·(1 + |L|) (EM never increases it). Without ``init`` it starts from the spec's ``start``
  (the mixture's: K distinct rows drawn with the problem's seed, uniform weights, every
  covariance at the data's, as scikit-learn's ``init_params="random_from_data"`` does), else
  from the problem's default start.

Takes: a Problem. Gives: an OptimizeResult.
"""
from __future__ import annotations

import numpy as np

from .result import count, make_result, positive


def _to_params(problem, out):
    d = problem.derivation
    params = d.to_params(out)
    if isinstance(params, dict):
        return problem.pack(params)
    if len(params) != len(problem.shapes) or any(np.shape(o) != s for o, s in zip(params, problem.shapes)):
        raise ValueError(f"{d.name}: the closed form's outputs do not match the parameters "
                         f"{', '.join(problem.param_names)}; give the Derivation a params_from_solution")
    return problem.pack(params)


def _solved(problem, kernel, method, **_ignored):
    """Call a closed-form kernel and return the result at its solution."""
    theta0 = problem.theta0
    f0, g0 = problem.value_and_grad(theta0)
    theta = _to_params(problem, problem.call(kernel))
    f, g = problem.value_and_grad(theta)
    ok = bool(np.isfinite(f) and np.all(np.isfinite(theta)))
    return make_result(problem, theta if ok else theta0, [f0, f] if ok else [f0],
                       [np.linalg.norm(g0), np.linalg.norm(g)] if ok else [np.linalg.norm(g0)], 1 if ok else 0, ok,
                       not ok, f"solved by the derived {kernel}" if ok else f"{kernel} gave non-finite parameters",
                       method)


def closed_form(problem, **options):
    """The derivation's ``closed_form`` kernel (least squares, ridge), as a fit."""
    return _solved(problem, "closed_form", "closed_form")


def mle(problem, **options):
    """The derivation's ``mle`` kernel (naive Bayes, the distributions), as a fit."""
    return _solved(problem, "mle", "mle")


def _em_start(problem):
    """The spec's data-driven start (``Derivation.start``), else the problem's default start."""
    d = problem.derivation
    if d.start is None:
        return problem.theta0.copy()
    data = {t.name: a for t, a in zip(d.data, problem.data)}
    shapes = dict(zip(problem.param_names, problem.shapes))
    out = d.start(data, shapes, np.random.default_rng(problem.seed))
    return problem.pack(out) if isinstance(out, dict) else _to_params(problem, out)


def em(problem, *, max_iter=200, tol=1e-10, theta0=None, **options):
    """Expectation–maximisation with the derivation's ``em_step`` kernel.

    Args:
        problem: a :class:`~symml.optim.Problem` whose derivation emits em_step.
        max_iter: the most EM iterations.
        tol: stop when L decreases by less than tol·(1 + |L|).
        theta0: a start (flat θ); default the problem's init, or the spec's data-driven start.

    Returns:
        OptimizeResult (loss_history is the negative log-likelihood, non-increasing). For the
        mixture, grad_norm_history includes the gradient in the upper triangles of L, which
        EM keeps at zero: it does not vanish at EM's fixed point.
    """
    if not problem.has("em_step"):
        raise ValueError(f"{problem.derivation.name} has no em_step kernel")
    positive("tol", tol, allow_zero=True)
    count("max_iter", max_iter, 0)
    if theta0 is not None:
        theta = problem._theta(theta0).copy()
    else:
        theta = problem.theta0.copy() if problem.init_given else _em_start(problem)
    f, g = problem.value_and_grad(theta)
    losses, gnorms = [f], [float(np.linalg.norm(g))]
    message, k = "reached max_iter", 0
    for k in range(1, max_iter + 1):
        try:
            new = _to_params(problem, problem.call("em_step", theta))
        except ValueError as e:
            return make_result(problem, theta, losses, gnorms, k - 1, False, True, f"diverged: {e}", "em")
        f_new, g = problem.value_and_grad(new)
        if not np.isfinite(f_new):
            return make_result(problem, theta, losses, gnorms, k - 1, False, True, "diverged: non-finite loss", "em")
        theta, done = new, f - f_new <= tol * (1 + abs(f_new))
        f = f_new
        losses.append(f)
        gnorms.append(float(np.linalg.norm(g)))
        if done:
            message = "converged"
            break
    return make_result(problem, theta, losses, gnorms, k, message == "converged", False,
                       f"{message} after {k} EM iterations", "em")
