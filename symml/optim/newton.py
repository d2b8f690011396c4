"""Second-order optimizers: Newton's method with a line search, a trust-region Newton, and
Newton on the KKT conditions of a Lagrangian.

Both work on a :class:`~symml.optim.Problem` with the derivation's ``hessian`` kernel, its
``hvp`` kernel, or (for neither) central differences of gradients; one iteration is one
Newton step and makes a handful of full passes over the data, so the loop is Python.

- :func:`newton`: the direction solves ∇²L·p = −∇L, by Cholesky on the Hessian kernel
  (adding τI, doubled from 10⁻⁸·max|diag| until it is positive definite, where L is not
  convex: Nocedal & Wright, Algorithm 3.3), or by conjugate gradients on the hvp kernel,
  stopped at a relative residual min(½, √‖∇L‖) or at negative curvature (truncated Newton).
  The step length is found by Armijo backtracking from 1, t ← t/2, accepting
  L(θ + tp) ≤ L(θ) + 10⁻⁴·t·∇Lᵀp (plus rounding, 4ε|L|).
- :func:`trust_region`: Steihaug's conjugate gradients on the model
  m(p) = L + ∇Lᵀp + ½pᵀ∇²Lp within ‖p‖ ≤ Δ; the step is taken if the actual decrease is more
  than ``eta`` of the predicted one; Δ shrinks by 4 below a ratio ¼ and doubles above ¾ at the
  boundary (Nocedal & Wright, Algorithms 4.1 and 7.2).

- :func:`kkt_newton`: Newton–Raphson on ∇L = 0 for the saddle points of a Lagrangian, with
  a backtracking line search on the residual ‖∇L‖.

All stop when ‖∇L(θ)‖ ≤ tol·‖∇L(θ₀)‖ (or tol·``gref``).

>>> import numpy as np
>>> from symml.optim import Problem
>>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0.0, 1.0, 0.0, 1.0])
>>> r = newton(Problem("logistic_regression", (X, y), {"lam": 1.0}))
>>> r.converged, r.n_iter < 10
(True, True)

Takes: a Problem. Gives: an OptimizeResult.
"""
from __future__ import annotations

import numpy as np

from .result import count, make_result, positive

EPS = float(np.finfo(np.float64).eps)
#: hessian="auto" forms the Hessian up to this many parameters, then uses CG on hvps: forming it
#: costs n·p² (0.4 s for softmax regression on 500 digits, p = 650; 15 CG-Newton steps take 0.04 s)
EXACT_MAX_SIZE = 200


def _direction_cholesky(H, g):
    """−H⁻¹g, with τI added until H + τI is positive definite; returns (p, τ)."""
    tau, scale = 0.0, max(float(np.max(np.abs(np.diag(H)))), 1e-300)
    eye = np.eye(H.shape[0])
    for _ in range(80):
        try:
            C = np.linalg.cholesky(H + tau * eye)
            z = np.linalg.solve(C, -g)
            return np.linalg.solve(C.T, z), tau
        except np.linalg.LinAlgError:
            tau = max(2 * tau, 1e-8 * scale)
    raise np.linalg.LinAlgError("no positive-definite shift found")


def _direction_cg(hvp, g, max_iter):
    """Truncated Newton: CG on ∇²L·p = −∇L, stopped at negative curvature."""
    p, r = np.zeros_like(g), -g.copy()
    d, rr = r.copy(), float(r @ r)
    stop = min(0.5, np.sqrt(np.sqrt(rr))) * np.sqrt(rr)
    for _ in range(max_iter):
        Hd = hvp(d)
        curv = float(d @ Hd)
        if curv <= EPS * float(d @ d):
            return p if np.any(p) else -g
        a = rr / curv
        p += a * d
        r -= a * Hd
        new = float(r @ r)
        if np.sqrt(new) <= stop:
            break
        d, rr = r + (new / rr) * d, new
    return p


def _setup(problem, theta0, tol, max_iter):
    positive("tol", tol, allow_zero=True)
    count("max_iter", max_iter, 0)
    theta = problem.theta0.copy() if theta0 is None else problem._theta(theta0).copy()
    f, g = problem.value_and_grad(theta)
    return theta, f, g


def _second_order(problem, hessian):
    if hessian not in ("auto", "exact", "hvp"):
        raise ValueError(f"hessian: expected 'auto', 'exact' or 'hvp', got {hessian!r}")
    if hessian == "exact" or (hessian == "auto" and problem.has("hessian")
                              and (problem.size <= EXACT_MAX_SIZE or not problem.has("hvp"))):
        return "exact"
    return "hvp"


