"""Matrix products with few columns as loops (``_dot_nn``, ``_dot_tn`` in symml.codegen.blas).

The kernels call them for every matrix product; they run loops for 2 to 10 columns and np.dot
otherwise. Each is compared with numpy's product on both sides of every threshold, in float64
and float32, on strided and transposed operands, and with NaN and inf in the inputs.
"""
import sys

import numpy as np
import pytest

from symml.codegen.jit import runtime_module

pytestmark = pytest.mark.compile


@pytest.fixture(scope="module")
def rt():
    import importlib

    name = runtime_module()
    return sys.modules.get(name) or importlib.import_module(name)


SHAPES = [(n, d, K) for n in (1, 3, 4, 5, 301) for d in (3, 8, 100) for K in (1, 2, 10, 11)]


@pytest.mark.parametrize("n, d, K", SHAPES)
def test_both_products_equal_numpys_on_both_sides_of_each_threshold(rt, rng, n, d, K):
    A, B, D = rng.normal(size=(n, d)), rng.normal(size=(d, K)), rng.normal(size=(n, K))
    got, want = rt._dot_nn(A, B), A @ B
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * d)
    got, want = rt._dot_tn(A, D), A.T @ D
    assert got.shape == want.shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * n)


def test_float32_views_and_non_finite_entries(rt, rng):
    A = rng.normal(size=(50, 40)).astype(np.float32)
    W = rng.normal(size=(6, 40)).astype(np.float32)  # used as Wᵀ, a transposed view
    got = rt._dot_nn(A, W.T)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, A.astype(np.float64) @ W.T.astype(np.float64), rtol=1e-5, atol=1e-4)
    D = rng.normal(size=(50, 6)).astype(np.float32)
    got = rt._dot_tn(A, D)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, A.T.astype(np.float64) @ D, rtol=1e-5, atol=1e-4)
    A64, B64 = rng.normal(size=(9, 12)), rng.normal(size=(12, 3))
    A64[2, 5], B64[7, 1] = np.nan, np.inf
    np.testing.assert_array_equal(np.isnan(rt._dot_nn(A64, B64)), np.isnan(A64 @ B64))
    D64 = rng.normal(size=(9, 3))
    D64[4, 0] = np.inf
    np.testing.assert_array_equal(np.isnan(rt._dot_tn(A64, D64)), np.isnan(A64.T @ D64))
    np.testing.assert_array_equal(np.isinf(rt._dot_tn(A64, D64)), np.isinf(A64.T @ D64))
