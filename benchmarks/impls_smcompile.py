"""``sm.compile``: each loss written as a user writes it, with no catalog, and compiled.

Beside the catalog's modules (the ``symml`` column) this is the path a user's own model
takes: plain expressions in the DSL, ``sm.grad`` over the parameters, and
``sm.compile({"loss": L, "grad": ∇L})``; the kernel is called with keywords, as the
README shows. For the models of ``cases.USER_MODELS`` it is symml's only column.

Compilation (derive, codegen, numba) happens in ``build``, outside the timings; its
wall time, to numba's compiled kernel, is kept in ``BUILD_TIMES``.

Takes: a Case and its data. Gives: {variant: (fn, to_flat)}.
"""
from __future__ import annotations

import time

import numpy as np

from .cases import LABEL_EPS, SIGNATURES, flat

NAME = "sm.compile"
BUILD_TIMES: dict[str, float] = {}


def available() -> str | None:
    """None when this implementation can run, else why not."""
    return None


def loss(model: str):
    """(loss expression, parameter tensors in SIGNATURES order) for ``model``, written from the formula."""
    import symml as sm

    if model in ("logistic_regression", "least_squares"):
        n, d = sm.dims("n d")
        X, y = sm.tensor("X", (n, d)), sm.tensor("y", (n,))
        w, b = sm.tensor("w", (d,)), sm.scalar("b")
        z = X @ w + b
        if model == "least_squares":
            r = z - y
            return sm.sum(r * r), [w, b]
        lam = sm.scalar("lam")
        return sm.sum(sm.softplus(z) - y * z) + lam / 2 * sm.norm2(w), [w, b]
    if model in ("softmax_regression", "label_smoothed_softmax"):
        n, d, K = sm.dims("n d K")
        X, Y = sm.tensor("X", (n, d)), sm.tensor("Y", (n, K))
        W, c = sm.tensor("W", (d, K)), sm.tensor("c", (K,))
        logp = sm.log_softmax(X @ W + c, axis=1)
        if model == "label_smoothed_softmax":
            return -sm.sum(((1 - LABEL_EPS) * Y + LABEL_EPS / K) * logp), [W, c]
        lam = sm.scalar("lam")
        return -sm.sum(Y * logp) + lam / 2 * sm.sum(W * W), [W, c]
    if model == "mlp":
        n, d, h1, h2, K = sm.dims("n d h1 h2 K")
        X, Y = sm.tensor("X", (n, d)), sm.tensor("Y", (n, K))
        W1, b1 = sm.tensor("W1", (d, h1)), sm.tensor("b1", (h1,))
        W2, b2 = sm.tensor("W2", (h1, h2)), sm.tensor("b2", (h2,))
        W3, b3 = sm.tensor("W3", (h2, K)), sm.tensor("b3", (K,))
        a1 = sm.tanh(X @ W1 + b1)
        a2 = sm.tanh(a1 @ W2 + b2)
        return -sm.sum(Y * sm.log_softmax(a2 @ W3 + b3, axis=1)), [W1, b1, W2, b2, W3, b3]
    if model == "tied_autoencoder":
        n, d, r = sm.dims("n d r")
        X = sm.tensor("X", (n, d))
        W, c, e = sm.tensor("W", (d, r)), sm.tensor("c", (r,)), sm.tensor("e", (d,))
        return sm.sum((sm.tanh(X @ W + c) @ W.T + e - X) ** 2) / 2, [W, c, e]
    if model == "gaussian_nll":
        n, d = sm.dims("n d")
        X, mu, P = sm.tensor("X", (n, d)), sm.tensor("mu", (d,)), sm.tensor("P", (d, d))
        Xc = X - mu
        return sm.sum((Xc @ P) * Xc) / 2 - n * sm.logdet(P) / 2, [mu, P]
    if model == "gp_marginal_likelihood":
        n = sm.dims("n")
        D, y = sm.tensor("D", (n, n)), sm.tensor("y", (n,))
        lsf, lell, lsn = sm.scalar("lsf"), sm.scalar("lell"), sm.scalar("lsn")
        Kxx = sm.exp(2 * lsf) * sm.exp(-D * sm.exp(-2 * lell) / 2) + sm.exp(2 * lsn) * sm.eye(n)
        return y @ sm.solve(Kxx, y) / 2 + sm.logdet(Kxx) / 2, [lsf, lell, lsn]
    if model == "masked_mf":
        n, m, r = sm.dims("n m r")
        R, Mask = sm.tensor("R", (n, m)), sm.tensor("Mask", (n, m))
        U, V, lam = sm.tensor("U", (n, r)), sm.tensor("V", (m, r)), sm.scalar("lam")
        return sm.sum(Mask * (R - U @ V.T) ** 2) / 2 + lam / 2 * (sm.norm2(U) + sm.norm2(V)), [U, V]
    raise KeyError(model)


def build(case, data, wait: bool = True) -> dict:
    """{variant: (fn, to_flat)} for this case (fn takes no arguments).

    ``wait``: return once numba has compiled the kernel (the timings are of numba's kernel, never
    of the numpy answers a freshly written kernel gives while it compiles); the cold-start rows
    pass False and time the first result as a user gets it."""
    import symml as sm

    if case.model == "cnn":
        return {NAME: "not written: the CNN's convolution and pooling are a catalog module only"}
    t0 = time.perf_counter()
    L, params = loss(case.model)
    names = SIGNATURES[case.model][0]
    assert [p.name for p in params] == list(names), (params, names)
    inputs = {k: data[k] for k in (*names, *SIGNATURES[case.model][1])}
    if case.kernel == "value_and_grad":
        kernel = sm.compile({"loss": L, "grad": sm.grad(L, params)})
        fn, to_flat = (lambda: kernel(**inputs)), (lambda out: flat(out["loss"], *out["grad"]))
    elif case.kernel == "hessian":  # θ = [w; b]: the blocks, put together as the catalog's wrapper does
        (Hww, Hwb), (_, Hbb) = sm.hessian(L, params)
        kernel = sm.compile({"ww": Hww, "wb": Hwb, "bb": Hbb})

        def fn():
            o = kernel(**inputs)
            return np.block([[o["ww"], o["wb"][:, None]], [o["wb"][None, :], np.atleast_2d(o["bb"])]])

        to_flat = flat
    else:  # hvp: reverse over reverse, the direction v = [v_w; v_b]
        v = [sm.tensor("v_" + p.name, p.shape) if p.ndim else sm.scalar("v_" + p.name) for p in params]
        kernel = sm.compile({"hvp": sm.hvp(L, params, v)})
        inputs.update({"v_" + p: data["v_" + p] for p in names})
        fn, to_flat = (lambda: kernel(**inputs)), (lambda out: flat(*out["hvp"]))
    fn()  # numba compiles behind the first call (numpy answers it): outside the timings
    if wait:
        kernel.finish_compiling()
    BUILD_TIMES[case.name] = time.perf_counter() - t0
    return {NAME: (fn, to_flat)}
