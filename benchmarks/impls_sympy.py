"""SymPy ``lambdify``, as a SymPy user would reach for it, where it can run at all.

SymPy has no tensors with symbolic sizes that lambdify can differentiate through, so the
user's route is one symbol per feature: z = Σⱼ xⱼwⱼ + b for one sample, the per-sample
loss, its derivative by each wⱼ (and b), and ``lambdify(..., cse=True)`` to numpy, with
each xⱼ bound to column j of X so that numpy vectorises over the samples. The sums over
samples are ``np.sum`` calls. The columns of X are prepared once, outside the timing.

This only runs where the expression stays small: d ≤ ``MAX_D`` features, and Hessians
(d(d+1)/2 expressions) and hvps (d² second derivatives) only for d ≤ ``MAX_D_HESSIAN``.
Softmax, the MLP and the CNN are left out: per-entry derivation is the dead end DESIGN.md
measured (17 s for a d = 10, h = 64 MLP). The time to build the lambdified function is
reported with the result.

Takes: a Case and its data. Gives: {variant: (fn, to_flat)} or {variant: reason}.
"""
from __future__ import annotations

import time

import numpy as np

from .cases import flat

NAME = "sympy"
MAX_D = 100
MAX_D_HESSIAN = 100
BUILD_TIMES: dict = {}  # case name -> seconds spent deriving and lambdifying


def available() -> str | None:
    """None when this implementation can run, else why not."""
    return None


def _per_sample(model, d):
    import sympy as sp

    xs, ws = sp.symbols(f"x0:{d}", real=True), sp.symbols(f"w0:{d}", real=True)
    b, y = sp.symbols("b y", real=True)
    z = sp.Add(*[x * w for x, w in zip(xs, ws)]) + b
    loss = sp.log(1 + sp.exp(z)) - y * z if model == "logistic_regression" else (z - y) ** 2
    return xs, ws, b, y, loss


def _build(case, d):
    import sympy as sp

    xs, ws, b, y, loss = _per_sample(case.model, d)
    params = list(ws) + [b]
    grads = [sp.diff(loss, p) for p in params]
    if case.kernel == "value_and_grad":
        exprs = [loss] + grads
    elif case.kernel == "hessian":
        exprs = [sp.diff(grads[j], params[k]) for j in range(d + 1) for k in range(j, d + 1)]
    else:  # hvp: Σₖ ∂²l/∂θⱼ∂θₖ vₖ per sample
        vs = sp.symbols(f"v0:{d + 1}", real=True)
        exprs = [sp.Add(*[sp.diff(g, p) * v for p, v in zip(params, vs)]) for g in grads]
        return sp.lambdify((xs, y, ws, b, vs), exprs, modules="numpy", cse=True)
    return sp.lambdify((xs, y, ws, b), exprs, modules="numpy", cse=True)


def _total(o, n):
    """Σ over samples of a lambdified entry (a constant entry comes back as a scalar)."""
    return np.sum(o) if np.ndim(o) else n * float(o)


def build(case, data) -> dict:
    """{variant: (fn, to_flat)}, or {variant: reason} where SymPy cannot reasonably run."""
    if case.model not in ("logistic_regression", "least_squares"):
        return {"sympy": "per-entry derivation over every weight of a multi-output model: too many symbols (DESIGN.md)"}
    d = data["w"].shape[0]
    limit = MAX_D if case.kernel == "value_and_grad" else MAX_D_HESSIAN  # hvp: d² second derivatives too
    if d > limit:
        return {"sympy": f"d = {d} per-feature symbols (> {limit}): expression too large to lambdify"}
    t0 = time.perf_counter()
    f = _build(case, d)
    BUILD_TIMES[case.name] = time.perf_counter() - t0
    cols = list(np.ascontiguousarray(data["X"].T))
    y, w, b = data["y"], data["w"], data["b"]
    lam = data.get("lam", 0.0)
    n = len(y)
    if case.kernel == "value_and_grad":
        def run():
            out = f(cols, y, w, b)
            g = np.array([_total(o, n) for o in out[1:]])
            g[:d] += lam * w
            return _total(out[0], n) + 0.5 * lam * (w @ w), g
        return {"sympy": (run, lambda out: flat(*out))}
    if case.kernel == "hessian":
        iu = np.triu_indices(d + 1)

        def run():
            H = np.empty((d + 1, d + 1))
            H[iu] = [_total(o, n) for o in f(cols, y, w, b)]
            H.T[iu] = H[iu]
            H[np.arange(d), np.arange(d)] += lam
            return H
        return {"sympy": (run, lambda out: flat(out))}
    v = np.concatenate([data["v_w"], [data["v_b"]]])

    def run():
        hv = np.array([_total(o, n) for o in f(cols, y, w, b, v)])
        hv[:d] += lam * v[:d]
        return hv
    return {"sympy": (run, lambda out: flat(out))}
