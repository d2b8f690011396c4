"""A model the user writes, end to end (issue 16, items 2–5): zeros for derivatives in
tensors an expression does not read, one dict of inputs for a loss and its derivatives,
``sm.compile`` of what users write (tuples, lists, nested dicts, sizes no argument binds),
and verification of the user's own model with the library's one finite-difference
checker (``sm.check``, ``kernel.check()``, ``check=True``). The README's section "Your own
model" is executed here.
"""
from __future__ import annotations

import re
from pathlib import Path

import fd
import numpy as np
import pytest

import symml as sm
from symml import verify
from symml.calculus import _record
from symml.codegen.jit import VerificationError
from symml.evaluate import BindError
from symml.verify_user import infer_domains

ROOT = Path(__file__).resolve().parents[1]

n, d = sm.dims("n d")
X, y = sm.tensor("X", (n, d)), sm.tensor("y", (n,))
w, b, lam = sm.tensor("w", (d,)), sm.scalar("b"), sm.scalar("lam")
z = X @ w + b
L = sm.sum(sm.softplus(z) - y * z) + lam / 2 * sm.norm2(w)


def inputs(rng, m=30, p=4):
    return {"X": rng.normal(size=(m, p)), "y": (rng.random(m) < 0.5) * 1.0, "w": rng.normal(size=p),
            "b": 0.3, "lam": 0.7}


# --------------------------------------------------------------------------- one dict of inputs


def test_one_dict_serves_a_loss_and_all_its_derivatives(rng):
    a = inputs(rng)
    gb = sm.evaluate(sm.grad(L, b), **a)          # reads neither lam nor (through the sum) w's penalty
    p = 1 / (1 + np.exp(-(a["X"] @ a["w"] + a["b"])))
    assert gb == pytest.approx(np.sum(p - a["y"]), rel=1e-12)
    assert sm.evaluate(sm.grad(L, lam), **a) == pytest.approx(0.5 * a["w"] @ a["w"], rel=1e-12)
    Hbb = sm.evaluate(sm.hessian(L, b), **a)
    assert Hbb == pytest.approx(np.sum(p * (1 - p)), rel=1e-12)
    all_at_once = sm.evaluate({"loss": L, "g": sm.grad(L, [w, b, lam]), "H": sm.hessian(L, [w, b])}, **a)
    assert all_at_once["g"][2] == pytest.approx(0.5 * a["w"] @ a["w"])


def test_an_undeclared_name_is_refused_with_a_did_you_mean(rng):
    with pytest.raises(BindError, match=r"unknown input 'lamda' \(did you mean 'lam'"):
        sm.evaluate(L, **{**inputs(rng), "lamda": 1.0})


def test_an_unread_array_binds_the_size_of_a_zero_derivative(rng):
    v = sm.tensor("v_user_model", (d,))
    g = sm.grad(L, v)
    assert g.shape == (d,)
    np.testing.assert_array_equal(sm.evaluate(g, v_user_model=np.ones(6)), np.zeros(6))
    with pytest.raises(ValueError, match="size d is not bound"):
        sm.evaluate(g)
    np.testing.assert_array_equal(sm.evaluate(g, dims={"d": 2}), np.zeros(2))


# --------------------------------------------------------------------------- sm.compile takes what users write


