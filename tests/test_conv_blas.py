"""conv2d and pooling kernels on BLAS (symml/codegen/emit_conv.py, emit_tensordot.py).

The three slots of a convolution (forward, kernel gradient, input gradient) and max/average
pooling with their adjoints, compiled with sm.compile at symbolic sizes, against sm.evaluate
(a path that shares no code with codegen), against oracles written here (scipy's
correlate2d, numpy loops over windows) or JAX where it is installed, and against finite
differences. Sizes include a kernel as large as the image, 1×1 kernels, one image, one
channel, odd sides that pooling crops, and more images than the kernel gradient has groups.
"""
import numpy as np
import pytest
import sympy

import symml as sm
from symml.codegen.emit import KernelBody
from symml.codegen.emit_conv import CONV_GROUPS

N, C, H, W, O, kh, kw = sm.dims("N C H W O kh kw")
x, k = sm.tensor("x", (N, C, H, W)), sm.tensor("k", (O, C, kh, kw))
G = sm.tensor("G", (N, O, H - kh + 1, W - kw + 1))
y = sm.conv2d(x, k)
L = sm.sum(G * y)
gx, gk = sm.grad(L, [x, k])
CONV_OUT = {"y": y, "L": L, "gx": gx, "gk": gk}

#: (N, C, H, W, O, kh, kw)
CONV_SIZES = [(3, 2, 7, 6, 3, 3, 2), (1, 1, 5, 5, 1, 5, 5), (4, 3, 9, 11, 5, 1, 1), (CONV_GROUPS + 3, 2, 6, 8, 4, 2, 3),
              (2, 5, 4, 13, 2, 4, 1)]


def _body(inputs, outputs, parallel=False):
    dims = {d: str(d) for t in inputs for d in t.shape if not d.is_number}
    return "\n".join(KernelBody(inputs, outputs, {t.name: t.name for t in inputs}, dims, parallel).build())


def _conv_args(rng, n, c, h, w, o, a, b, dtype=np.float64):
    return {"x": rng.standard_normal((n, c, h, w)).astype(dtype), "k": rng.standard_normal((o, c, a, b)).astype(dtype),
            "G": rng.standard_normal((n, o, h - a + 1, w - b + 1)).astype(dtype)}


def _conv_oracle(a):
    """y, ∇x, ∇k of L = Σ G ⊙ (x ⋆ k), by scipy's 2-D correlation and convolution, image by image."""
    from scipy.signal import convolve2d, correlate2d

    X, K, Gv = a["x"], a["k"], a["G"]
    n, c = X.shape[:2]
    o = K.shape[0]
    yv = np.array([[sum(correlate2d(X[i, j], K[m, j], mode="valid") for j in range(c)) for m in range(o)]
                   for i in range(n)])
    gxv = np.array([[sum(convolve2d(Gv[i, m], K[m, j], mode="full") for m in range(o)) for j in range(c)]
                    for i in range(n)])
    gkv = np.array([[sum(correlate2d(X[i, j], Gv[i, m], mode="valid") for i in range(n)) for j in range(c)]
                    for m in range(o)])
    return {"y": yv, "L": float(np.sum(Gv * yv)), "gx": gxv, "gk": gkv}


def _close(actual, ref, rtol=1e-12):
    actual, ref = np.asarray(actual, dtype=float), np.asarray(ref, dtype=float)
    assert actual.shape == ref.shape, (actual.shape, ref.shape)
    err = float(np.max(np.abs(actual - ref), initial=0.0))
    assert err <= rtol * max(1.0, float(np.max(np.abs(ref), initial=0.0))), err


# ---------------------------------------------------------------- what is emitted (no numba)


def test_each_conv_slot_is_one_matrix_product_per_image():
    src = _body([x, k, G], [y, gx, gk])
    assert src.count("np.dot(") == 3  # K·cols, Σ y·colsᵀ, Kᵀ·y
    assert "acc_ +=" not in src  # no dot-product loop nest is left


def test_the_threaded_kernel_gradient_sums_over_a_fixed_number_of_groups():
    src = _body([x, k, G], [gk], parallel=True)
    assert f"ng_ = max(1, min(N_, {CONV_GROUPS}))" in src and "for g_ in prange(ng_):" in src


def test_max_pooling_and_its_adjoint_share_one_scan_of_the_windows():
    U = sm.tensor("U", (N, C, H, W))
    loss = sm.sum(sm.maxpool2d(U, 2) ** 2)
    src = _body([U], [loss, sm.grad(loss, U)])
    assert src.count("k_ = 0") == 1 and "if xr_" not in src  # one branch-free scan


