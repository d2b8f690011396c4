"""PyTensor, float64: each loss as a PyTensor user writes it, compiled by two backends.

- ``pytensor[numba]``: ``mode="NUMBA"`` (PyTensor emits numba code for the whole graph);
- ``pytensor[c]``: ``Mode(linker="cvm", optimizer="fast_run")``, the C backend (C thunks
  run by the C virtual machine, BLAS through ``blas__ldflags``).

PyTensor pins numba ≤ 0.65, so it cannot share symml's environment: this module runs in
the benchmark's own virtual environment (``benchmarks.pytensor_env``), in a process of
its own, and never in the process that times symml. The derivatives are PyTensor's
(``pytensor.grad``; the Hessian is ``pytensor.gradient.hessian`` and the hvp the
gradient of ∇L·v, over one flat θ = [w; b] as symml's kernels take it).

Takes: a Case and its data. Gives: {variant: (fn, to_flat)}.
"""
from __future__ import annotations

import time

import numpy as np

from .cases import LABEL_EPS, SIGNATURES, flat

NAME = "pytensor"
VARIANTS = ("pytensor[numba]", "pytensor[c]")
BUILD_TIMES: dict[str, float] = {}


def available() -> str | None:
    """None when this implementation can run, else why not."""
    try:
        import pytensor  # noqa: F401
    except ImportError as e:
        return f"pytensor is not installed in this interpreter ({e}); the harness runs it in benchmarks/.venv-pytensor"
    return None


def modes() -> dict:
    from pytensor.compile.mode import Mode

    return {"pytensor[numba]": "NUMBA", "pytensor[c]": Mode(linker="cvm", optimizer="fast_run")}


def _variable(pt, name, value):
    a = np.asarray(value)
    return pt.tensor(name, dtype="float64", shape=(None,) * a.ndim)


def _losses(pt):
    from pytensor.tensor.special import log_softmax

    softplus = pt.softplus

    def logistic(w, b, X, y, lam):
        z = X @ w + b
        return pt.sum(softplus(z) - y * z) + 0.5 * lam * (w @ w)

    def least_squares(w, b, X, y):
        r = X @ w + b - y
        return r @ r

    def softmax(W, c, X, Y, lam):
        return -pt.sum(Y * log_softmax(X @ W + c, axis=1)) + 0.5 * lam * pt.sum(W * W)

    def mlp(W1, b1, W2, b2, W3, b3, X, Y):
        h1 = pt.tanh(X @ W1 + b1)
        h2 = pt.tanh(h1 @ W2 + b2)
        return -pt.sum(Y * log_softmax(h2 @ W3 + b3, axis=1))

    def tied_autoencoder(W, c, e, X):
        return pt.sum((pt.tanh(X @ W + c) @ W.T + e - X) ** 2) / 2

    def label_smoothed_softmax(W, c, X, Y):
        K = Y.shape[1]
        return -pt.sum(((1 - LABEL_EPS) * Y + LABEL_EPS / K) * log_softmax(X @ W + c, axis=1))

    def gaussian_nll(mu, P, X):
        Xc = X - mu
        _, logdet = pt.linalg.slogdet(P)
        return pt.sum((Xc @ P) * Xc) / 2 - X.shape[0] * logdet / 2

    def gp_marginal_likelihood(lsf, lell, lsn, D, y):
        Kxx = pt.exp(2 * lsf) * pt.exp(-D * pt.exp(-2 * lell) / 2) + pt.exp(2 * lsn) * pt.eye(y.shape[0])
        _, logdet = pt.linalg.slogdet(Kxx)
        return y @ pt.linalg.solve(Kxx, y) / 2 + logdet / 2

    def masked_mf(U, V, R, Mask, lam):
        return pt.sum(Mask * (R - U @ V.T) ** 2) / 2 + lam / 2 * (pt.sum(U * U) + pt.sum(V * V))

    return {"logistic_regression": logistic, "least_squares": least_squares, "softmax_regression": softmax,
            "mlp": mlp, "tied_autoencoder": tied_autoencoder, "label_smoothed_softmax": label_smoothed_softmax,
            "gaussian_nll": gaussian_nll, "gp_marginal_likelihood": gp_marginal_likelihood, "masked_mf": masked_mf}


def graph(case, data):
    """(input variables, their values, output variables, to_flat) of this case's kernel."""
    import pytensor
    import pytensor.tensor as pt

    losses = _losses(pt)
    if case.model not in losses:
        raise NotImplementedError(f"not written for PyTensor: {case.model}")
    f = losses[case.model]
    params, rest = SIGNATURES[case.model]
    P = [_variable(pt, p, data[p]) for p in params]
    R = [_variable(pt, r, data[r]) for r in rest]
    values = [np.asarray(data[k], dtype=np.float64) for k in (*params, *rest)]
    if case.kernel == "value_and_grad":
        L = f(*P, *R)
        return [*P, *R], values, [L, *pytensor.grad(L, P)], lambda out: flat(*out)
    # Hessian and hvp: over θ = [w; b] (the linear models have exactly these two parameters)
    theta = pt.vector("theta", dtype="float64")
    d = data["w"].shape[0]
    L = f(theta[:d], theta[d], *R)
    th = np.concatenate([data["w"], [data["b"]]])
    if case.kernel == "hessian":
        # vectorize=True: the rows of the Jacobian of ∇L as one batched graph (like jax.hessian), not a scan
        H = pytensor.gradient.jacobian(pytensor.grad(L, theta), theta, vectorize=True)
        return [theta, *R], [th, *values[len(params):]], [H], lambda o: flat(o[0])
    v = pt.vector("v", dtype="float64")
    hv = pytensor.grad(pt.sum(pytensor.grad(L, theta) * v), theta)
    vv = np.concatenate([data["v_w"], [data["v_b"]]])
    return [theta, v, *R], [th, vv, *values[len(params):]], [hv], lambda o: flat(o[0])


def build(case, data, only: str | None = None) -> dict:
    """{variant: (fn, to_flat)} for this case (fn takes no arguments); a variant that fails says why.
    ``only``: build that variant alone (a cold start compiles one backend)."""
    import pytensor

    if case.model == "cnn":
        return {v: "not written: PyTensor's convolution and pooling ops are not set up here" for v in VARIANTS}
    out = {}
    for variant, mode in modes().items():
        if only is not None and variant != only:
            continue
        try:
            t0 = time.perf_counter()
            inputs, values, outputs, to_flat = graph(case, data)
            fn = pytensor.function(inputs, outputs, mode=mode)
            fn(*values)  # compiles the C thunks / numba functions
            BUILD_TIMES[f"{case.name} {variant}"] = time.perf_counter() - t0
            out[variant] = (lambda fn=fn: fn(*values), to_flat)
        except Exception as e:  # noqa: BLE001 - one backend failing must not end the run
            out[variant] = f"failed to build: {type(e).__name__}: {str(e)[:300]}"
    return out