def newton(problem, *, max_iter=50, tol=1e-8, theta0=None, hessian="auto", gref=None, cg_iter=None):
    """Newton's method with an Armijo backtracking line search.

    Args:
        problem: a :class:`~symml.optim.Problem`.
        max_iter: the most Newton steps.
        tol: stop when ‖∇L‖ ≤ tol·‖∇L(θ₀)‖ (or tol·gref).
        theta0: a start (flat θ); default the problem's.
        hessian: "exact" (solve with the Hessian kernel), "hvp" (CG on Hessian-vector
            products), or "auto" (exact when the derivation has a hessian kernel and
            p ≤ EXACT_MAX_SIZE, or no hvp kernel).
        cg_iter: the most CG iterations per step ("hvp"); default p.

    Returns:
        OptimizeResult; info has the step lengths and shifts τ.
    """
    theta, f, g = _setup(problem, theta0, tol, max_iter)
    how = _second_order(problem, hessian)
    losses, gnorms, steps, shifts = [f], [float(np.linalg.norm(g))], [], []
    ref = gref or gnorms[0]
    if not np.isfinite(f) or not np.isfinite(gnorms[0]):
        return make_result(problem, theta, losses, gnorms, 0, False, True, "diverged: L(θ₀) is not finite", "newton")
    message, diverged, k = "reached max_iter", False, 0
    for k in range(1, max_iter + 1):
        if gnorms[-1] <= tol * ref:
            k -= 1
            message = "converged"
            break
        if how == "exact":
            H = problem.hessian(theta)
            if not np.all(np.isfinite(H)):
                message, diverged, k = "diverged: the Hessian is not finite", True, k - 1
                break
            p, tau = _direction_cholesky(H, g)
            shifts.append(tau)
        else:
            p = _direction_cg(lambda v: problem.hvp(theta, v), g, cg_iter or problem.size)
        slope, t = float(g @ p), 1.0
        if slope >= 0:  # not a descent direction (rounding at the optimum): fall back to −g
            p, slope = -g, -float(g @ g)
        for _ in range(60):
            f_new = problem.value(theta + t * p)
            if np.isfinite(f_new) and f_new <= f + 1e-4 * t * slope + 4 * EPS * abs(f):
                break
            t *= 0.5
        else:
            message, k = "stopped: the line search found no decrease (at the precision floor?)", k - 1
            break
        theta = theta + t * p
        f, g = problem.value_and_grad(theta)
        steps.append(t)
        losses.append(f)
        gnorms.append(float(np.linalg.norm(g)))
    else:
        if gnorms[-1] <= tol * ref:
            message = "converged"
    return make_result(problem, theta, losses, gnorms, k, message == "converged", diverged,
                       f"{message} after {k} Newton steps ({how})", "newton", steps=steps, shifts=shifts)


def _steihaug(hvp, g, radius, max_iter):
    """argmin gᵀp + ½pᵀHp over ‖p‖ ≤ radius, approximately; returns (p, gᵀp + ½pᵀHp)."""
    p, r = np.zeros_like(g), g.copy()
    d = -r
    rr = float(r @ r)
    stop = min(0.5, np.sqrt(np.sqrt(rr))) * np.sqrt(rr)
    Hp = np.zeros_like(g)
    for _ in range(max_iter):
        Hd = hvp(d)
        curv = float(d @ Hd)
        if curv <= 0:
            tau = _to_boundary(p, d, radius)
            return p + tau * d, Hp + tau * Hd
        a = rr / curv
        if np.linalg.norm(p + a * d) >= radius:
            tau = _to_boundary(p, d, radius)
            return p + tau * d, Hp + tau * Hd
        p, Hp = p + a * d, Hp + a * Hd
        r = r + a * Hd
        new = float(r @ r)
        if np.sqrt(new) <= stop:
            break
        d, rr = -r + (new / rr) * d, new
    return p, Hp


def _to_boundary(p, d, radius):
    """τ ≥ 0 with ‖p + τd‖ = radius."""
    a, b, c = float(d @ d), 2 * float(p @ d), float(p @ p) - radius**2
    return (-b + np.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)


