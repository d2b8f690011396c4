"""The elementwise operations of issue 16: values, derivatives, kernels, printing, errors.

Oracles: numpy, scipy.special and mpmath for values; central differences of
``sm.evaluate`` for every derivative (``sm.evaluate`` of ``sm.grad``/``sm.hessian``); the
numba helper sources run as plain Python against scipy and mpmath (no compiling); one
compiled kernel against ``sm.evaluate``.
"""
from __future__ import annotations

import math

import fd
import mpmath as mp
import numpy as np
import pytest
import scipy.special as sps
import sympy as sp

import symml as sm
from symml.codegen.scalar import HELPER_NEEDS, HELPERS, ScalarPrinter, UnsupportedConstruct, scalar_block
from symml.nodes import leaves

n = sm.dims("n")
x = sm.tensor("x", (n,))
y = sm.tensor("y", (n,))
c = sm.tensor("c", (n,))
s = sm.scalar("s")


def ev(e, **arrays):
    """sm.evaluate with the arrays that ``e`` reads (a derivative may read fewer)."""
    if isinstance(e, dict):
        return {k: ev(v, **arrays) for k, v in e.items()}
    names = {t.name for t in leaves(e)}
    size = len(next(iter(arrays.values())))
    return sm.evaluate(e, dims={"n": size}, **{k: v for k, v in arrays.items() if k in names})


def _away_from(a, points, margin=0.05):
    """Nudge entries of ``a`` that lie within ``margin`` of any of ``points`` (ties, poles)."""
    a = np.array(a, dtype=float)
    for p in points:
        close = np.abs(a - p) < margin
        a[close] = p + margin * np.where(a[close] >= p, 2.0, -2.0)
    return a


# --------------------------------------------------------------------------- values


def _gamma_points(r, m, margin=0.25):
    """Half in (0.5, 8), half negative at least ``margin`` from a pole of Γ (in (−4, 0))."""
    pos = r.uniform(0.5, 8, m - m // 2)
    neg = -r.integers(1, 5, m // 2) + r.uniform(margin, 1 - margin, m // 2)
    return r.permutation(np.concatenate([pos, neg]))


UNARY = {  # name → (DSL op, numpy/scipy oracle, sampler of x)
    "sin": (sm.sin, np.sin, lambda r, m: r.uniform(-6, 6, m)),
    "cos": (sm.cos, np.cos, lambda r, m: r.uniform(-6, 6, m)),
    "tan": (sm.tan, np.tan, lambda r, m: r.uniform(-1.4, 1.4, m)),
    "erf": (sm.erf, sps.erf, lambda r, m: r.uniform(-4, 4, m)),
    "erfc": (sm.erfc, sps.erfc, lambda r, m: r.uniform(-4, 4, m)),
    "gelu": (sm.gelu, lambda v: v * sps.ndtr(v), lambda r, m: r.uniform(-5, 5, m)),
    "gelu_tanh": (lambda v: sm.gelu(v, approximate="tanh"),
                  lambda v: 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v**3))),
                  lambda r, m: r.uniform(-5, 5, m)),
    "sign": (sm.sign, np.sign, lambda r, m: _away_from(r.uniform(-3, 3, m), [0])),
    "lgamma": (sm.lgamma, sps.gammaln, lambda r, m: _gamma_points(r, m)),
    "digamma": (sm.digamma, sps.digamma, lambda r, m: _gamma_points(r, m)),
    "polygamma1": (lambda v: sm.polygamma(1, v), lambda v: sps.polygamma(1, v),
                   lambda r, m: _gamma_points(r, m)),
    "polygamma3": (lambda v: sm.polygamma(3, v), lambda v: sps.polygamma(3, v),
                   lambda r, m: _gamma_points(r, m, 0.35)),
}

