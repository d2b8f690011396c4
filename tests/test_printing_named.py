"""Issue 17's printing items: simplex-declared tensors, powers of a repeated factor,
self-contained results (names printed with their definitions), second-order adjoint names,
named responsibilities of the Gaussian mixture, and the small cosmetics of `symml show`.

Each printed form that a derivation changed is also checked numerically here.
"""
from __future__ import annotations

import numpy as np
import pytest

import symml as sm
from symml import cli
from symml.catalog import load
from symml.nodes import Let, walk
from symml.printing.equations import program_equations
from symml.program import program_from_outputs

n, d, K = sm.dims("n d K")
X, y, w, b, lam = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,)), sm.scalar("b"), sm.scalar("lam")
W = sm.tensor("W", (d, K))
Y = sm.tensor("Y", (n, K), simplex=True)
A, B = sm.tensor("A", (d, d)), sm.tensor("B", (d, d))
x = sm.tensor("x", (d,))


def _central(f, arrays: dict, name: str, h=1e-6) -> np.ndarray:
    x0 = np.asarray(arrays[name], float)
    out = np.zeros(x0.shape)
    for idx in np.ndindex(x0.shape):
        xp, xm = x0.copy(), x0.copy()
        xp[idx] += h
        xm[idx] -= h
        out[idx] = (float(sm.evaluate(f, **{**arrays, name: xp})) - float(sm.evaluate(f, **{**arrays, name: xm}))) / (2 * h)
    return out


# --------------------------------------------------------------------------- simplex=True


def test_rows_of_a_simplex_tensor_sum_to_one():
    assert sm.pretty(sm.sum(Y, axis=1)) == "𝟏"
    assert sm.pretty(sm.sum(Y)) == "n"
    assert sm.pretty(sm.sum(Y, axis=0)) == "Yᵀ𝟏"  # the other axis is no simplex
    assert sm.pretty(sm.sum(2 * Y + 3, axis=1)) == "(3K + 2)𝟏"  # Σ_k (2Y_ik + 3) = 2 + 3K


def test_softmax_cross_entropy_with_simplex_targets_prints_softmax_minus_y(rng):
    loss = -sm.sum(Y * sm.log_softmax(X @ W, axis=1))
    g = sm.grad(loss, W)
    assert sm.pretty(g) == "Xᵀ(softmax(XW) − Y)"
    assert sm.latex(g) == r"X^{\top} \left(\operatorname{softmax}\left(X W\right) - Y\right)"
    a = {"X": rng.normal(size=(5, 3)), "W": rng.normal(size=(3, 4)), "Y": rng.dirichlet(np.ones(4), size=5)}
    np.testing.assert_allclose(np.asarray(sm.evaluate(g, **a)), _central(loss, a, "W"), rtol=1e-6, atol=1e-8)


def test_sm_check_draws_simplex_rows_for_a_simplex_tensor():
    loss = -sm.sum(Y * sm.log_softmax(X @ W, axis=1))
    report = sm.check(loss, wrt=W)
    assert report.passed, str(report)


def test_a_general_y_keeps_its_row_sums():
    Yg = sm.tensor("Y", (n, K))
    g = sm.grad(-sm.sum(Yg * sm.log_softmax(X @ W, axis=1)), W)
    assert sm.pretty(g) == "Xᵀ(diag(Y𝟏) softmax(XW) − Y)"


def test_label_smoothing_of_simplex_targets_sums_to_one():
    g = sm.grad(-sm.sum((0.9 * Y + 0.1 / K) * sm.log_softmax(X @ W, axis=1)), W)
    assert sm.pretty(g) == "Xᵀ(softmax(XW) − 0.9Y − 0.1/K)"


@pytest.mark.parametrize("kwargs, message", [
    ({"shape": ()}, "simplex=True needs at least one axis"),
    ({"shape": (d, d), "symmetric": True}, "does not combine"),
])
def test_simplex_flag_refuses_what_it_cannot_mean(kwargs, message):
    shape = kwargs.pop("shape")
    with pytest.raises(ValueError, match=message):
        sm.tensor("P", shape, simplex=True, **kwargs)
    with pytest.raises(TypeError, match="simplex must be True or False"):
        sm.tensor("P", (d,), simplex=1)