@pytest.mark.compile
def test_compile_takes_tuples_lists_and_nested_dicts(rng):
    k = sm.compile({"loss": L, "grad": sm.grad(L, [w, b]), "more": {"H": sm.hessian(L, [w, b]), "l": [sm.grad(L, lam)]}})
    a = inputs(rng, m=500, p=6)
    out = k(**a)
    ref = sm.evaluate({"loss": L, "grad": sm.grad(L, [w, b]), "more": {"H": sm.hessian(L, [w, b]),
                                                                      "l": [sm.grad(L, lam)]}}, **a)
    assert set(out) == {"loss", "grad", "more"} and set(out["more"]) == {"H", "l"}
    assert isinstance(out["grad"], tuple) and len(out["grad"]) == 2
    assert isinstance(out["more"]["l"], tuple) and isinstance(out["more"]["H"][0], tuple)
    assert out["loss"] == pytest.approx(ref["loss"], rel=1e-12)
    for got, want in zip(out["grad"], ref["grad"]):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)
    for row_g, row_w in zip(out["more"]["H"], ref["more"]["H"]):
        for got, want in zip(row_g, row_w):
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)
    assert out["more"]["l"][0] == pytest.approx(ref["more"]["l"][0], rel=1e-12)
    gw, gb = sm.compile(sm.grad(L, [w, b]))(**a)       # a tuple as the one output
    np.testing.assert_allclose(gw, ref["grad"][0], rtol=1e-11, atol=1e-12)
    assert gb == pytest.approx(ref["grad"][1], rel=1e-12)
    with pytest.raises(ValueError, match=r"unknown input 'ww' \(did you mean 'w'\?\)"):
        k(**a, ww=1.0)
    with pytest.raises(ValueError, match="missing input 'lam'"):
        k(**{key: v for key, v in a.items() if key != "lam"})


@pytest.mark.compile
def test_sizes_no_argument_binds(rng):
    """The Hessian of Σ(xᵢ − μ)² in μ is 2n: it reads no array of size n (a bare KeyError before)."""
    x, mu = sm.tensor("x", (n,)), sm.scalar("mu")
    H = sm.hessian(sm.sum((x - mu) ** 2), mu)
    k = sm.compile(H)
    assert k(mu=0.5, x=np.ones(7)) == 14.0
    assert k(mu=0.5, dims={"n": 3}) == 6.0
    with pytest.raises(ValueError, match=r"size n is not bound by any argument; pass dims=\{'n': \.\.\.\}"):
        k(mu=0.5)
    assert sm.compile(H, dims={"n": 4})(mu=0.0) == 8.0
    assert sm.compile(H, dims={"n": 4})(mu=0.0, dims={"n": 5}) == 10.0
    zero = sm.compile(sm.grad(sm.sum((x - mu) ** 2), sm.tensor("q_user_model", (d,))))
    np.testing.assert_array_equal(zero(q_user_model=np.ones(3)), np.zeros(3))
    assert sm.compile(sm.grad(2 * mu, mu))() == 2.0       # a kernel of constants, which reads nothing


@pytest.mark.parametrize("outputs, exc, match", [
    ({"a": "x"}, TypeError, "output a is a str; expected a symml expression"),
    ({"a": None}, TypeError, "output a is a NoneType"),
    ((), ValueError, "is empty"),
    ({}, ValueError, "empty dict"),
    ({"not an id": L}, ValueError, "must be an identifier"),
    ({"a": {"b": [L, object()]}}, TypeError, r"output a\.b\[1\] is a object"),
])
def test_compile_refuses_what_is_not_an_output(outputs, exc, match):
    with pytest.raises(exc, match=match):
        sm.compile(outputs)


def test_compile_refuses_a_tensor_named_like_its_keywords():
    with pytest.raises(ValueError, match="'dims' is taken"):
        sm.compile(sm.sum(sm.tensor("dims", (d,))))


# --------------------------------------------------------------------------- verification


def test_check_an_expression_with_random_inputs():
    report = sm.check(L, wrt=[w, b])
    assert isinstance(report, verify.CheckReport) and report.passed
    assert [r.kernel for r in report.rows] == ["grad vs loss", "hessian vs grad", "hvp vs grad"]
    assert all(r.points == 9 for r in report.rows)
    jac = sm.check(sm.tanh(X @ w), wrt=w)
    assert [r.kernel for r in jac.rows] == ["jacobian vs expression"] and jac.passed
    assert sm.check(L).passed  # every input, the data included
    assert not sm.check(L, wrt=[w, b], second_order=False).rows[1:]


