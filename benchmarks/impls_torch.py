"""PyTorch (CPU build), float64, eager mode, derivatives through ``torch.func``.

``torch.func.grad_and_value`` for loss + gradient, ``torch.func.hessian`` (forward over
reverse, vmapped over the basis) for Hessians, and ``torch.func.jvp`` of ``grad`` for the
hvp, over one flat θ = [w; b] like symml's kernels. The tensors share memory with the
numpy inputs (``torch.from_numpy``), so nothing is copied per call.

Takes: a Case and its data. Gives: {variant: (fn, to_flat)}.
"""
from __future__ import annotations

import numpy as np

from .cases import LABEL_EPS, SIGNATURES, flat

NAME = "torch"


def available() -> str | None:
    """None when this implementation can run, else why not."""
    try:
        import torch  # noqa: F401
    except ImportError as e:  # the optional `bench` extra
        return f"torch is not installed ({e}); pip install -e '.[bench]' (CPU build, torch==2.13.0)"
    return None


def _losses(torch):
    F = torch.nn.functional

    def logistic(w, b, X, y, lam):
        z = X @ w + b
        return torch.sum(F.softplus(z) - y * z) + 0.5 * lam * (w @ w)

    def least_squares(w, b, X, y):
        r = X @ w + b - y
        return r @ r

    def softmax(W, c, X, Y, lam):
        return -torch.sum(Y * F.log_softmax(X @ W + c, dim=1)) + 0.5 * lam * torch.sum(W * W)

    def mlp(W1, b1, W2, b2, W3, b3, X, Y):
        h1 = torch.tanh(X @ W1 + b1)
        h2 = torch.tanh(h1 @ W2 + b2)
        return -torch.sum(Y * F.log_softmax(h2 @ W3 + b3, dim=1))

    def cnn(Kc, b, V, c, X, Y):
        S = F.max_pool2d(F.relu(F.conv2d(X, Kc, b)), 2)
        z = torch.einsum("nopq,kopq->nk", S, V) + c
        return -torch.sum(Y * F.log_softmax(z, dim=1))

    # issue 18: models outside the catalog, as a PyTorch user writes them
    def tied_autoencoder(W, c, e, X):
        return torch.sum((torch.tanh(X @ W + c) @ W.T + e - X) ** 2) / 2

    def label_smoothed_softmax(W, c, X, Y):
        K = Y.shape[1]
        return -torch.sum(((1 - LABEL_EPS) * Y + LABEL_EPS / K) * F.log_softmax(X @ W + c, dim=1))

    def gaussian_nll(mu, P, X):
        Xc = X - mu
        return torch.sum((Xc @ P) * Xc) / 2 - X.shape[0] * torch.linalg.slogdet(P)[1] / 2

    def gp_marginal_likelihood(lsf, lell, lsn, D, y):
        eye = torch.eye(y.shape[0], dtype=y.dtype)
        Kxx = torch.exp(2 * lsf) * torch.exp(-D * torch.exp(-2 * lell) / 2) + torch.exp(2 * lsn) * eye
        return y @ torch.linalg.solve(Kxx, y) / 2 + torch.linalg.slogdet(Kxx)[1] / 2

    def masked_mf(U, V, R, Mask, lam):
        return torch.sum(Mask * (R - U @ V.T) ** 2) / 2 + lam / 2 * (torch.sum(U * U) + torch.sum(V * V))

    return {"logistic_regression": logistic, "least_squares": least_squares, "softmax_regression": softmax,
            "mlp": mlp, "cnn": cnn, "tied_autoencoder": tied_autoencoder,
            "label_smoothed_softmax": label_smoothed_softmax, "gaussian_nll": gaussian_nll,
            "gp_marginal_likelihood": gp_marginal_likelihood, "masked_mf": masked_mf}


def _tensor(torch, x):
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    return torch.tensor(float(x), dtype=torch.float64)


def build(case, data) -> dict:
    """{variant: (fn, to_flat)} for this case (fn takes no arguments)."""
    import torch
    from torch.func import grad, grad_and_value, hessian, jvp

    f = _losses(torch)[case.model]
    params, rest = SIGNATURES[case.model]
    P = [_tensor(torch, data[p]) for p in params]
    R = [_tensor(torch, data[r]) for r in rest]
    if case.kernel == "value_and_grad":
        g = grad_and_value(f, argnums=tuple(range(len(params))))

        def run():
            return g(*P, *R)

        return {"torch": (run, lambda out: flat(out[1].item(), *(x.numpy() for x in out[0])))}

    d = data["w"].shape[0]

    def f_theta(theta):
        return f(theta[:d], theta[d], *R)

    theta = torch.cat([P[0], P[1].reshape(1)])
    if case.kernel == "hessian":
        h = hessian(f_theta)
        return {"torch": (lambda: h(theta), lambda out: flat(out.numpy()))}
    v = torch.cat([_tensor(torch, data["v_w"]), _tensor(torch, data["v_b"]).reshape(1)])
    gf = grad(f_theta)
    return {"torch": (lambda: jvp(gf, (theta,), (v,))[1], lambda out: flat(out.numpy()))}
