"""Memory and work bounded by the problem (symml.lowering): no sample axis inside a rank-4 block,
one factorisation per matrix for log det, det, solve and inverse, one product for XP and XPᵀ.

The plans are checked where they are made (the graph that sm.evaluate walks, the statements
the emitter writes), never by timing; every derivative they touch is checked against
central differences and against numpy/scipy written independently.
"""
from __future__ import annotations

import importlib
import re

import fd
import numpy as np
import pytest
import scipy.linalg

import symml as sm
from symml.codegen.module import KernelSpec, module_source
from symml.nodes import walk
from symml.lowering import bounded, factor_plan, is_monomial, size_leq, spd_hint
from symml.simplify import is_symmetric
from symml.structured import Inv, LogDet, Solve

evaluate_module = importlib.import_module("symml.evaluate")  # the module (sm.evaluate is its function)

n, d = sm.dims("n d")


# --------------------------------------------------------------------------- the Gaussian NLL Hessian

X = sm.tensor("X", (n, d))
mu = sm.tensor("mu", (d,))
P = sm.tensor("P", (d, d))
R = X - mu
NLL = sm.sum((R @ P) * R) / 2 - n * sm.logdet(P) / 2
H = sm.hessian(NLL, [mu, P])
BLOCKS = [b for row in H for b in row]


def _gauss_point(rng, nn, dd):
    A = rng.standard_normal((dd, dd))
    return {"X": rng.standard_normal((nn, dd)), "mu": rng.standard_normal(dd), "P": A @ A.T + dd * np.eye(dd)}


def _gauss_hessian_numpy(a):
    """The four blocks, written out by hand: r = x − μ, L = ½ Σ rᵀPr − (n/2) log det P."""
    Xv, m, Pv = a["X"], a["mu"], a["P"]
    nn, dd = Xv.shape
    r = Xv - m
    s = r.sum(axis=0)
    eye = np.eye(dd)
    Pi = np.linalg.inv(Pv)
    h_mm = nn / 2 * (Pv + Pv.T)
    h_Pm = -0.5 * (np.einsum("ac,b->abc", eye, s) + np.einsum("a,bc->abc", s, eye))  # ∂²L/∂P_ab∂μ_c
    h_mP = np.transpose(h_Pm, (2, 0, 1))
    h_PP = nn / 2 * np.einsum("bc,da->abcd", Pi, Pi)
    return [h_mm, h_mP, h_Pm, h_PP]


def _within_problem(shape) -> bool:
    """A symbolic shape no larger than the problem's inputs and outputs: n·d or d⁴ numbers."""
    size = 1
    for s in shape:
        size = size * s
    return size_leq(size, n * d) or size_leq(size, d**4)


def test_size_comparisons():
    assert size_leq(n * d, n * d**3) and size_leq(d, 3 * d) and size_leq(1, d)
    assert not size_leq(n * d**3, n * d) and not size_leq(d**2, n * d) and not size_leq(3 * d, d) and not size_leq(2, d)
    assert is_monomial(n * d**2) and is_monomial(7) and not is_monomial(d - 2)


def test_gaussian_hessian_graph_keeps_the_sample_axis_out_of_the_rank_4_block():
    before = {x.shape for b in BLOCKS for x in walk([b])}
    assert (d, d, n, d) in before  # what the calculus builds: the rewrite is what removes it
    for b, planned in zip(BLOCKS, bounded(BLOCKS)):
        assert planned.shape == b.shape
        for node in walk([planned]):
            assert _within_problem(node.shape), f"{type(node).__name__} of shape {node.shape}"


def test_gaussian_hessian_emitter_allocates_nothing_beyond_the_problem():
    src = module_source("test", [KernelSpec("kernel", [P, X, mu], BLOCKS, doc="t", layout="tuple")])
    body = src[src.index("def _kernel"):src.index("def kernel(")]
    shapes = re.findall(r"np\.(?:empty|zeros)\(\(([^()]*)\)", body)
    assert shapes, "the kernel allocates its blocks"
    for s in shapes:
        dims = [x.strip() for x in s.split(",") if x.strip()]
        assert not ("n" in dims and len(dims) >= 3), f"an array of shape ({s}) in the kernel"
    # two passes over the samples: r = x − μ, and Σᵢ rᵢ, which every term of both blocks reuses
    assert body.count("in range(n)") == 2, body