BINARY = {  # name → (DSL op of (x, y), oracle)
    "maximum": (sm.maximum, np.maximum),
    "minimum": (sm.minimum, np.minimum),
    "clip_tensor_bounds": (lambda a, b: sm.clip(a, b - 1, b + 1), lambda a, b: np.clip(a, b - 1, b + 1)),
    "where": (lambda a, b: sm.where(a > b, sm.sin(a), b * b), lambda a, b: np.where(a > b, np.sin(a), b * b)),
    "where_and": (lambda a, b: sm.where((a > 0) & (b <= a), sm.log(a), a - b),
                  lambda a, b: np.where((a > 0) & (b <= a), np.log(np.abs(a)), a - b)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_match_numpy_and_scipy(name, rng):
    op, oracle, sample = UNARY[name]
    xs = sample(rng, 40)
    np.testing.assert_allclose(ev(op(x), x=xs), oracle(xs), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_values_match_numpy(name, rng):
    op, oracle = BINARY[name]
    xs, ys = _away_from(rng.uniform(-3, 3, 40), [0]), rng.uniform(-3, 3, 40)
    with np.errstate(all="ignore"):
        want = oracle(xs, ys)
    np.testing.assert_allclose(ev(op(x, y), x=xs, y=ys), want, rtol=1e-13)


def test_tensor_scalar_broadcasting(rng):
    xs, sv = rng.uniform(-3, 3, 7), 0.3
    np.testing.assert_allclose(ev(sm.maximum(x, s), x=xs, s=sv), np.maximum(xs, sv))
    np.testing.assert_allclose(ev(sm.minimum(0.5, x), x=xs), np.minimum(0.5, xs))
    np.testing.assert_allclose(ev(sm.clip(x, -1, 1), x=xs), np.clip(xs, -1, 1))
    np.testing.assert_allclose(ev(sm.clip(x, hi=0.0), x=xs), np.minimum(xs, 0.0))
    np.testing.assert_allclose(ev(sm.clip(x, np.int64(-1), np.float64(0.5)), x=xs), np.clip(xs, -1, 0.5))
    np.testing.assert_allclose(ev(sm.where(x > s, 1.0, x), x=xs, s=sv), np.where(xs > sv, 1.0, xs))
    m = sm.dims("m")
    A = sm.tensor("A", (m, n))
    As = rng.uniform(-3, 3, (4, 7))
    got = sm.evaluate(sm.where(A > x, A, x), A=As, x=xs)  # (m, n) against (n,), numpy's rule
    np.testing.assert_allclose(got, np.where(As > xs, As, xs))


def test_stable_forms_far_out():
    """GELU and erfc(−u) keep their digits where the textbook spelling cancels."""
    xs = np.array([-40.0, -12.0, -8.0, 0.0, 8.0, 1e4])
    want = np.array([float(mp.mpf(v) * mp.ncdf(v)) for v in xs])
    np.testing.assert_allclose(ev(sm.gelu(x), x=xs), want, rtol=1e-13)
    dwant = np.array([float(mp.ncdf(v) + mp.mpf(v) * mp.npdf(v)) for v in xs])
    np.testing.assert_allclose(ev(sm.grad(sm.sum(sm.gelu(x)), x), x=xs), dwant, rtol=1e-12)
    # erfc(−x) stays erfc(−x) (SymPy's own erfc would make it 2 − erfc(x), which is 0 here)
    np.testing.assert_allclose(ev(sm.erfc(-x), x=-xs[:3]), [float(mp.erfc(v)) for v in xs[:3]], rtol=1e-13)
    t = ev(sm.gelu(x, approximate="tanh"), x=np.array([-1e4, -30.0, 1e4]))
    assert np.all(np.isfinite(t)) and t[0] == 0.0 and t[2] == 1e4


# --------------------------------------------------------------------------- derivatives


def _check_grad(expr_of, point, wrt, rng):
    """∇ of Σ c ⊙ f against central differences of sm.evaluate, for each name in ``wrt``."""
    tensors = {"x": x, "y": y}
    L = sm.sum(c * expr_of(x, y))
    grads = {k: ev(sm.grad(L, tensors[k]), **point) for k in wrt}
    fd.check_grads(lambda **a: ev(L, **a), point, grads, rng)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradients_against_central_differences(name, rng):
    op, _, sample = UNARY[name]
    xs = sample(rng, 9)
    if name == "sign":  # its gradient is 0; differences away from 0 agree
        xs = _away_from(xs, [0], 0.5)
    _check_grad(lambda a, b: op(a), {"x": xs, "c": rng.standard_normal(9)}, ["x"], rng)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradients_against_central_differences(name, rng):
    op, _ = BINARY[name]
    xs = rng.uniform(0.2, 3, 9) * rng.choice([-1, 1], 9)
    ys = rng.uniform(-3, 3, 9)
    ys = np.where(np.abs(ys - xs) < 0.2, ys + 0.5, ys)  # no ties
    ys = np.where(np.abs(np.abs(ys - xs) - 1) < 0.2, ys + 0.5, ys)  # nor a clip bound
    _check_grad(op, {"x": xs, "y": ys, "c": rng.standard_normal(9)}, ["x", "y"], rng)


@pytest.mark.parametrize("op", [sm.tan, sm.erf, sm.gelu, lambda v: sm.gelu(v, approximate="tanh"), sm.lgamma,
                                sm.digamma, lambda v: sm.polygamma(2, v)],
                         ids=["tan", "erf", "gelu", "gelu_tanh", "lgamma", "digamma", "polygamma2"])
def test_hessians_against_central_differences_of_the_gradient(op, rng):
    xs = _away_from(rng.uniform(-2.5, 3, 5), range(-3, 1), 0.15)
    if op is sm.tan:
        xs = rng.uniform(-1.2, 1.2, 5)
    point = {"x": xs, "c": rng.standard_normal(5)}
    L = sm.sum(c * op(x))
    g = sm.grad(L, x)
    H = ev(sm.hessian(L, x), **point)
    fd.check_jacobians(lambda **a: ev(g, **a), point, {"x": H}, rng)


def test_hvp_of_a_loss_that_mixes_the_operations(rng):
    """∇²L·v (sm.hvp, reverse over reverse) against central differences of ∇L, in (x, y) together."""
    L = sm.sum(c * sm.where(x > y, sm.gelu(x) * sm.sin(y), sm.erf(x * y) + sm.maximum(x, 0.5 * y))
               + sm.lgamma(x * x + 1) + sm.tan(0.3 * y) * sm.digamma(x * x + 0.5))
    vx, vy = sm.tensor("vx", (n,)), sm.tensor("vy", (n,))
    m = 8
    xs = rng.uniform(-2, 2, m)
    ys = xs + rng.choice([-1, 1], m) * rng.uniform(0.3, 1.5, m)  # no ties of x > y or max(x, y/2)
    ys = np.where(np.abs(xs - 0.5 * ys) < 0.2, ys + 1.0, ys)
    ys = np.where(np.abs(xs - ys) < 0.2, ys + 0.5, ys)
    point = {"x": xs, "y": ys, "c": rng.standard_normal(m)}
    gx, gy = sm.grad(L, [x, y])
    hx, hy = sm.hvp(L, [x, y], [vx, vy])
    for _ in range(2):
        d = {"x": rng.standard_normal(m), "y": rng.standard_normal(m)}
        an = np.concatenate([ev(hx, vx=d["x"], vy=d["y"], **point), ev(hy, vx=d["x"], vy=d["y"], **point)])
        fscale = float(np.max(np.abs(np.concatenate([ev(gx, **point), ev(gy, **point)]))))
        h = fd.step_size(point, ["x", "y"])
        num = fd.central_difference(lambda **a: np.concatenate([ev(gx, **a), ev(gy, **a)]), point, d, h)
        fd.assert_close(an, num, fscale, fd.tolerance(), "hvp")


def test_subgradients_at_ties_follow_jax():
    """maximum/minimum split a tie ½–½, clip gives ½ on a bound, sign 0, where the branch taken."""
    xs, ys = np.array([1.0, 2.0, -1.0]), np.array([1.0, 0.0, 3.0])
    gx = ev(sm.grad(sm.sum(sm.maximum(x, y)), x), x=xs, y=ys)
    gy = ev(sm.grad(sm.sum(sm.maximum(x, y)), y), x=xs, y=ys)
    np.testing.assert_array_equal(gx, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gy, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(ev(sm.grad(sm.sum(sm.minimum(x, y)), x), x=xs, y=ys), [0.5, 0.0, 1.0])
    b = np.array([-1.0, 1.0, 0.0, 3.0, -3.0])
    np.testing.assert_array_equal(ev(sm.grad(sm.sum(sm.clip(x, -1, 1)), x), x=b), [0.5, 0.5, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(ev(sm.grad(sm.sum(sm.sign(x)), x), x=b), np.zeros(5))
    gw = ev(sm.grad(sm.sum(sm.where(x > 0, 3 * x, -x)), x), x=b)
    np.testing.assert_array_equal(gw, [-1.0, 3.0, -1.0, 3.0, -1.0])  # x = 0 is not > 0: the else branch
    # the unselected branch is never evaluated where it is undefined
    g = ev(sm.grad(sm.sum(sm.where(x > 0, sm.log(x), 0)), x), x=b)
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0, 1 / 3, 0.0])


# --------------------------------------------------------------------------- numba helpers as plain Python


@pytest.fixture(scope="module")
def helpers():
    ns = {"np": np, "njit": lambda *a, **k: (lambda f: f)}
    for name in ("_erf", "_erfc", "_lgamma", "_polygamma", "_gelu", "_gelu_tanh", "_sigmoid", "_heaviside"):
        for h in (name, *HELPER_NEEDS.get(name, ())):
            exec(HELPERS[h], ns)  # noqa: S102 - the helpers' own source, run without numba
    return ns


def _rel_err(got, want, floor):
    return abs(got - want) / max(abs(want), floor)


def test_erf_erfc_helpers_against_mpmath(helpers, rng):
    xs = np.concatenate([rng.uniform(-6, 6, 300), rng.uniform(-0.6, 0.6, 100), rng.uniform(6, 27, 100),
                         [0.0, 0.5, -0.5, 1e-300, -26.0, 26.5, 30.0]])
    for v in xs:
        assert _rel_err(helpers["_erf"](v), float(mp.erf(v)), 1e-300) < 2e-15, v
        assert _rel_err(helpers["_erfc"](v), float(mp.erfc(v)), 1e-300) < 2e-15, v
    assert math.isnan(helpers["_erf"](math.nan)) and math.isnan(helpers["_erfc"](math.nan))
    assert helpers["_erfc"](-40.0) == 2.0 and helpers["_erf"](40.0) == 1.0


def test_lgamma_helper_against_scipy_including_negative_x(helpers, rng):
    xs = np.concatenate([rng.uniform(0.01, 30, 200), 10 ** rng.uniform(-3, 8, 100), -rng.uniform(0.01, 60, 200)])
    xs = xs[np.abs(xs - np.round(xs)) > 1e-3]
    for v in xs:
        assert abs(helpers["_lgamma"](v) - sps.gammaln(v)) <= 1e-13 * max(1.0, abs(sps.gammaln(v))), v
    assert helpers["_lgamma"](-2.0) == math.inf


@pytest.mark.parametrize("k", [0, 1, 2, 3, 5])
def test_polygamma_helper_against_mpmath(helpers, rng, k):
    xs = np.concatenate([rng.uniform(0.01, 30, 150), 10 ** rng.uniform(-3, 6, 50), -rng.uniform(0.01, 40, 150),
                         [0.5, -0.5, -1.5, 1e-3, 1.4616321449683622]])
    xs = xs[np.abs(xs - np.round(xs)) > 1e-3]
    for v in xs:
        want = float(mp.polygamma(k, v))
        # relative, or absolute near a root (ψ(1.4616…) = 0 and ψ″ changes sign below 0)
        assert _rel_err(helpers["_polygamma"](k, v), want, 1e-3) < 1e-12, (k, v)
    assert math.isnan(helpers["_polygamma"](k, -3.0)) and math.isnan(helpers["_polygamma"](k, 0.0))


def test_gelu_and_heaviside_helpers(helpers):
    for v in (-30.0, -3.0, -0.2, 0.0, 0.7, 4.0):
        # GELU's relative condition number is about x²: x/√2 rounded costs x²ε, in any implementation
        assert _rel_err(helpers["_gelu"](v), float(mp.mpf(v) * mp.ncdf(v)), 1e-300) < 2e-15 * max(1.0, v * v)
        want = 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
        assert abs(helpers["_gelu_tanh"](v) - want) < 1e-15 * max(1, abs(v))
    assert [helpers["_heaviside"](v, 0.5) for v in (-1.0, 0.0, 2.0)] == [0.0, 0.5, 1.0]


def test_codegen_spells_where_and_polygamma():
    a, b = sp.symbols("a b", real=True)
    p = ScalarPrinter({a: "a", b: "b"})
    src = p(sp.Piecewise((sp.log(a), (a > 0) & sp.Ne(b, 1)), (b, True)))
    assert src == "(_log(a) if ((a > 0.0) and (b != 1.0)) else b)"
    for av, bv in [(2.0, 3.0), (-1.0, 3.0), (2.0, 1.0)]:
        want = math.log(av) if av > 0 and bv != 1 else bv
        assert eval(src, {"np": np, "_log": math.log}, {"a": av, "b": bv}) == want  # the printer's own output
    assert p(sp.polygamma(0, a)) == "_polygamma(0, a)" and "_polygamma" in p.helpers
    assert p(sp.erf(a)) == "_erf(a)" and {"_erf_series", "_erfc_tail"} <= p.helpers
    with pytest.raises(UnsupportedConstruct, match="integer k"):
        p(sp.polygamma(sp.Symbol("k"), a))


def test_where_branches_are_statements_that_keep_their_subexpressions():
    """CSE never hoists a branch's 1/x out of its branch: at x = 0 nothing divides by zero.

    Plain Python, like numba, raises ZeroDivisionError on 1.0 / 0.0, so running the lines is the test.
    """
    a = sp.Symbol("a", real=True)
    sinc = sp.Piecewise((sp.sin(a) / a, sp.Ne(a, 0)), (1, True))
    expr = sp.diff(sinc**2, a, 2) + sinc  # the second derivative repeats 1/a² in the guarded branch
    lines, _ = scalar_block(expr, {a: "a"}, "out = ", "", "c_")
    for av in (0.0, 0.7, -2.0):
        env = {"a": av}
        exec("\n".join(lines), {"np": np}, env)  # noqa: S102 - the generated lines themselves
        want = 1.0 if av == 0 else float(expr.subs(a, av))
        assert math.isclose(env["out"], want, rel_tol=1e-12), (av, lines)


# --------------------------------------------------------------------------- a compiled kernel


@pytest.mark.compile
def test_one_kernel_agrees_with_evaluate(rng):
    """Every operation and its gradient, as outputs of one sm.compile call (one numba compile)."""
    def unary(f):
        return lambda a, b: f(a)

    ops = {name: unary(op) for name, (op, _, _) in UNARY.items()}
    ops.update({name: op for name, (op, _) in BINARY.items()})
    ops["clip_numbers"] = lambda a, b: sm.clip(a, -1, 1)
    ops["erfc_neg"] = lambda a, b: sm.erfc(-a)
    outs = {}
    for name, op in ops.items():
        e = op(x, y)
        outs[name] = e
        outs["grad_" + name] = sm.grad(sm.sum(c * e), x)
    for name in ("gelu", "where_and", "lgamma", "maximum", "polygamma1"):  # reductions in the same kernel
        outs["loss_" + name] = sm.sum(c * outs[name])
    sinc = sm.where(x != 0, sm.sin(x) / x, 1.0)
    outs["sinc"], outs["grad_sinc"] = sinc, sm.grad(sm.sum(c * sinc * sinc), x)
    kernel = sm.compile(outs)
    m = 70_000  # inputs of more than PARALLEL_MIN_SIZE numbers: the threaded row loop
    xs = _away_from(rng.uniform(-4.5, 6, m), range(-5, 1), 0.05)
    point = {"x": xs, "y": rng.uniform(-3, 3, m), "c": rng.standard_normal(m)}
    got = kernel(**{k: v for k, v in point.items() if any(t.name == k for e in outs.values() for t in leaves(e))})
    for name, e in outs.items():
        with np.errstate(all="ignore"):
            want = ev(e, **point)
        np.testing.assert_allclose(np.asarray(got[name]), want, rtol=1e-11, atol=1e-12, err_msg=name)
    # the same kernel where x = 0: the guarded 1/x is never computed, so no division-by-zero refusal
    small = {"x": np.array([0.0, 0.5, 0.0, 2.0]), "y": np.array([1.0, -1.0, 0.5, 3.0]), "c": np.ones(4)}
    got = kernel(**{k: v for k, v in small.items() if k in point})
    np.testing.assert_allclose(got["sinc"], [1.0, np.sin(0.5) / 0.5, 1.0, np.sin(2.0) / 2.0], rtol=1e-14)
    np.testing.assert_allclose(got["grad_sinc"], ev(outs["grad_sinc"], **small), rtol=1e-12)


# --------------------------------------------------------------------------- printing


PRINTED = [  # expression, unicode, LaTeX
    (sm.tan(x), "tan(x)", r"\tan\left(x\right)"),
    (sm.erfc(x), "erfc(x)", r"\operatorname{erfc}\left(x\right)"),
    (sm.gelu(x), "GELU(x)", r"\operatorname{GELU}\left(x\right)"),
    (sm.gelu(x, approximate="tanh"), "GELUₜₐₙₕ(x)", r"\operatorname{GELU}_{\tanh}\left(x\right)"),
    (sm.sign(x), "sign(x)", r"\operatorname{sign}\left(x\right)"),
    (sm.maximum(x, y), "max(x, y)", r"\max\left(x, y\right)"),
    (sm.lgamma(x), "log Γ(x)", r"\log\Gamma\left(x\right)"),
    (sm.digamma(x), "ψ(x)", r"\psi\left(x\right)"),
    (sm.polygamma(2, x), "ψ⁽²⁾(x)", r"\psi^{(2)}\left(x\right)"),
    (sm.grad(sm.sum(sm.maximum(x, y)), x), "H(x − y)", r"H\left(x - y\right)"),
    (sm.where(x > 0, x, 0), "where(x > 0, x, 0)", r"\begin{cases} x & x > 0 \\ 0 & \text{otherwise} \end{cases}"),
    (sm.where((x >= y) | ~(x != 1), x, y), "where(x = 1 ∨ x ≥ y, x, y)",
     r"\begin{cases} x & x = 1 \vee x \geq y \\ y & \text{otherwise} \end{cases}"),
]


@pytest.mark.parametrize("expr, text, tex", PRINTED, ids=[t for _, t, _ in PRINTED])
def test_printing(expr, text, tex):
    assert sm.pretty(expr) == text
    assert sm.latex(expr) == tex


def test_conditions_print():
    assert repr(x > 0) == "x > 0" and repr(x <= s) == "x ≤ s" and repr(sm.equal(x, y)) == "x = y"


# --------------------------------------------------------------------------- errors and ==


@pytest.mark.parametrize("make, match", [
    (lambda: sm.polygamma(-1, x), "order k must be an int >= 0"),
    (lambda: sm.polygamma(1.5, x), "order k must be an int >= 0"),
    (lambda: sm.clip(x, 2, 1), "expected lo <= hi, got lo=2 and hi=1"),
    (lambda: sm.clip(x, np.float64(2.5), np.int64(1)), "expected lo <= hi, got lo=2.5 and hi=1"),
    (lambda: sm.clip(x), "at least one bound"),
    (lambda: sm.clip(x, "a", 1), "lo must be a number"),
    (lambda: sm.where(x, x, y), "expected a condition such as x > 0"),
    (lambda: sm.where(True, x, y), "expected a condition such as x > 0"),
    (lambda: sm.gelu(x, approximate="fast"), "approximate must be 'none' or 'tanh'"),
    (lambda: bool(x > 0), "truth value of a comparison"),
    (lambda: x > sm.tensor("z", (n, n, 3)), "do not broadcast"),
    (lambda: (x > 0) & x, "combines conditions"),
])
def test_bad_input_gets_one_line_error(make, match):
    with pytest.raises((TypeError, ValueError), match=match) as info:
        make()
    assert "\n" not in str(info.value)


def test_equality_keeps_hashing_interning_and_membership():
    """``==`` gives a condition, yet its truth value is identity, as before: dicts, sets, ``in`` work."""
    same = x
    assert bool(x == same) and not bool(x == y) and bool(x != y) and not bool(x != same)
    assert x in [y, x] and y not in [x] and x in {x: 1} and len({x, y, sm.sin(x), sm.sin(x)}) == 3
    assert sm.sin(x) == sm.sin(x)  # interned: the same node
    assert (x == "x") is False and (x != None) is True  # noqa: E711 - not an expression: plain identity
    assert [x, y].index(y) == 1
    xs, ys = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])
    np.testing.assert_array_equal(ev(sm.where(x == y, 1.0, 0.0), x=xs, y=ys), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(ev(sm.where(sm.not_equal(x, 2), x, 0.0), x=xs), [1.0, 0.0, 3.0])
