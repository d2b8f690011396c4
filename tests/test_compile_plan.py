"""One planner for sm.compile and the catalog (symml.codegen.plan).

A user's loss that sums over rows, compiled with sm.compile, is planned as a catalog
derivation is: chunk kernel, regulariser kernel, a composed kernel over all rows, blocked
and threaded drivers, BLAS. The unit tests read the plan and the emitted text (no numba);
the compile-marked ones check the numbers against sm.evaluate at sizes that take the
threaded paths, the chunk forms that come from the same module, and sm.fit on such kernels,
in memory and on Dask.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import symml as sm
from symml.codegen.module import module_parts
from symml.codegen.plan import plan_outputs
from symml.nodes import leaves

ROOT = Path(__file__).resolve().parents[1]

n, d, h1, h2, K = sm.dims("n d h1 h2 K")
X, y, Y = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("Y", (n, K))
w, b, lam = sm.tensor("w", (d,)), sm.scalar("b"), sm.scalar("lam")
z = X @ w + b
L = sm.sum(sm.softplus(z) - y * z) + lam / 2 * sm.norm2(w)   # the logistic loss, as a user writes it
W1, c1 = sm.tensor("W1", (d, h1)), sm.tensor("c1", (h1,))
W2, c2 = sm.tensor("W2", (h1, h2)), sm.tensor("c2", (h2,))
W3, c3 = sm.tensor("W3", (h2, K)), sm.tensor("c3", (K,))
MLP_PARAMS = [W1, c1, W2, c2, W3, c3]
L_mlp = -sm.sum(Y * sm.log_softmax(sm.tanh(sm.tanh(X @ W1 + c1) @ W2 + c2) @ W3 + c3, axis=1))


def _plan(outputs):
    args = []
    for e in outputs:
        args += [t for t in leaves(e) if t not in args]
    return plan_outputs("kernel", args, outputs, "tuple")


def _chunk_body(src: str, name: str) -> str:
    return src.split(f"def {name}(")[1].split("\n\n")[0]


# --------------------------------------------------------------------------- the plan (no numba)


def test_a_loss_summed_over_rows_is_planned_as_the_catalog_plans_it():
    p = _plan([L, *sm.grad(L, [w, b])])
    assert [s.name for s in p.specs] == ["kernel", "kernel_chunk", "kernel_reg"]
    whole, chunk, reg = p.specs
    assert whole.compose.chunk == "kernel_chunk" and whole.compose.reg == "kernel_reg"
    assert chunk.rows == ("X", "y") and [t.name for t in chunk.args][-1] == "n_total"
    assert [t.name for t in reg.args] == ["w", "b", "lam", "n_total"] and not reg.twin
    assert whole.compose.add == [True, True, False]   # the penalty reads no b
    assert p.chunked == ("kernel",) and str(p.split.dim) == "n" and p.loss is L
    src = module_parts("probe", p.specs, runtime="rt").render()
    assert "SAMPLE_DIM" not in src   # the constants are added by sm.compile, not by module_parts
    assert "_kernel_chunk_par = _parallel(_kernel_chunk)" in src   # a fused row loop and its twin


def test_the_user_mlp_gets_the_catalog_mlp_drivers_and_reuses_its_forward_values():
    p = _plan([L_mlp, *sm.grad(L_mlp, MLP_PARAMS)])
    assert [s.name for s in p.specs] == ["kernel", "kernel_chunk"]   # no regulariser
    src = module_parts("probe", p.specs, runtime="rt").render()
    catalog = (ROOT / "generated" / "mlp.py").read_text(encoding="utf-8")
    for part in ("_chunk_blk(", "_chunk_blk_par = _parallel(", "_chunk_par("):
        assert f"_kernel{part}" in src and f"_value_and_grad{part}" in catalog
    mine, theirs = _chunk_body(src, "_kernel_chunk"), _chunk_body(catalog, "_value_and_grad_chunk")
    products = re.compile(r"\b(np\.dot|_dot_nn|_dot_tn)\(")  # BLAS, or loops where few columns
    assert len(products.findall(mine)) == len(products.findall(theirs)) == 8
    # tanh' = 1 − h² reads the forward value: tanh runs once per hidden entry, as in the catalog
    assert mine.count("_tanh(") == theirs.count("_tanh(") == 2


@pytest.mark.parametrize("outputs, why", [
    (lambda: [sm.norm2(w), X @ w], "one scalar loss and derivatives"),
    (lambda: [sm.sum(X @ w) * sm.sum(y)], "not affine in a sum over rows"),
    (lambda: [sm.norm2(w), sm.grad(sm.norm2(w), w)], "no data tensor has a sample dimension"),
])
def test_outputs_that_are_not_a_loss_summed_over_rows_keep_one_kernel(outputs, why):
    p = _plan(outputs())
    assert [s.name for s in p.specs] == ["kernel"] and p.specs[0].compose is None
    assert p.split is None and re.search(why, p.refusal)


def test_a_regulariser_kernel_whose_size_only_the_rows_bind_keeps_one_kernel():
    """∇²(‖Xw − y‖² + λ‖w‖²) reads no w: λI (d, d) would need d, which only X binds."""
    Lr = sm.norm2(X @ w - y) + lam * sm.norm2(w)
    p = _plan([sm.hessian(Lr, w)])
    assert [s.name for s in p.specs] == ["kernel"] and p.specs[0].compose is None
    assert "only the row data bind" in p.refusal


def test_the_catalog_kernels_come_from_the_same_planner(monkeypatch):
    from symml.catalog import load
    from symml.codegen import plan

    calls = []
    real = plan.chunk_specs
    monkeypatch.setattr(plan, "chunk_specs", lambda *a, **k: calls.append(a[0].name) or real(*a, **k))
    names = [s.name for s in load("logistic_regression").kernel_specs()]
    assert calls == ["loss", "grad", "value_and_grad", "hessian", "hvp"]
    assert {"value_and_grad_chunk", "value_and_grad_reg", "hvp_chunk"} <= set(names)


# --------------------------------------------------------------------------- numbers (numba)


def _logistic_inputs(rng, m, p):
    return {"X": rng.normal(size=(m, p)) / np.sqrt(p), "y": (rng.random(m) < 0.5).astype(float),
            "w": rng.normal(size=p), "b": 0.3, "lam": 0.7}


def _mlp_inputs(rng, m, p=6, hidden=(5, 4), k=3):
    vals = {"X": rng.normal(size=(m, p)), "Y": np.eye(k)[rng.integers(0, k, m)]}
    shapes = [(p, hidden[0]), (hidden[0],), hidden, (hidden[1],), (hidden[1], k), (k,)]
    vals.update({t.name: rng.normal(size=s) * 0.5 for t, s in zip(MLP_PARAMS, shapes)})
    return vals


def _close(got, want, rtol=1e-10):
    if isinstance(want, dict):
        for key in want:
            _close(got[key], want[key], rtol)
    elif isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, v in zip(got, want):
            _close(g, v, rtol)
    else:
        want = np.asarray(want, dtype=float)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(want)))))


@pytest.mark.compile
def test_planned_user_kernels_equal_evaluate_serially_and_on_threads(rng):
    v = sm.tensor("v", (d,))
    outs = {"loss": L, "grad": sm.grad(L, [w, b]), "H": sm.hessian(L, w), "hv": sm.hvp(L, w, v)}
    k = sm.compile(outs)
    assert "kernel_chunk" in k.path.read_text(encoding="utf-8")
    a = _logistic_inputs(rng, 25_000, 10)   # 250 000 numbers: past PARALLEL_MIN_SIZE, the twins run
    a["v"] = rng.normal(size=10)
    ref = sm.evaluate(outs, **a)
    for parallel in (None, True, False):
        _close(k(parallel=parallel, **a) if parallel is not None else k(**a), ref)
    km = sm.compile({"loss": L_mlp, "grad": sm.grad(L_mlp, MLP_PARAMS)})   # the blocked drivers
    am = _mlp_inputs(rng, 20_000)
    refm = sm.evaluate({"loss": L_mlp, "grad": sm.grad(L_mlp, MLP_PARAMS)}, **am)
    for parallel in (None, True, False):
        _close(km(parallel=parallel, **am), refm)


@pytest.mark.compile
def test_the_chunk_forms_come_from_the_kernels_own_module(rng):
    k = sm.compile({"loss": L, "grad": sm.grad(L, [w, b])})
    c = k.chunks()
    assert c.chunk.path == c.reg.path == k.path and c.chunk.fn_name == "kernel_chunk"
    assert c.rows == ["X", "y"] and c.n_total == "n_total"
    a = _logistic_inputs(rng, 301, 4)
    whole = k.call_flat(**a)
    total = None
    for lo, hi in ((0, 100), (100, 101), (101, 301)):
        part = c.chunk.call_flat(**{**a, "X": a["X"][lo:hi], "y": a["y"][lo:hi]}, n_total=301.0)
        total = part if total is None else [p + q for p, q in zip(total, part)]
    reg = c.reg.call_flat(w=a["w"], lam=a["lam"], b=a["b"], n_total=301.0)
    for got, want in zip([p + q for p, q in zip(total, reg)], whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    km = sm.compile(sm.grad(L_mlp, MLP_PARAMS))
    assert km.chunks().reg is None   # no regulariser: the chunk kernel over all rows is the kernel


@pytest.mark.compile
def test_run_kernel_without_a_regulariser_on_the_synchronous_scheduler(rng):
    da = pytest.importorskip("dask.array")
    import dask

    from symml import dask as smd

    outs = {"loss": L_mlp, "grad": sm.grad(L_mlp, MLP_PARAMS)}
    k = sm.compile(outs)
    a = _mlp_inputs(rng, 700)
    ref = k(**a)
    lazy = {**a, "X": da.from_array(a["X"], chunks=(250, 6)), "Y": da.from_array(a["Y"], chunks=(100, 3))}
    with dask.config.set(scheduler="synchronous"):
        out = smd.run_kernel(k, **lazy)
    _close(out, ref, rtol=1e-11)
    _close(out, sm.evaluate(outs, **a), rtol=1e-10)


@pytest.mark.compile
def test_fit_a_compiled_kernel_in_memory_and_on_a_dask_cluster(rng):
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")

    k = sm.compile({"loss": L, "grad": sm.grad(L, [w, b])})
    a = _logistic_inputs(rng, 900, 3)
    data = {"X": a["X"], "y": a["y"]}
    mem = sm.fit(k, data, lam=0.7, tol=1e-10)
    cat = sm.fit("logistic_regression", (a["X"], a["y"]), "L-BFGS-B", lam=0.7, tol=1e-10)
    assert mem.converged and mem.method == "scipy:L-BFGS-B" and not mem.info["distributed"]
    np.testing.assert_allclose(mem.params["w"], cat.params["w"], rtol=1e-6, atol=1e-8)
    assert mem.params["b"] == pytest.approx(cat.params["b"], rel=1e-6, abs=1e-8)
    lazy = {"X": da.from_array(a["X"], chunks=(200, 3)), "y": da.from_array(a["y"], chunks=200)}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        far = sm.fit(k, lazy, lam=0.7, tol=1e-10, client=client)
    assert far.info["distributed"] and far.converged
    np.testing.assert_allclose(far.theta, mem.theta, rtol=1e-8, atol=1e-10)
    assert far.loss == pytest.approx(mem.loss, rel=1e-12)


@pytest.mark.compile
def test_fit_refuses_kernels_and_options_it_cannot_use(rng):
    a = _logistic_inputs(rng, 50, 3)
    data = {"X": a["X"], "y": a["y"]}
    k = sm.compile({"loss": L, "grad": sm.grad(L, [w, b])})
    with pytest.raises(ValueError, match="returns no gradient"):
        sm.fit(sm.compile(L), data, lam=1.0)
    with pytest.raises(ValueError, match="not one loss and derivatives"):
        sm.fit(sm.compile({"a": X @ w}), data)
    with pytest.raises(ValueError, match="unknown option or hyper-parameter 'lr'"):
        sm.fit(k, data, lam=1.0, lr=0.1)
    with pytest.raises(ValueError, match="missing hyper-parameter 'lam'"):
        sm.fit(k, data)
    with pytest.raises(ValueError, match="fitted with L-BFGS-B"):
        sm.fit(k, data, "adam", lam=1.0)
    with pytest.raises(ValueError, match="missing 'y'"):
        sm.fit(k, {"X": a["X"]}, lam=1.0)