def test_gaussian_hessian_evaluate_matches_the_closed_form_and_stays_small(rng, monkeypatch):
    a = _gauss_point(rng, 120, 3)
    seen = []
    real = evaluate_module.eval_node

    def spy(node, vals, env, arrays):
        out = real(node, vals, env, arrays)
        seen.append(np.shape(out))
        return out

    monkeypatch.setattr(evaluate_module, "eval_node", spy)
    got = [b for row in sm.evaluate(H, **a) for b in row]
    for g, want in zip(got, _gauss_hessian_numpy(a)):
        np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-10)
    assert max(int(np.prod(s)) for s in seen) <= max(120 * 3, 3**4)


def test_gaussian_hessian_against_finite_differences(rng):
    a = _gauss_point(rng, 15, 3)
    g_mu, g_P = sm.grad(NLL, [mu, P])
    hv = [b for row in sm.evaluate(H, **a) for b in row]
    fd.check_jacobians(lambda **x: sm.evaluate(g_mu, **x), a, {"mu": hv[0], "P": hv[1]}, rng)
    fd.check_jacobians(lambda **x: sm.evaluate(g_P, **x), a, {"mu": hv[2], "P": hv[3]}, rng)


def test_a_map_that_is_read_twice_is_not_split():
    Y = sm.tensor("Y", (n, d))
    u = sm.tensor("u", (d,))
    B = Y - u  # (n, d): as large as Y, nothing to gain
    e = sm.sum(B, axis=0)
    assert bounded([e])[0] is e


# --------------------------------------------------------------------------- factorisations

D = sm.tensor("D", (n, n), symmetric=True)
t = sm.tensor("t", (n,))
lsf, lell, lsn = sm.scalar("lsf"), sm.scalar("lell"), sm.scalar("lsn")
K = sm.exp(2 * lsf) * sm.exp(-D * sm.exp(-2 * lell) / 2) + sm.exp(2 * lsn) * sm.eye(n)
GP = t @ sm.solve(K, t) / 2 + sm.logdet(K) / 2
GP_GRAD = sm.grad(GP, [lsf, lell, lsn])


def _gp_point(rng, nn):
    x = rng.standard_normal((nn, 2))
    return {"D": np.sum((x[:, None] - x[None]) ** 2, axis=-1), "t": rng.standard_normal(nn),
            "lsf": 0.2, "lell": -0.3, "lsn": -0.7}


def _gp_numpy(a):
    Kv = np.exp(2 * a["lsf"]) * np.exp(-a["D"] * np.exp(-2 * a["lell"]) / 2) + np.exp(2 * a["lsn"]) * np.eye(len(a["t"]))
    return a["t"] @ np.linalg.solve(Kv, a["t"]) / 2 + np.linalg.slogdet(Kv)[1] / 2


def test_gp_gradient_reads_one_matrix_through_logdet_solve_and_inverse():
    order = walk([GP] + list(GP_GRAD))
    plan = factor_plan(order)
    (uid, users), = plan.users.items()
    assert {type(u) for u in users} == {LogDet, Solve, Inv}
    assert plan.cholesky[uid]


def test_spd_hints():
    Xm = sm.tensor("Xm", (n, d))
    lam = sm.scalar("lam")
    Kpd = sm.tensor("Kpd", (n, n), positive_definite=True)
    Mg = sm.tensor("Mg", (d, d))
    assert spd_hint(Xm.T @ Xm + lam * sm.eye(d)) and spd_hint(Xm.T @ Xm + 2 * sm.eye(d))
    assert spd_hint(Kpd + sm.scalar("s2") * sm.eye(n)) and spd_hint(sm.inv(Kpd)) and spd_hint(Kpd)
    assert not spd_hint(Xm.T @ Xm) and not spd_hint(Xm.T @ Xm - sm.eye(d)) and not spd_hint(Mg)