def test_check_at_given_arrays(rng):
    a = inputs(rng, m=8, p=3)
    report = sm.check(L, wrt=[w, b], **a)
    assert report.passed and report.rows[0].points == 3   # one point, three directions
    part = sm.check(L, wrt=[w], X=a["X"], y=a["y"])         # the rest drawn at sizes that agree
    assert part.passed
    assert sm.check(L, wrt=[w], inputs=a).passed


def test_check_fails_on_a_wrong_derivative(monkeypatch):
    """The checker can fail: a gradient off by 0.1 % is caught."""
    import symml.verify_user as vu

    real = vu.grad
    monkeypatch.setattr(vu, "grad", lambda f, ts: tuple(1.001 * g for g in real(f, ts)))
    report = sm.check(L, wrt=[w, b], second_order=False)
    assert not report.passed and report.rows[0].worst > 1e-4
    assert "FAIL" in str(report)


def test_domains_are_inferred_from_what_reads_each_tensor():
    S, v, s2 = sm.tensor("S", (d, d)), sm.tensor("v", (d,)), sm.scalar("s2")
    G = sm.logdet(S) + v @ sm.solve(S, v) + sm.log(s2) + sm.sum(sm.sqrt(sm.exp(v)))
    assert infer_domains([G]) == {"S": "spd", "s2": "positive"}
    assert sm.check(G).passed        # a real draw of S or s2 would give NaN, and NaN fails
    with pytest.raises(ValueError, match="unknown domain 'psd'"):
        sm.check(G, domains={"S": "psd"})


def test_check_refuses_what_it_cannot_check():
    with pytest.raises(TypeError, match="catalog name, a symml expression or a kernel"):
        sm.check(3.0)
    with pytest.raises(TypeError, match="takes no wrt="):
        sm.check("logistic_regression", wrt=[w])
    with pytest.raises(TypeError, match="wrt= takes input tensors"):
        sm.check(L, wrt=[X @ w])
    with pytest.raises(ValueError, match="no finite-difference tolerance for float16"):
        sm.check(L, dtype=np.float16)


@pytest.mark.compile
def test_kernel_check_and_check_at_compile(rng):
    v = sm.tensor("v", (d,))
    k = sm.compile({"loss": L, "g": sm.grad(L, [w, b]), "H": sm.hessian(L, w), "hv": sm.hvp(L, w, v)}, check=True)
    report = k.check()
    assert report.passed
    rows = [r.kernel for r in report.rows]
    assert "g[0] vs fd (grad in w)" in rows and "H vs fd (jacobian in w)" in rows and "hv vs fd of ∂/∂w" in rows
    assert "loss vs evaluate" in rows
    assert k.check(dtype=np.float32).passed
    assert k.check(**inputs(rng), v=rng.normal(size=4)).passed
    assert sm.check(k).passed


@pytest.mark.compile
def test_a_kernel_with_a_wrong_derivative_fails_its_check():
    """2w claimed as ∂L/∂w (through the record the calculus keeps): check=True refuses it."""
    wrong = _record(2 * w, "grad", L, w)
    with pytest.raises(VerificationError, match="disagrees with finite differences"):
        sm.compile({"g": wrong}, check=True)
    assert not sm.compile({"g": wrong}).check().passed


# --------------------------------------------------------------------------- one checker


def test_the_tests_use_the_library_checker_and_table():
    for dt in (np.float64, np.float32):
        t = fd.tolerance(dt)
        assert (t.step, t.rtol, t.atol) == tuple(verify.TOLERANCES[dt][k] for k in ("step", "rtol", "atol"))
    an, num = np.array([1.0, 2.0]), np.array([1.0, 2.0 + 2.5e-6])
    assert verify.rel_error(an, num, 1.0) > 1e-6
    with pytest.raises(AssertionError, match="disagrees"):
        fd.assert_close(an, num, 1.0, fd.tolerance())
    fd.assert_close(an, np.array([1.0, 2.0 + 1.5e-6]), 1.0, fd.tolerance())  # 1.5e-6 ≤ 1e-7 + 1e-6 · 2


