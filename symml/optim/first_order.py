"""First-order optimizers: gradient descent, SGD, mini-batch, Momentum/Nesterov, RMSprop, Adam.

Every method runs the one numba loop of :mod:`symml.optim.loops` (per-sample and mini-batch
steps never return to Python) on a :class:`~symml.optim.Problem`'s flat θ, and they differ only
in the update rule and the default batch size:

=========  =========================================  ============  ========
method     update                                     batch         lr
=========  =========================================  ============  ========
gd         θ ← θ − ηg                                 all rows      1/L̂
sgd        θ ← θ − ηg                                 1 row         ½/L̂_B
minibatch  θ ← θ − ηg                                 32 rows       ½/L̂_B
momentum   v ← βv + g, θ ← θ − ηv (or Nesterov's)     all rows      1/L̂
rmsprop    s ← ρs + (1 − ρ)g², θ ← θ − ηg/(√s + ε)    all rows      1e-3
adam       bias-corrected moments (Kingma & Ba)       all rows      1e-3
=========  =========================================  ============  ========

L̂ is the largest curvature at θ₀ (power iteration on the hvp kernel, or on gradient
differences); L̂_B the largest one over eight random batches of the scaled batch loss, the
smoothness a stochastic step sees. A batch estimates ∇L without bias (the batch rule of
:class:`~symml.optim.Problem`), so every method minimises the same L whatever the batch size.

An iteration is an epoch, one pass over the data (a single step for a full batch). ``tol``
stops when ‖∇L(θ)‖ ≤ tol·‖∇L(θ₀)‖ (or tol·``gref`` if given), checked on the full gradient
after every epoch. ``variance_reduction=True`` turns the stochastic steps into SVRG, whose
steps converge to the optimum with a constant learning rate; plain SGD needs a decaying
``schedule`` ("inverse": η/(1 + decay·t), "exponential": η·decayᵗ, t the epoch). The same
``seed`` gives the same shuffles and so the same result.

``lr`` is a step on ∇L itself: a loss summed over n rows (logistic regression) has a
gradient n times that of a mean (the lasso), so its learning rate is n times smaller. The
defaults account for it; RMSprop and Adam are scale-free.

>>> import numpy as np
>>> from symml.optim import Problem
>>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = 2 * X[:, 0] + 1
>>> r = gd(Problem("ridge", (X, y), {"lam": 0.0}), tol=1e-10, max_iter=5000)
>>> r.converged, np.round(r.params["w"], 6), round(r.params["b"], 6)
(True, array([2.]), 1.0)

Takes: a Problem. Gives: an OptimizeResult.
"""
from __future__ import annotations

import numpy as np

from .result import count as _count, make_result, positive as _positive

# names of the constants of symml/optim/loops.py, read from the compiled module (importing
# loops.py here would import numba with symml.optim)
SCHEDULES = {"constant": "CONSTANT", "inverse": "INVERSE", "exponential": "EXPONENTIAL"}


def batch_smoothness(problem, theta, batch: int, batches: int = 8) -> float:
    """The largest curvature of the scaled batch loss over a few random batches (L̂_B)."""
    mode, hidx = problem.batch_rule
    rng = np.random.default_rng(problem.seed)
    worst = 0.0
    for _ in range(batches):
        rows = rng.choice(problem.n, size=min(batch, problem.n), replace=False)
        sub = problem.subset(rows)
        s = problem.n / len(rows) if mode == 1 else 1.0
        if hidx >= 0:
            sub.hyper = sub.hyper.copy()
            sub.hyper[hidx] /= s
        worst = max(worst, s * sub.lipschitz(theta, iterations=20))
    return worst


