"""Proximal gradient (FISTA) for L1-penalised models.

:func:`prox_gradient` minimises F = f + g for a derivation that emits ``prox_step`` (one
step (w⁺, b⁺) = prox_{ηg}(θ − η∇f), derived in :mod:`symml.prox`, with the step size η as
the hyper-parameter that the spec names ``step_size``) and ``objective`` (F). It runs FISTA (Beck & Teboulle 2009) with the
function-value restart of O'Donoghue & Candès (2015): when F increases, the momentum is
reset, which restores linear convergence on strongly convex problems in practice. η = 1/L̂, L̂
the largest curvature of the smooth part (power iteration on its hvp kernel, exact for the
quadratic f of the lasso and the elastic net). It stops when the gradient mapping
‖θ − prox_step(θ)‖/η ≤ tol·(its value at θ₀), or tol·``gref``.

Takes: a Problem. Gives: an OptimizeResult.
"""
from __future__ import annotations

import numpy as np

from .result import count, make_result, positive

EPS = float(np.finfo(np.float64).eps)


def require_prox(problem):
    """The step-size hyper-parameter's name; a ValueError unless the derivation emits prox_step
    and its spec names that hyper-parameter (``Derivation(step_size=...)``)."""
    d = problem.derivation
    if not problem.has("prox_step") or d.step_size is None:
        raise ValueError(f"{d.name}: prox_gradient needs a prox_step kernel and the Derivation's step_size, the "
                         "hyper-parameter it reads as its step size (as the lasso and the elastic net have)")
    return d.step_size.name


def objective_value(problem, theta):
    """F(θ): the objective kernel (smooth part plus penalty), else the loss."""
    return float(problem.call("objective" if problem.has("objective") else "loss", theta))


def _prox(problem, theta):
    out = problem.call("prox_step", theta)
    return problem.pack(out if len(problem.shapes) > 1 else (out,))


def prox_gradient(problem, *, lr=None, max_iter=10000, tol=1e-10, accelerate=True, theta0=None, gref=None):
    """Proximal gradient descent (FISTA with restarts) on F = f + g, with the prox_step kernel.

    Args:
        problem: a :class:`~symml.optim.Problem` whose derivation emits prox_step.
        lr: the step size η; default 1/L̂ (the smooth part's largest curvature).
        max_iter: the most iterations.
        tol: stop when the gradient mapping's norm ≤ tol·(its norm at θ₀), or tol·gref.
        accelerate: FISTA (True) or ISTA (False).
        theta0: a start (flat θ).

    Returns:
        OptimizeResult; loss_history is F, grad_norm_history the gradient mapping's norm.
    """
    step = require_prox(problem)
    positive("tol", tol, allow_zero=True)
    count("max_iter", max_iter, 0)
    theta = problem.theta0.copy() if theta0 is None else problem._theta(theta0).copy()
    if lr is None:
        curvature = problem.lipschitz(theta, iterations=100)
        if not curvature > 0:
            raise ValueError("prox_gradient: could not estimate the step size; pass lr=")
        lr = 1.0 / curvature
    lr = positive("lr", lr)
    pr = problem.with_hyper(**{step: lr})
    F = objective_value(pr, theta)
    losses, gnorms = [F], []
    point, t = theta.copy(), 1.0
    message, k = "reached max_iter", 0
    for k in range(1, max_iter + 1):
        new = _prox(pr, point)
        mapping = float(np.linalg.norm(point - new)) / lr
        if not gnorms:
            gnorms.append(mapping)
            ref = gref or mapping
        F_new = objective_value(pr, new)
        if not (np.isfinite(F_new) and np.all(np.isfinite(new))):
            return make_result(pr, theta, losses, gnorms, k - 1, False, True,
                               f"diverged after {k - 1} iterations: try a smaller lr", "prox_gradient", lr=lr)
        # restart (drop the momentum, redo the step from θ) when F increases beyond rounding;
        # a step from θ itself (t = 1) is never undone: with η ≤ 1/L it cannot increase F
        if accelerate and t > 1 and F_new > F + 4 * EPS * abs(F) and mapping > tol * ref:
            t, point = 1.0, theta.copy()
            gnorms.append(gnorms[-1])
            losses.append(F)
            continue
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        point = new + ((t - 1) / t_new) * (new - theta) if accelerate else new
        theta, F, t = new, F_new, t_new
        losses.append(F)
        gnorms.append(mapping)
        if mapping <= tol * ref:
            message = "converged"
            break
    return make_result(pr, theta, losses, gnorms[:len(losses)], k, message == "converged", False,
                       f"{message} after {k} iterations (η {lr:.3g})", "prox_gradient", lr=lr)