def test_the_catalog_softmax_models_print_softmax_minus_y():
    for name, step in (("softmax_regression", "δ_Z   = softmax(Z) − Y"), ("mlp", "δ_z    = softmax(z) − Y")):
        d_ = load(name)
        text = program_equations(program_from_outputs({f"grad_{p.name}": g for p, g in
                                                                    zip(d_.params, d_.grads)}))
        assert step in text, text


# --------------------------------------------------------------------------- powers


@pytest.mark.parametrize("expr, uni, tex", [
    (lambda: sm.grad(sm.trace(A @ A @ A), A), "3(A²)ᵀ", r"3 \left(A^{2}\right)^{\top}"),
    (lambda: sm.trace(A @ A @ A), "tr(A³)", r"\operatorname{tr}\left(A^{3}\right)"),
    (lambda: x @ A @ A @ x, "xᵀA²x", r"x^{\top} A^{2} x"),
    (lambda: A.T @ A.T @ B, "(A²)ᵀB", r"\left(A^{2}\right)^{\top} B"),
    (lambda: A @ A.T @ A, "AAᵀA", r"A A^{\top} A"),  # no run: A and Aᵀ are different factors
])
def test_a_run_of_one_matrix_prints_as_a_power(expr, uni, tex):
    e = expr()
    assert sm.pretty(e) == uni and sm.latex(e) == tex


def test_a_power_is_the_product_numerically(rng):
    a = {"A": rng.normal(size=(3, 3)), "x": rng.normal(size=3)}
    g = sm.grad(sm.trace(A @ A @ A @ A), A)
    assert sm.pretty(g) == "4(A³)ᵀ"
    np.testing.assert_allclose(np.asarray(sm.evaluate(g, **a)), 4 * np.linalg.matrix_power(a["A"], 3).T, rtol=1e-12)


# --------------------------------------------------------------------------- self-contained results


def _let_logistic():
    z = sm.let("z", X @ w + b)
    return sm.sum(sm.softplus(z) - y * z) + lam / 2 * (w @ w)


def test_a_result_through_sm_let_prints_the_names_it_uses():
    g = sm.grad(_let_logistic(), w)
    assert sm.pretty(g) == "Xᵀ δ_z + λw, where z = Xw + b, δ_z = σ(z) − y"
    assert sm.latex(g) == (r"X^{\top} \delta_{z} + \lambda w, \quad \text{where } z = X w + b, \; "
                           r"\delta_{z} = \sigma\left(z\right) - y")
    assert g._repr_latex_() == "$\\displaystyle " + sm.latex(g) + "$"
    assert repr(g) == sm.pretty(g)


def test_the_hessian_through_sm_let_prints_the_textbook_form(rng):
    L = _let_logistic()
    H = sm.hessian(L, w)
    assert sm.pretty(H) == "Xᵀ diag(σ(z) ⊙ (1 − σ(z))) X + λI, where z = Xw + b"
    assert sm.latex(H).endswith(r", \quad \text{where } z = X w + b")
    a = {"X": rng.normal(size=(6, 3)), "y": rng.random(6), "w": rng.normal(size=3), "b": 0.3, "lam": 0.5}
    Xv, zv = a["X"], a["X"] @ a["w"] + a["b"]
    s = 1 / (1 + np.exp(-zv))
    np.testing.assert_allclose(np.asarray(sm.evaluate(H, **a)), Xv.T @ np.diag(s * (1 - s)) @ Xv + 0.5 * np.eye(3),
                               rtol=1e-12)


def test_second_order_adjoints_have_their_own_names():
    L = _let_logistic()
    H = sm.hessian(L, w)
    names = [node.name for node in walk([H]) if isinstance(node, Let)]
    assert "delta_z" not in names and {"z", "delta2_z", "delta2_delta_z"} <= set(names)
    text = sm.printing.equations({"H": H})
    assert "δ̄_z   = δ̄_δ_z diag(σ(z) ⊙ (1 − σ(z)))" in text and "δ_z" not in text.replace("δ̄_δ_z", "")
    assert sm.printing.latex(sm.let("delta2_v", X @ w) * 2, where=False) == r"2 \bar{\delta}_{v}"


