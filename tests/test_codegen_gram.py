"""Gram products in generated kernels: Xᵀ diag(s) X and XᵀX on BLAS syrk, by blocks of rows.

Oracles: ``sm.evaluate`` (numpy, no shared code with codegen) for whole Hessian kernels, and
numpy products for the helpers. The pattern match and the emitted source need no numba;
everything that compiles is marked ``compile``.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import symml as sm
from symml.codegen import KernelSpec, module_source
from symml.codegen.blas import match_gram
from symml.nodes import Einsum, leaves, walk

ROOT = Path(__file__).resolve().parent.parent
n, d = sm.dims("n d")
X, Z = sm.tensor("X", (n, d)), sm.tensor("Z", (n, d))
y, nu, al = sm.tensor("y", (n,)), sm.tensor("nu", (n,)), sm.tensor("al", (n,))
w = sm.tensor("w", (d,))

#: Hessians in w: PSD weights, weights of both signs, all-negative weights, and 2XᵀX
LOSSES = {
    "logistic": sm.sum(sm.softplus(X @ w) - y * (X @ w)) + 0.5 * sm.norm2(w),
    "tanh": sm.sum(sm.tanh(X @ w)),
    "concave": -sm.sum(sm.softplus(X @ w)),
    "least_squares": sm.sum((X @ w - y) ** 2),
}
#: (n, d): n = 1, less than one block, several blocks with a short last one (small and large d)
SIZES = [(1, 3), (7, 4), (300, 7), (8229, 3), (2000, 1500)]
TOL = {np.float64: 1e-12, np.float32: 2e-5}


def _grams(expr):
    return [g for g in (match_gram(x) for x in walk([expr]) if isinstance(x, Einsum)) if g is not None]


# ---------------------------------------------------------------- no numba


def test_match_finds_weighted_and_plain_gram_products():
    (g,) = _grams(sm.hessian(LOSSES["logistic"], w))
    assert g.A is X and g.rows and len(g.weights) == 1 and g.weights[0].shape == (n,)
    (g,) = _grams(sm.hessian(LOSSES["least_squares"], w))
    assert g.A is X and g.rows and not g.weights
    (g,) = _grams(sm.einsum("ic,jc->ij", X, X))  # X Xᵀ
    assert g.A is X and not g.rows
    (g,) = _grams(sm.einsum("i,ic,jc->ij", y, X, X))  # diag(y) X Xᵀ: a row scaling after the product
    assert not g.weights and [(o.name, ax) for o, ax in g.scale] == [("y", 0)]


@pytest.mark.parametrize("expr", [
    sm.einsum("ci,cj->ij", X, Z),  # two different matrices: not symmetric
    sm.einsum("ci,jc->ij", sm.tensor("S", (d, d)), sm.tensor("S", (d, d))),  # (S S)ᵀ: indexed crosswise
    sm.einsum("ci,c,cj->i", X, y, X),  # no second output index
    sm.einsum("ci,k,cj->ij", X, sm.tensor("v", (d,)), X),  # a factor summed on its own
])
def test_match_refuses_what_is_not_a_gram_product(expr):
    assert not _grams(expr)


@pytest.mark.parametrize("name", list(LOSSES))
def test_hessian_source_has_no_n_by_d_temporary(name):
    H = sm.hessian(LOSSES[name], w)
    src = module_source("test", [KernelSpec("hessian", leaves(H), [H], layout="tuple")])
    call = "_syrk_gram(X, 2.0)" if name == "least_squares" else "_syrk_gram_weighted(X, "
    assert call in src
    assert "np.empty((n, d)" not in src and ".T, X)" not in src  # no X ⊙ s, no gemm with X


# ---------------------------------------------------------------- compiled kernels


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    old = os.environ.get("SYMML_CACHE_DIR")
    os.environ["SYMML_CACHE_DIR"] = str(tmp_path_factory.mktemp("kernels"))
    try:
        yield {name: (sm.hessian(L, w), sm.compile(sm.hessian(L, w))) for name, L in LOSSES.items()}
    finally:
        if old is None:
            del os.environ["SYMML_CACHE_DIR"]
        else:
            os.environ["SYMML_CACHE_DIR"] = old


def _inputs(k, rng, m, p, dt):
    a = dict(X=rng.normal(size=(m, p)), w=rng.normal(size=p) / np.sqrt(p), y=rng.normal(size=m))
    return {name: v.astype(dt) for name, v in a.items() if name in k.args}


@pytest.mark.compile
@pytest.mark.parametrize("dt", [np.float64, np.float32])
@pytest.mark.parametrize("m, p", SIZES)
@pytest.mark.parametrize("name", list(LOSSES))
def test_hessian_matches_evaluate(kernels, rng, name, m, p, dt):
    H, k = kernels[name]
    a = _inputs(k, rng, m, p, dt)
    got = k(**a)
    want = sm.evaluate(H, **{key: v.astype(np.float64) for key, v in a.items()})
    assert got.dtype == dt and got.shape == (p, p)
    assert np.array_equal(got, got.T), "the mirrored triangle must equal the computed one"
    scale = max(np.abs(want).max(), 1e-300)
    assert np.abs(got - want).max() <= TOL[dt] * scale


@pytest.mark.compile
def test_gram_of_rows_and_scaled_gram(tmp_path, monkeypatch, rng):
    """X Xᵀ (the contracted index last) and diag(y) X Xᵀ diag(y), as in dual problems."""
    monkeypatch.setenv("SYMML_CACHE_DIR", str(tmp_path))
    for H, wrt in [(sm.hessian(sm.norm2(X.T @ nu), nu), "nu"), (sm.hessian(0.5 * sm.norm2(X.T @ (al * y)), al), "al")]:
        k = sm.compile(H)
        assert "_syrk_gram(X.T" in k.path.read_text()
        for m, p in [(1, 2), (60, 9)]:
            a = {key: v for key, v in dict(X=rng.normal(size=(m, p)), y=np.sign(rng.normal(size=m))).items()
                 if key in k.args}
            got, want = k(**a), sm.evaluate(H, **a)
            assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max(), wrt


@pytest.fixture(scope="module")
def helpers(kernels):
    """The helpers as emitted into a generated module (taken from the compiled kernels)."""
    g = {**kernels["least_squares"][1]._fn.__globals__, **kernels["tanh"][1]._fn.__globals__}
    return g["_syrk_gram"], g["_syrk_gram_weighted"]


@pytest.mark.compile
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_gram_helper_reads_any_layout(helpers, rng, layout):
    gram, _ = helpers
    B = rng.normal(size=(40, 14))
    A = {"C": B, "F": np.asfortranarray(B), "strided": B[:, ::2]}[layout]
    got = gram(A, -0.5)
    assert np.allclose(got, -0.5 * (A.T @ A), rtol=1e-13, atol=1e-13) and np.array_equal(got, got.T)


@pytest.mark.compile
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_weighted_helper_signs_zeros_and_blocks(helpers, rng, dt):
    _, gram_weighted = helpers
    A = rng.normal(size=(5000, 300)).astype(dt)  # 1048576 // 300 = 3495 rows a block: two blocks
    for s in [rng.normal(size=5000), -rng.random(5000), np.zeros(5000), np.r_[np.ones(4000), -np.ones(1000)]]:
        s = s.astype(dt)
        got = gram_weighted(A, s, 2.0)
        want = 2.0 * (A.T.astype(np.float64) @ (s[:, None].astype(np.float64) * A))
        assert got.dtype == dt
        assert np.abs(got - want).max() <= TOL[dt] * max(np.abs(want).max(), 1.0)


@pytest.mark.compile
def test_weighted_helper_keeps_nan(helpers):
    """A NaN weight must reach the result (the wrappers then name the input that caused it)."""
    _, gram_weighted = helpers
    A, s = np.ones((9, 3)), np.ones(9)
    s[4] = np.nan
    assert np.isnan(gram_weighted(A, s, 1.0)).all()
    A[2, 1], s[4] = np.inf, -1.0
    got = gram_weighted(A, s, 1.0)
    assert np.isinf(got[1, 1]) and np.isfinite(got[0, 0])


SCRIPT = textwrap.dedent("""
    import json, warnings
    import numpy as np, symml as sm
    from numba.core.errors import NumbaWarning

    warnings.simplefilter("error", NumbaWarning)  # e.g. "cannot cache ... as it uses dynamic globals"
    n, d = sm.dims("n d")
    X, w = sm.tensor("X", (n, d)), sm.tensor("w", (d,))
    out = {"error": {}}
    rng = np.random.default_rng(0)
    for name, L in [("weighted", sm.sum(sm.tanh(X @ w))), ("plain", sm.norm2(X @ w))]:
        k = sm.compile({"H": sm.hessian(L, w), "g": sm.grad(L, w)})  # a fused kernel with a Gram product
        for m, p in [(50, 4), (2000, 120)]:  # the serial kernel and the twin
            a = {"X": rng.normal(size=(m, p)), "w": rng.normal(size=p)}
            H = k(**a)["H"]
            s = -2 * np.tanh(a["X"] @ a["w"]) / np.cosh(a["X"] @ a["w"]) ** 2 if name == "weighted" else 2 * np.ones(m)
            out["error"][f"{name} {m}"] = float(np.abs(H - a["X"].T @ (s[:, None] * a["X"])).max())
        sm.finish_compiling()  # the twin compiles behind the first call that would run it
        g = k._fn.__globals__
        # a weighted Gram's twin splits the rows over threads; a plain one is one syrk that BLAS threads
        assert ("_kernel_chunk_tw" in g) == ("_kernel_par" in g) == (name == "weighted")
        out[name] = {f: [len(v.stats.cache_hits), len(v.stats.cache_misses)] for f, v in g.items()
                     if f.startswith("_kernel") and hasattr(v, "stats")}  # the module's njit kernels
    print(json.dumps(out))
