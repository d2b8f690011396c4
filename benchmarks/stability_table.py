"""The stability table and the fuzzing figures (quoted in the README).

Stability: every primitive (through ``sm.compile``), each unstable spelling SymPy or a user
writes (log σ, 1 − σ, log(1 + x), e^x − 1, log Σ e^x, …), and the loss and gradient kernels
of the logistic, softmax, Poisson, Gaussian-mixture and information models (from generated/),
over a grid from −10⁴ to 10⁴ with ±0, subnormal, tiny and huge magnitudes.

The oracle is mpmath at 50 significant digits, doubled until two precisions agree to 25
digits; the reference formulas avoid absorption (log1p, max-shifted sums, 1 − p as Σ of the
others), so that σ(700) − 1 is −e^{−700}, not 0. For every output y and its value r at the
same floating-point inputs, with N = Σᵢ |xᵢ ∂r/∂xᵢ| (so κ = N/|r| is the componentwise
condition number over all of the kernel's inputs, by central differences of the oracle):

    error / max(|r|, N, tiny/tol)  ≤  tol,      tol = 1e-12 (float64), 1e-5 (float32)

that is, relative error ≤ tol · max(1, κ): 1e-12 wherever the problem is well conditioned, no
worse than the conditioning where the formula itself cancels (σ(z) − y at y = 1, z = 30 is
−9.4e-14, and y enters it with weight 1), and an absolute error below the smallest normal
number where r is subnormal. y must be finite wherever r is finite in the dtype. Gradients that
sum terms of both signs (σ(z) − y, pⱼΣY − Yⱼ, πₖ − rₖ, the derivative of p log p) that miss
this bound are held to it relative to the size of those terms ("pass (terms)"): a kernel that
forms p − 1 from p = 1 − 10⁻¹⁸ cannot do better.

Fuzzing: the wrapper fuzzer (tests/test_fuzz_wrappers.py) over the whole catalog and the DSL
fuzzer (tests/test_fuzz_dsl.py): examples tried, inputs refused, crashes.

Run: ``python -m benchmarks.stability_table [--quick] [--no-fuzz]`` (about 2 minutes; exit 1
if a row fails).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import mpmath as mp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent

#: Grid of the scalar that drives each case (a logit, a log-rate, a data value).
GRID = (0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e-8, -1e-8, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 10.0, -10.0,
        30.0, -30.0, 40.0, -40.0, 100.0, -100.0, 700.0, -700.0, 710.0, -710.0, 800.0, -800.0, 1e3, -1e3,
        1e4, -1e4)
TOL = {np.float64: 1e-12, np.float32: 1e-5}
ILL = 100.0  # κ above this: the formula cancels; the table's first error column skips such points


# --------------------------------------------------------------------------- the oracle

def accurate(f: Callable, xs) -> list:
    """f(xs) at 50 digits, doubled until two precisions agree to 25 digits (or both round to 0)."""
    dps, prev = 50, None
    while True:
        with mp.workdps(dps):
            vals = [+v for v in f([mp.mpf(x) for x in xs])]
        if prev is not None and all(abs(a - b) <= mp.mpf(10) ** -25 * max(abs(a), abs(b))
                                    or max(abs(a), abs(b)) < mp.mpf(10) ** -400 for a, b in zip(prev, vals)):
            return vals
        if dps > 40000:
            raise RuntimeError(f"mpmath did not converge at {dps} digits")
        prev, dps = vals, dps * 2


def sensitivity(f: Callable, xs) -> list:
    """Nⱼ = Σᵢ |xᵢ ∂fⱼ/∂xᵢ| by central differences of the oracle (one digit is all it needs);
    κⱼ = Nⱼ / |fⱼ| is the componentwise condition number."""
    total = None
    for i, x in enumerate(xs):
        if x == 0:
            continue
        h = abs(mp.mpf(x)) * mp.mpf(10) ** -12
        hi = accurate(f, [mp.mpf(v) + (h if k == i else 0) for k, v in enumerate(xs)])
        lo = accurate(f, [mp.mpf(v) - (h if k == i else 0) for k, v in enumerate(xs)])
        terms = [abs(mp.mpf(x) * (a - b) / (2 * h)) for a, b in zip(hi, lo)]
        total = terms if total is None else [t + u for t, u in zip(total, terms)]
    return total


# --------------------------------------------------------------------------- cases

@dataclass
class Case:
    """A kernel at a family of points: ``points(dtype)`` gives argument lists, ``run`` calls
    the kernel and flattens its outputs, ``ref`` is the mathematics on the flat inputs."""

    name: str
    span: str
    points: Callable
    run: Callable
    ref: Callable
    needs: str = ""  # the pending patch this case depends on, if any
    terms: Callable | None = None  # Σ|terms| per output, for gradients that sum terms of both signs


@dataclass
class Row:
    case: str
    dtype: str
    span: str
    points: int = 0
    worst_rel: float = 0.0  # at κ ≤ ILL and r ≠ 0
    worst_scaled: float = 0.0  # rel / max(1, κ), everywhere
    worst_terms: float = 0.0  # error / max(|r|, Σ|x ∂r/∂x|, Σ|terms|), everywhere
    nonfinite: int = 0
    raised: int = 0
    example: str = ""
    example_terms: str = ""

    @property
    def strict(self) -> bool:
        """Finite, and rel ≤ tol · max(1, κ) at every point."""
        return self.nonfinite == 0 and self.raised == 0 and self.worst_scaled <= TOL[np.dtype(self.dtype).type]

    @property
    def ok(self) -> bool:
        """Finite, and error ≤ tol relative to the terms the output sums where not strict."""
        return self.nonfinite == 0 and self.raised == 0 and self.worst_terms <= TOL[np.dtype(self.dtype).type]

    @property
    def verdict(self) -> str:
        return "pass" if self.strict else "pass (terms)" if self.ok else "FAIL"


def _flat_args(args):
    return [float(v) for a in args for v in np.ravel(np.asarray(a, dtype=np.float64))]


def _flat_out(out):
    if isinstance(out, tuple):
        return [v for o in out for v in _flat_out(o)]
    return [float(v) for v in np.ravel(np.asarray(out, dtype=np.float64))]


def measure(case: Case, dtype=np.float64) -> Row:
    """Run one case over its grid and compare with the oracle."""
    row = Row(case.name, np.dtype(dtype).name, case.span)
    tol, fi = TOL[dtype], np.finfo(dtype)
    for args in case.points(dtype):
        xs = _flat_args(args)
        r = accurate(case.ref, xs)
        try:
            y = _flat_out(case.run(args))
        except ValueError as e:
            row.raised += 1
            row.example = row.example or f"{xs[:3]}: {e}"
            continue
        floor = mp.mpf(float(fi.tiny) / tol)  # below it the error is absolute, ≤ tiny: subnormals carry no digits
        errs = [abs(mp.mpf(yi) - ri) if np.isfinite(yi) else None for yi, ri in zip(y, r)]
        # κ costs two oracle calls per input: it is computed only where the plain relative error
        # exceeds a thousandth of the tolerance (a few ulps); below that, rel is reported as it is
        need = any(e is not None and e > tol / 1000 * max(abs(ri), floor) for e, ri in zip(errs, r))
        sens = (sensitivity(case.ref, xs) if need else None) or [mp.mpf(0)] * len(r)
        row.points += 1
        terms = None
        for j, (yi, ri, ni, err) in enumerate(zip(y, r, sens, errs)):
            if abs(ri) > fi.max:
                continue  # the value overflows the dtype: inf is its correct rounding
            if err is None:
                row.nonfinite += 1
                row.example = row.example or f"at {xs[:4]}: got {yi}, exact {mp.nstr(ri, 6)}"
                continue
            rel = float(err / max(abs(ri), floor))
            kappa = float(ni / abs(ri)) if ri != 0 else (np.inf if ni > 0 else 1.0)
            if ri != 0 and (rel <= tol or kappa <= ILL):  # plain relative error, where it means something
                row.worst_rel = max(row.worst_rel, rel)
            # rel / max(1, κ), defined at r = 0 too: the error over the larger of |r| and Σ|x ∂r/∂x|
            scaled = float(err / max(abs(ri), ni, floor))
            loose = scaled
            if scaled > tol and case.terms is not None:
                if terms is None:
                    with mp.workdps(30):
                        terms = case.terms([mp.mpf(x) for x in xs])
                loose = float(err / max(abs(ri), ni, abs(terms[j]), floor))
            if loose > row.worst_terms:
                row.worst_terms = loose
                if loose > tol:
                    row.example_terms = f"at {xs[:4]}: got {yi!r}, exact {mp.nstr(ri, 17)}"
            if scaled > row.worst_scaled:
                row.worst_scaled = scaled
                if scaled > tol:
                    row.example = f"at {xs[:4]}: got {yi!r}, exact {mp.nstr(ri, 17)} (κ = {kappa:.1e})"
    return row


def _kernel(module: str, kernel: str) -> Callable:
    """args ↦ generated.<module>.<kernel>(*args) (bound now, not when the loop variable is read)."""
    return lambda args: getattr(importlib.import_module(f"generated.{module}"), kernel)(*args)


def _cast(dtype, *arrays):
    return [np.asarray(a, dtype=dtype) if np.ndim(a) else float(np.asarray(a, dtype=dtype)) for a in arrays]


def _finite_in(dtype, v) -> float:
    """v rounded to ``dtype``, or 0 where it overflows or underflows there."""
    with np.errstate(over="ignore"):
        r = float(np.asarray(v, dtype=dtype))
    return r if np.isfinite(r) else 0.0


def _grid(dtype):
    """The grid in ``dtype``, without duplicates (float32 flushes 1e-300 to 0)."""
    out = []
    for z in GRID:
        v = float(np.asarray(z, dtype=dtype))
        if (v, np.signbit(v)) not in [(o, np.signbit(o)) for o in out] and np.isfinite(v):
            out.append(v)
    return out


# The references avoid absorption (1 + e^{−700} is 1 to 50 digits, so σ(700) − 1 would come out
# 0, not −e^{−700}): log1p, max-shifted sums, and complements such as 1 − pₖ = Σ_{j≠k} pⱼ. What
# cancellation remains is caught by doubling the precision.

def sig(z):
    return 1 / (1 + mp.exp(-z))


def softplus(z):
    return mp.log1p(mp.exp(z))


def log_softmax(xs):
    """[xⱼ − logsumexp(x)] as (xⱼ − m) − log1p(Σ_{i≠argmax} e^{xᵢ − m})."""
    k = max(range(len(xs)), key=lambda i: xs[i])
    tail = mp.log1p(mp.fsum(mp.exp(x - xs[k]) for i, x in enumerate(xs) if i != k))
    return [(x - xs[k]) - tail for x in xs]


def lse(xs):
    return xs[0] - log_softmax(xs)[0]


def diff_of_probs(p, q):
    """[pⱼ − qⱼ] of two distributions, the large entries through their complements."""
    return [mp.fsum(q[i] - p[i] for i in range(len(p)) if i != j) if max(p[j], q[j]) > 0.5 else p[j] - q[j]
            for j in range(len(p))]


def catalog_cases() -> list[Case]:
    """Loss and gradient kernels of the logistic, softmax, Poisson, mixture and information models."""
    out = []
    m = "logistic_regression"
    for y in (0.0, 1.0):  # z = X w + b with X = 1, w = z
        def pts(dt, y=y):
            return [_cast(dt, [z], 0.0, [[1.0]], [y], 0.0) for z in _grid(dt)]

        def lref(v):  # softplus(z) − yz = (1 − y)·softplus(z) + y·softplus(−z)
            w, b, x, y_, lam = v
            z = x * w + b
            return [(1 - y_) * softplus(z) + y_ * softplus(-z) + lam / 2 * w * w]

        def gref(v):  # σ(z) − y = (1 − y)σ(z) − yσ(−z)
            w, b, x, y_, lam = v
            e = (1 - y_) * sig(x * w + b) - y_ * sig(-(x * w + b))
            return [e * x + lam * w, e]

        def href(v):
            w, b, x, y_, lam = v
            s = sig(x * w + b) * sig(-(x * w + b))
            return [s * x * x + lam, s * x, s * x, s]

        out.append(Case(f"{m}.loss (y={y:g})", "z ∈ ±[0, 1e4]", pts, _kernel(m, "loss"), lref))
        def gterms(v):  # |σ(z)| + |y|, times |x|
            w, b, x, y_, lam = v
            e = sig(x * w + b) + abs(y_)
            return [e * abs(x) + abs(lam * w), e]

        out.append(Case(f"{m}.grad (y={y:g})", "z ∈ ±[0, 1e4]", pts, _kernel(m, "grad"), gref, terms=gterms))
        out.append(Case(f"{m}.hessian (y={y:g})", "z ∈ ±[0, 1e4]", pts, _kernel(m, "hessian"), href, "0003"))
    m = "softmax_regression"
    for k in (0, 1, 2):  # logits (z, 0, −z), true class k
        def pts(dt, k=k):
            return [_cast(dt, [[z, 0.0, -z]], np.zeros(3), [[1.0]], np.eye(3)[k:k + 1], 0.0) for z in _grid(dt)]

        def logits(v):
            return [v[6] * v[j] + v[3 + j] for j in range(3)]

        def lref(v):
            return [-mp.fsum(v[7 + j] * t for j, t in enumerate(log_softmax(logits(v))))
                    + v[10] / 2 * mp.fsum(w * w for w in v[0:3])]

        def gref(v):  # pⱼ ΣY − Yⱼ = pⱼ Σ_{i≠j} Yᵢ − Yⱼ Σ_{i≠j} pᵢ
            p, Y = [mp.exp(t) for t in log_softmax(logits(v))], v[7:10]
            g = [p[j] * mp.fsum(Y[i] for i in range(3) if i != j) - Y[j] * mp.fsum(p[i] for i in range(3) if i != j)
                 for j in range(3)]
            return [v[6] * g[j] + v[10] * v[j] for j in range(3)] + g

        def gterms(v):  # pⱼ ΣY and Yⱼ
            p, Y = [mp.exp(t) for t in log_softmax(logits(v))], v[7:10]
            g = [p[j] * mp.fsum(abs(t) for t in Y) + abs(Y[j]) for j in range(3)]
            return [abs(v[6]) * g[j] + abs(v[10] * v[j]) for j in range(3)] + g

        out.append(Case(f"{m}.loss (class {k})", "z ∈ ±[0, 1e4]", pts, _kernel(m, "loss"), lref,
                        "0004" if k != 1 else ""))  # a confident right answer: the loss is lse − Z_k
        out.append(Case(f"{m}.grad (class {k})", "z ∈ ±[0, 1e4]", pts, _kernel(m, "grad"), gref, terms=gterms))
    m = "poisson_regression"
    for y in (0.0, 3.0):  # log-rate z
        def pts(dt, y=y):
            return [_cast(dt, [z], 0.0, [[1.0]], [y], 0.0) for z in _grid(dt)]

        out.append(Case(f"{m}.loss (y={y:g})", "z ∈ ±[0, 1e4]", pts, _kernel(m, "loss"),
                        lambda v: [mp.exp(v[2] * v[0] + v[1]) - v[3] * (v[2] * v[0] + v[1]) + v[4] / 2 * v[0] ** 2]))
        out.append(Case(f"{m}.grad (y={y:g})", "z ∈ ±[0, 1e4]", pts, _kernel(m, "grad"),
                        lambda v: [(mp.exp(v[2] * v[0] + v[1]) - v[3]) * v[2] + v[4] * v[0],
                                   mp.exp(v[2] * v[0] + v[1]) - v[3]],
                        terms=lambda v: [(mp.exp(v[2] * v[0] + v[1]) + abs(v[3])) * abs(v[2]) + abs(v[4] * v[0]),
                                         mp.exp(v[2] * v[0] + v[1]) + abs(v[3])]))
    return out + _mixture_cases() + _information_cases() + _kl_gaussian_cases()


def _gmm(v):
    """(loss, gradient in M, a, L) of a 1-d, 2-component mixture at one point."""
    M, a, L, x = v[0:2], v[2:4], v[4:6], v[6]
    la = log_softmax(a)
    lj = [la[k] + mp.log(L[k]) - mp.log(2 * mp.pi) / 2 - (L[k] * (x - M[k])) ** 2 / 2 for k in range(2)]
    r, pi = [mp.exp(t) for t in log_softmax(lj)], [mp.exp(t) for t in la]
    return [-lse(lj)], ([-r[k] * L[k] ** 2 * (x - M[k]) for k in range(2)] + diff_of_probs(pi, r)
                        + [-r[k] * (1 / L[k] - L[k] * (x - M[k]) ** 2) for k in range(2)])


def _gmm_terms(v):
    """Σ|terms| of the mixture gradient: πₖ + rₖ, and rₖ(1/Lₖ + Lₖ(x − μₖ)²)."""
    M, a, L, x = v[0:2], v[2:4], v[4:6], v[6]
    la = log_softmax(a)
    lj = [la[k] + mp.log(L[k]) - mp.log(2 * mp.pi) / 2 - (L[k] * (x - M[k])) ** 2 / 2 for k in range(2)]
    r, pi = [mp.exp(t) for t in log_softmax(lj)], [mp.exp(t) for t in la]
    return ([abs(r[k] * L[k] ** 2 * (x - M[k])) for k in range(2)] + [pi[k] + r[k] for k in range(2)]
            + [r[k] * (1 / L[k] + L[k] * (x - M[k]) ** 2) for k in range(2)])


def _mixture_cases():
    m = "gaussian_mixture"

    def data_pts(dt):  # the data point x sweeps the grid
        return [_cast(dt, [[0.0], [1.0]], [0.0, 0.0], [[[1.0]], [[2.0]]], [[z]]) for z in _grid(dt)]

    def weight_pts(dt):  # the weight logits sweep the grid
        return [_cast(dt, [[0.0], [1.0]], [z, -z], [[[1.0]], [[2.0]]], [[0.3]]) for z in _grid(dt)]

    out = []
    for what, pts in (("x", data_pts), ("a", weight_pts)):
        out.append(Case(f"{m}.loss ({what} on the grid)", f"{what} ∈ ±[0, 1e4]", pts, _kernel(m, "loss"),
                        lambda v: _gmm(v)[0]))
        out.append(Case(f"{m}.grad ({what} on the grid)", f"{what} ∈ ±[0, 1e4]", pts, _kernel(m, "grad"),
                        lambda v: _gmm(v)[1], terms=_gmm_terms))
    return out


def _information_cases():
    # with Σp = 1: log pⱼ − Σₖ pₖ log pₖ = Σₖ pₖ (aⱼ − aₖ), and likewise for log q and r = log p − log q
    def probs(xs):
        return [mp.exp(t) for t in log_softmax(xs)]

    def ent(v):
        a = v[0:3]
        p = probs(a)
        return [-mp.fsum(pi * li for pi, li in zip(p, log_softmax(a)))], [
            -p[j] * mp.fsum(p[k] * (a[j] - a[k]) for k in range(3)) for j in range(3)]

    def xent(v):
        a, c = v[0:3], v[3:6]
        p, q = probs(a), probs(c)
        return [-mp.fsum(pi * li for pi, li in zip(p, log_softmax(c)))], [
            -p[j] * mp.fsum(p[k] * (c[j] - c[k]) for k in range(3)) for j in range(3)] + diff_of_probs(q, p)

    def kl(v):
        a, c = v[0:3], v[3:6]
        p, q = probs(a), probs(c)
        r = [(a[j] - c[j]) - (lse(a) - lse(c)) for j in range(3)]
        return [mp.fsum(pi * ri for pi, ri in zip(p, r))], [
            p[j] * mp.fsum(p[k] * (r[j] - r[k]) for k in range(3)) for j in range(3)] + diff_of_probs(q, p)

    # the gradients of Σ p log p and Σ p log q sum terms of size pⱼ(1 + |log pⱼ| + |log qⱼ|) that cancel
    # when Σₖ pₖ = 1 (which holds in floating point only to rounding)
    def mix_terms(v, two):
        a, c = v[0:3], (v[3:6] if two else v[0:3])
        p, q = probs(a), probs(c)
        t = [1 + abs(x) + abs(y) for x, y in zip(log_softmax(a), log_softmax(c))]
        s = mp.fsum(pk * tk for pk, tk in zip(p, t))
        return [pj * (tj + s) for pj, tj in zip(p, t)] + ([x + y for x, y in zip(p, q)] if two else [])

    ent_terms = lambda v: mix_terms(v, False)  # noqa: E731
    xent_terms = kl_terms = lambda v: mix_terms(v, True)  # noqa: E731

    out = []
    m = "entropy_categorical"
    pts = lambda dt: [_cast(dt, [[z, 0.0, -z]]) for z in _grid(dt)]  # noqa: E731
    out.append(Case(f"{m}.loss", "a = (z, 0, −z)", pts, _kernel(m, "loss"), lambda v: ent(v)[0], "0004"))
    out.append(Case(f"{m}.grad", "a = (z, 0, −z)", pts, _kernel(m, "grad"), lambda v: ent(v)[1], terms=ent_terms))
    variants = {"c = a": lambda z: [z, 0.0, -z], "c = reversed a": lambda z: [-z, 0.0, z]}
    for m, f, t in (("cross_entropy_categorical", xent, xent_terms), ("kl_categorical", kl, kl_terms)):
        for label, cz in variants.items():
            pts = lambda dt, cz=cz: [_cast(dt, [[z, 0.0, -z]], [cz(z)]) for z in _grid(dt)]  # noqa: E731
            out.append(Case(f"{m}.loss ({label})", "a = (z, 0, −z)", pts, _kernel(m, "loss"),
                            lambda v, f=f: f(v)[0], "0004" if (m, label) == ("cross_entropy_categorical", "c = a") else ""))
            out.append(Case(f"{m}.grad ({label})", "a = (z, 0, −z)", pts, _kernel(m, "grad"),
                            lambda v, f=f: f(v)[1], terms=t))
    return out


def _kl_gauss(v):
    mu0, S0, mu1, S1 = mp.matrix(v[0:2]), mp.matrix(2, 2), mp.matrix(v[6:8]), mp.matrix(2, 2)
    for i in range(2):
        for j in range(2):
            S0[i, j], S1[i, j] = v[2 + 2 * i + j], v[8 + 2 * i + j]
    P0, P1 = mp.inverse(S0), mp.inverse(S1)
    dl = mu1 - mu0
    quad = (dl.T * P1 * dl)[0, 0]
    loss = ((P1 * S0)[0, 0] + (P1 * S0)[1, 1] + quad - 2 + mp.log(mp.det(S1)) - mp.log(mp.det(S0))) / 2
    g_mu0 = P1 * (mu0 - mu1)
    g_S0 = (P1.T - P0.T) / 2
    g_S1 = (P1.T - P1.T * (S0 + dl * dl.T).T * P1.T) / 2
    flat = [g_mu0[0], g_mu0[1]] + [g_S0[i, j] for i in range(2) for j in range(2)] + [-g_mu0[0], -g_mu0[1]]
    return [loss], flat + [g_S1[i, j] for i in range(2) for j in range(2)]


def _kl_gaussian_cases():
    m = "kl_gaussian"
    S0, S1 = np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([[1.0, 0.3], [0.3, 2.0]])

    def mean_pts(dt):
        return [_cast(dt, [z, -z / 2], S0, [0.0, 0.0], S1) for z in _grid(dt)]

    def scale_pts(dt):
        return [_cast(dt, [1.0, 0.0], s * S0, [0.0, 0.0], S1) for s in (1e-100, 1e-30, 1e-8, 1e-3, 1.0, 1e3, 1e8, 1e30,
                                                                         1e100) if 0 < _finite_in(dt, s)]
    out = []
    for what, span, pts in (("means", "μ₀ ∈ ±[0, 1e4]", mean_pts), ("scale", "Σ₀ = s·S, s ∈ [1e-100, 1e100]", scale_pts)):
        out.append(Case(f"{m}.loss ({what})", span, pts, _kernel(m, "loss"), lambda v: _kl_gauss(v)[0]))
        out.append(Case(f"{m}.grad ({what})", span, pts, _kernel(m, "grad"), lambda v: _kl_gauss(v)[1]))
    return out


# --------------------------------------------------------------------------- primitives (sm.compile)

_KERNELS: dict = {}


def _compiled(group: str):
    """The sm.compile kernel of one group of primitives (built once per process)."""
    if group not in _KERNELS:
        import symml as sm
        from symml.probability import mvn_logpdf, normal_logpdf

        n, m, K, d = sm.dims("n m K d")
        x, y = sm.tensor("x", (n,)), sm.tensor("y", (n,))
        Z, Y = sm.tensor("Z", (m, K)), sm.tensor("Y", (m, K))
        S, X, mu = sm.tensor("S", (d, d)), sm.tensor("X", (m, d)), sm.tensor("mu", (d,))
        s = sm.sigmoid(x)
        outs = {
            "elementwise": {"softplus": sm.softplus(x), "sigmoid": s, "log_sigmoid": sm.log_sigmoid(x),
                            "log1p_exp": sm.log(1 + sm.exp(x)), "exp_ratio": sm.exp(x) / (1 + sm.exp(x)),
                            "log_of_sigmoid": sm.log(s), "log_one_minus_sigmoid": sm.log(1 - s),
                            "one_minus_sigmoid": 1 - s, "sigmoid_prime": sm.grad(sm.sum(s), x),
                            "expm1": sm.exp(x) - 1, "log1p_square": sm.log(1 + x * x),
                            "logaddexp": sm.log(sm.exp(x) + sm.exp(-x)),
                            "bce": -(y * sm.log(s) + (1 - y) * sm.log(1 - s)),
                            "normal_logpdf": normal_logpdf(x, 0.0, 1.0)},
            "rows": {"logsumexp": sm.logsumexp(Z, axis=1), "softmax": sm.softmax(Z, axis=1),
                     "log_softmax": sm.log_softmax(Z, axis=1), "cross_entropy": -sm.sum(Y * sm.log_softmax(Z, axis=1))},
            "logdet": {"logdet": sm.logdet(S), "mvn_logpdf": mvn_logpdf(X, mu, S)},
        }[group]
        _KERNELS[group] = sm.compile(outs)
    return _KERNELS[group]


def primitive_cases() -> list[Case]:
    """Each primitive and each unstable spelling SymPy (or a user) writes, through sm.compile."""
    el = lambda dt, y=1.0: [[np.asarray([z], dtype=dt), np.asarray([y], dtype=dt)] for z in _grid(dt)]  # noqa: E731
    lsig = lambda z: -softplus(-z)  # noqa: E731
    specs = [  # (output, reference, pending patch)
        ("softplus", softplus, ""), ("sigmoid", sig, ""), ("log_sigmoid", lsig, ""),
        ("log1p_exp", softplus, ""), ("exp_ratio", sig, ""),
        ("log_of_sigmoid", lsig, "0003"), ("log_one_minus_sigmoid", lambda z: lsig(-z), "0003"),
        ("one_minus_sigmoid", lambda z: sig(-z), "0003"), ("sigmoid_prime", lambda z: sig(z) * sig(-z), "0003"),
        ("expm1", mp.expm1, "0003"), ("log1p_square", lambda z: mp.log1p(z * z), "0003"),
        ("logaddexp", lambda z: lse([z, -z]), "0003"),
        ("normal_logpdf", lambda z: -mp.log(2 * mp.pi) / 2 - z * z / 2, ""),
    ]
    label = {"log1p_exp": "log(1 + exp x) as written", "exp_ratio": "exp x / (1 + exp x) as written",
             "log_of_sigmoid": "log σ(x) as written", "log_one_minus_sigmoid": "log(1 − σ(x)) as written",
             "one_minus_sigmoid": "1 − σ(x) as written", "sigmoid_prime": "σ′ = σ(1 − σ) (SymPy's spelling)",
             "expm1": "exp x − 1 as written", "log1p_square": "log(1 + x²) as written",
             "logaddexp": "log(exp x + exp −x) as written"}
    out = []
    for key, f, needs in specs:
        out.append(Case(label.get(key, key), "x ∈ ±[0, 1e4]", el,
                        lambda a, key=key: _compiled("elementwise")(x=a[0], y=a[1])[key],
                        lambda v, f=f: [f(v[0])], needs))
    for y in (1.0, 0.0):
        out.append(Case(f"binary cross-entropy as written (y={y:g})", "x ∈ ±[0, 1e4]", lambda dt, y=y: el(dt, y),
                        lambda a: _compiled("elementwise")(x=a[0], y=a[1])["bce"],
                        lambda v: [-(v[1] * lsig(v[0]) + (1 - v[1]) * lsig(-v[0]))], "0003"))
    rows = lambda dt: [[np.asarray([[0.0, z, z]], dtype=dt), np.asarray([[1.0, 0, 0]], dtype=dt)] for z in _grid(dt)]  # noqa: E731
    rows2 = lambda dt: [[np.asarray([[z, 0.0, -z]], dtype=dt), np.asarray([[1.0, 0, 0]], dtype=dt)] for z in _grid(dt)]  # noqa: E731

    def run_rows(key):
        return lambda a: _compiled("rows")(Z=a[0], Y=a[1])[key]

    out.append(Case("logsumexp", "row (0, z, z)", rows, run_rows("logsumexp"), lambda v: [lse(v[0:3])], "0004"))
    out.append(Case("softmax", "row (z, 0, −z)", rows2, run_rows("softmax"),
                    lambda v: [mp.exp(t) for t in log_softmax(v[0:3])]))
    out.append(Case("log_softmax", "row (z, 0, −z)", rows2, run_rows("log_softmax"),
                    lambda v: log_softmax(v[0:3]), "0004"))
    out.append(Case("cross-entropy −Σ y log softmax", "row (z, 0, −z)", rows2, run_rows("cross_entropy"),
                    lambda v: [-log_softmax(v[0:3])[0]], "0004"))
    S = np.array([[2.0, 0.5], [0.5, 1.0]])
    scales = (1e-150, 1e-100, 1e-30, 1e-8, 1.0, 1e8, 1e30, 1e100, 1e150)
    mats = lambda dt: [[np.asarray(s * S, dtype=dt)] for s in scales if 0 < _finite_in(dt, s)]  # noqa: E731

    def det_ref(v):
        return [mp.log(v[0] * v[3] - v[1] * v[2])]

    out.append(Case("logdet (SPD)", "Σ = s·S, s ∈ [1e-150, 1e150]", mats,
                    lambda a: _compiled("logdet")(S=a[0], X=np.zeros((1, 2), a[0].dtype), mu=np.zeros(2, a[0].dtype))[
                        "logdet"], det_ref))
    gpts = lambda dt: [[np.asarray([[z, -z / 2]], dtype=dt), np.zeros(2, dtype=dt), S.astype(dt)] for z in _grid(dt)]  # noqa: E731

    def mvn_ref(v):
        x, mu, P = v[0:2], v[2:4], v[4:8]
        dx = [x[0] - mu[0], x[1] - mu[1]]
        quad = dx[0] * (P[0] * dx[0] + P[1] * dx[1]) + dx[1] * (P[2] * dx[0] + P[3] * dx[1])
        return [mp.log(P[0] * P[3] - P[1] * P[2]) / 2 - mp.log(2 * mp.pi) - quad / 2]

    out.append(Case("Gaussian log-density (precision P)", "x ∈ ±[0, 1e4]", gpts,
                    lambda a: _compiled("logdet")(S=a[2], X=a[0], mu=a[1])["mvn_logpdf"], mvn_ref))
    return out


# --------------------------------------------------------------------------- report

def stability_rows(dtypes=(np.float64, np.float32)) -> list[Row]:
    return [measure(case, dt) for case in primitive_cases() + catalog_cases() for dt in dtypes]


def fuzz_figures(quick: bool = False) -> list[tuple[str, object]]:
    """(name, Stats) of the wrapper fuzzer over the whole catalog and of the DSL fuzzer."""
    sys.path.insert(0, str(ROOT / "tests"))
    import test_fuzz_dsl
    import test_fuzz_wrappers

    from symml.catalog import catalog

    names = tuple(catalog())
    return [(f"kernel wrappers, {len(names)} catalog modules", test_fuzz_wrappers.run(300 if quick else 3000, names)),
            ("DSL trees: gradient and Hessian vs finite differences, some compiled",
             test_fuzz_dsl.run(60 if quick else 500, compile_every=25))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer fuzzing examples")
    p.add_argument("--no-fuzz", action="store_true", help="the stability table only")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    rows = stability_rows()
    print("| function | dtype | range | points | worst rel. error (κ ≤ 100, r ≠ 0) | worst error / max(1, κ) "
          "| non-finite | result |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        note = "" if r.strict else f" ({r.worst_terms:.1e} of the terms it sums)" if r.ok else f": {r.example}"
        print(f"| {r.case} | {r.dtype} | {r.span} | {r.points} | {r.worst_rel:.1e} | {r.worst_scaled:.1e} | "
              f"{r.nonfinite + r.raised} | {r.verdict}{note} |")
    bad = [r for r in rows if not r.ok]
    print(f"\n{len(rows) - len(bad)} of {len(rows)} rows pass ({sum(r.strict for r in rows)} strictly); tolerance "
          f"1e-12 (float64), 1e-5 (float32), times max(1, κ)")
    if not args.no_fuzz:
        print()
        for name, s in fuzz_figures(args.quick):
            if hasattr(s, "same"):
                what = (f"{s.refused} inputs refused with a ValueError naming the argument, {s.same} results equal "
                        f"to the reference, {s.passthrough} NaN/inf passed through unchecked")
            else:
                what = (f"{s.checked} agree with finite differences (gradient and Hessian), {s.refused} refused "
                        f"with a one-line message, {s.compiled} compiled and equal to sm.evaluate"
                        + (f", {s.known} hit the pending KeyError of patch 0008" if s.known else ""))
            print(f"fuzzing {name}: {s.tried} examples tried, {what}; crashes: {len(s.crashes)}")
            for c in s.crashes[:5]:
                print("   ", c)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
