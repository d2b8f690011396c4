"""Canonical forms in the graph (symml.simplify): each rule is exact, and each is proved here.

A rule is checked three ways where it applies: structurally (the node it builds is the node
expected, so printing, codegen and CSE see one thing), numerically (``sm.evaluate`` of the
canonical node against numpy of the expression as written), and through derivatives
(finite differences of the loss against the derivative of the canonical form). Stability:
forms recognised as softmax, softplus, σ, log σ and logsumexp evaluate like symml's own
primitives at logits of ±1000 and ±10⁴, where the elementary forms overflow.
"""
from __future__ import annotations

import numpy as np
import pytest

import symml as sm
from symml import functions as F
from symml.nodes import Einsum, Map, is_zero, leaves
from symml.structured import Inv, LogDet, LogSumExp, Solve

n, d, k = sm.dims("n d k")
X, y, w, x = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,)), sm.tensor("x", (d,))
A, B = sm.tensor("A", (d, d)), sm.tensor("B", (d, d))
S = sm.tensor("S", (d, d), positive_definite=True)
Z = sm.tensor("Z", (n, k))
lam = sm.scalar("lam")
s_ = sm.tensor("s", (n,))

RNG = np.random.default_rng(7)
M = RNG.normal(size=(3, 3))
VALUES = {
    "X": RNG.normal(size=(5, 3)), "y": RNG.normal(size=5), "w": RNG.normal(size=3), "x": RNG.normal(size=3),
    "A": 2 * np.eye(3) + 0.3 * RNG.normal(size=(3, 3)), "B": RNG.normal(size=(3, 3)),
    "S": M @ M.T + np.eye(3), "Z": RNG.normal(size=(5, 2)), "lam": 0.7, "s": RNG.normal(size=5),
}


def ev(e, **over):
    vals = dict(VALUES, **over)
    return np.asarray(sm.evaluate(e, **{t.name: vals[t.name] for t in leaves(e)}), float)


def fd_grad(f, name, h=1e-6):
    x0 = np.asarray(VALUES[name], float)
    g = np.zeros_like(x0)
    for idx in np.ndindex(x0.shape):
        xp, xm = x0.copy(), x0.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (ev(f, **{name: xp}) - ev(f, **{name: xm})) / (2 * h)
    return g


# --------------------------------------------------------------------------- structure


def test_equal_products_are_one_node():
    assert X.T @ s_ is s_ @ X
    assert sm.dot(x, w) is sm.dot(w, x)
    assert sm.outer(x, w).T is sm.outer(w, x)


def test_transpose_and_inverse_cancel():
    assert A.T.T is A
    assert sm.inv(sm.inv(A)) is A
    neg = -(X @ w)
    assert -neg is X @ w


def test_differences_of_equal_terms_are_zero():
    assert is_zero(X @ w - X @ w)
    assert is_zero(2 * (A @ B) - 2 * (A @ B))
    assert is_zero((A @ B) * 3 - 3 * (A @ B))


def test_like_terms_collect_and_coefficients_fold():
    assert 2 * (A @ B) + A @ B is 3 * (A @ B)
    assert sm.pretty(2 * (A @ B) + A @ B) == "3AB"
    assert sm.pretty(sm.grad(lam / 2 * (w @ w), w)) == "λw"
    g = sm.grad(sm.trace(A @ A @ A), A)
    assert sm.pretty(g) == "3(A²)ᵀ"
    np.testing.assert_allclose(ev(g), 3 * (VALUES["A"] @ VALUES["A"]).T, rtol=1e-12)


def test_a_difference_prints_as_a_minus_b():
    assert sm.pretty(sm.hessian(sm.log(sm.sum(sm.exp(x))), x)) == "diag(softmax(x)) − softmax(x) softmax(x)ᵀ"
    assert " + (−" not in sm.pretty(sm.grad(sm.logdet(S) / 2 + (x @ sm.solve(S, x)) / 2, S))


