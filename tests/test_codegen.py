"""Codegen end to end: generated kernels against sm.evaluate, wrapper errors, caching,
golden generated files. Compile-heavy tests are marked ``compile``."""
import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import symml as sm
from symml.build import generate, generated_source
from symml.catalog import GENERATED, catalog, load
from symml.nodes import leaves
from symml.verify import sample_inputs

ROOT = Path(__file__).resolve().parent.parent


def _kernels(name):
    return importlib.import_module(f"generated.{name}")


@pytest.mark.parametrize("name", ["_runtime", *catalog()])
def test_generated_module_is_current(name):
    """Golden file: the module regenerated in memory equals generated/<name>.py."""
    path = GENERATED / f"{name}.py"
    assert path.exists(), f"generated/{name}.py is missing: run `symml generate {name}`"
    assert path.read_text(encoding="utf-8") == generated_source(name), (
        f"generated/{name}.py is stale: run `symml generate {name}`"
    )


def test_generate_twice_changes_no_byte(tmp_path):
    first = generate(["least_squares"], out_dir=tmp_path)
    before = (tmp_path / "least_squares.py").read_bytes()
    mtime = (tmp_path / "least_squares.py").stat().st_mtime_ns
    second = generate(["least_squares"], out_dir=tmp_path)
    assert first == [("_runtime", "written"), ("least_squares", "written")]
    assert second == [("_runtime", "unchanged"), ("least_squares", "unchanged")]
    assert (tmp_path / "least_squares.py").read_bytes() == before
    assert (tmp_path / "least_squares.py").stat().st_mtime_ns == mtime


def test_generate_check_names_stale_and_missing(tmp_path):
    assert generate(["least_squares"], check=True, out_dir=tmp_path) == [("_runtime", "missing"),
                                                                          ("least_squares", "missing")]
    (tmp_path / "least_squares.py").write_text("# edited by hand\n")
    (tmp_path / "_runtime.py").write_text("# edited by hand\n")
    assert generate(["least_squares"], check=True, out_dir=tmp_path) == [("_runtime", "corrupt"),
                                                                          ("least_squares", "corrupt")]