def test_the_mlp_hvp_names_each_adjoint_once():
    d_ = load("mlp")
    V = [sm.tensor("V_" + p.name, p.shape) for p in d_.params]
    prog = program_from_outputs({f"hvp_{p.name}": h for p, h in zip(d_.params, sm.hvp(d_.loss, d_.params, V))})
    names = [s.name for s in prog.steps]
    assert len(names) == len(set(names)) and not any(nm.endswith("_2") for nm in names), names
    assert {"delta_h2", "delta2_h2", "delta2_delta_h2"} <= set(names)
    assert {s.kind for s in prog.steps if s.name.startswith("delta2_")} == {"adjoint2"}


def test_two_lets_of_one_name_stay_apart_in_the_where_clause():
    z1, z2 = sm.let("z", X @ w), sm.let("z", X @ w + 1)
    assert sm.pretty(sm.sum(z1 * z2)) == "sum(z ⊙ z₂), where z = Xw, z₂ = Xw + 1"


# --------------------------------------------------------------------------- the Gaussian mixture


def test_gaussian_mixture_prints_its_gradients_through_the_responsibilities(capsys):
    assert cli.main(["show", "gaussian_mixture"]) == 0
    out = capsys.readouterr().out
    assert "γ     = softmax(ℓ)" in out and "∂L/∂a = −γᵀ𝟏 + n softmax(a)" in out, out
    assert "δ_ℓ" not in out


def test_the_named_gaussian_mixture_gradients_are_the_derived_ones(rng):
    d_ = load("gaussian_mixture")
    R = d_.extra["responsibilities"]
    grads = {f"grad_{p.name}": g for p, g in zip(d_.params, d_.grads)}
    prog = program_from_outputs(grads, named=[R])
    assert "gamma" in [s.name for s in prog.steps]
    Kc, dd, nn = 2, 2, 6
    Lf = np.tril(rng.normal(size=(Kc, dd, dd)) * 0.3) + np.eye(dd)
    a = {"X": rng.normal(size=(nn, dd)), "M": rng.normal(size=(Kc, dd)), "a": rng.normal(size=Kc), "L": Lf}
    for name, expr in prog.outputs.items():
        np.testing.assert_allclose(np.asarray(sm.evaluate(expr, **a)), np.asarray(sm.evaluate(grads[name], **a)),
                                   rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(sm.evaluate(grads["grad_a"], **a)), _central(d_.loss, a, "a"), rtol=1e-6,
                               atol=1e-8)


# --------------------------------------------------------------------------- cosmetics


def test_normal_curvature_prints_n_over_sigma2_and_show_separates_the_hessian(capsys):
    assert cli.main(["show", "distribution_normal", "--hessian"]) == 0
    out = capsys.readouterr().out
    assert "∂²L/∂μ²    = n/σ²" in out
    lines = out.splitlines()
    first = next(k for k, line in enumerate(lines) if line.startswith("∂²L"))
    assert lines[first - 1] == ""


def test_a_float_one_factor_prints_as_nothing():
    assert sm.pretty(sm.sum(0.8 - 1.0 * sm.sigmoid(X @ w))) == "sum(0.8 − σ(Xw))"


def test_a_second_value_with_a_textbook_name_is_numbered_below_its_square():
    """Two lets named sigma2 are σ² and σ₂² (the Program's sigma2_2), not σ² and σ₂₂."""
    n_ = sm.dims("n_")
    x = sm.tensor("x", (n_,))
    s, t = sm.scalar("s"), sm.scalar("t")
    L = sm.sum(x * x) / sm.let("sigma2", sm.exp(s)) + sm.sum(x) / sm.let("sigma2", sm.exp(t)) \
        + sm.let("eps", s * t) * sm.let("eps", s + t)
    assert sm.pretty(L) == ("‖x‖²/σ² + sum(x)/σ₂² + εε₂, where σ² = exp(s), σ₂² = exp(t), ε = st, ε₂ = s + t")
    tex = sm.latex(L)
    assert r"\frac{\operatorname{sum}\left(x\right)}{\sigma_{2}^{2}}" in tex and r"\varepsilon_{2} = s + t" in tex