def test_determinant_cancels_against_its_reciprocal():
    g = sm.grad(sm.log(sm.det(A)), A)
    assert isinstance(g, Einsum) and g.operands == (Inv.new(A),)
    np.testing.assert_allclose(ev(g), np.linalg.inv(VALUES["A"]).T, rtol=1e-12)
    np.testing.assert_allclose(ev(g), fd_grad(sm.log(sm.det(A)), "A"), rtol=1e-6)


def test_an_inverse_times_a_vector_is_a_solve():
    e = sm.inv(A) @ x
    assert isinstance(e, Solve)
    np.testing.assert_allclose(ev(e), np.linalg.solve(VALUES["A"], VALUES["x"]), rtol=1e-12)
    g = sm.grad((x - w) @ sm.solve(S, x - w), w)
    assert sm.pretty(g) == "−2S⁻¹(x − w)"
    np.testing.assert_allclose(ev(g), fd_grad((x - w) @ sm.solve(S, x - w), "w"), rtol=1e-6)


# --------------------------------------------------------------------------- symmetry


def test_declared_and_derived_symmetry():
    assert S.T is S
    assert sm.inv(S).T is sm.inv(S)
    G = X.T @ X
    assert G.T is G
    assert A.T is not A
    assert sm.pretty(sm.grad(x @ S @ x, x)) == "2Sx"
    assert sm.pretty(sm.grad(sm.logdet(S), S)) == "S⁻¹"
    assert sm.pretty(sm.grad(sm.logdet(A), A)) == "A⁻ᵀ"


def test_symmetric_rules_agree_with_finite_differences():
    for f in (x @ S @ x, sm.trace(sm.inv(S) @ B), sm.sum((X @ X.T) * (X @ X.T))):
        for t in leaves(f):
            if t.name in ("x", "B", "X"):
                np.testing.assert_allclose(ev(sm.grad(f, t)), fd_grad(f, t.name), rtol=1e-6, atol=1e-8)


def test_log_det_of_a_positive_definite_matrix_is_logdet():
    e = sm.log(sm.det(S))
    assert isinstance(e, LogDet)
    np.testing.assert_allclose(ev(e), np.linalg.slogdet(VALUES["S"])[1], rtol=1e-12)
    assert not isinstance(sm.log(sm.det(A)), LogDet)  # det A may be negative


def test_flags_are_checked():
    with pytest.raises(ValueError, match="square matrix"):
        sm.tensor("V", (n, d), symmetric=True)
    with pytest.raises(ValueError, match="positive_definite=True needs a square"):
        sm.tensor("V", (d,), positive_definite=True)
    with pytest.raises(TypeError, match="True or False"):
        sm.tensor("V", (d, d), symmetric="yes")
    assert sm.tensor("V", (d, d), positive_definite=True).symmetric
    assert sm.tensor("V", (d, d)) is not sm.tensor("V", (d, d), symmetric=True)


# --------------------------------------------------------------------------- ML functions


RECOGNISED = [
    ("sigmoid", lambda z: 1 / (1 + sm.exp(-z)), F.sigmoid, lambda v: 1 / (1 + np.exp(-v))),
    ("sigmoid, ratio", lambda z: sm.exp(z) / (1 + sm.exp(z)), F.sigmoid, lambda v: np.exp(v) / (1 + np.exp(v))),
    ("softplus", lambda z: sm.log(1 + sm.exp(z)), F.softplus, lambda v: np.log1p(np.exp(v))),
    ("log sigmoid", lambda z: sm.log(1 / (1 + sm.exp(-z))), F.log_sigmoid, lambda v: -np.log1p(np.exp(-v))),
]


@pytest.mark.parametrize("name, build, func, reference", RECOGNISED, ids=[r[0] for r in RECOGNISED])
def test_elementary_forms_are_recognised(name, build, func, reference):
    e = build(X @ w)
    assert isinstance(e, Map) and e.expr.has(func)
    np.testing.assert_allclose(ev(e), reference(VALUES["X"] @ VALUES["w"]), rtol=1e-12)
    L = sm.sum(build(X @ w))
    np.testing.assert_allclose(ev(sm.grad(L, w)), fd_grad(L, "w"), rtol=1e-6)


