"""The numba loops of the first-order optimizers: a template, included in per-derivation modules.

This file is valid Python, but it is not imported to run: ``symml.optim.adapters`` writes one
module per derivation (into the kernel cache, like ``sm.compile``) that starts with adapters
generated for that derivation, ``_vg`` and ``_take``, and continues with this file's text. The
loops below call those adapters as globals, so numba compiles and inlines them as plain calls,
and every function is ``cache=True`` against its own real file.

NOTE(numba): a jitted loop that takes another jitted function as an argument is compiled again
in every process (the argument's type is the dispatcher object, so the on-disk cache never
hits). Including the loops per derivation keeps them cached.

Adapter contract (generated per derivation):
    ``_vg(theta, lo, hi, g, data, hyper, layout) -> float``: the loss of the rows lo:hi of every
    data tensor (a contiguous slice), its gradient written flat into g (p,).
    ``_take(data, perm) -> data``: the data with their rows permuted (a copy).

θ (p,) is every parameter flattened row-major and concatenated in the derivation's order;
``layout`` (int64) holds the offsets and shapes the adapters reshape θ with.
"""
import numpy as np
from numba import njit

# update rules and statuses, shared with symml.optim.first_order (as plain ints)
PLAIN, MOMENTUM, RMSPROP, ADAM = 0, 1, 2, 3
MAX_ITER, CONVERGED, DIVERGED = 0, 1, 2
# learning-rate schedules: η, η/(1 + decay·t), η·decay^t (t counts epochs)
CONSTANT, INVERSE, EXPONENTIAL = 0, 1, 2
#: a loss that grows past this multiple of (1 + |L(θ₀)|) is diverging, even while finite
BLOW_UP = 1e10


@njit(cache=True)
def _next(state):
    """splitmix64 (Steele, Lea & Flood 2014): the next state and a 64-bit random integer.

    A generator of our own rather than numba's np.random: it keeps no global state and gives
    the same stream for the same seed on every platform and numba version.
    """
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, z ^ (z >> np.uint64(31))


@njit(cache=True)
def _shuffle(perm, state):
    """Fisher–Yates shuffle of perm in place; returns the generator's new state."""
    for i in range(perm.shape[0] - 1, 0, -1):
        state, z = _next(state)
        j = np.int64(z % np.uint64(i + 1))
        perm[i], perm[j] = perm[j], perm[i]
    return state


@njit(cache=True)
def _norm(g):
    s = 0.0
    for i in range(g.shape[0]):
        s += g[i] * g[i]
    return np.sqrt(s)


@njit(cache=True)
def _finite_vector(g):
    s = 0.0
    for i in range(g.shape[0]):
        s += g[i]
    return np.isfinite(s) or np.all(np.isfinite(g))


@njit(cache=True)
def _rate(lr, schedule, decay, epoch):
    if schedule == INVERSE:
        return lr / (1.0 + decay * epoch)
    if schedule == EXPONENTIAL:
        return lr * decay ** epoch
    return lr


@njit(cache=True)
def _update(theta, g, m1, m2, vmax, rule, eta, beta1, beta2, eps, nesterov, amsgrad, t):
    """One step of the update rule with step size eta; t counts steps from 1 (Adam's bias correction)."""
    p = theta.shape[0]
    if rule == PLAIN:
        for i in range(p):
            theta[i] -= eta * g[i]
    elif rule == MOMENTUM:
        # heavy ball, v ← βv + g, θ ← θ − ηv; Nesterov in the form of Sutskever et al. (2013) as
        # rewritten by PyTorch: θ ← θ − η(g + βv), the gradient taken at θ (same kernel calls)
        for i in range(p):
            m1[i] = beta1 * m1[i] + g[i]
            theta[i] -= eta * (g[i] + beta1 * m1[i]) if nesterov else eta * m1[i]
    elif rule == RMSPROP:
        # Tieleman & Hinton (2012): s ← ρs + (1 − ρ)g², θ ← θ − ηg/(√s + ε); ρ is beta2
        for i in range(p):
            m2[i] = beta2 * m2[i] + (1.0 - beta2) * g[i] * g[i]
            theta[i] -= eta * g[i] / (np.sqrt(m2[i]) + eps)
    else:
        # Adam (Kingma & Ba 2015), bias-corrected; AMSGrad (Reddi et al. 2018) divides by the
        # running maximum of v, so the effective step never grows again
        c1 = 1.0 - beta1 ** t
        c2 = 1.0 - beta2 ** t
        for i in range(p):
            m1[i] = beta1 * m1[i] + (1.0 - beta1) * g[i]
            m2[i] = beta2 * m2[i] + (1.0 - beta2) * g[i] * g[i]
            v = m2[i]
            if amsgrad:
                vmax[i] = max(vmax[i], m2[i])
                v = vmax[i]
            theta[i] -= eta * (m1[i] / c1) / (np.sqrt(v / c2) + eps)


