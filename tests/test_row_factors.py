"""Losses over a parameter with one row per sample, as a factorisation's row factor U in R ≈ UVᵀ.

Row i of U is read by row i of the data only, so the loss still splits by rows: the planner
gives it chunk kernels, the blocks of rows run on threads, and the gradient with respect to U
is a per-row output that the blocks write side by side. Each test compares with sm.evaluate
(numpy) at sizes that leave a partial last block, serially and on threads.
"""
import numpy as np
import pytest

import symml as sm
from symml.decompose import NotDecomposable, row_parameters, split_samples

pytestmark = pytest.mark.compile

n, m, r = sm.dims("n m r")
R, Mask = sm.tensor("R", (n, m)), sm.tensor("Mask", (n, m))
U, V, lam = sm.tensor("U", (n, r)), sm.tensor("V", (m, r)), sm.scalar("lam")
L_MF = sm.sum(Mask * (R - U @ V.T) ** 2) / 2 + lam / 2 * (sm.norm2(U) + sm.norm2(V))


def mf_inputs(rng, rows=1037, cols=300, rank=4):
    return {"R": rng.normal(size=(rows, cols)), "Mask": (rng.random((rows, cols)) < 0.4) * 1.0,
            "U": rng.normal(size=(rows, rank)), "V": rng.normal(size=(cols, rank)), "lam": 0.3}


def assert_same(got, want, rtol=1e-10):
    if isinstance(want, (tuple, list)):
        for g, w_ in zip(got, want):
            assert_same(g, w_, rtol)
    elif isinstance(want, dict):
        for key in want:
            assert_same(got[key], want[key], rtol)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-11 * max(1.0, float(np.max(np.abs(want)))))


def test_a_row_factor_is_read_row_by_row_as_the_data_are():
    data, others = [R, Mask], [U, V, lam]
    assert row_parameters(data, [U, V], others) == [U]
    split = split_samples(L_MF, data + [U], [V, lam])
    assert [t.name for t in split.rows] == ["R", "Mask", "U"]
    # ‖U‖² reads rows, so it is summed by blocks; ‖V‖² is the regulariser, added once
    assert split.reg_term is not None
    x, s = sm.tensor("x", (n,)), sm.scalar("s")
    assert row_parameters([x], [s], [s]) == []      # the data have a sample dimension of their own


def test_the_masked_factorisation_has_chunk_kernels_and_threads(rng):
    outs = {"loss": L_MF, "grad": sm.grad(L_MF, [U, V])}
    k = sm.compile(outs)
    c = k.chunks()
    assert c.rows == ["Mask", "R", "U"] and c.per_row == (1,)
    a = mf_inputs(rng)
    want = sm.evaluate(outs, **a)
    for parallel in (False, True):
        assert_same(k(**a, parallel=parallel), want)
    src = k.path.read_text()
    assert "a1_[lo_:hi_] = r_[1]" in src      # the blocks write their rows of ∇U, nothing is summed


def test_the_row_factors_gradient_and_hvp_agree_with_finite_differences(rng):
    vU, vV = sm.tensor("vU", (n, r)), sm.tensor("vV", (m, r))
    k = sm.compile({"loss": L_MF, "grad": sm.grad(L_MF, [U, V]), "hv": sm.hvp(L_MF, [U, V], [vU, vV])})
    assert k.chunks().rows == ["Mask", "R", "U", "vU"]
    a = {**mf_inputs(rng, rows=301, cols=40, rank=3)}
    a["vU"], a["vV"] = rng.normal(size=a["U"].shape), rng.normal(size=a["V"].shape)
    want = sm.evaluate({"loss": L_MF, "grad": sm.grad(L_MF, [U, V]), "hv": sm.hvp(L_MF, [U, V], [vU, vV])}, **a)
    for parallel in (False, True):
        assert_same(k(**a, parallel=parallel), want)
    assert k.check(sizes={"n": 7, "m": 5, "r": 2}).passed


def test_a_per_sample_offset_parameter_fuses_and_threads(rng):
    """b has one entry per sample: its gradient is a per-row output of the fused row loop."""
    d = sm.dims("d")
    X, y, w, b = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,)), sm.tensor("b", (n,))
    L = sm.sum(sm.softplus(-y * (X @ w + b))) + lam / 2 * (sm.norm2(w) + sm.norm2(b))
    outs = {"loss": L, "grad": sm.grad(L, [w, b])}
    k = sm.compile(outs)
    assert k.chunks().per_row == (2,)
    rows = 250_003
    a = {"X": rng.normal(size=(rows, 5)), "y": np.sign(rng.normal(size=rows)), "w": rng.normal(size=5),
         "b": rng.normal(size=rows) * 0.1, "lam": 0.5}
    want = sm.evaluate(outs, **a)
    for parallel in (False, True):
        assert_same(k(**a, parallel=parallel), want)


def test_an_output_with_the_rows_on_a_later_axis_keeps_one_kernel(rng):
    H = sm.hessian(L_MF, [U, V])
    k = sm.compile({"H": H})
    with pytest.raises(NotDecomposable, match="axis other than the first"):
        k.chunks()
    a = mf_inputs(rng, rows=6, cols=5, rank=2)
    assert_same(k(**a), sm.evaluate({"H": H}, **a))


def test_the_row_factor_runs_on_dask_with_its_gradient_put_together_in_order(rng):
    da = pytest.importorskip("dask.array")
    from symml import dask as smd

    outs = {"loss": L_MF, "grad": sm.grad(L_MF, [U, V])}
    k = sm.compile(outs)
    a = mf_inputs(rng, rows=530, cols=60, rank=3)
    lazy = {**a, "R": da.from_array(a["R"], chunks=(100, 60)), "Mask": da.from_array(a["Mask"], chunks=(100, 60)),
            "U": a["U"]}   # a numpy row factor is cut into the data's blocks
    assert_same(smd.run_kernel(k, **lazy, split_every=2), sm.evaluate(outs, **a))


def test_an_affine_total_keeps_the_rows_part_exact():
    """D = λΣx for L = λ(Σx + s²): written as λΣx itself, not as λ(Σx + s²) − λs², which loses
    Σx entirely when s² is 10²⁰."""
    x, s = sm.tensor("x", (n,)), sm.scalar("s")
    L = lam * (sm.sum(x) + s * s)
    k = sm.compile({"loss": L, "g": sm.grad(L, s)})
    c = k.chunks()
    xs = np.arange(1.0, 11.0)
    part = c.chunk(x=xs, s=1e10, lam=2.0, n_total=10.0)
    assert part["loss"] == pytest.approx(110.0, rel=1e-15)
    assert k(x=xs, s=1e10, lam=2.0)["loss"] == pytest.approx(2e20, rel=1e-15)
