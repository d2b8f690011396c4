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
Y, Wk, ck = sm.tensor("Y", (n, K), simplex=True), sm.tensor("Wk", (d, K)), sm.tensor("ck", (K,))
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


#: (model, parameter) → the gradient's (unicode, LaTeX), as symml prints it.
PRINTED = {
    ('pseudo_huber', 'w'): (
        '2.25Xᵀ((0.444444Xw + 0.444444b − 0.444444y)/√((0.666667Xw + 0.666667b − 0.666667y)² + 1)) + λw',
        '2.25 X^{\\top} \\frac{0.444444 X w + 0.444444 b - 0.444444 y}{\\sqrt{\\left(0.666667 X w + 0.666667 b - 0.666667 y\\right)^{2} + 1}} + \\lambda w',
    ),
    ('pseudo_huber', 'b'): (
        '2.25 sum((0.444444Xw + 0.444444b − 0.444444y)/√((0.666667Xw + 0.666667b − 0.666667y)² + 1))',
        '2.25 \\operatorname{sum}\\left(\\frac{0.444444 X w + 0.444444 b - 0.444444 y}{\\sqrt{\\left(0.666667 X w + 0.666667 b - 0.666667 y\\right)^{2} + 1}}\\right)',
    ),
    ('smoothed_quantile', 'w'): (
        'Xᵀ(0.8 − σ(10y − 10Xw − 10b))',
        'X^{\\top} \\left(0.8 - \\sigma\\left(10 y - 10 X w - 10 b\\right)\\right)',
    ),
    ('smoothed_quantile', 'b'): (
        'sum(0.8 − σ(10y − 10Xw − 10b))',
        '\\operatorname{sum}\\left(0.8 - \\sigma\\left(10 y - 10 X w - 10 b\\right)\\right)',
    ),
    ('negative_binomial', 'w'): (
        'Xᵀ(−y ⊙ exp(Xw + b) ⊙ exp(−(Xw + b)) + (α exp(Xw + b) ⊙ (y + 1/α))/(1 + α exp(Xw + b)))',
        'X^{\\top} \\left(-y \\odot \\exp\\left(X w + b\\right) \\odot \\exp\\left(-\\left(X w + b\\right)\\right) + \\frac{\\alpha \\exp\\left(X w + b\\right) \\odot \\left(y + \\frac{1}{\\alpha}\\right)}{1 + \\alpha \\exp\\left(X w + b\\right)}\\right)',
    ),
    ('negative_binomial', 'b'): (
        'sum(−y ⊙ exp(Xw + b) ⊙ exp(−(Xw + b)) + (α exp(Xw + b) ⊙ (y + 1/α))/(1 + α exp(Xw + b)))',
        '\\operatorname{sum}\\left(-y \\odot \\exp\\left(X w + b\\right) \\odot \\exp\\left(-\\left(X w + b\\right)\\right) + \\frac{\\alpha \\exp\\left(X w + b\\right) \\odot \\left(y + \\frac{1}{\\alpha}\\right)}{1 + \\alpha \\exp\\left(X w + b\\right)}\\right)',
    ),
    ('negative_binomial', 'alpha'): (
        'sum((exp(Xw + b) ⊙ (y + 1/α))/(1 + α exp(Xw + b)) − (y ⊙ exp(Xw + b) ⊙ exp(−(Xw + b)))/α − log(1 + α exp(Xw + b))/α²)',
        '\\operatorname{sum}\\left(\\frac{\\exp\\left(X w + b\\right) \\odot \\left(y + \\frac{1}{\\alpha}\\right)}{1 + \\alpha \\exp\\left(X w + b\\right)} - \\frac{y \\odot \\exp\\left(X w + b\\right) \\odot \\exp\\left(-\\left(X w + b\\right)\\right)}{\\alpha} - \\frac{\\log\\left(1 + \\alpha \\exp\\left(X w + b\\right)\\right)}{\\alpha^{2}}\\right)',
    ),
    ('heteroscedastic_gaussian', 'w'): (
        'Xᵀ(exp(−Xv) ⊙ (Xw − y))',
        'X^{\\top} \\left(\\exp\\left(-X v\\right) \\odot \\left(X w - y\\right)\\right)',
    ),
    ('heteroscedastic_gaussian', 'v'): (
        '(1/2)Xᵀ(1 − (y − Xw)² ⊙ exp(−Xv))',
        '\\frac{1}{2} X^{\\top} \\left(1 - \\left(y - X w\\right)^{2} \\odot \\exp\\left(-X v\\right)\\right)',
    ),
    ('matrix_factorisation', 'U'): (
        '(Mask ⊙ (UVᵀ − R))V + λU',
        '\\left(\\mathrm{Mask} \\odot \\left(U V^{\\top} - R\\right)\\right) V + \\lambda U',
    ),
    ('matrix_factorisation', 'V'): (
        '(Mask ⊙ (UVᵀ − R))ᵀU + λV',
        '\\left(\\mathrm{Mask} \\odot \\left(U V^{\\top} - R\\right)\\right)^{\\top} U + \\lambda V',
    ),
    ('gp_marginal_likelihood', 'lsf'): (
        'tr((exp(2 lsf) exp(−exp(−2 lell) D/2))((exp(2 lsn) I + exp(2 lsf) exp(−exp(−2 lell) D/2))⁻ᵀ − (exp(2 lsn) I + exp(2 lsf) exp(−exp(−2 lell) D/2))⁻ᵀy((exp(2 lsn) I + exp(2 lsf) exp(−exp(−2 lell) D/2))⁻¹y)ᵀ)ᵀ)',
        '\\operatorname{tr}\\left(\\left(\\exp\\left(2 \\mathrm{lsf}\\right) \\exp\\left(-\\frac{\\exp\\left(-2 \\mathrm{lell}\\right) D}{2}\\right)\\right) \\left(\\left(\\exp\\left(2 \\mathrm{lsn}\\right) I + \\exp\\left(2 \\mathrm{lsf}\\right) \\exp\\left(-\\frac{\\exp\\left(-2 \\mathrm{lell}\\right) D}{2}\\right)\\right)^{-\\top} - \\left(\\exp\\left(2 \\mathrm{lsn}\\right) I + \\exp\\left(2 \\mathrm{lsf}\\right) \\exp\\left(-\\frac{\\exp\\left(-2 \\mathrm{lell}\\right) D}{2}\\right)\\right)^{-\\top} y \\left(\\left(\\exp\\left(2 \\mathrm{lsn}\\right) I + \\exp\\left(2 \\mathrm{lsf}\\right) \\exp\\left(-\\frac{\\exp\\left(-2 \\mathrm{lell}\\right) D}{2}\\right)\\right)^{-1} y\\right)^{\\top}\\right)^{\\top}\\right)',
    ),
    ('gp_marginal_likelihood', 'lell'): (
        '(1/2) tr((exp(−2 lell) exp(2 lsf) D ⊙ exp(−exp(−2 lell) D/2))((exp(2 lsn) I + exp(2 lsf) exp(−exp(−2 lell) D/2))⁻ᵀ − (exp(2 lsn) I + exp(2 lsf) exp(−exp(−2 lell) D/2))⁻ᵀy((exp(2 lsn) I + exp(2 lsf) exp(−exp(−2 lell) D/2))⁻¹y)ᵀ)ᵀ)',
        '\\frac{1}{2} \\operatorname{tr}\\left(\\left(\\exp\\left(-2 \\mathrm{lell}\\right) \\exp\\left(2 \\mathrm{lsf}\\right) D \\odot \\exp\\left(-\\frac{\\exp\\left(-2 \\mathrm{lell}\\right) D}{2}\\right)\\right) \\left(\\left(\\exp\\left(2 \\mathrm{lsn}\\right) I + \\exp\\left(2 \\mathrm{lsf}\\right) \\exp\\left(-\\frac{\\exp\\left(-2 \\mathrm{lell}\\right) D}{2}\\right)\\right)^{-\\top} - \\left(\\exp\\left(2 \\mathrm{lsn}\\right) I + \\exp\\left(2 \\mathrm{lsf}\\right) \\exp\\left(-\\frac{\\exp\\left(-2 \\mathrm{lell}\\right) D}{2}\\right)\\right)^{-\\top} y \\left(\\left(\\exp\\left(2 \\mathrm{lsn}\\right) I + \\exp\\left(2 \\mathrm{lsf}\\right) \\exp\\left(-\\frac{\\exp\\left(-2 \\mathrm{lell}\\right) D}{2}\\right)\\right)^{-1} y\\right)^{\\top}\\right)^{\\top}\\right)',
    ),
    ('gp_marginal_likelihood', 'lsn'): (
        'tr(((exp(2 lsn) I + exp(2 lsf) exp(−exp(−2 lell) D/2))⁻ᵀ − (exp(2 lsn) I + exp(2 lsf) exp(−exp(−2 lell) D/2))⁻ᵀy((exp(2 lsn) I + exp(2 lsf) exp(−exp(−2 lell) D/2))⁻¹y)ᵀ)(exp(2 lsn) I)ᵀ)',
        '\\operatorname{tr}\\left(\\left(\\left(\\exp\\left(2 \\mathrm{lsn}\\right) I + \\exp\\left(2 \\mathrm{lsf}\\right) \\exp\\left(-\\frac{\\exp\\left(-2 \\mathrm{lell}\\right) D}{2}\\right)\\right)^{-\\top} - \\left(\\exp\\left(2 \\mathrm{lsn}\\right) I + \\exp\\left(2 \\mathrm{lsf}\\right) \\exp\\left(-\\frac{\\exp\\left(-2 \\mathrm{lell}\\right) D}{2}\\right)\\right)^{-\\top} y \\left(\\left(\\exp\\left(2 \\mathrm{lsn}\\right) I + \\exp\\left(2 \\mathrm{lsf}\\right) \\exp\\left(-\\frac{\\exp\\left(-2 \\mathrm{lell}\\right) D}{2}\\right)\\right)^{-1} y\\right)^{\\top}\\right) \\left(\\exp\\left(2 \\mathrm{lsn}\\right) I\\right)^{\\top}\\right)',
    ),
    ('tied_autoencoder', 'W'): (
        '(tanh(XW + 𝟏cᵀ) Wᵀ + 𝟏eᵀ − X)ᵀ tanh(XW + 𝟏cᵀ) + Xᵀ((tanh(XW + 𝟏cᵀ) Wᵀ + 𝟏eᵀ − X)W ⊙ (1 − tanh(XW + 𝟏cᵀ)²))',
        '\\left(\\tanh\\left(X W + \\mathbf{1} c^{\\top}\\right) W^{\\top} + \\mathbf{1} e^{\\top} - X\\right)^{\\top} \\tanh\\left(X W + \\mathbf{1} c^{\\top}\\right) + X^{\\top} \\left(\\left(\\tanh\\left(X W + \\mathbf{1} c^{\\top}\\right) W^{\\top} + \\mathbf{1} e^{\\top} - X\\right) W \\odot \\left(1 - \\tanh\\left(X W + \\mathbf{1} c^{\\top}\\right)^{2}\\right)\\right)',
    ),
    ('tied_autoencoder', 'c'): (
        '((tanh(XW + 𝟏cᵀ) Wᵀ + 𝟏eᵀ − X)W ⊙ (1 − tanh(XW + 𝟏cᵀ)²))ᵀ𝟏',
        '\\left(\\left(\\tanh\\left(X W + \\mathbf{1} c^{\\top}\\right) W^{\\top} + \\mathbf{1} e^{\\top} - X\\right) W \\odot \\left(1 - \\tanh\\left(X W + \\mathbf{1} c^{\\top}\\right)^{2}\\right)\\right)^{\\top} \\mathbf{1}',
    ),
    ('tied_autoencoder', 'e'): (
        '(tanh(XW + 𝟏cᵀ) Wᵀ + 𝟏eᵀ − X)ᵀ𝟏',
        '\\left(\\tanh\\left(X W + \\mathbf{1} c^{\\top}\\right) W^{\\top} + \\mathbf{1} e^{\\top} - X\\right)^{\\top} \\mathbf{1}',
    ),
    ('label_smoothed_softmax', 'Wk'): (
        'Xᵀ(softmax(X Wk + 𝟏 ckᵀ) − 0.9Y − 0.1/K)',
        'X^{\\top} \\left(\\operatorname{softmax}\\left(X \\mathrm{Wk} + \\mathbf{1} \\mathrm{ck}^{\\top}\\right) - 0.9 Y - \\frac{0.1}{K}\\right)',
    ),
    ('label_smoothed_softmax', 'ck'): (
        '(softmax(X Wk + 𝟏 ckᵀ) − 0.9Y − 0.1/K)ᵀ𝟏',
        '\\left(\\operatorname{softmax}\\left(X \\mathrm{Wk} + \\mathbf{1} \\mathrm{ck}^{\\top}\\right) - 0.9 Y - \\frac{0.1}{K}\\right)^{\\top} \\mathbf{1}',
    ),
    ('student_t_regression', 'w'): (
        '(4/3)Xᵀ((Xw + b − y)/((Xw + b − y)²/3 + 1))',
        '\\frac{4}{3} X^{\\top} \\frac{X w + b - y}{\\frac{\\left(X w + b - y\\right)^{2}}{3} + 1}',
    ),
    ('student_t_regression', 'b'): (
        '(4/3) sum((Xw + b − y)/((Xw + b − y)²/3 + 1))',
        '\\frac{4}{3} \\operatorname{sum}\\left(\\frac{X w + b - y}{\\frac{\\left(X w + b - y\\right)^{2}}{3} + 1}\\right)',
    ),
    ('focal_loss', 'w'): (
        'Xᵀ(2y ⊙ (1 − σ(Xw + b))² ⊙ log σ(Xw + b) ⊙ σ(Xw + b) + σ(Xw + b)³ ⊙ (1 − y) − y ⊙ (1 − σ(Xw + b))² ⊙ σ(−(Xw + b)) − 2σ(Xw + b)² ⊙ log σ(−(Xw + b)) ⊙ (1 − y) ⊙ (1 − σ(Xw + b)))',
        'X^{\\top} \\left(2 y \\odot \\left(1 - \\sigma\\left(X w + b\\right)\\right)^{2} \\odot \\log\\sigma\\left(X w + b\\right) \\odot \\sigma\\left(X w + b\\right) + \\sigma\\left(X w + b\\right)^{3} \\odot \\left(1 - y\\right) - y \\odot \\left(1 - \\sigma\\left(X w + b\\right)\\right)^{2} \\odot \\sigma\\left(-\\left(X w + b\\right)\\right) - 2 \\sigma\\left(X w + b\\right)^{2} \\odot \\log\\sigma\\left(-\\left(X w + b\\right)\\right) \\odot \\left(1 - y\\right) \\odot \\left(1 - \\sigma\\left(X w + b\\right)\\right)\\right)',
    ),
    ('focal_loss', 'b'): (
        '−sum(y ⊙ (1 − σ(Xw + b))² ⊙ σ(−(Xw + b)) + 2σ(Xw + b)² ⊙ log σ(−(Xw + b)) ⊙ (1 − y) ⊙ (1 − σ(Xw + b)) − 2y ⊙ (1 − σ(Xw + b))² ⊙ log σ(Xw + b) ⊙ σ(Xw + b) − σ(Xw + b)³ ⊙ (1 − y))',
        '-\\operatorname{sum}\\left(y \\odot \\left(1 - \\sigma\\left(X w + b\\right)\\right)^{2} \\odot \\sigma\\left(-\\left(X w + b\\right)\\right) + 2 \\sigma\\left(X w + b\\right)^{2} \\odot \\log\\sigma\\left(-\\left(X w + b\\right)\\right) \\odot \\left(1 - y\\right) \\odot \\left(1 - \\sigma\\left(X w + b\\right)\\right) - 2 y \\odot \\left(1 - \\sigma\\left(X w + b\\right)\\right)^{2} \\odot \\log\\sigma\\left(X w + b\\right) \\odot \\sigma\\left(X w + b\\right) - \\sigma\\left(X w + b\\right)^{3} \\odot \\left(1 - y\\right)\\right)',
    ),
    ('probabilistic_pca', 'Wp'): (
        '((Wp Wpᵀ + exp(2 ls) I)⁻¹ − (Wp Wpᵀ + exp(2 ls) I)⁻¹((Wp Wpᵀ + exp(2 ls) I)⁻¹S)ᵀ) Wp + ((Wp Wpᵀ + exp(2 ls) I)⁻¹ − (Wp Wpᵀ + exp(2 ls) I)⁻¹((Wp Wpᵀ + exp(2 ls) I)⁻¹S)ᵀ)ᵀ Wp',
        '\\left(\\left(\\mathrm{Wp} \\mathrm{Wp}^{\\top} + \\exp\\left(2 \\mathrm{ls}\\right) I\\right)^{-1} - \\left(\\mathrm{Wp} \\mathrm{Wp}^{\\top} + \\exp\\left(2 \\mathrm{ls}\\right) I\\right)^{-1} \\left(\\left(\\mathrm{Wp} \\mathrm{Wp}^{\\top} + \\exp\\left(2 \\mathrm{ls}\\right) I\\right)^{-1} S\\right)^{\\top}\\right) \\mathrm{Wp} + \\left(\\left(\\mathrm{Wp} \\mathrm{Wp}^{\\top} + \\exp\\left(2 \\mathrm{ls}\\right) I\\right)^{-1} - \\left(\\mathrm{Wp} \\mathrm{Wp}^{\\top} + \\exp\\left(2 \\mathrm{ls}\\right) I\\right)^{-1} \\left(\\left(\\mathrm{Wp} \\mathrm{Wp}^{\\top} + \\exp\\left(2 \\mathrm{ls}\\right) I\\right)^{-1} S\\right)^{\\top}\\right)^{\\top} \\mathrm{Wp}',
    ),
    ('probabilistic_pca', 'ls'): (
        '2 tr((exp(2 ls) I)((Wp Wpᵀ + exp(2 ls) I)⁻¹ − (Wp Wpᵀ + exp(2 ls) I)⁻¹((Wp Wpᵀ + exp(2 ls) I)⁻¹S)ᵀ)ᵀ)',
        '2 \\operatorname{tr}\\left(\\left(\\exp\\left(2 \\mathrm{ls}\\right) I\\right) \\left(\\left(\\mathrm{Wp} \\mathrm{Wp}^{\\top} + \\exp\\left(2 \\mathrm{ls}\\right) I\\right)^{-1} - \\left(\\mathrm{Wp} \\mathrm{Wp}^{\\top} + \\exp\\left(2 \\mathrm{ls}\\right) I\\right)^{-1} \\left(\\left(\\mathrm{Wp} \\mathrm{Wp}^{\\top} + \\exp\\left(2 \\mathrm{ls}\\right) I\\right)^{-1} S\\right)^{\\top}\\right)^{\\top}\\right)',
    ),
    ('cox_partial_likelihood', 'w'): (
        'Xᵀ(Rkᵀ (delta/(Rk exp(Xw))) ⊙ exp(Xw) − delta)',
        'X^{\\top} \\left(\\mathrm{Rk}^{\\top} \\frac{\\mathrm{delta}}{\\mathrm{Rk} \\exp\\left(X w\\right)} \\odot \\exp\\left(X w\\right) - \\mathrm{delta}\\right)',
    ),
}


def test_every_gradient_of_the_zoo_is_pinned():
    assert set(PRINTED) == {(mdl.name, t.name) for mdl in MODELS for t in mdl.wrt}


def _central_gradient(f, a: dict, name: str, h=1e-6) -> np.ndarray:
    x0 = np.asarray(a[name], float)
    out = np.zeros(x0.shape)
    for idx in np.ndindex(x0.shape):
        xp, xm = x0.copy(), x0.copy()
        xp[idx] += h
        xm[idx] -= h
        out[idx] = (float(sm.evaluate(f, **{**a, name: xp})) - float(sm.evaluate(f, **{**a, name: xm}))) / (2 * h)
    return out


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_pinned_gradient_prints(model, rng):
    """Each gradient prints as pinned, and the node that printed agrees with central differences."""
    a = _reads(model, _arrays(model, rng, model.small))
    for t in model.wrt:
        g = sm.grad(model.loss, t)
        uni, tex = PRINTED[(model.name, t.name)]
        assert sm.pretty(g) == uni
        assert sm.latex(g) == tex
        np.testing.assert_allclose(np.asarray(sm.evaluate(g, **a), float), _central_gradient(model.loss, a, t.name),
                                   rtol=1e-6, atol=1e-7)