def test_evaluate_factors_each_matrix_once(rng, monkeypatch):
    calls = []
    for name in ("cho_factor", "lu_factor"):
        real = getattr(scipy.linalg, name)
        monkeypatch.setattr(scipy.linalg, name, lambda *x, _r=real, _n=name, **k: calls.append(_n) or _r(*x, **k))
    a = _gp_point(rng, 9)
    val, *g = sm.evaluate((GP,) + tuple(GP_GRAD), **a)
    assert calls == ["cho_factor"]
    assert np.isclose(val, _gp_numpy(a), rtol=1e-12)
    fd.check_grads(lambda **x: sm.evaluate(GP, **x), a, dict(zip(["lsf", "lell", "lsn"], g)), rng)


def _general_outputs(A, c, B):
    # log det, det, a solve with a vector and one with a matrix, and the inverse of one matrix
    return {"logdet": sm.logdet(A), "det": sm.det(A), "solve": sm.solve(A, c), "solve_m": sm.solve(A, B),
            "inv": sm.inv(A), "f": c @ sm.solve(A, c) + sm.logdet(A) + sm.trace(sm.inv(A) @ B)}


def _general_numpy(Av, cv, Bv):
    Ai = np.linalg.inv(Av)
    return {"logdet": np.linalg.slogdet(Av)[1], "det": np.linalg.det(Av), "solve": np.linalg.solve(Av, cv),
            "solve_m": np.linalg.solve(Av, Bv), "inv": Ai,
            "f": cv @ np.linalg.solve(Av, cv) + np.linalg.slogdet(Av)[1] + np.trace(Ai @ Bv)}


Apd = sm.tensor("Apd", (d, d), positive_definite=True)
Agen = sm.tensor("Agen", (d, d))
cvec = sm.tensor("cvec", (d,))
Bmat = sm.tensor("Bmat", (d, d))


def _spd(rng, dd):
    Z = rng.standard_normal((dd, dd))
    return Z @ Z.T + dd * np.eye(dd)


def _nonsym_positive_det(rng, dd):
    A = rng.standard_normal((dd, dd)) + 3 * np.eye(dd)
    return A if np.linalg.det(A) > 0 else A @ np.diag([-1.0] + [1.0] * (dd - 1))


@pytest.mark.parametrize("which", ["spd", "general"])
def test_evaluate_shared_factor_against_numpy_and_scipy(rng, which):
    dd = 6
    A, Av = (Apd, _spd(rng, dd)) if which == "spd" else (Agen, _nonsym_positive_det(rng, dd))
    cv, Bv = rng.standard_normal(dd), rng.standard_normal((dd, dd))
    got = sm.evaluate(_general_outputs(A, cvec, Bmat), **{A.name: Av, "cvec": cv, "Bmat": Bv})
    want = _general_numpy(Av, cv, Bv)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)
    if which == "spd":
        cf = scipy.linalg.cho_factor(Av, lower=True)
        assert np.isclose(got["logdet"], 2 * np.sum(np.log(np.diag(cf[0]))), rtol=1e-13)
        np.testing.assert_allclose(got["solve"], scipy.linalg.cho_solve(cf, cv), rtol=1e-12)


@pytest.mark.parametrize("which", ["spd", "general"])
def test_derivatives_through_a_shared_factor_against_finite_differences(rng, which):
    dd = 4
    A, Av = (Apd, _spd(rng, dd)) if which == "spd" else (Agen, _nonsym_positive_det(rng, dd))
    f = _general_outputs(A, cvec, Bmat)["f"]
    a = {A.name: Av, "cvec": rng.standard_normal(dd), "Bmat": rng.standard_normal((dd, dd))}
    g = sm.evaluate(sm.grad(f, [A, cvec, Bmat]), **a)
    fd.check_grads(lambda **x: sm.evaluate(f, **x), a, dict(zip([A.name, "cvec", "Bmat"], g)), rng)


def _kernel_source(outputs):
    flat = list(outputs.values()) if isinstance(outputs, dict) else list(outputs)
    args = []
    for e in flat:
        for x in walk([e]):
            if isinstance(x, sm.nodes.Tensor) and x not in args:
                args.append(x)
    return module_source("test", [KernelSpec("kernel", args, flat, doc="t", layout="tuple")])


def test_gp_kernel_factors_k_once():
    src = _kernel_source([GP] + list(GP_GRAD))
    assert src.count("= _fac(") == 1
    assert "np.linalg.solve" not in src and "np.linalg.inv" not in src and "= _logdet(" not in src
    assert "_fac_solve(" in src and "_fac_inv(" in src and "_fac_logdet(" in src