def trust_region(problem, *, radius=1.0, max_radius=1e4, eta=0.1, max_iter=100, tol=1e-8, theta0=None,
                 hessian="auto", gref=None, cg_iter=None):
    """A trust-region Newton method with Steihaug's conjugate gradients.

    Args:
        problem: a :class:`~symml.optim.Problem`.
        radius: the initial trust radius Δ₀ (in the units of θ).
        max_radius: the largest Δ.
        eta: accept a step whose actual decrease is more than eta of the predicted one.
        max_iter: the most iterations (accepted or not).
        tol: stop when ‖∇L‖ ≤ tol·‖∇L(θ₀)‖ (or tol·gref).
        hessian: "exact" (products with the Hessian kernel's matrix, formed once per
            iteration), "hvp" (the hvp kernel), or "auto" (hvp when the derivation has one).
        cg_iter: the most CG iterations per subproblem; default p.

    Returns:
        OptimizeResult; info has the radii.
    """
    if not (radius > 0 and max_radius >= radius and 0 <= eta < 0.25):
        raise ValueError("trust_region: expected 0 < radius ≤ max_radius and 0 ≤ eta < 1/4")
    theta, f, g = _setup(problem, theta0, tol, max_iter)
    how = "hvp" if hessian == "auto" and problem.has("hvp") else _second_order(problem, hessian)
    losses, gnorms, radii = [f], [float(np.linalg.norm(g))], [radius]
    ref = gref or gnorms[0]
    if not np.isfinite(f) or not np.isfinite(gnorms[0]):
        return make_result(problem, theta, losses, gnorms, 0, False, True, "diverged: L(θ₀) is not finite",
                           "trust_region")
    message, k = "reached max_iter", 0
    for k in range(1, max_iter + 1):
        if gnorms[-1] <= tol * ref:
            k -= 1
            message = "converged"
            break
        if how == "exact":
            H = problem.hessian(theta)
            hvp = H.__matmul__
        else:
            hvp = (lambda th: lambda v: problem.hvp(th, v))(theta)
        p, Hp = _steihaug(hvp, g, radius, cg_iter or problem.size)
        predicted = -(float(g @ p) + 0.5 * float(p @ Hp))
        f_new = problem.value(theta + p)
        actual = f - f_new if np.isfinite(f_new) else -np.inf
        noise = 16 * EPS * abs(f)  # below this, L's values are rounding: trust the model if L did not rise
        rho = actual / predicted if predicted > noise else (1.0 if actual >= -noise else -1.0)
        if rho < 0.25:
            radius *= 0.25
        elif rho > 0.75 and np.linalg.norm(p) >= 0.99 * radius:
            radius = min(2 * radius, max_radius)
        radii.append(radius)
        if rho > eta:
            theta = theta + p
            f, g = problem.value_and_grad(theta)
        losses.append(f)
        gnorms.append(float(np.linalg.norm(g)))
        if radius < 1e-14 * max(1.0, float(np.linalg.norm(theta))):
            message = "stopped: the trust radius vanished (at the precision floor?)"
            break
    else:
        if gnorms[-1] <= tol * ref:
            message = "converged"
    return make_result(problem, theta, losses, gnorms, k, message == "converged", False,
                       f"{message} after {k} iterations ({how})", "trust_region", radii=radii)


def kkt_newton(problem, *, max_iter=50, tol=1e-10, theta0=None, gref=None):
    """Newton's method on the stationarity conditions ∇L(θ) = 0: the KKT points of a Lagrangian.

    The Lagrangians of the catalog (``pca_lagrangian``, ``least_norm``, ...) are saddles in
    (primal variables, multipliers), so a minimiser would run away from their KKT points.
    This solves ∇²L·p = −∇L (least squares where the KKT matrix is singular) and backtracks
    on the residual: t ← t/2 until ‖∇L(θ + tp)‖ ≤ (1 − 10⁻⁴t)‖∇L(θ)‖ (p is a descent
    direction of ½‖∇L‖²). Which KKT point it reaches depends on the start.

    Args:
        problem: a :class:`~symml.optim.Problem` (with a hessian kernel, else p hvps).
        max_iter: the most Newton steps.
        tol: stop when ‖∇L‖ ≤ tol·‖∇L(θ₀)‖ (or tol·gref).
        theta0: a start (flat θ); default the problem's.

    Returns:
        OptimizeResult; grad_norm_history is the KKT residual ‖∇L‖.
    """
    theta, f, g = _setup(problem, theta0, tol, max_iter)
    losses, gnorms = [f], [float(np.linalg.norm(g))]
    ref = gref or gnorms[0]
    message, k = "reached max_iter", 0
    for k in range(1, max_iter + 1):
        if gnorms[-1] <= tol * ref:
            k -= 1
            message = "converged"
            break
        p = np.linalg.lstsq(problem.hessian(theta), -g, rcond=None)[0]
        t = 1.0
        for _ in range(60):
            f_new, g_new = problem.value_and_grad(theta + t * p)
            if np.linalg.norm(g_new) <= (1 - 1e-4 * t) * gnorms[-1] + 4 * EPS * ref:
                break
            t *= 0.5
        else:
            message, k = "stopped: no step reduces the KKT residual (at the precision floor?)", k - 1
            break
        theta, f, g = theta + t * p, f_new, g_new
        losses.append(f)
        gnorms.append(float(np.linalg.norm(g)))
    else:
        if gnorms[-1] <= tol * ref:
            message = "converged"
    return make_result(problem, theta, losses, gnorms, k, message == "converged", False,
                       f"{message} after {k} Newton steps on ∇L = 0", "kkt_newton")