def _imports(src: str) -> set[str]:
    """The modules a source imports, at any depth (read with ast)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or "").split(".")[0])
    return found


def test_generated_module_imports_only_numpy_numba_and_the_runtime():
    for name in catalog():
        src = (GENERATED / f"{name}.py").read_text()
        assert _imports(src) <= {"numpy", "numba", "._runtime"}, (name, _imports(src))
        assert "import numpy as np" in src and "from ._runtime import " in src
        assert "Input hash: sha256:" in src and "symml generate" in src
    # the runtime: numpy, numba (with llvmlite and SciPy's BLAS, numba's own dependencies, for
    # the Gram helpers) and the standard library, nothing of symml
    runtime = _imports((GENERATED / "_runtime.py").read_text())
    assert runtime <= {"numpy", "numba", "llvmlite", "scipy", "hashlib", "os", "warnings", "types", "math",
                       "ctypes", "threading"}, runtime


def _used(exprs, args):
    """The arguments an expression reads (catalog kernels also take hyper-parameters that only
    their extra kernels use, which sm.evaluate rightly refuses as unknown)."""
    names = {t.name for e in exprs for t in leaves(e)}
    return {k: v for k, v in args.items() if k in names}


def _reference(d, args):
    outs = {"loss": d.loss}
    for p, g in zip(d.params, d.grads):
        outs[f"grad_{p.name}"] = g
    return sm.evaluate(outs, **_used(outs.values(), args))


@pytest.mark.compile
@pytest.mark.parametrize("name", catalog())
@pytest.mark.parametrize("sizes", [None, {"n": 31, "d": 7, "h": 5, "K": 4}])
def test_kernels_agree_with_evaluate(name, sizes):
    d = load(name)
    k = _kernels(name)
    rng = np.random.default_rng(1)
    args = sample_inputs(d, rng, sizes=sizes)
    ref = _reference(d, args)
    pargs = [args[p.name] for p in d.params] + [args[t.name] for t in d.data + d.hyper]
    loss = k.loss(*pargs)
    assert abs(loss - ref["loss"]) <= 1e-10 * max(1.0, abs(ref["loss"]))
    g = k.grad(*pargs)
    g = g if isinstance(g, tuple) else (g,)
    for p, gi in zip(d.params, g):
        r = ref[f"grad_{p.name}"]
        assert np.max(np.abs(gi - r)) <= 1e-10 * max(1.0, np.max(np.abs(r)))
    if hasattr(k, "hessian"):
        H = k.hessian(*pargs)
        values = sm.evaluate((d.loss, *d.hessian_blocks), **_used((d.loss,), args))[1:]
        rows = [p for p in d.params for _ in d.params]
        blocks = [np.reshape(v, (int(np.prod(np.shape(args[p.name]), dtype=int)), -1)) for v, p in zip(values, rows)]
        m = len(d.params)
        Href = np.block([[blocks[i * m + j] for j in range(m)] for i in range(m)])
        assert np.max(np.abs(H - Href)) <= 1e-10 * max(1.0, np.max(np.abs(Href)))


@pytest.mark.compile
@pytest.mark.parametrize("name", catalog())
def test_symml_check_passes(name):
    assert sm.check(name, points=2).ok
    assert sm.check(name, points=1, dtype=np.float32).ok


# ---------------------------------------------------------------- wrapper errors

@pytest.fixture(scope="module")
def logistic():
    k = _kernels("logistic_regression")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    y = (rng.random(20) < 0.5).astype(float)
    return k, dict(w=np.zeros(3), b=0.0, X=X, y=y, lam=0.1)


def _call(k, a, fn="grad", **kw):
    return getattr(k, fn)(a["w"], a["b"], a["X"], a["y"], a["lam"], **kw)


@pytest.mark.compile
@pytest.mark.parametrize("change, match", [
    (dict(w=np.zeros((3, 1))), r"w: expected shape \(d,\) \(rank 1\), got shape \(3, 1\)"),
    (dict(w=np.zeros(4)), r"w: expected shape \(d,\) with d = 3 \(from X\), got shape \(4,\)"),
    (dict(y=np.zeros(19)), r"y: expected shape \(n,\) with n = 20 \(from X\), got shape \(19,\)"),
    (dict(X=np.zeros((20, 3), dtype=np.int64)), r"X: expected a float32 or float64 array .* got dtype int64"),
    (dict(X=np.zeros((20, 3), dtype=bool)), r"X: expected a float32 or float64 array .* got dtype bool"),
    (dict(X=np.zeros((20, 3), dtype=complex)), r"X: expected a float32 or float64 array .* got dtype complex128"),
    (dict(X=np.zeros((0, 3))), r"X: dimension n must be at least 1, got 0"),
    (dict(lam=np.ones(2)), r"lam: expected a real number, got an array of shape \(2,\)"),
    (dict(lam="big"), r"lam: expected a real number, got str"),
    (dict(lam=1j), r"lam: expected a real number, got complex"),
    (dict(X=np.full((20, 3), np.nan)), r"X: contains NaN or inf"),
    (dict(lam=float("inf")), r"lam: contains NaN or inf"),
])
def test_wrapper_errors(logistic, change, match):
    k, a = logistic
    with pytest.raises(ValueError, match=match):
        _call(k, {**a, **change})


@pytest.mark.compile
def test_wrapper_missing_and_unknown_names(logistic):
    k, a = logistic
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'lam'"):
        k.grad(a["w"], a["b"], a["X"], a["y"])
    with pytest.raises(TypeError, match="unexpected keyword argument 'alpha'"):
        k.grad(a["w"], a["b"], a["X"], a["y"], alpha=1.0)


@pytest.mark.compile
def test_wrapper_accepts_float32_and_noncontiguous(logistic):
    k, a = logistic
    ref = _call(k, a)
    X32 = a["X"].astype(np.float32)
    g32 = k.grad(a["w"].astype(np.float32), a["b"], X32, a["y"].astype(np.float32), a["lam"])
    assert g32[0].dtype == np.float32
    assert np.allclose(g32[0], ref[0], rtol=1e-4, atol=1e-5)
    Xbig = np.asfortranarray(np.repeat(a["X"], 2, axis=1))[:, ::2]
    assert not Xbig.flags.c_contiguous
    g = k.grad(a["w"], a["b"], Xbig, a["y"], a["lam"])
    assert np.allclose(g[0], ref[0], rtol=1e-13, atol=0)
    assert _call(k, {**a, "X": np.full((20, 3), np.nan)}, check_finite=False)[0].shape == (3,)


@pytest.mark.compile
def test_scipy_minimize_plugs_in():
    scipy_opt = pytest.importorskip("scipy.optimize")
    from generated import least_squares as k

    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    theta = np.zeros(4)

    def fun(t):
        return k.value_and_grad(t[:3], t[3], X, y)

    def pack(res):
        f, (gw, gb) = res
        return f, np.append(gw, gb)

    r = scipy_opt.minimize(lambda t: pack(fun(t)), theta, jac=True, method="L-BFGS-B", options={"gtol": 1e-12})
    assert np.allclose(r.x, [1.0, -2.0, 0.5, 0.3], atol=1e-6)


# ---------------------------------------------------------------- sm.compile

@pytest.mark.compile
def test_compile_adhoc_matches_evaluate(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMML_CACHE_DIR", str(tmp_path))
    n, d = sm.dims("n d")
    X, w, y = sm.tensor("X", (n, d)), sm.tensor("w", (d,)), sm.tensor("y", (n,))
    L = sm.sum(sm.log_sigmoid(y * (X @ w)))
    k = sm.compile({"loss": L, "grad": sm.grad(L, w)})
    rng = np.random.default_rng(0)
    for m, p in [(9, 2), (40, 6)]:
        args = dict(X=rng.normal(size=(m, p)), w=rng.normal(size=p), y=np.sign(rng.normal(size=m)))
        out, ref = k(**args), sm.evaluate({"loss": L, "grad": sm.grad(L, w)}, **args)
        assert abs(out["loss"] - ref["loss"]) <= 1e-10 * abs(ref["loss"])
        assert np.allclose(out["grad"], ref["grad"], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="missing input 'y'"):
        k(X=args["X"], w=args["w"])
    with pytest.raises(ValueError, match="unknown input 'z_never_declared'"):  # a declared tensor would be accepted
        k(z_never_declared=1.0, **args)
    assert len(list(tmp_path.glob("k_*.py"))) == 1


SCRIPT = textwrap.dedent("""
    import time, sys
    t0 = time.perf_counter()
    import numpy as np, symml as sm
    from symml.codegen import jit
    n, d = sm.dims("n d")
    X, w, y = sm.tensor("X", (n, d)), sm.tensor("w", (d,)), sm.tensor("y", (n,))
    L = sm.sum(sm.softplus(X @ w) - y * (X @ w))
    outs = {"loss": L, "grad": sm.grad(L, w)}
    calls = []
    real = jit.module_parts
    jit.module_parts = lambda *a, **k: calls.append(1) or real(*a, **k)
    t1 = time.perf_counter()
    k = sm.compile(outs)
    r = k(X=np.ones((5, 2)), w=np.zeros(2), y=np.ones(5))
    t2 = time.perf_counter()
    print(len(calls), round(t2 - t1, 3), round(r["loss"], 6))