def test_softmax_and_logsumexp_are_recognised():
    z = Z
    soft = sm.exp(z) / sm.expand_dims(sm.sum(sm.exp(z), axis=1), 1)
    assert soft is sm.softmax(z, axis=1)
    lse = sm.log(sm.sum(sm.exp(z), axis=1))
    assert isinstance(lse, LogSumExp) and lse is sm.logsumexp(z, axis=1)
    assert sm.exp(x) / sm.sum(sm.exp(x)) is sm.softmax(x)
    v = VALUES["Z"]
    np.testing.assert_allclose(ev(soft), np.exp(v) / np.exp(v).sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(ev(lse), np.log(np.exp(v).sum(1)), rtol=1e-12)
    assert sm.pretty(sm.grad(sm.log(sm.sum(sm.exp(x))), x)) == "softmax(x)"


# --------------------------------------------------------------------------- stability (issue 16 item 6)


@pytest.mark.parametrize("scale", [1e3, 1e4])
def test_recognised_forms_evaluate_stably(scale):
    logits = np.array([[scale, -scale], [0.5, -0.25], [-scale, scale], [scale, scale - 1], [0.0, 0.0]])
    z1 = logits[:, 0]
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # nothing overflows on the way
        soft = ev(sm.exp(Z) / sm.expand_dims(sm.sum(sm.exp(Z), axis=1), 1), Z=logits)
        own = ev(sm.softmax(Z, axis=1), Z=logits)
        lse = ev(sm.log(sm.sum(sm.exp(Z), axis=1)), Z=logits)
        sp_ = ev(sm.log(1 + sm.exp(s_)), s=z1)
        sig = ev(1 / (1 + sm.exp(-s_)), s=z1)
        lsig = ev(sm.log(1 / (1 + sm.exp(-s_))), s=z1)
    np.testing.assert_array_equal(soft, own)
    assert np.all(np.isfinite(soft)) and np.allclose(soft.sum(1), 1)
    np.testing.assert_allclose(lse, np.logaddexp(logits[:, 0], logits[:, 1]), rtol=1e-15)
    np.testing.assert_array_equal(sp_, ev(sm.softplus(s_), s=z1))
    np.testing.assert_allclose(sp_, np.logaddexp(0, z1), rtol=1e-15)
    np.testing.assert_array_equal(sig, ev(sm.sigmoid(s_), s=z1))
    np.testing.assert_allclose(lsig, -np.logaddexp(0, -z1), rtol=1e-15)


def test_gradients_of_recognised_forms_are_finite_at_large_logits():
    z1 = np.array([1e4, -1e4, 3.0, -2.0, 0.0])
    g = sm.grad(sm.sum(sm.log(1 + sm.exp(s_))), s_)
    np.testing.assert_allclose(ev(g, s=z1), F.sigmoid.numpy(z1), rtol=1e-15)


def test_a_softmax_sums_to_one_over_its_axis():
    total = sm.sum(sm.softmax(x))
    assert isinstance(total, Map) and not total.operands and total.expr == 1
    rows = sm.sum(sm.softmax(Z, axis=1), axis=1)
    assert isinstance(rows, Map) and not rows.operands and rows.expr == 1 and rows.shape == (n,)
    every = sm.sum(sm.softmax(Z, axis=1))
    assert isinstance(every, Map) and every.expr == n
    cols = sm.sum(sm.softmax(Z, axis=1), axis=0)  # not its axis: no rule
    v = VALUES["Z"]
    p = np.exp(v) / np.exp(v).sum(1, keepdims=True)
    np.testing.assert_allclose(ev(cols), p.sum(0), rtol=1e-12)
    np.testing.assert_allclose(ev(every, Z=v) if every.operands else 5.0, p.sum(), rtol=1e-12)
    # the exp(x)/Σ exp(x) a user writes sums to one as well, and its derivative agrees
    f = sm.sum(sm.exp(x) / sm.sum(sm.exp(x)) * x)
    np.testing.assert_allclose(ev(sm.grad(f, x)), fd_grad(f, "x"), rtol=1e-6)