def test_one_reader_keeps_its_own_lapack_call():
    src = _kernel_source([sm.solve(Agen, cvec)])
    assert "_fac(" not in src and "np.linalg.solve" in src
    src = _kernel_source([sm.solve(Apd, cvec)])  # declared SPD: Cholesky even for one solve
    assert "_fac(" in src and "True)" in src


# --------------------------------------------------------------------------- one product for XP and XPᵀ


def test_xp_and_xpt_are_one_node_for_a_symmetric_p():
    Xm = sm.tensor("Xm", (n, d))
    Ps = sm.tensor("Ps", (d, d), symmetric=True)
    Q = sm.tensor("Q", (d, d))
    for S in (Ps, Q @ Q.T, Q.T @ Q, Q + Q.T, (Q + Q.T) / 2, Q * Q.T, sm.exp(Ps), sm.inv(Ps)):
        assert is_symmetric(S)
        assert (Xm @ S) is (Xm @ S.T)
    for S in (Q, Q - Q.T, Q + 2 * Q.T):
        assert not is_symmetric(S)
        assert (Xm @ S) is not (Xm @ S.T)


def test_rbf_gram_is_symmetric_and_one_product_is_emitted():
    Z = sm.tensor("Z", (n, d))
    al = sm.tensor("al", (n,))
    Kr = sm.rbf_kernel(sm.scalar("gam")).gram(Z)  # exp(−γ(‖zᵢ‖² + ‖zⱼ‖² − 2zᵢᵀzⱼ))
    assert is_symmetric(Kr) and (Kr @ al) is (Kr.T @ al)
    src = _kernel_source([Kr @ al, Kr.T @ al])
    body = src[src.index("def _kernel"):]
    assert len(re.findall(r"np\.dot\(", body)) == 1


def test_symmetric_map_rule_keeps_derivatives_right(rng):
    Xm = sm.tensor("Xm", (n, d))
    Q = sm.tensor("Q", (d, d))
    w = sm.tensor("w", (d,))
    S = Q + Q.T
    f = sm.sum(sm.tanh(Xm @ S @ w)) + w @ (S.T @ w)
    a = {"Xm": rng.standard_normal((7, 3)), "Q": rng.standard_normal((3, 3)), "w": rng.standard_normal(3)}
    g = sm.evaluate(sm.grad(f, [Q, w]), **a)
    fd.check_grads(lambda **x: sm.evaluate(f, **x), a, {"Q": g[0], "w": g[1]}, rng)
    Sv = a["Q"] + a["Q"].T
    assert np.isclose(sm.evaluate(f, **a), np.sum(np.tanh(a["Xm"] @ Sv @ a["w"])) + a["w"] @ Sv @ a["w"])


# --------------------------------------------------------------------------- compiled kernels


@pytest.mark.compile
def test_gaussian_hessian_kernel_matches_evaluate_and_the_closed_form(rng):
    k = sm.compile(H)
    for nn, dd in ((9, 2), (300, 5)):
        a = _gauss_point(rng, nn, dd)
        got = [b for row in k(**a) for b in row]
        ev = [b for row in sm.evaluate(H, **a) for b in row]
        for g, e, w in zip(got, ev, _gauss_hessian_numpy(a)):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)


@pytest.mark.compile
def test_gp_kernel_against_numpy_and_finite_differences(rng):
    k = sm.compile({"L": GP, "g": GP_GRAD})
    src = k.path.read_text()
    assert src.count("= _fac(") == 1 and "np.linalg" not in src
    a = _gp_point(rng, 40)
    out = k(**a)
    ev = sm.evaluate({"L": GP, "g": GP_GRAD}, **a)
    assert np.isclose(out["L"], _gp_numpy(a), rtol=1e-11)
    np.testing.assert_allclose(np.array(out["g"]), np.array(ev["g"]), rtol=1e-10, atol=1e-12)
    assert k.check(**a).passed