""")


@pytest.mark.compile
def test_compile_second_process_reuses_cache(tmp_path):
    env = {**os.environ, "SYMML_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    first = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    n1, t1, v1 = first.stdout.split()
    n2, t2, v2 = second.stdout.split()
    assert (n1, n2) == ("1", "0"), "the second process must not generate code again"
    assert v1 == v2 == str(round(5 * np.log(2), 6))
    assert float(t2) < float(t1)


def test_compile_corrupt_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMML_CACHE_DIR", str(tmp_path))
    d = sm.dims("d")
    w = sm.tensor("w", (d,))
    k = sm.compile(sm.norm2(w))
    k.path.write_text(k.path.read_text()[:200])  # truncated
    k2 = sm.compile(sm.norm2(w))
    assert "SYMML_KEY" in k2.path.read_text()


@pytest.mark.compile
@pytest.mark.parametrize("method", ["L-BFGS-B", "Newton-CG", "trust-ncg"])
def test_flat_adapters_plug_into_scipy(method):
    """fun/jac/hessp over θ = [w; b] go straight into scipy.optimize.minimize."""
    scipy_opt = pytest.importorskip("scipy.optimize")
    from generated import logistic_regression as k

    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 4))
    y = (X @ np.array([1.0, -1.0, 0.5, 0.0]) + 0.3 + rng.logistic(size=200) > 0).astype(float)
    extra = {} if method == "L-BFGS-B" else {"hessp": k.hessp}
    r = scipy_opt.minimize(k.fun, np.zeros(5), args=(X, y, 1.0), jac=k.jac, method=method,
                           options={"gtol": 1e-10, "ftol": 1e-15} if method == "L-BFGS-B" else
                           {"gtol": 1e-10} if method == "trust-ncg" else {"xtol": 1e-12}, **extra)
    assert np.linalg.norm(k.jac(r.x, X, y, 1.0)) < 1e-6
    assert np.allclose(k.hess(r.x, X, y, 1.0) @ np.ones(5), k.hessp(r.x, np.ones(5), X, y, 1.0), rtol=1e-12)
    with pytest.raises(ValueError, match=r"theta: expected length d \+ 1 = 5"):
        k.fun(np.zeros(4), X, y, 1.0)


@pytest.mark.compile
@pytest.mark.parametrize("name", ["logistic_regression", "least_squares", "poisson_regression"])
def test_parallel_twin_agrees_with_serial(name):
    """Fused kernels have a prange twin for large inputs; the fixed chunking makes it agree."""
    d = load(name)
    k = _kernels(name)
    args = sample_inputs(d, np.random.default_rng(2), sizes={"n": 300, "d": 5})
    pargs = [args[p.name] for p in d.params] + [args[t.name] for t in d.data + d.hyper]
    serial = k.value_and_grad(*pargs, parallel=False)
    # the twin itself: on a busy machine the wrapper would send the call to the serial kernel
    out = k._value_and_grad_par(*(float(a) if np.ndim(a) == 0 else a for a in pargs))
    parallel = (out[0], out[1:] if len(out) > 2 else out[1])
    assert abs(parallel[0] - serial[0]) <= 1e-12 * abs(serial[0])
    for a, b in zip(parallel[1], serial[1]):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)
    assert "_value_and_grad_par" in vars(k)


@pytest.mark.compile
@pytest.mark.parametrize("name", ["softmax_regression", "mlp", "cnn", "gaussian_mixture"])
def test_blocked_kernels_agree_with_one_block(name):
    """Whole-array chunk bodies run by blocks of rows (serial and on threads): the sums over
    blocks agree with the body run once over all rows, at a row count no block size divides."""
    d = load(name)
    k = _kernels(name)
    sizes = {"N": 67} if name == "cnn" else {"n": 1031}
    args = sample_inputs(d, np.random.default_rng(3), sizes=sizes)
    spec = next(s for s in d.kernel_specs() if s.name == "value_and_grad_chunk")
    call = [args.get(t.name, 0.0) for t in spec.args]
    call[-1] = float(args[d.sample_split.rows[0].name].shape[0])  # n_total: all rows
    ref = k._value_and_grad_chunk(*call)
    # the BLAS's thread functions are the runtime's (the module imports only _blas_threads)
    fns = sys.modules[k._blas_threads.__module__]._blas_thread_functions() if "_blas_threads" in vars(k) else None
    before = fns[0]() if fns else None
    for fn in (k._value_and_grad_chunk_blk, k._value_and_grad_chunk_par):
        got = fn(*call)
        for a, b in zip(got, ref):
            assert np.allclose(a, b, rtol=1e-10, atol=1e-12), fn.__name__
    if fns:  # the BLAS thread count is given back after a threaded call
        assert fns[0]() == before


def test_contraction_hoists_a_factor_that_does_not_move():
    """Σ_j Y[n, j]·P[n, k] is (Σ_j Y[n, j])·P[n, k]: one reduction, not one per k."""
    from symml.codegen.emit import KernelBody

    n, K = sm.dims("n K")
    Y, P = sm.tensor("Y", (n, K)), sm.tensor("P", (n, K))
    e = sm.einsum("nj,nk->nk", Y, P)
    body = KernelBody([Y, P], [e], {"Y": "Y", "P": "P"}, {n: "n", K: "K"}, parallel=False)
    src = "\n".join(body.build())
    depth = max(len(ln) - len(ln.lstrip()) for ln in src.splitlines() if ln.strip().startswith("for"))
    assert depth <= 4, src  # no loop nested three deep
    ns = {"np": np}
    exec("def f(Y, P):\n    n, K = Y.shape\n    dt = Y.dtype\n" + textwrap.indent(src, "    ")
         + f"\n    return {body.var[e.uid]}", ns)
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    assert np.allclose(ns["f"](y, p), y.sum(axis=1)[:, None] * p)


TWINS = textwrap.dedent("""
    import json, sys
    import numpy as np
    import generated.logistic_regression as k

    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(3000, 8)), (rng.random(3000) < 0.5) * 1.0, rng.normal(size=8)
    out = {}
    for fn in (k._loss_chunk, k._loss_chunk_par):
        value = fn(w, 0.3, X, y, 3000.0)[0]
        stats = fn.stats
        out[fn.py_func.__qualname__] = {"value": value, "hits": len(stats.cache_hits), "misses": len(stats.cache_misses),
                                        "parallel": fn.targetoptions.get("parallel", False)}
        if sys.argv[1] == "first":  # compiled here: the threaded one runs its loop on numba's thread pool
            out[fn.py_func.__qualname__]["gufunc"] = "do_scheduling" in fn.inspect_llvm(fn.signatures[0])
    print(json.dumps(out))