# --------------------------------------------------------------------------- the README section


def readme_blocks(heading: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end >= 0 else None]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


@pytest.mark.compile
def test_readme_your_own_model_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMML_CACHE_DIR", str(tmp_path))
    blocks = readme_blocks("Your own model")
    assert len(blocks) >= 3
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    assert namespace["report"].passed


def test_check_through_conv2d_checks_the_hvp_without_a_hessian():
    """conv2d has an hvp but no Jacobian: the report has no Hessian row, and the hvp row is there."""
    img, ker, Vc = sm.tensor("img", (n, 1, 6, 6)), sm.tensor("ker", (2, 1, 3, 3)), sm.tensor("Vc", (2, 4, 4))
    report = sm.check(sm.sum(sm.tanh(sm.conv2d(img, ker)) * Vc), wrt=[ker, Vc])
    assert report.passed and [r.kernel for r in report.rows] == ["grad vs loss", "hvp vs grad"]


# --------------------------------------------------------------------------- item 8: Dask


@pytest.mark.compile
def test_a_compiled_loss_runs_on_dask_by_blocks_of_rows(rng):
    da = pytest.importorskip("dask.array")
    from symml import dask as smd
    from symml.decompose import NotDecomposable

    r = X @ w + b - y
    Lm = sm.mean(sm.sqrt(1 + r * r) - 1) + lam / 2 * sm.norm2(w)     # a mean: 1/n reads the total row count
    v = sm.tensor("v", (d,))
    k = sm.compile({"loss": Lm, "grad": sm.grad(Lm, [w, b]), "H": sm.hessian(Lm, [w, b]), "hv": sm.hvp(Lm, w, v)})
    a = inputs(rng, m=1003, p=4)
    a["v"] = rng.normal(size=4)
    ref = k(**a)
    c = k.chunks()
    assert c.rows == ["X", "y"] and c.n_total == "n_total"
    out = smd.run_kernel(k, **{**a, "X": da.from_array(a["X"], chunks=(100, 4)), "y": da.from_array(a["y"], chunks=100)},
                         split_every=3)
    assert out["loss"] == pytest.approx(ref["loss"], rel=1e-12)
    for got, want in zip(out["grad"], ref["grad"]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    for row_g, row_w in zip(out["H"], ref["H"]):
        for got, want in zip(row_g, row_w):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(out["hv"], ref["hv"], rtol=1e-10, atol=1e-13)
    with pytest.raises(NotDecomposable):   # a product of two sums over rows has no chunk form
        sm.compile(sm.sum(X @ w) * sm.sum(y)).chunks()
    with pytest.raises(ValueError, match="missing input 'y'"):
        smd.run_kernel(k, **{key: val for key, val in a.items() if key != "y"})


@pytest.mark.compile
def test_a_compiled_loss_runs_on_a_cluster_of_worker_processes(rng):
    """The workers import the cached kernel module from its file (nothing is pickled but arrays)."""
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    from symml import dask as smd

    k = sm.compile({"loss": L, "grad": sm.grad(L, [w, b])})
    a = inputs(rng, m=600, p=3)
    ref = k(**a)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        out = smd.run_kernel(k, client=client, **{**a, "X": da.from_array(a["X"], chunks=(150, 3)),
                                                  "y": da.from_array(a["y"], chunks=150)})
    assert out["loss"] == pytest.approx(ref["loss"], rel=1e-12)
    np.testing.assert_allclose(out["grad"][0], ref["grad"][0], rtol=1e-10, atol=1e-13)
    assert out["grad"][1] == pytest.approx(ref["grad"][1], rel=1e-10)