@njit(cache=True)
def first_order(theta, data, hyper, layout, n, rule, lr, beta1, beta2, eps, nesterov, amsgrad,
                schedule, decay, batch, max_epochs, tol, gref, seed, mode, hidx, svrg,
                loss_hist, gnorm_hist):
    """Run a first-order method in place on theta; returns (epochs done, status).

    An epoch is one pass over the data: one step when batch ≥ n (full batch), else the rows
    are shuffled (with ``seed``) and visited in batches of ``batch`` rows. A batch of B rows
    estimates ∇L without bias: ``mode`` 0 (a mean over rows) uses the batch kernel as it is;
    mode 1 (a sum over rows) multiplies it by n/B, with the penalty's hyper-parameter
    ``hyper[hidx]`` (if hidx ≥ 0) scaled by B/n so that the penalty counts once per epoch.
    With ``svrg`` the estimate is n/B·(∇K_B(θ) − ∇K_B(θ̃)) + ∇L(θ̃) around a snapshot θ̃ taken
    each epoch (Johnson & Zhang 2013): its variance vanishes at the optimum.

    After every epoch the full loss and gradient are evaluated and recorded in loss_hist and
    gnorm_hist (entry 0 is θ₀). It stops when ‖∇L‖ ≤ tol·gref (gref ≤ 0: ‖∇L(θ₀)‖), or on a
    non-finite or exploding loss, leaving theta at the last iterate whose full loss was
    finite (the last recorded one).
    """
    p = theta.shape[0]
    g = np.empty(p)
    gb = np.empty(p)
    gs = np.empty(p)
    mu = np.empty(p)
    snap = np.empty(p)
    good = theta.copy()
    m1 = np.zeros(p)
    m2 = np.zeros(p)
    vmax = np.zeros(p)
    hb = hyper.copy()
    perm = np.arange(n)
    state = np.uint64(seed)
    full = batch >= n and not svrg

    v = _vg(theta, 0, n, g, data, hyper, layout)
    gn = _norm(g)
    if not (np.isfinite(v) and np.isfinite(gn)):
        return 0, DIVERGED
    loss_hist[0] = v
    gnorm_hist[0] = gn
    limit = BLOW_UP * (1.0 + abs(v))
    ref = gref if gref > 0.0 else gn
    if gn <= tol * ref:
        return 0, CONVERGED
    t = 0
    for epoch in range(max_epochs):
        eta = _rate(lr, schedule, decay, epoch)
        good[:] = theta
        if full:
            t += 1
            _update(theta, g, m1, m2, vmax, rule, eta, beta1, beta2, eps, nesterov, amsgrad, t)
        else:
            state = _shuffle(perm, state)
            shuffled = _take(data, perm)
            if svrg:
                snap[:] = theta
                mu[:] = g
            for lo in range(0, n, batch):
                hi = min(lo + batch, n)
                s = 1.0
                if mode == 1:
                    s = n / (hi - lo)
                    if hidx >= 0:
                        hb[hidx] = hyper[hidx] / s
                vb = _vg(theta, lo, hi, gb, shuffled, hb, layout)
                if svrg:
                    _vg(snap, lo, hi, gs, shuffled, hb, layout)
                    for i in range(p):
                        gb[i] = s * (gb[i] - gs[i]) + mu[i]
                elif s != 1.0:
                    for i in range(p):
                        gb[i] *= s
                if not (np.isfinite(vb) and _finite_vector(gb)):
                    theta[:] = good
                    return epoch, DIVERGED
                t += 1
                _update(theta, gb, m1, m2, vmax, rule, eta, beta1, beta2, eps, nesterov, amsgrad, t)
        v = _vg(theta, 0, n, g, data, hyper, layout)
        gn = _norm(g)
        if not (np.isfinite(v) and np.isfinite(gn) and v <= limit):
            theta[:] = good
            return epoch, DIVERGED
        loss_hist[epoch + 1] = v
        gnorm_hist[epoch + 1] = gn
        if gn <= tol * ref:
            return epoch + 1, CONVERGED
    return max_epochs, MAX_ITER


@njit(cache=True)
def full_value_and_grad(theta, data, hyper, layout, n):
    """(L, ∇L) over all rows, ∇L flat like θ."""
    g = np.empty(theta.shape[0])
    v = _vg(theta, 0, n, g, data, hyper, layout)
    return v, g


@njit(cache=True)
def rows_value_and_grad(theta, data, hyper, layout, rows):
    """(L, ∇L) of the rows listed in ``rows`` (a copy of them is made): used to probe a loss."""
    part = _take(data, rows)
    g = np.empty(theta.shape[0])
    v = _vg(theta, 0, rows.shape[0], g, part, hyper, layout)
    return v, g