def test_a_dense_layer_over_grouped_labels_is_one_matrix_product():
    P, Q, K = sm.dims("P Q K")
    S, V = sm.tensor("S", (N, O, P, Q)), sm.tensor("V", (K, O, P, Q))
    z = sm.einsum("nopq,kopq->nk", S, V)
    dz = sm.tensor("dz", (N, K))
    src = _body([S, V, dz], [z, sm.einsum("nk,kopq->nopq", dz, V), sm.einsum("nk,nopq->kopq", dz, S)])
    assert src.count("np.dot(") == 3 and "acc_ +=" not in src


# ---------------------------------------------------------------- compiled kernels


@pytest.fixture(scope="module")
def conv_kernels():
    return {par: sm.compile(CONV_OUT, parallel=par) for par in (False, True)}


@pytest.mark.compile
@pytest.mark.parametrize("sizes", CONV_SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("parallel", [False, True])
def test_conv_kernels_agree_with_evaluate_and_scipy(conv_kernels, rng, sizes, parallel):
    a = _conv_args(rng, *sizes)
    got = conv_kernels[parallel](**a)
    ref = sm.evaluate(CONV_OUT, **a)
    oracle = _conv_oracle(a)
    for name in CONV_OUT:
        _close(got[name], ref[name])
        _close(got[name], oracle[name])


@pytest.mark.compile
def test_conv_kernels_run_in_float32(conv_kernels, rng):
    a = _conv_args(rng, 3, 2, 7, 6, 3, 3, 2, dtype=np.float32)
    got = conv_kernels[False](**a)
    oracle = _conv_oracle({kk: v.astype(np.float64) for kk, v in a.items()})
    for name in CONV_OUT:
        assert name == "L" or got[name].dtype == np.float32  # the loss is returned as a Python float
        _close(got[name], oracle[name], rtol=1e-5)


@pytest.mark.compile
def test_conv_kernels_agree_with_jax(conv_kernels, rng):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def f(X, K, Gv):
        return jnp.sum(Gv * jax.lax.conv_general_dilated(X, K, (1, 1), "VALID",
                                                         dimension_numbers=("NCHW", "OIHW", "NCHW")))

    for sizes in CONV_SIZES[:3]:
        a = _conv_args(rng, *sizes)
        got = conv_kernels[False](**a)
        val, (gxj, gkj) = jax.value_and_grad(f, argnums=(0, 1))(a["x"], a["k"], a["G"])
        _close(got["L"], float(val))
        _close(got["gx"], np.asarray(gxj))
        _close(got["gk"], np.asarray(gkj))


def _pool_oracle(X, s, kind):
    """Pooled values and the adjoint of Σ Gp ⊙ pool(X), by loops over the windows (first argmax; NaN wins)."""
    lead, (h, w) = X.shape[:-2], X.shape[-2:]
    Xr = X.reshape((-1, h, w))
    out = np.empty((Xr.shape[0], h // s, w // s))
    arg = np.empty(out.shape + (2,), dtype=int)
    for b in range(Xr.shape[0]):
        for p in range(h // s):
            for q in range(w // s):
                win = Xr[b, s * p:s * p + s, s * q:s * q + s]
                if kind == "avg":
                    out[b, p, q] = win.mean()
                    continue
                nan = np.isnan(win.ravel())
                j = int(np.flatnonzero(nan)[0]) if nan.any() else int(np.argmax(win))
                arg[b, p, q] = (s * p + j // s, s * q + j % s)
                out[b, p, q] = win.ravel()[j]
    return out.reshape(lead + out.shape[1:]), arg


def _pool_adjoint(X, g, s, kind, arg):
    h, w = X.shape[-2:]
    gr = g.reshape((-1,) + g.shape[-2:])
    out = np.zeros((gr.shape[0], h, w))
    for b in range(gr.shape[0]):
        for p in range(gr.shape[1]):
            for q in range(gr.shape[2]):
                if kind == "avg":
                    out[b, s * p:s * p + s, s * q:s * q + s] += gr[b, p, q] / (s * s)
                else:
                    out[b, arg[b, p, q, 0], arg[b, p, q, 1]] += gr[b, p, q]
    return out.reshape(X.shape)


POOL_SIZES = [2, 3, 5]  # 5: a window of 25 entries, scanned by loops rather than straight-line code


def _pool_exprs(s):
    U = sm.tensor("U", (N, C, H, W))
    v = sm.tensor("v", (N, C, H, W))
    Gp = sm.tensor("Gp", (N, C, sympy.floor(H / s), sympy.floor(W / s)))
    mp, ap = sm.maxpool2d(U, s), sm.avgpool2d(U, s)
    sq = sm.sum(mp ** 2)
    return {"mp": mp, "ap": ap, "gm": sm.grad(sm.sum(Gp * mp), U), "ga": sm.grad(sm.sum(Gp * ap), U),
            "hv": sm.hvp(sq, U, v)}  # the hvp pools v by the windows of U: a Pool whose values are not U


@pytest.fixture(scope="module")
def pool_kernels():
    out = {}
    for s in POOL_SIZES:
        exprs = _pool_exprs(s)
        out[s] = (sm.compile(exprs, parallel=False), exprs)
    return out


def _pool_check(kernel, exprs, s, a):
    got = kernel(**a)
    ref = sm.evaluate(exprs, **a)
    for name in exprs:
        _close(got[name], ref[name])
    mp, arg = _pool_oracle(a["U"], s, "max")
    ap, _ = _pool_oracle(a["U"], s, "avg")
    _close(got["mp"], mp)
    _close(got["ap"], ap)
    _close(got["gm"], _pool_adjoint(a["U"], a["Gp"], s, "max", arg))
    _close(got["ga"], _pool_adjoint(a["U"], a["Gp"], s, "avg", arg))
    vr = a["v"].reshape((-1,) + a["v"].shape[-2:])
    vsel = np.array([[[vr[b, arg[b, p, q, 0], arg[b, p, q, 1]] for q in range(arg.shape[2])]
                      for p in range(arg.shape[1])] for b in range(arg.shape[0])]).reshape(mp.shape)
    _close(got["hv"], _pool_adjoint(a["U"], 2 * vsel, s, "max", arg))


@pytest.mark.compile
@pytest.mark.parametrize("s", POOL_SIZES)
def test_pool_kernels_agree_with_evaluate_and_window_loops(pool_kernels, rng, s):
    kernel, exprs = pool_kernels[s]
    for n, c, h, w in [(2, 3, 2 * s, 3 * s), (1, 1, 2 * s + 1, s + s - 1), (3, 2, 4 * s + 1, 5 * s + 2)]:
        a = {"U": rng.standard_normal((n, c, h, w)), "v": rng.standard_normal((n, c, h, w)),
             "Gp": rng.standard_normal((n, c, h // s, w // s))}
        if s == 2:  # ties: the first maximum of a window takes the gradient
            a["U"] = np.round(a["U"])
        _pool_check(kernel, exprs, s, a)


@pytest.mark.compile
def test_threaded_pool_kernels_agree_with_evaluate(rng):
    exprs = _pool_exprs(3)
    kernel = sm.compile(exprs, parallel=True)  # prange over the images × channels
    a = {"U": rng.standard_normal((5, 3, 10, 8)), "v": rng.standard_normal((5, 3, 10, 8)),
         "Gp": rng.standard_normal((5, 3, 3, 2))}
    _pool_check(kernel, exprs, 3, a)


@pytest.mark.compile
def test_a_nan_anywhere_in_a_window_is_its_maximum(pool_kernels, rng):
    kernel, exprs = pool_kernels[2]
    U = rng.standard_normal((1, 1, 4, 4))
    U[0, 0, 1, 1] = np.nan  # the last entry of the first window
    a = {"U": U, "v": rng.standard_normal(U.shape), "Gp": rng.standard_normal((1, 1, 2, 2))}
    got = kernel(**a, check_finite=False)
    assert np.isnan(got["mp"][0, 0, 0, 0]) and np.isfinite(got["mp"][0, 0, 1]).all()
    gm = got["gm"]
    assert gm[0, 0, 1, 1] == a["Gp"][0, 0, 0, 0] and np.count_nonzero(gm[0, 0, :2, :2]) == 1
    with pytest.raises(Exception, match="(?i)nan|finite"):
        kernel(**a)  # the default finite check names the NaN that reaches the result


@pytest.mark.compile
def test_max_pooling_agrees_with_jax(pool_kernels, rng):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    s = 3
    kernel, _ = pool_kernels[s]
    U = rng.standard_normal((2, 3, 10, 8))
    Gp = rng.standard_normal((2, 3, 3, 2))

    def f(u):
        h, w = (u.shape[2] // s) * s, (u.shape[3] // s) * s
        pooled = jax.lax.reduce_window(u[:, :, :h, :w], -jnp.inf, jax.lax.max, (1, 1, s, s), (1, 1, s, s), "VALID")
        return jnp.sum(Gp * pooled), pooled

    (_, pooled), g = jax.value_and_grad(f, has_aux=True)(U)
    got = kernel(U=U, v=U, Gp=Gp)
    _close(got["mp"], np.asarray(pooled))
    _close(got["gm"], np.asarray(g))


@pytest.mark.compile
def test_a_cnn_with_an_input_gradient_passes_finite_differences():
    """conv → relu → 2×2 max pool → dense, differentiated in the images too (all three conv slots)."""
    Nn, Cc = sm.dims("Nn Cc")
    X = sm.tensor("X", (Nn, Cc, 7, 6))
    Kc, V = sm.tensor("Kc", (3, Cc, 3, 2)), sm.tensor("V", (2, 3, 2, 2))
    S = sm.maxpool2d(sm.relu(sm.conv2d(X, Kc)), 2)
    loss = sm.sum(sm.tanh(sm.einsum("nopq,kopq->nk", S, V)))
    report = sm.check(loss, wrt=[X, Kc, V], sizes={"Nn": 3, "Cc": 2})
    assert report.passed, report


# ---------------------------------------------------------------- the elementwise work between products

n_, d_, r_ = sm.dims("n d r")
XA, WA = sm.tensor("XA", (n_, d_)), sm.tensor("WA", (d_, r_))
cA, eA = sm.tensor("cA", (r_,)), sm.tensor("eA", (d_,))
#: a tied autoencoder written without sm.let: its δ holds tanh(XW + c) again
LA = sm.sum((sm.tanh(XA @ WA + cA) @ WA.T + eA - XA) ** 2) / 2
GA = sm.grad(LA, [WA, cA, eA])


def test_a_bias_is_read_by_the_map_itself_not_through_a_broadcast_view():
    src = _body([WA, XA, cA, eA], [LA, *GA])
    loops = [ln for ln in src.splitlines() if "_tanh(" in ln]
    assert loops and all("cA[i1]" in ln for ln in loops), loops  # LLVM vectorises no loop over a view


def test_a_map_computed_once_is_read_back_not_evaluated_again():
    src = _body([WA, XA, cA, eA], [LA, *GA])
    assert src.count("_tanh(") == 1  # u = tanh(XW + c) once; δ reads u


def test_column_sums_run_along_the_rows():
    lines = _body([WA, XA, cA, eA], [GA[1]]).splitlines()  # ∇c = Σₙ δ[n, :]
    k = next(i for i, ln in enumerate(lines) if ln.startswith("t") and "np.zeros((r,)" in ln)
    assert lines[k + 1].endswith("in range(n):") and lines[k + 2].endswith("in range(r):")  # rows outermost
    assert not any("acc_" in ln for ln in lines)


@pytest.mark.compile
def test_the_autoencoder_kernel_agrees_with_evaluate_and_jax(rng):
    k1 = sm.compile({"L": LA, "g": GA}, parallel=False)
    a = {"XA": rng.standard_normal((37, 6)), "WA": rng.standard_normal((6, 3)), "cA": rng.standard_normal(3),
         "eA": rng.standard_normal(6)}
    got, ref = k1(**a), sm.evaluate({"L": LA, "g": GA}, **a)
    _close(got["L"], ref["L"])
    for x_, y_ in zip(got["g"], ref["g"]):
        _close(x_, y_)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def f(W, c, e):
        return jnp.sum((jnp.tanh(a["XA"] @ W + c) @ W.T + e - a["XA"]) ** 2) / 2

    for x_, y_ in zip(got["g"], jax.grad(f, argnums=(0, 1, 2))(a["WA"], a["cA"], a["eA"])):
        _close(x_, np.asarray(y_))


@pytest.mark.compile
def test_tensordot_kernels_agree_with_evaluate(rng):
    """Grouped products with a scalar factor, a vector result, and interleaved labels (a loop nest)."""
    P, Q, K = sm.dims("P Q K")
    S, V = sm.tensor("S", (N, O, P, Q)), sm.tensor("V", (K, O, P, Q))
    T, lam = sm.tensor("T", (N, Q, P)), sm.scalar("lam")
    u = sm.tensor("u", (O, P, Q))
    exprs = {"z": lam * sm.einsum("nopq,kopq->nk", S, V), "w": sm.einsum("nopq,opq->n", S, u),
             "mixed": sm.einsum("nopq,nqp->o", S, T), "back": sm.einsum("nk,kopq->nopq", sm.einsum("nopq,kopq->nk", S, V), V)}
    kernel = sm.compile(exprs, parallel=False)
    a = {"S": rng.standard_normal((4, 3, 5, 2)), "V": rng.standard_normal((6, 3, 5, 2)), "T": rng.standard_normal((4, 2, 5)),
         "u": rng.standard_normal((3, 5, 2)), "lam": 0.7}
    got, ref = kernel(**a), sm.evaluate(exprs, **a)
    for name in exprs:
        _close(got[name], ref[name])
    _close(got["z"], 0.7 * np.einsum("nopq,kopq->nk", a["S"], a["V"]))