@pytest.mark.compile
@pytest.mark.parametrize("which", ["spd", "general"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shared_factor_kernels_against_numpy(rng, which, dtype):
    dd = 30
    A, Av = (Apd, _spd(rng, dd)) if which == "spd" else (Agen, _nonsym_positive_det(rng, dd))
    outs = _general_outputs(A, cvec, Bmat)
    k = sm.compile(outs)
    src = k.path.read_text()
    assert src.count("= _fac(") == 1 and "np.linalg" not in src
    cv, Bv = rng.standard_normal(dd), rng.standard_normal((dd, dd))
    got = k(**{A.name: Av.astype(dtype), "cvec": cv.astype(dtype), "Bmat": Bv.astype(dtype)})
    want = _general_numpy(Av, cv, Bv)
    tol = 1e-9 if dtype == np.float64 else 2e-3
    for key in want:
        g = np.asarray(got[key])
        assert g.dtype == dtype or g.ndim == 0, key
        np.testing.assert_allclose(g, want[key], rtol=tol, atol=tol * max(1.0, np.max(np.abs(want[key]))), err_msg=key)


@pytest.mark.compile
def test_shared_factor_kernel_errors_are_clear(rng):
    k = sm.compile({"ld": sm.logdet(Agen), "s": sm.solve(Agen, cvec)})
    sym_indefinite = np.diag([1.0, -1.0, 2.0]) + 0.0
    with pytest.raises(ValueError, match="not positive definite"):
        k(Agen=sym_indefinite, cvec=np.ones(3))
    neg = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) + np.triu(np.ones((3, 3)), 1) * 0.5
    with pytest.raises(ValueError, match="determinant <= 0"):
        k(Agen=neg, cvec=np.ones(3))
    k2 = sm.compile({"s": sm.solve(Agen, cvec), "i": sm.inv(Agen)})
    with pytest.raises(Exception, match="[Ss]ingular"):
        k2(Agen=np.zeros((3, 3)), cvec=np.ones(3))


@pytest.mark.compile
def test_gp_kernel_check_with_declared_pd_matrix(rng):
    Kp = sm.tensor("Kp", (n, n), positive_definite=True)
    s2 = sm.scalar("s2")
    M = Kp + sm.exp(s2) * sm.eye(n)
    L = t @ sm.solve(M, t) / 2 + sm.logdet(M) / 2
    k = sm.compile({"L": L, "g": sm.grad(L, [Kp, s2, t])})
    src = k.path.read_text()
    assert src.count("= _fac(") == 1 and ", True)" in src
    Kv = _spd(rng, 12)
    a = {"Kp": Kv, "s2": -1.0, "t": rng.standard_normal(12)}
    out = k(**a)
    ev = sm.evaluate({"L": L, "g": sm.grad(L, [Kp, s2, t])}, **a)
    assert np.isclose(out["L"], ev["L"], rtol=1e-12)
    for g, e in zip(out["g"], ev["g"]):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)
    assert k.check(**a).passed


# --------------------------------------------------------------------------- the pairwise order

k_ = sm.dims("k")
Rsp = sm.tensor("Rsp", (n, k_))
Xs = sm.tensor("Xs", (n, d))
WEIGHTED_GRAMS = sm.einsum("nk,ni,nj->kij", Rsp, Xs, Xs)  # Σₙ r_nk x_ni x_nj, one Gram per column of r


def test_three_operands_whose_every_pair_blows_up_get_one_loop_nest():
    src = _kernel_source([WEIGHTED_GRAMS])
    body = src[src.index("def _kernel"):src.index("def kernel(")]
    shapes = re.findall(r"np\.(?:empty|zeros)\(\(([^()]*)\)", body)
    assert shapes == ["k, d, d"], shapes  # the result only: no (n, k, d) or (n, d, d) product first


def test_chains_keep_their_pairwise_order():
    A3, B3, c3 = sm.tensor("A3", (n, d)), sm.tensor("B3", (d, d)), sm.tensor("c3", (d,))
    src = _kernel_source([A3 @ (B3 @ c3)])
    body = src[src.index("def _kernel"):src.index("def kernel(")]
    assert "(n, d, d)" not in body and body.count("np.dot(") == 2


@pytest.mark.compile
def test_weighted_grams_kernel_against_numpy(rng):
    k = sm.compile(WEIGHTED_GRAMS)
    a = {"Rsp": rng.random((50, 3)), "Xs": rng.standard_normal((50, 4))}
    np.testing.assert_allclose(k(**a), np.einsum("nk,ni,nj->kij", a["Rsp"], a["Xs"], a["Xs"]), rtol=1e-12)
