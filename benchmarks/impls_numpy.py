"""Hand-written numpy: each case as a competent user writes it, BLAS where it helps.

These are the reference every other implementation is checked against, and the
"numpy" column of the table. They are written for speed, not brevity: the logistic
Hessian uses the symmetric product (√s ⊙ X)ᵀ(√s ⊙ X), which numpy sends to BLAS syrk
(half the flops of a gemm); the hvp computes Xw and Xv in one pass as X @ [w v].
``numpy[gemm]`` is the Hessian written the obvious way, Xᵀ(s ⊙ X), for comparison.

Takes: a Case and its data. Gives: {variant: (fn, to_flat)}.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .cases import flat

NAME = "numpy"


def available() -> str | None:
    """None when this implementation can run, else why not."""
    return None


def _sigmoid(z):
    return 0.5 * (np.tanh(0.5 * z) + 1.0)  # stable for every z, one pass


def _softplus(z):
    return np.logaddexp(0.0, z)


def logistic_vg(w, b, X, y, lam):
    z = X @ w + b
    L = np.sum(_softplus(z) - y * z) + 0.5 * lam * (w @ w)
    r = _sigmoid(z) - y
    return L, X.T @ r + lam * w, r.sum()


def least_squares_vg(w, b, X, y):
    r = X @ w + (b - y)
    return r @ r, 2.0 * (X.T @ r), 2.0 * r.sum()


def _logistic_s(w, b, X):
    p = _sigmoid(X @ w + b)
    return p * (1.0 - p)


def _assemble(Hww, Xts, ssum, lam):
    d = Hww.shape[0]
    H = np.empty((d + 1, d + 1))
    H[:d, :d] = Hww
    H[np.arange(d), np.arange(d)] += lam
    H[:d, d] = H[d, :d] = Xts
    H[d, d] = ssum
    return H


def logistic_hessian(w, b, X, y, lam):
    s = _logistic_s(w, b, X)
    Xs = X * np.sqrt(s)[:, None]  # s = σ(1 − σ) ≥ 0
    return _assemble(Xs.T @ Xs, X.T @ s, s.sum(), lam)  # Xsᵀ Xs: numpy calls syrk


def logistic_hessian_gemm(w, b, X, y, lam):
    s = _logistic_s(w, b, X)
    return _assemble(X.T @ (s[:, None] * X), X.T @ s, s.sum(), lam)


def logistic_hvp(w, b, v_w, v_b, X, y, lam):
    Z = X @ np.stack([w, v_w], axis=1)  # Xw and Xv in one pass over X
    p = _sigmoid(Z[:, 0] + b)
    t = p * (1.0 - p) * (Z[:, 1] + v_b)
    return X.T @ t + lam * v_w, t.sum()


def _log_softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def softmax_vg(W, c, X, Y, lam):
    logP = _log_softmax(X @ W + c)
    G = np.exp(logP) - Y
    return -np.sum(Y * logP) + 0.5 * lam * np.sum(W * W), X.T @ G + lam * W, G.sum(axis=0)


def mlp_vg(W1, b1, W2, b2, W3, b3, X, Y):
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    logP = _log_softmax(h2 @ W3 + b3)
    dz = np.exp(logP) - Y
    da2 = (dz @ W3.T) * (1.0 - h2 * h2)
    da1 = (da2 @ W2.T) * (1.0 - h1 * h1)
    return (-np.sum(Y * logP), X.T @ da1, da1.sum(0), h1.T @ da2, da2.sum(0), h2.T @ dz, dz.sum(0))


def cnn_vg(Kc, b, V, c, X, Y):
    N, C, H, W = X.shape
    O, _, kh, kw = Kc.shape
    K = V.shape[0]
    P, Q = H - kh + 1, W - kw + 1
    P2, Q2 = P // 2, Q // 2
    # im2col: one row per output pixel, one column per (c, u, v), so the convolution is a gemm
    cols = sliding_window_view(X, (kh, kw), axis=(2, 3)).transpose(0, 2, 3, 1, 4, 5).reshape(N * P * Q, -1)
    A = (cols @ Kc.reshape(O, -1).T).reshape(N, P, Q, O).transpose(0, 3, 1, 2) + b[:, None, None]
    R = np.maximum(A, 0.0)
    win = R[:, :, :2 * P2, :2 * Q2].reshape(N, O, P2, 2, Q2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(N, O, P2, Q2, 4)
    arg = win.argmax(axis=-1)  # the first argmax, as the generated kernel takes it
    S = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0].reshape(N, -1)
    Vf = V.reshape(K, -1)
    logP = _log_softmax(S @ Vf.T + c)
    dz = np.exp(logP) - Y
    dwin = np.zeros((N, O, P2, Q2, 4))
    np.put_along_axis(dwin, arg[..., None], (dz @ Vf).reshape(N, O, P2, Q2, 1), axis=-1)
    dR = np.zeros((N, O, P, Q))
    dR[:, :, :2 * P2, :2 * Q2] = dwin.reshape(N, O, P2, Q2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(
        N, O, 2 * P2, 2 * Q2)
    dA = dR * (A > 0)
    gK = (dA.transpose(0, 2, 3, 1).reshape(-1, O).T @ cols).reshape(Kc.shape)
    return -np.sum(Y * logP), gK, dA.sum(axis=(0, 2, 3)), (dz.T @ S).reshape(V.shape), dz.sum(0)


FUNCS = {
    ("logistic_regression", "value_and_grad"): {"numpy": logistic_vg},
    ("least_squares", "value_and_grad"): {"numpy": least_squares_vg},
    ("logistic_regression", "hessian"): {"numpy": logistic_hessian, "numpy[gemm]": logistic_hessian_gemm},
    ("logistic_regression", "hvp"): {"numpy": logistic_hvp},
    ("softmax_regression", "value_and_grad"): {"numpy": softmax_vg},
    ("mlp", "value_and_grad"): {"numpy": mlp_vg},
    ("cnn", "value_and_grad"): {"numpy": cnn_vg},
}


def args_of(case, data) -> list:
    """The positional arguments in the generated wrapper's order (hvp: directions after params)."""
    from .cases import SIGNATURES

    params, rest = SIGNATURES[case.model]
    vs = [data["v_" + p] for p in params] if case.kernel == "hvp" else []
    return [data[p] for p in params] + vs + [data[r] for r in rest]


def build(case, data) -> dict:
    """{variant: (fn, to_flat)} for this case (fn takes no arguments)."""
    if (case.model, case.kernel) not in FUNCS:
        return {NAME: "not written by hand: a user's model outside the catalog (checked against JAX instead)"}
    args = args_of(case, data)
    to_flat = (lambda out: flat(out)) if case.kernel == "hessian" else (lambda out: flat(*out))
    return {name: (lambda f=f: f(*args), to_flat) for name, f in FUNCS[(case.model, case.kernel)].items()}
