"""JAX, float64 on the CPU: ``jit(value_and_grad)``, ``jit(hessian)`` and forward-over-reverse hvp.

Each loss is written once in jax.numpy, as a JAX user writes it; JAX derives the rest.
The arrays are moved to the device (host memory) before timing, and each timed call
ends with ``block_until_ready`` so that asynchronous dispatch cannot hide work.
The Hessian and hvp are taken over one flat θ = [w; b], the layout of symml's kernels.

Takes: a Case and its data. Gives: {variant: (fn, to_flat)}.
"""
from __future__ import annotations

import numpy as np

from .cases import LABEL_EPS, SIGNATURES, flat

NAME = "jax"


def available() -> str | None:
    """None when this implementation can run, else why not."""
    try:
        import jax  # noqa: F401
    except ImportError as e:  # the optional `bench` extra
        return f"jax is not installed ({e}); pip install -e '.[bench]'"
    return None


def _losses(jnp, jax):
    def logistic(w, b, X, y, lam):
        z = X @ w + b
        return jnp.sum(jax.nn.softplus(z) - y * z) + 0.5 * lam * (w @ w)

    def least_squares(w, b, X, y):
        r = X @ w + b - y
        return r @ r

    def softmax(W, c, X, Y, lam):
        return -jnp.sum(Y * jax.nn.log_softmax(X @ W + c, axis=1)) + 0.5 * lam * jnp.sum(W * W)

    def mlp(W1, b1, W2, b2, W3, b3, X, Y):
        h1 = jnp.tanh(X @ W1 + b1)
        h2 = jnp.tanh(h1 @ W2 + b2)
        return -jnp.sum(Y * jax.nn.log_softmax(h2 @ W3 + b3, axis=1))

    def cnn(Kc, b, V, c, X, Y):
        A = jax.lax.conv_general_dilated(X, Kc, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
        R = jax.nn.relu(A + b[None, :, None, None])
        S = jax.lax.reduce_window(R, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        z = jnp.einsum("nopq,kopq->nk", S, V) + c
        return -jnp.sum(Y * jax.nn.log_softmax(z, axis=1))

    # issue 18: models outside the catalog, as a JAX user writes them
    def tied_autoencoder(W, c, e, X):
        return jnp.sum((jnp.tanh(X @ W + c) @ W.T + e - X) ** 2) / 2

    def label_smoothed_softmax(W, c, X, Y):
        K = Y.shape[1]
        return -jnp.sum(((1 - LABEL_EPS) * Y + LABEL_EPS / K) * jax.nn.log_softmax(X @ W + c, axis=1))

    def gaussian_nll(mu, P, X):
        Xc = X - mu
        return jnp.sum((Xc @ P) * Xc) / 2 - X.shape[0] * jnp.linalg.slogdet(P)[1] / 2

    def gp_marginal_likelihood(lsf, lell, lsn, D, y):
        Kxx = jnp.exp(2 * lsf) * jnp.exp(-D * jnp.exp(-2 * lell) / 2) + jnp.exp(2 * lsn) * jnp.eye(y.shape[0])
        return y @ jnp.linalg.solve(Kxx, y) / 2 + jnp.linalg.slogdet(Kxx)[1] / 2

    def masked_mf(U, V, R, Mask, lam):
        return jnp.sum(Mask * (R - U @ V.T) ** 2) / 2 + lam / 2 * (jnp.sum(U * U) + jnp.sum(V * V))

    return {"logistic_regression": logistic, "least_squares": least_squares, "softmax_regression": softmax,
            "mlp": mlp, "cnn": cnn, "tied_autoencoder": tied_autoencoder,
            "label_smoothed_softmax": label_smoothed_softmax, "gaussian_nll": gaussian_nll,
            "gp_marginal_likelihood": gp_marginal_likelihood, "masked_mf": masked_mf}


def build(case, data) -> dict:
    """{variant: (fn, to_flat)} for this case (fn takes no arguments)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    f = _losses(jnp, jax)[case.model]
    params, rest = SIGNATURES[case.model]
    P = [jnp.asarray(data[p], dtype=jnp.float64) for p in params]
    R = [jnp.asarray(data[r], dtype=jnp.float64) for r in rest]
    k = len(params)
    if case.kernel == "value_and_grad":
        g = jax.jit(jax.value_and_grad(f, argnums=tuple(range(k))))

        def run():
            v, gs = g(*P, *R)
            return jax.block_until_ready((v, gs))

        return {"jax": (run, lambda out: flat(out[0], *(np.asarray(x) for x in out[1])))}

    # Hessian and hvp: over θ = [w; b] (the linear models have exactly these two parameters)
    d = data["w"].shape[0]

    def f_theta(theta, *rest_):
        return f(theta[:d], theta[d], *rest_)

    theta = jnp.concatenate([P[0], jnp.atleast_1d(P[1])])
    if case.kernel == "hessian":
        h = jax.jit(jax.hessian(f_theta))
        return {"jax": (lambda: jax.block_until_ready(h(theta, *R)), lambda out: flat(np.asarray(out)))}
    v = jnp.concatenate([jnp.asarray(data["v_w"]), jnp.atleast_1d(jnp.asarray(data["v_b"]))])
    hvp = jax.jit(lambda th, vv, *r: jax.jvp(lambda t: jax.grad(f_theta)(t, *r), (th,), (vv,))[1])
    return {"jax": (lambda: jax.block_until_ready(hvp(theta, v, *R)), lambda out: flat(np.asarray(out)))}