""")


@pytest.mark.compile
def test_cached_kernel_links_blas_in_a_new_process(tmp_path):
    """numba's cache must not hold this process's address of dsyrk: a second process loads the cached
    kernels (no compilation) and they call its own BLAS, wherever the loader put it this time."""
    env = {**os.environ, "SYMML_CACHE_DIR": str(tmp_path / "k"), "NUMBA_CACHE_DIR": str(tmp_path / "nb"),
           "PYTHONPATH": str(ROOT)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                                      check=True).stdout) for _ in range(2)]
    for r in runs:
        assert max(r["error"].values()) < 1e-9, r
    for name in ("weighted", "plain"):
        ran = [f for f, (hits, misses) in runs[0][name].items() if misses]  # compiled in the first process
        assert ran, runs[0]
        assert all(runs[1][name][f] == [1, 0] for f in ran), runs[1]  # loaded from the cache in the second


@pytest.mark.compile
def test_the_twin_of_a_weighted_gram_splits_the_rows_and_agrees_with_the_serial_kernel(rng):
    """The logistic Hessian's twin sums one slab of rows per thread (each its own syrk); it
    gives the serial kernel's matrix, and numpy's, to rounding."""
    from generated import _runtime as rt
    from generated.logistic_regression import hessian

    assert rt._gram_slabs(1000, 10, 2, np.zeros(1))[0] == 2
    assert rt._gram_slabs(300, 10, 4, np.zeros(1))[0] == 1  # at least 256 rows a slab
    assert rt._gram_slabs(10 ** 6, 5000, 8, np.zeros(1))[0] == 1  # the slabs' sums stay within 128 MB
    n, d = 3000, 40
    X, y, w = rng.normal(size=(n, d)), (rng.random(n) < 0.5) * 1.0, 0.3 * rng.normal(size=d)
    serial, threaded = hessian(w, 0.2, X, y, 0.5, parallel=False), hessian(w, 0.2, X, y, 0.5, parallel=True)
    p = 1 / (1 + np.exp(-(X @ w + 0.2)))
    Xb = np.hstack([X, np.ones((n, 1))])
    want = Xb.T @ ((p * (1 - p))[:, None] * Xb) + 0.5 * np.diag([1.0] * d + [0.0])  # Σ loss + λ/2 ‖w‖²
    np.testing.assert_allclose(threaded, serial, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(threaded, want, rtol=1e-10, atol=1e-12)
