"""A zoo of models from outside the catalog, each written as a user would write it.

For each model: its loss against the same formula written independently in numpy (and,
where JAX is installed, its gradient against ``jax.grad`` of that formula); every
derivative against central differences with ``sm.check`` (gradient, Hessian and hvp); and
a compiled loss-and-gradient kernel against ``sm.evaluate`` at a size where the kernel
runs on threads (at least PARALLEL_MIN_SIZE input numbers) where the model has rows.

References: pseudo-Huber (Charbonnier et al. 1997; Hartley & Zisserman, A6.8); smoothed
quantile regression (Koenker 2005, with a softplus-smoothed check function); negative
binomial GLM (Hilbe 2011, NB2 with known dispersion); heteroscedastic Gaussian regression
(Nix & Weigend 1994); matrix factorisation with missing entries (Koren et al. 2009);
GP marginal likelihood (Rasmussen & Williams 2006, eq. 5.8); tied-weight autoencoder
(Vincent et al. 2010); label smoothing (Szegedy et al. 2016); Student-t regression
(Lange et al. 1989); binary focal loss (Lin et al. 2017); probabilistic PCA (Tipping &
Bishop 1999, eq. 4); Cox partial likelihood (Cox 1972, Breslow's form for ties).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import symml as sm

n, d, m, K, r = sm.dims("n d m K r")
X, y = sm.tensor("X", (n, d)), sm.tensor("y", (n,))
w, v, b, lam = sm.tensor("w", (d,)), sm.tensor("v", (d,)), sm.scalar("b"), sm.scalar("lam")


@dataclass
class Model:
    name: str
    loss: object
    wrt: list
    draw: Callable  # (rng, sizes) -> arrays by name
    ref: Callable  # (xp, arrays) -> the loss, written from the formula
    small: dict
    big: dict


def _reg(rng, s, count=False, binary=False):
    Xv = rng.normal(size=(s["n"], s["d"])) / np.sqrt(s["d"])
    if binary:
        yv = (rng.random(s["n"]) < 0.5) * 1.0
    elif count:
        yv = rng.poisson(2.0, size=s["n"]) * 1.0
    else:
        yv = rng.normal(size=s["n"])
    return {"X": Xv, "y": yv, "w": rng.normal(size=s["d"]) * 0.5, "v": rng.normal(size=s["d"]) * 0.3,
            "b": 0.2, "lam": 0.3}


SMALL, BIG = {"n": 7, "d": 3}, {"n": 25_000, "d": 8}
MODELS: list[Model] = []

# 1. pseudo-Huber regression, δ = 1.5
delta = 1.5
res = X @ w + b - y
MODELS.append(Model(
    "pseudo_huber", sm.sum(delta**2 * (sm.sqrt(1 + (res / delta) ** 2) - 1)) + lam / 2 * sm.norm2(w), [w, b],
    lambda rng, s: _reg(rng, s),
    lambda xp, a: xp.sum(delta**2 * (xp.sqrt(1 + ((a["X"] @ a["w"] + a["b"] - a["y"]) / delta) ** 2) - 1))
    + a["lam"] / 2 * xp.sum(a["w"] ** 2), SMALL, BIG))

# 2. quantile regression, τ = 0.8, check function smoothed by softplus at scale 0.1
tau, sc = 0.8, 0.1
MODELS.append(Model(
    "smoothed_quantile", sm.sum(tau * res + sc * sm.softplus(-res / sc)), [w, b],
    lambda rng, s: _reg(rng, s),
    lambda xp, a: xp.sum(tau * (a["X"] @ a["w"] + a["b"] - a["y"])
                         + sc * xp.logaddexp(0.0, -(a["X"] @ a["w"] + a["b"] - a["y"]) / sc)), SMALL, BIG))

# 3. negative binomial (NB2) GLM, log link, known dispersion α (the terms that depend on w)
alpha = sm.scalar("alpha")
mu = sm.exp(X @ w + b)
MODELS.append(Model(
    "negative_binomial", sm.sum((y + 1 / alpha) * sm.log(1 + alpha * mu) - y * sm.log(alpha * mu)), [w, b, alpha],
    lambda rng, s: {**_reg(rng, s, count=True), "alpha": 0.7},
    lambda xp, a: xp.sum((a["y"] + 1 / a["alpha"]) * xp.log(1 + a["alpha"] * xp.exp(a["X"] @ a["w"] + a["b"]))
                         - a["y"] * xp.log(a["alpha"] * xp.exp(a["X"] @ a["w"] + a["b"]))), SMALL, BIG))

# 4. Gaussian likelihood with a learned, input-dependent variance: log σᵢ² = xᵢᵀv
s2 = sm.exp(X @ v)
MODELS.append(Model(
    "heteroscedastic_gaussian", sm.sum(sm.log(s2) / 2 + (y - X @ w) ** 2 / (2 * s2)), [w, v],
    lambda rng, s: _reg(rng, s),
    lambda xp, a: xp.sum(a["X"] @ a["v"] / 2 + (a["y"] - a["X"] @ a["w"]) ** 2 / (2 * xp.exp(a["X"] @ a["v"]))),
    SMALL, BIG))

# 5. matrix factorisation with a mask of observed entries
R, Mask = sm.tensor("R", (n, m)), sm.tensor("Mask", (n, m))
U, V = sm.tensor("U", (n, r)), sm.tensor("V", (m, r))
MODELS.append(Model(
    "matrix_factorisation", sm.sum(Mask * (R - U @ V.T) ** 2) / 2 + lam / 2 * (sm.norm2(U) + sm.norm2(V)), [U, V],
    lambda rng, s: {"R": rng.normal(size=(s["n"], s["m"])), "Mask": (rng.random((s["n"], s["m"])) < 0.6) * 1.0,
                    "U": rng.normal(size=(s["n"], s["r"])), "V": rng.normal(size=(s["m"], s["r"])), "lam": 0.3},
    lambda xp, a: xp.sum(a["Mask"] * (a["R"] - a["U"] @ a["V"].T) ** 2) / 2
    + a["lam"] / 2 * (xp.sum(a["U"] ** 2) + xp.sum(a["V"] ** 2)),
    {"n": 5, "m": 4, "r": 2}, {"n": 500, "m": 400, "r": 3}))

def _gp_draw(rng, s):
    P = rng.normal(size=(s["n"], 2))
    return {"D": np.sum((P[:, None, :] - P[None, :, :]) ** 2, axis=-1), "y": rng.normal(size=s["n"]),
            "lsf": 0.1, "lell": -0.2, "lsn": -0.5}


def _gp_ref(xp, a):
    Kv = xp.exp(2 * a["lsf"]) * xp.exp(-a["D"] * xp.exp(-2 * a["lell"]) / 2) + xp.exp(2 * a["lsn"]) * xp.eye(len(a["y"]))
    return a["y"] @ xp.linalg.solve(Kv, a["y"]) / 2 + xp.linalg.slogdet(Kv)[1] / 2


# 6. GP marginal likelihood, squared-exponential kernel on given squared distances D
D = sm.tensor("D", (n, n))
lsf, lell, lsn = sm.scalar("lsf"), sm.scalar("lell"), sm.scalar("lsn")
Kmat = sm.exp(2 * lsf) * sm.exp(-D * sm.exp(-2 * lell) / 2) + sm.exp(2 * lsn) * sm.eye(n)
MODELS.append(Model(
    "gp_marginal_likelihood", y @ sm.solve(Kmat, y) / 2 + sm.logdet(Kmat) / 2, [lsf, lell, lsn],
    lambda rng, s: _gp_draw(rng, s),
    lambda xp, a: _gp_ref(xp, a),
    {"n": 6}, {"n": 450}))

# 7. tied-weight autoencoder, tanh code
W, c, e = sm.tensor("W", (d, r)), sm.tensor("c", (r,)), sm.tensor("e", (d,))
MODELS.append(Model(
    "tied_autoencoder", sm.sum((sm.tanh(X @ W + c) @ W.T + e - X) ** 2) / 2, [W, c, e],
    lambda rng, s: {"X": rng.normal(size=(s["n"], s["d"])), "W": rng.normal(size=(s["d"], s["r"])) * 0.5,
                    "c": rng.normal(size=s["r"]) * 0.1, "e": rng.normal(size=s["d"]) * 0.1},
    lambda xp, a: xp.sum((xp.tanh(a["X"] @ a["W"] + a["c"]) @ a["W"].T + a["e"] - a["X"]) ** 2) / 2,
    {"n": 6, "d": 4, "r": 2}, {"n": 25_000, "d": 8, "r": 3}))

def _smoothed_ref(xp, a):
    Z = a["X"] @ a["Wk"] + a["ck"]
    return -xp.sum(((1 - eps) * a["Y"] + eps / a["Y"].shape[1]) * (Z - xp.log(xp.sum(xp.exp(Z), axis=1, keepdims=True))))


# 8. label-smoothed softmax cross-entropy, ε = 0.1
eps = 0.1
Y, Wk, ck = sm.tensor("Y", (n, K)), sm.tensor("Wk", (d, K)), sm.tensor("ck", (K,))
MODELS.append(Model(
    "label_smoothed_softmax", -sm.sum(((1 - eps) * Y + eps / K) * sm.log_softmax(X @ Wk + ck, axis=1)), [Wk, ck],
    lambda rng, s: {"X": rng.normal(size=(s["n"], s["d"])), "Y": np.eye(s["K"])[rng.integers(0, s["K"], s["n"])],
                    "Wk": rng.normal(size=(s["d"], s["K"])) * 0.5, "ck": rng.normal(size=s["K"]) * 0.1},
    lambda xp, a: _smoothed_ref(xp, a),
    {"n": 6, "d": 3, "K": 4}, {"n": 20_000, "d": 10, "K": 4}))

# 9. Student-t regression, ν = 3 (the terms that depend on w and b)
nu = 3.0
MODELS.append(Model(
    "student_t_regression", (nu + 1) / 2 * sm.sum(sm.log(1 + res ** 2 / nu)), [w, b],
    lambda rng, s: _reg(rng, s),
    lambda xp, a: (nu + 1) / 2 * xp.sum(xp.log(1 + (a["X"] @ a["w"] + a["b"] - a["y"]) ** 2 / nu)), SMALL, BIG))

def _focal_ref(xp, a):
    zz = a["X"] @ a["w"] + a["b"]
    pp = 1 / (1 + xp.exp(-zz))
    return -xp.sum(a["y"] * (1 - pp) ** 2 * -xp.logaddexp(0.0, -zz) + (1 - a["y"]) * pp ** 2 * -xp.logaddexp(0.0, zz))


# 10. binary focal loss, γ = 2
p = sm.sigmoid(X @ w + b)
MODELS.append(Model(
    "focal_loss", -sm.sum(y * (1 - p) ** 2 * sm.log_sigmoid(X @ w + b) + (1 - y) * p ** 2 * sm.log_sigmoid(-(X @ w + b))),
    [w, b],
    lambda rng, s: _reg(rng, s, binary=True),
    lambda xp, a: _focal_ref(xp, a),
    SMALL, BIG))

def _ppca_draw(rng, s):
    A = rng.normal(size=(3 * s["d"], s["d"]))
    return {"S": A.T @ A / s["d"], "Wp": rng.normal(size=(s["d"], s["r"])), "ls": -0.3}


def _ppca_ref(xp, a):
    Cv = a["Wp"] @ a["Wp"].T + xp.exp(2 * a["ls"]) * xp.eye(a["S"].shape[0])
    return xp.linalg.slogdet(Cv)[1] + xp.trace(xp.linalg.solve(Cv, a["S"]))


# 11. probabilistic PCA: C = WWᵀ + σ²I, −log-likelihood of centred data with covariance S
S, Wp, ls = sm.tensor("S", (d, d)), sm.tensor("Wp", (d, r)), sm.scalar("ls")
C = Wp @ Wp.T + sm.exp(2 * ls) * sm.eye(d)
MODELS.append(Model(
    "probabilistic_pca", sm.logdet(C) + sm.trace(sm.solve(C, S)), [Wp, ls],
    lambda rng, s: _ppca_draw(rng, s),
    lambda xp, a: _ppca_ref(xp, a),
    {"d": 4, "r": 2}, {"d": 300, "r": 5}))

def _cox_draw(rng, s):
    t = rng.exponential(size=s["n"])  # event or censoring times
    return {"X": rng.normal(size=(s["n"], s["d"])), "w": rng.normal(size=s["d"]) * 0.5,
            "Rk": (t[None, :] >= t[:, None]) * 1.0, "delta": (rng.random(s["n"]) < 0.7) * 1.0}


# 12. Cox proportional hazards, Breslow: risk sets as a 0/1 matrix (Rk_ij = 1 when t_j ≥ t_i)
Rk, delta_ = sm.tensor("Rk", (n, n)), sm.tensor("delta", (n,))
eta = X @ w
MODELS.append(Model(
    "cox_partial_likelihood", -sm.sum(delta_ * (eta - sm.log(Rk @ sm.exp(eta)))), [w],
    lambda rng, s: _cox_draw(rng, s),
    lambda xp, a: -xp.sum(a["delta"] * (a["X"] @ a["w"] - xp.log(a["Rk"] @ xp.exp(a["X"] @ a["w"])))),
    SMALL, {"n": 450, "d": 5}))

IDS = [mdl.name for mdl in MODELS]


def _arrays(model: Model, rng, sizes) -> dict:
    return model.draw(rng, sizes)


def _reads(model: Model, a: dict) -> dict:
    names = {t.name for t in sm.calculus.leaves(model.loss)} | {t.name for t in model.wrt}
    return {k: v for k, v in a.items() if k in names}


def test_the_zoo_has_twelve_models():
    assert len(MODELS) >= 12 and len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_the_loss_is_the_formula(model, rng):
    a = _reads(model, _arrays(model, rng, model.small))
    assert float(sm.evaluate(model.loss, **a)) == pytest.approx(float(model.ref(np, a)), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_every_derivative_against_finite_differences(model, rng):
    for _ in range(2):
        a = _reads(model, _arrays(model, rng, model.small))
        report = sm.check(model.loss, wrt=model.wrt, points=2, **a)
        assert report.passed, str(report)
        assert [row.kernel for row in report.rows] == ["grad vs loss", "hessian vs grad", "hvp vs grad"]


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_gradient_against_jax(model, rng):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    a = _reads(model, _arrays(model, rng, model.small))
    names = [t.name for t in model.wrt]
    want = jax.grad(lambda *th: model.ref(jnp, {**a, **dict(zip(names, th))}), argnums=tuple(range(len(names))))(
        *[jnp.asarray(a[k], dtype=jnp.float64) for k in names])
    got = sm.evaluate(sm.grad(model.loss, model.wrt), **a)
    for g, j in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(j), rtol=1e-9, atol=1e-11)


@pytest.mark.compile
@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_compiled_kernel_against_evaluate(model, rng):
    a = _reads(model, _arrays(model, rng, model.big))
    outs = {"loss": model.loss, "grad": sm.grad(model.loss, model.wrt)}
    k = sm.compile(outs)
    got, want = k(**a), sm.evaluate(outs, **a)
    assert got["loss"] == pytest.approx(float(want["loss"]), rel=1e-10)
    for g, ref in zip(got["grad"], want["grad"]):
        scale = max(1.0, float(np.max(np.abs(ref))))
        np.testing.assert_allclose(g, ref, rtol=1e-9, atol=1e-10 * scale)