def run(problem, method: str, rule: str, *, lr=None, max_iter=100, tol=1e-6, gref=None, theta0=None,
        batch_size=None, seed=0, schedule="constant", decay=0.0, variance_reduction=False,
        beta1=0.9, beta2=0.999, eps=1e-8, nesterov=False, amsgrad=False):
    """Run the numba loop of symml/optim/loops.py with one update rule.

    Args:
        problem: a :class:`~symml.optim.Problem`.
        method: the name recorded in the result.
        rule: "PLAIN", "MOMENTUM", "RMSPROP" or "ADAM".
        lr, max_iter, tol, gref, theta0, batch_size, seed, schedule, decay, variance_reduction,
            beta1, beta2, eps, nesterov, amsgrad: as documented by the public functions below
            (beta1 is the momentum β; beta2 RMSprop's ρ or Adam's β₂).

    Returns:
        OptimizeResult; info has lr, batch_size and the batch rule.
    """
    max_iter = _count("max_iter", max_iter, 0)
    tol = _positive("tol", tol, allow_zero=True)
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: expected one of {', '.join(SCHEDULES)}, got {schedule!r}")
    decay = _positive("decay", decay, allow_zero=True)
    for name, b in (("momentum/beta1", beta1), ("beta2", beta2)):
        if not 0 <= b < 1:
            raise ValueError(f"{name}: expected a number in [0, 1), got {b!r}")
    eps = _positive("eps", eps, allow_zero=True)
    seed = _count("seed", seed, 0)
    n = problem.n
    batch = n if batch_size is None else min(_count("batch_size", batch_size), n)
    svrg = bool(variance_reduction)
    theta = problem.theta0.copy() if theta0 is None else problem._theta(theta0).copy()
    if batch < n or svrg:
        problem.require_rows("mini-batches" if batch < n else "variance reduction")
    mode, hidx = problem.batch_rule if (batch < n or svrg) else (0, -1)
    if lr is None:
        curvature = problem.lipschitz(theta) if batch >= n and not svrg else batch_smoothness(problem, theta, batch)
        if not curvature > 0:
            raise ValueError(f"{method}: could not estimate a learning rate (curvature {curvature}); pass lr=")
        lr = (1.0 if batch >= n and not svrg else 0.5) / curvature
    lr = _positive("lr", lr)
    J = problem.jit
    losses, gnorms = np.zeros(max_iter + 1), np.zeros(max_iter + 1)
    epochs, status = J.first_order(
        theta, problem.data_tuple, problem.hyper, problem.layout, n, getattr(J, rule), lr, beta1, beta2, eps,
        bool(nesterov), bool(amsgrad), getattr(J, SCHEDULES[schedule]), decay, batch, max_iter, tol,
        float(gref or 0.0), seed, mode, hidx, svrg, losses, gnorms)
    diverged = status == J.DIVERGED
    state = {J.MAX_ITER: "reached max_iter", J.CONVERGED: "converged", J.DIVERGED: "diverged"}[status]
    message = state + f" after {epochs} epoch{'s' * (epochs != 1)} (lr {lr:.3g}, batch {batch})"
    if diverged:
        message += "; the loss became non-finite or blew up: try a smaller lr. params hold the last finite iterate"
    return make_result(problem, theta, losses[:epochs + 1], gnorms[:epochs + 1], epochs, status == J.CONVERGED,
                       diverged, message, method, lr=lr, batch_size=batch, batch_rule=(mode, hidx))


def gd(problem, *, lr=None, max_iter=1000, tol=1e-6, **options):
    """Batch gradient descent, θ ← θ − η∇L(θ). lr defaults to 1/L̂ (see the module docstring).

    Args:
        problem: a :class:`~symml.optim.Problem`.
        lr: the step size η.
        max_iter: the most iterations (epochs).
        tol: stop when ‖∇L‖ ≤ tol·‖∇L(θ₀)‖.
        **options: theta0, batch_size, seed, schedule, decay, variance_reduction, gref.

    Returns:
        OptimizeResult.
    """
    return run(problem, "gd", "PLAIN", lr=lr, max_iter=max_iter, tol=tol, **options)


def sgd(problem, *, lr=None, max_iter=20, tol=1e-6, batch_size=1, seed=0, **options):
    """Stochastic gradient descent: one step per row, rows shuffled each epoch with ``seed``.

    ``variance_reduction=True`` makes it SVRG (constant lr converges); otherwise pass a
    decaying ``schedule`` to converge past the noise floor. Other options as :func:`gd`.
    """
    return run(problem, "sgd", "PLAIN", lr=lr, max_iter=max_iter, tol=tol, batch_size=batch_size, seed=seed,
               **options)


def minibatch(problem, *, lr=None, max_iter=50, tol=1e-6, batch_size=32, seed=0, **options):
    """Mini-batch gradient descent: one step per batch of ``batch_size`` shuffled rows (see :func:`sgd`)."""
    return run(problem, "minibatch", "PLAIN", lr=lr, max_iter=max_iter, tol=tol, batch_size=batch_size,
               seed=seed, **options)


def momentum(problem, *, lr=None, momentum=0.9, nesterov=False, max_iter=1000, tol=1e-6, **options):
    """Gradient descent with heavy-ball momentum (Polyak 1964), or Nesterov's with ``nesterov=True``.

    v ← βv + g, θ ← θ − ηv; Nesterov: θ ← θ − η(g + βv) (Sutskever et al. 2013, as in PyTorch).
    Full batch by default; ``batch_size`` makes it stochastic. lr defaults to 1/L̂.
    """
    return run(problem, "nesterov" if nesterov else "momentum", "MOMENTUM", lr=lr, max_iter=max_iter, tol=tol,
               beta1=momentum, nesterov=nesterov, **options)


def rmsprop(problem, *, lr=1e-3, beta2=0.9, eps=1e-8, max_iter=1000, tol=1e-6, **options):
    """RMSprop (Tieleman & Hinton 2012): s ← ρs + (1 − ρ)g², θ ← θ − ηg/(√s + ε), ρ = ``beta2``.

    The step is about η in every coordinate whatever the gradient's scale, so the iterates
    settle within about η of the optimum: use a decaying ``schedule`` to converge further.
    """
    return run(problem, "rmsprop", "RMSPROP", lr=lr, max_iter=max_iter, tol=tol, beta2=beta2, eps=eps,
               **options)


def adam(problem, *, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=False, max_iter=1000, tol=1e-6,
         **options):
    """Adam (Kingma & Ba 2015) with bias correction; AMSGrad (Reddi et al. 2018) with ``amsgrad=True``.

    Scale-free like :func:`rmsprop` (the same lr suits a sum or a mean over rows); full batch
    by default, ``batch_size`` for mini-batches.
    """
    return run(problem, "adam", "ADAM", lr=lr, max_iter=max_iter, tol=tol, beta1=beta1, beta2=beta2, eps=eps,
               amsgrad=amsgrad, **options)