""")


@pytest.mark.compile
def test_serial_and_threaded_twins_are_cached_apart(tmp_path):
    """One Python function, two dispatchers: numba keeps a cache for each (its files are named by
    the function's qualified name, and its index key holds no compiler flags), and a second process
    loads both, each with its own code."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", TWINS, which], env=env, capture_output=True, text=True,
                                      check=True).stdout) for which in ("first", "second")]
    first, second = runs
    assert first["_loss_chunk"]["misses"] == first["_loss_chunk_par"]["misses"] == 1
    assert first["_loss_chunk_par"]["gufunc"] and not first["_loss_chunk"]["gufunc"]
    assert second["_loss_chunk"]["hits"] == second["_loss_chunk_par"]["hits"] == 1
    assert second["_loss_chunk"]["misses"] == second["_loss_chunk_par"]["misses"] == 0
    assert second["_loss_chunk_par"]["parallel"] and not second["_loss_chunk"]["parallel"]
    for r in runs:
        assert abs(r["_loss_chunk"]["value"] - r["_loss_chunk_par"]["value"]) <= 1e-12 * abs(r["_loss_chunk"]["value"])
    names = sorted(f.name.split("-")[0] for f in tmp_path.rglob("logistic_regression._loss_chunk*.nbi"))
    assert names == ["logistic_regression._loss_chunk", "logistic_regression._loss_chunk_par"], names
