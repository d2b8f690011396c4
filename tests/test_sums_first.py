"""A sum over rows of matrix products is taken before the product where only one factor has rows.

Σ_n of u Pᵀ (u: n × d, P: d × d) is (Σ_n u)Pᵀ: n·d + d² operations, not n·d². The lowering
(:mod:`symml.lowering`) splits a plain sum of terms of one sign so that such a term sums first;
the evaluator and the kernels both read it. A contraction reads a named multiple of one value
as that value (uᵀ(u/2) is the Gram uᵀu/2), and sm.compile's maps read the named values whose
expressions they repeat.
"""
import numpy as np
import pytest
import sympy as sp

import symml as sm
from symml.lowering import bounded, presummed
from symml.nodes import Einsum, Let, walk

n, d = sm.dims("n d")
X, mu, P = sm.tensor("X", (n, d)), sm.tensor("mu", (d,)), sm.tensor("P", (d, d))
L = sm.sum(((X - mu) @ P) * (X - mu)) / 2 - n * sm.logdet(P) / 2


def matrix_products(roots) -> int:
    """Contractions that make an n × d array from two operands (the kernel's n·d² work)."""
    return sum(1 for e in walk(list(roots)) if isinstance(e, Einsum) and len(e.operands) >= 2
               and e.shape == (n, d))


def test_the_gaussian_mean_gradient_sums_its_rows_before_the_product():
    g = sm.grad(L, mu)
    assert matrix_products([g]) == 2     # (X − μ)P and (X − μ)Pᵀ, each n × d
    low = bounded([g])
    assert matrix_products(low) == 0     # (Σ_n (X − μ))(P + Pᵀ): no n × d product left
    assert any(isinstance(e, Let) and e.name == "rowsum" for e in walk(low))


def test_a_named_multiple_of_a_value_is_read_as_that_value_in_a_contraction():
    u = sm.let("u", X - mu)
    half = sm.let("half_u", u / 2)
    G = bounded([u.T @ half])[0]
    assert isinstance(G, Einsum) and G.coef == sp.Rational(1, 2) and G.operands[0] is G.operands[1] is u


def test_a_compiled_map_reads_the_named_value_it_repeats():
    from symml.codegen.plan import named_values
    maps = [e for e in walk([named_values(L)]) if isinstance(e, sm.nodes.Map) and e.shape == (n, d)]
    names = [[getattr(o, "name", "") for o in e.operands] for e in maps]
    assert ["z", "u"] in names     # z ∘ (X − μ) reads u = X − μ, named as the product's operand
    assert ["X", ""] in names and len(maps) == 2    # u itself: no other map repeats X − μ


def test_presummed_sums_an_index_only_one_operand_carries():
    u = X - mu
    e = sm.nodes.make_einsum([P, u], [[0, 1], [2, 1]], [0], {0: d, 1: d, 2: n})
    s = presummed(e)
    assert s is not e and not any(x.shape == (n, d) and isinstance(x, Einsum) and len(x.operands) > 1
                                  for x in walk([s]))
    assert presummed(P @ mu) is (P @ mu)  # nothing to sum first


@pytest.mark.compile
def test_the_gaussian_kernel_agrees_with_numpy_and_finite_differences(rng):
    outs = {"loss": L, "grad": sm.grad(L, [mu, P])}
    k = sm.compile(outs)
    a = {"X": rng.normal(size=(3001, 7)) + 2.0, "mu": rng.normal(size=7)}
    B = rng.normal(size=(7, 7))
    a["P"] = B @ B.T + 7 * np.eye(7)
    Xc = a["X"] - a["mu"]
    want_mu = -Xc.sum(0) @ (a["P"] + a["P"].T) / 2      # the gradient in μ by hand, as an outside check
    for parallel in (False, True):
        out = k(**a, parallel=parallel)
        np.testing.assert_allclose(out["grad"][0], want_mu, rtol=1e-11)
        ref = sm.evaluate(outs, **a)
        np.testing.assert_allclose(out["grad"][1], ref["grad"][1], rtol=1e-11)
        assert out["loss"] == pytest.approx(ref["loss"], rel=1e-12)
    src = k.path.read_text()
    assert "rowsum" in src and src.count("_dot_nn(") == 1    # (X − μ)P only; no (X − μ)Pᵀ
    assert "_syrk_gram(u, 0.5)" in src      # ∂L/∂P's rᵀr/2: δz = r/2 reads the named r = X − μ
    assert "def _kernel_chunk_blk(" in src  # the Gram beside uP runs by blocks of rows, on threads too
    assert k.check(sizes={"n": 9, "d": 3}).passed   # P is drawn positive definite (it has a log det)
