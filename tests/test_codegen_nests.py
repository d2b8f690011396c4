"""Elementwise loop nests over one domain run as one (symml/codegen/emit_nests.py), and the full
sum of a map nothing else reads is a loop with no array (emit_sums.py).

The joining rules are tested on hand-written nests; what they do to real kernels is read from the
emitted source of a catalog module and of a kernel a user compiles; that the kernels still compute
the same values, from the finite-difference and evaluate tests of every module, and here.
"""
import sys

import numpy as np
import pytest

import symml as sm
from symml.build import generated_source
from symml.codegen.emit_nests import Nest, NestMerge


class _Body(NestMerge):
    def __init__(self, text, nests):
        self.lines = text.strip("\n").split("\n")
        self.nests = nests

    def merged(self, outs=("out",)):
        return "\n".join(self._merge_nests([True] * len(self.lines), set(outs)))


LOOPS = "for i0 in range(n):\n    for i1 in range(m):\n"


def _two(second: str, between: str = ""):
    """A map a over (n, m), optionally a line, then a map b whose statement is `second`."""
    text = ("a = np.empty((n, m), dtype=dt)\n" + LOOPS + "        a[i0, i1] = x[i0, i1] + 1.0\n" + between
            + "out = np.empty((n, m), dtype=dt)\n" + LOOPS + f"        out[i0, i1] = {second}\n")
    k = 4 + between.count("\n")
    return _Body(text, [Nest("a", "map", 0, 1, 3, 4, 4, "i0, i1"), Nest("out", "map", k, k + 1, k + 3, k + 4, k + 4,
                                                                         "i0, i1")])


def test_a_map_read_at_the_same_index_joins_and_becomes_a_local():
    got = _two("np.tanh(a[i0, i1])").merged()
    assert got == ("out = np.empty((n, m), dtype=dt)\n" + LOOPS
                   + "        a = x[i0, i1] + 1.0\n        out[i0, i1] = np.tanh(a)")


def test_a_map_read_after_the_loop_stays_an_array():
    body = _two("np.tanh(a[i0, i1])")
    body.lines.append("s = a.sum()")
    got = body.merged()
    assert "a = np.empty" in got and "a[i0, i1] = x[i0, i1] + 1.0" in got and got.count("for i0") == 1


@pytest.mark.parametrize("second, between", [
    ("a[i1, i0]", ""),  # another index than the iteration's
    ("a[i0, 0]", ""),
    ("x[i0, i1] * c", "c = a.max()\n"),  # reads what a line between them computes
])
def test_a_nest_that_needs_more_than_the_same_entry_stays_apart(second, between):
    got = _two(second, between).merged()
    assert got.count("for i0") == 2


def test_a_sum_is_complete_only_after_its_loop():
    text = ("s = 0.0\n" + LOOPS + "        s += x[i0, i1]\n" + "s = 0.5 * s\n"
            + "out = np.empty((n, m), dtype=dt)\n" + LOOPS + "        out[i0, i1] = x[i0, i1] * s\n")
    body = _Body(text, [Nest("s", "sum", 0, 1, 3, 4, 5, "i0, i1"), Nest("out", "map", 5, 6, 8, 9, 9, "i0, i1")])
    assert body.merged().count("for i0") == 2


def test_loops_of_another_domain_do_not_join():
    text = ("a = np.empty((n, m), dtype=dt)\n" + LOOPS + "        a[i0, i1] = x[i0, i1]\n"
            + "out = np.empty((n, k), dtype=dt)\nfor i0 in range(n):\n    for i1 in range(k):\n"
            + "        out[i0, i1] = y[i0, i1]\n")
    body = _Body(text, [Nest("a", "map", 0, 1, 3, 4, 4, "i0, i1"), Nest("out", "map", 4, 5, 7, 8, 8, "i0, i1")])
    assert body.merged() == "\n".join(body.lines)


def test_the_mlp_adds_its_bias_inside_the_tanh_loop():
    src = generated_source("mlp")
    chunk = src[src.index("def _value_and_grad_chunk("):src.index("def value_and_grad_chunk(")]
    assert "    a1 = np.empty" not in chunk and "            a1 = t1[i0, i1] + b1[i1]" in chunk
    assert "h1[i0, i1] = _tanh(a1)" in chunk


def _masked_mf():
    n, m, r = sm.dims("n m r")
    R, Mask = sm.tensor("R", (n, m)), sm.tensor("Mask", (n, m))
    U, V, lam = sm.tensor("U", (n, r)), sm.tensor("V", (m, r)), sm.scalar("lam")
    L = sm.sum(Mask * (R - U @ V.T) ** 2) / 2 + lam / 2 * (sm.norm2(U) + sm.norm2(V))
    return sm.compile({"loss": L, "grad": sm.grad(L, [U, V])})


def test_a_masked_factorisation_reads_its_residual_once():
    """Σ Mask ⊙ (R − UVᵀ)² and δ = −Mask ⊙ (R − UVᵀ): one pass over the n × m arrays, no array for
    the squared residual."""
    k = _masked_mf()
    with open(sys.modules[k._fn.__module__].__file__) as f:
        src = f.read()
    assert src.count("for i1 in range(m):") == 1  # the one loop over the n × m entries
    assert src.count("= np.empty((n, m)") == 1  # δ; the loss's terms are summed where they are made


@pytest.mark.compile
def test_the_joined_masked_factorisation_is_the_plain_one():
    k = _masked_mf()
    rng = np.random.default_rng(3)
    U, V = rng.normal(size=(7, 2)), rng.normal(size=(5, 2))
    R, M = rng.normal(size=(7, 5)), (rng.random((7, 5)) < 0.5) * 1.0
    out = k(U=U, V=V, R=R, Mask=M, lam=0.3)
    E = M * (R - U @ V.T)
    assert np.isclose(out["loss"], np.sum(E * (R - U @ V.T)) / 2 + 0.15 * (np.sum(U * U) + np.sum(V * V)), rtol=1e-13)
    np.testing.assert_allclose(out["grad"][0], -E @ V + 0.3 * U, rtol=1e-12)
    np.testing.assert_allclose(out["grad"][1], -E.T @ U + 0.3 * V, rtol=1e-12)


def _source(outputs):
    k = sm.compile(outputs)
    with open(sys.modules[k._fn.__module__].__file__) as f:
        src = f.read()
    return k, src[src.index("@njit"):src.index("def kernel(")]


@pytest.mark.compile
def test_a_column_sum_is_added_up_where_its_map_is_made_and_a_row_sum_in_a_register():
    n, d = sm.dims("n d")
    X = sm.tensor("X", (n, d))
    x = np.random.default_rng(4).normal(size=(9, 6))
    col, src = _source({"s": sm.sum(sm.tanh(X) * 2 + 1, axis=0)})
    assert "np.empty((n, d)" not in src and "[i1] += " in src  # the map is a local of the loop
    np.testing.assert_allclose(col(X=x)["s"], (np.tanh(x) * 2 + 1).sum(0), rtol=1e-14)
    row, src = _source({"s": 3 * sm.sum(sm.tanh(X) * 2 + 1, axis=1)})
    # Σ over the inner axis into s[i0] would add into one entry per iteration: a register instead
    assert "np.empty((n, d)" not in src and "acc_ += " in src and "[i0] += " not in src
    np.testing.assert_allclose(row(X=x)["s"], 3 * (np.tanh(x) * 2 + 1).sum(1), rtol=1e-14)
