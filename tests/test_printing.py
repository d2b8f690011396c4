"""The printing stage: exact matrix forms, index notation, equations, and robustness."""
from __future__ import annotations

import ast
import doctest
import importlib
import pathlib

import numpy as np
import pytest
import sympy as sp

import symml as sm
import symml.printing
from symml.nodes import Expr
from symml.printing import equations, index_form, latex, pretty
from symml.printing import matrix as matrix_mod
from symml.printing.index import IndexBuilder

n, d = sm.dims("n d")
X = sm.tensor("X", (n, d))
w = sm.tensor("w", (d,))
y = sm.tensor("y", (n,))
lam = sm.scalar("lam")
A = sm.tensor("A", (d, d))
x = sm.tensor("x", (d,))
S = sm.tensor("S", (d, d))
LOGISTIC = sm.sum(sm.softplus(X @ w) - y * (X @ w)) + lam / 2 * sm.norm2(w)


@pytest.fixture(autouse=True)
def strict(monkeypatch):
    """No silent fallback: a failure in a printer method raises in these tests."""
    monkeypatch.setattr(matrix_mod, "STRICT", True)


# --------------------------------------------------------------------------- exact forms

EXACT = [
    ("least squares gradient", lambda: sm.grad(sm.norm2(X @ w - y), w),
     "2Xᵀ(Xw − y)", r"2 X^{\top} \left(X w - y\right)"),
    ("least squares Hessian", lambda: sm.hessian(sm.norm2(X @ w - y), w),
     "2XᵀX", r"2 X^{\top} X"),
    ("logistic gradient", lambda: sm.grad(LOGISTIC, w),
     "Xᵀ(σ(Xw) − y) + λw",
     r"X^{\top} \left(\sigma\left(X w\right) - y\right) + \lambda w"),
    ("logistic Hessian", lambda: sm.hessian(LOGISTIC, w),
     "Xᵀ diag(σ(Xw) ⊙ (1 − σ(Xw))) X + λI",
     r"X^{\top} \operatorname{diag}\left(\sigma\left(X w\right) \odot \left(1 - \sigma\left(X w\right)\right)\right) X"
     r" + \lambda I"),
    ("quadratic form gradient", lambda: sm.grad(x.T @ A @ x, x),
     "(A + Aᵀ)x", r"\left(A + A^{\top}\right) x"),
    ("log det gradient", lambda: sm.grad(sm.logdet(S), S),
     "S⁻ᵀ", r"S^{-\top}"),
    ("trace gradient", lambda: sm.grad(sm.trace(A @ S), S),
     "Aᵀ", r"A^{\top}"),
    ("logistic loss", lambda: LOGISTIC,
     "sum(softplus(Xw) − Xw ⊙ y) + λ‖w‖²/2",
     r"\operatorname{sum}\left(\operatorname{softplus}\left(X w\right) - X w \odot y\right)"
     r" + \frac{\lambda \left\lVert w \right\rVert^{2}}{2}"),
]


@pytest.mark.parametrize("build, uni, tex", [c[1:] for c in EXACT], ids=[c[0] for c in EXACT])
def test_exact_matrix_forms(build, uni, tex):
    e = build()
    assert pretty(e) == uni
    assert latex(e) == tex


MORE = [
    ("dot", lambda: sm.dot(x, w), "wᵀx", r"w^{\top} x"),  # operands in canonical order: dot(x, w) is dot(w, x)
    ("outer", lambda: sm.outer(x, w), "xwᵀ", r"x w^{\top}"),
    ("quadratic form", lambda: x.T @ A @ x, "xᵀAx", r"x^{\top} A x"),
    ("trace", lambda: sm.trace(A @ S), "tr(AS)", r"\operatorname{tr}\left(A S\right)"),
    ("trace of one", lambda: sm.trace(A), "tr(A)", r"\operatorname{tr}\left(A\right)"),
    ("diag of vector", lambda: sm.diag(x), "diag(x)", r"\operatorname{diag}\left(x\right)"),
    ("diag of matrix", lambda: sm.diag(A), "diag(A)", r"\operatorname{diag}\left(A\right)"),
    ("column sums", lambda: sm.sum(X, axis=0), "Xᵀ𝟏", r"X^{\top} \mathbf{1}"),
    ("row sums", lambda: sm.sum(X, axis=1), "X𝟏", r"X \mathbf{1}"),
    ("sum of a product", lambda: sm.sum(X @ w), "𝟏ᵀXw", r"\mathbf{1}^{\top} X w"),
    ("bias broadcast", lambda: X @ A + x, "XA + 𝟏xᵀ", r"X A + \mathbf{1} x^{\top}"),
    ("hadamard einsum", lambda: sm.einsum("ij,ji->ij", A, S), "A ⊙ Sᵀ", r"A \odot S^{\top}"),
    ("inverse", lambda: sm.inv(A + lam * sm.eye(d)), "(A + λI)⁻¹", r"\left(A + \lambda I\right)^{-1}"),
    ("det gradient", lambda: sm.grad(sm.det(A), A), "det(A) A⁻ᵀ", r"\det\left(A\right) A^{-\top}"),
    ("log det", lambda: sm.logdet(S), "log det(S)", r"\log\det\left(S\right)"),
    ("negation", lambda: -X @ w, "−Xw", "-X w"),
    ("mean", lambda: sm.mean(y), "sum(y)/n", r"\frac{\operatorname{sum}\left(y\right)}{n}"),
    ("squared norm", lambda: sm.norm2(X @ w - y), "‖Xw − y‖²", r"\left\lVert X w - y \right\rVert^{2}"),
    ("hvp", lambda: sm.hvp(sm.sum(sm.softplus(X @ w)), w, x),
     "Xᵀ(Xx ⊙ σ(Xw) ⊙ (1 − σ(Xw)))",
     r"X^{\top} \left(X x \odot \sigma\left(X w\right) \odot \left(1 - \sigma\left(X w\right)\right)\right)"),
    ("jacobian", lambda: sm.jacobian(sm.sigmoid(X @ w), w),
     "diag(σ(Xw) ⊙ (1 − σ(Xw))) X",
     r"\operatorname{diag}\left(\sigma\left(X w\right) \odot \left(1 - \sigma\left(X w\right)\right)\right) X"),
    ("functions", lambda: sm.sqrt(sm.exp(w) + 1) + sm.abs(w) / (1 + w**2),
     "√(exp(w) + 1) + |w|/(w² + 1)",
     r"\sqrt{\exp\left(w\right) + 1} + \frac{\left|w\right|}{w^{2} + 1}"),
    ("more functions", lambda: sm.log_sigmoid(-y) + 3 * sm.tanh(X @ w) * sm.relu(y),
     "3 relu(y) ⊙ tanh(Xw) + log σ(−y)",
     r"3 \operatorname{relu}\left(y\right) \odot \tanh\left(X w\right) + \log\sigma\left(-y\right)"),
    ("step", lambda: sm.where_positive(w), "𝟙[w > 0]", r"\mathbb{1}\left[w > 0\right]"),
    ("scalar broadcast", lambda: 2 * lam + 0 * w, "2λ𝟏", r"2 \lambda \mathbf{1}"),
]


@pytest.mark.parametrize("build, uni, tex", [c[1:] for c in MORE], ids=[c[0] for c in MORE])
def test_more_matrix_forms(build, uni, tex):
    e = build()
    assert pretty(e) == uni
    assert latex(e) == tex


def test_common_factor_and_term_order():
    # a common numeric factor comes out; a lone fraction stays with its term
    assert pretty(2 * (X @ w) - 2 * y) == "2(Xw − y)"
    assert pretty(lam * w + X.T @ y) == "Xᵀy + λw"  # fewer scalar factors first
    assert pretty(sm.sigmoid(w) - 1) == "σ(w) − 1"  # positive before negative
    assert pretty(-(X @ w) - y) == "−(Xw + y)"


def test_products_sharing_a_vector_are_factored():
    B = sm.tensor("B", (d, d))
    assert pretty(A @ x - A.T @ x) == "(A − Aᵀ)x"
    assert pretty(2 * (A @ x) + A.T @ x) == "(2A + Aᵀ)x"
    assert pretty(-(A @ x) - A.T @ x) == "−(A + Aᵀ)x"
    assert pretty(lam * (A @ x) + B @ x) == "(B + λA)x"
    assert pretty(A @ x / n + B @ x) == "(B + A/n)x"
    assert latex(A @ x / 2 + B @ x / 3) == r"\left(\frac{A}{2} + \frac{B}{3}\right) x"
    assert pretty(x - A @ x) == "x − Ax"  # nothing to share
    assert pretty(sm.dot(x, w) * w) == "(wᵀx)w"  # a scalar chain is parenthesized before a factor


def test_greek_and_subscript_names():
    theta, Sigma, W1 = sm.tensor("theta", (d,)), sm.tensor("Sigma", (d, d)), sm.tensor("W1", (d, d))
    assert pretty(Sigma @ theta) == "Σθ"
    assert latex(Sigma @ theta) == r"\Sigma \theta"
    assert pretty(W1.T @ theta) == "W₁ᵀθ"
    assert latex(W1.T @ theta) == r"W_{1}^{\top} \theta"
    assert pretty(lam * theta) == "λθ"


def test_let_prints_as_its_name():
    z = sm.let("z", X @ w)
    assert pretty(sm.sigmoid(z) * 2, where=False) == "2σ(z)"
    assert pretty(sm.sigmoid(z) * 2) == "2σ(z), where z = Xw"  # never a name defined nowhere
    assert pretty(z) == "Xw"  # a Let on its own shows what it names
    g = sm.grad(sm.sum(sm.softplus(z) - y * z), w)
    assert pretty(g, where=False) == "Xᵀ δ_z"
    assert latex(g, where=False) == r"X^{\top} \delta_{z}"


# --------------------------------------------------------------------------- chains against numpy

CHAIN_SPECS = [
    "ij,jk->ik", "ij,jk->ki", "ij,j->i", "i,ij->j", "i,j->ij", "ki,k,kj->ij", "i,ij->ij", "ii->", "ii->i",
    "ij,ji->", "ij->", "ij->j", "ij->ji", "ij,jk,k->i", "i,jk->ij", "i,i,i->", "ij,ij->ij", "ij,ji->ij",
    "ij,j,j->i", "ij,jk,kl,l->i", "i,jk,k->ij", "ij,kj->ik",
]


def _chain_value(node, values):
    """What the ChainForm that chains.analyze reports computes, with numpy: an independent oracle."""
    from symml.printing import chains

    form = chains.analyze(node)
    assert form is not None, node

    def as2d(item):
        e = item.elem
        if e.kind == chains.ONES:
            v = np.ones(int(node.sizes[e.labels[0]]))
        else:
            v = values[e.operand.name]
            if e.kind in (chains.MDIAG, chains.MDIAG_VDIAG):
                v = np.diag(v)
            if e.kind in (chains.VDIAG, chains.MDIAG_VDIAG):
                return np.diag(v)
        if v.ndim == 1:
            v = v[:, None]
        return v.T if item.transposed else v

    total = float(node.coef) * np.prod([values[o.name] for o in form.scalars])
    for kind, items in form.components:
        if kind == "sum":
            e = items[0].elem
            v = values[e.operand.name]
            total = total * (np.trace(v) if e.kind == chains.MDIAG else v.sum())
        else:
            prod = np.linalg.multi_dot([as2d(i) for i in items]) if len(items) > 1 else as2d(items[0])
            total = total * (np.trace(prod) if kind == "trace" else prod.item())
    if form.main is None:
        return total
    mats = [as2d(i) for i in form.main]
    if form.hadamard:
        out = np.prod(np.stack(mats), axis=0)
    else:
        out = np.linalg.multi_dot(mats) if len(mats) > 1 else mats[0]
    return total * out.reshape(node.shape and tuple(int(s) for s in node.shape))


@pytest.mark.parametrize("spec", CHAIN_SPECS)
def test_chain_forms_compute_the_einsum(spec, rng):
    sizes = {c: 2 + k for k, c in enumerate("ijkl")}
    terms = spec.split("->")[0].split(",")
    ops = [sm.tensor(f"T{k}", tuple(sizes[c] for c in t)) for k, t in enumerate(terms)]
    node = sm.einsum(spec, *ops)
    values = {o.name: rng.standard_normal(tuple(int(s) for s in o.shape)) for o in ops}
    np.testing.assert_allclose(_chain_value(node, values), sm.evaluate(node, **values), rtol=1e-12)
    assert "[" not in pretty(node)  # a matrix form, not the index fallback


def test_chains_refuse_what_is_not_a_chain():
    T = sm.tensor("T", (n, d))
    assert pretty(sm.einsum("ij,ij->i", T, X)) == "[Σ_j T_ij X_ij]_i"
    assert pretty(sm.einsum("ij,jk,ki->i", A, A, A)) == "[Σ_jk A_ij A_jk A_ki]_i"


# --------------------------------------------------------------------------- containers and display


def test_tuple_list_and_dict():
    gw, gl = sm.grad(LOGISTIC, [w, lam])
    assert pretty((gw, gl)) == "Xᵀ(σ(Xw) − y) + λw, ‖w‖²/2"
    assert pretty([X @ w, (w, x)]) == "Xw, (w, x)"
    assert latex([w, x]) == "w, x"
    assert pretty({"loss": LOGISTIC, "grad_w": gw}) == (
        "L     = sum(softplus(Xw) − Xw ⊙ y) + λ‖w‖²/2\n"
        "∂L/∂w = Xᵀ(σ(Xw) − y) + λw"
    )
    tex = latex({"z": X @ w, "grad_w": gw})
    assert tex.startswith("\\begin{aligned}\nz &= X w \\\\\n")
    assert r"\frac{\partial L}{\partial w} &= X^{\top}" in tex


def test_repr_and_jupyter():
    g = sm.grad(sm.norm2(X @ w - y), w)
    assert repr(g) == str(g) == "2Xᵀ(Xw − y)"
    assert g._repr_latex_() == r"$\displaystyle 2 X^{\top} \left(X w - y\right)$"


def test_exported_from_package():
    assert sm.latex is latex and sm.pretty is pretty
    assert sm.index_form is index_form and sm.equations is equations
    for name in ("latex", "pretty", "index_form", "equations"):
        assert name in sm.__all__


def test_bad_arguments_say_what_was_expected():
    with pytest.raises(TypeError, match="expected a symml expression"):
        pretty(object())
    with pytest.raises(ValueError, match="'unicode' or 'latex'"):
        index_form(w, fmt="html")
    assert pretty(2) == "2" and latex(sp.Rational(1, 2)) == r"\frac{1}{2}"


# --------------------------------------------------------------------------- index notation


def test_index_form_of_logistic_gradient():
    z = sm.let("z", X @ w)
    g = sm.grad(sm.sum(sm.softplus(z) - y * z), w)
    text = index_form(g, name="L", wrt="w")
    assert text == "∂L/∂w_k = Σ_i X_ik (σ(z_i) − y_i)"
    for part in ("Σ", "X_ik", "z_i", "y_i", "∂L/∂w_k"):
        assert part in text
    assert index_form(g, name="L", wrt=w, fmt="latex") == (
        r"\frac{\partial L}{\partial w_{k}} = \sum_{i=0}^{n - 1} X_{ik} "
        r"\left(\sigma\left(z_{i}\right) - y_{i}\right)"
    )
    # the adjoint can stay named
    assert index_form(g, expand_adjoints=False) == "Σ_j X_ji (δ_z)_j"


def test_index_form_builds_sympy_indexed_sums():
    b = IndexBuilder(X @ w)
    entry = b.entry(X @ w, [b.index()])
    assert isinstance(entry, sp.Sum)
    assert entry.limits == ((sp.Symbol("j", integer=True), 0, d - 1),)
    assert entry.atoms(sp.Indexed) and all(isinstance(a.base, sp.IndexedBase) for a in entry.atoms(sp.Indexed))


def test_index_form_cases():
    assert index_form(X @ w, name="z") == "z_i = Σ_j X_ij w_j"
    assert index_form(sm.hessian(LOGISTIC, w), name="L", wrt=w) == (
        "∂²L/∂w_k∂w_l = λδ_kl + Σ_i X_ik X_il σ(Σ_j X_ij w_j)(1 − σ(Σ_j X_ij w_j))"
    )
    assert index_form(sm.trace(A)) == "Σ_i A_ii"
    assert index_form(sm.inv(A) @ x) == "Σ_j (A⁻¹)_ij x_j"
    assert latex(sm.einsum("ijk->kji", sm.tensor("T", (n, d, d)))) == r"\left[T_{kji}\right]_{ijk}"
    assert index_form(sm.logsumexp(sm.tensor("Z", (n, d)), axis=1)) == "log(Σ_j exp(Z_ij))"
    assert index_form(sm.logdet(S) + lam) == "log det(S) + λ"
    assert index_form(sm.diag(x)) == "x_i δ_ij"
    assert index_form(lam * w, fmt="latex") == r"\lambda w_{i}"
    # a Σ ends a product or a sum unparenthesized, and is parenthesized anywhere else
    total = sm.sum(X @ w)
    assert index_form(y * (total + y)) == "y_i (y_i + Σ_jk X_jk w_k)"
    assert index_form(y - total * y) == "y_i − y_i Σ_jk X_jk w_k"
    assert index_form(total - y) == "(Σ_jk X_jk w_k) − y_i"
    assert index_form(-total) == "−Σ_ij X_ij w_j"


def test_no_matrix_form_falls_back_to_index_form():
    T = sm.tensor("T", (n, d, d))
    assert pretty(sm.einsum("ijk,k->ij", T, x)) == "[Σ_k T_ijk x_k]_ij"
    assert pretty(sm.jacobian(X @ w, X)) == "[w_k δ_ij]_ijk"


# --------------------------------------------------------------------------- equations


def _two_layer():
    h = sm.dims("h")
    W1, w2 = sm.tensor("W1", (d, h)), sm.tensor("w2", (h,))
    z1 = sm.let("z1", X @ W1)
    a1 = sm.let("a1", sm.relu(z1))
    f = sm.let("f", a1 @ w2)
    L = sm.sum((f - y) ** 2) / 2
    g1, g2 = sm.grad(L, [W1, w2])
    return {"loss": L, "grad_W1": g1, "grad_w2": g2}


def test_equations_of_a_two_layer_network():
    assert equations(_two_layer()) == "\n".join([
        "z₁     = XW₁",
        "a₁     = relu(z₁)",
        "f      = a₁w₂",
        "δ_f    = f − y",
        "δ_a₁   = δ_f w₂ᵀ",
        "δ_z₁   = δ_a₁ ⊙ 𝟙[z₁ > 0]",
        "L      = ‖f − y‖²/2",
        "∂L/∂W₁ = Xᵀ δ_z₁",
        "∂L/∂w₂ = a₁ᵀ δ_f",
    ])


def test_equations_in_latex():
    tex = equations(_two_layer(), fmt="latex")
    lines = tex.splitlines()
    assert lines[0] == r"\begin{aligned}" and lines[-1] == r"\end{aligned}"
    assert [ln.split(" &= ")[0] for ln in lines[1:-1]] == [
        "z_{1}", "a_{1}", "f", r"\delta_{f}", r"\delta_{a_{1}}", r"\delta_{z_{1}}", "L",
        r"\frac{\partial L}{\partial W_{1}}", r"\frac{\partial L}{\partial w_{2}}",
    ]
    assert lines[6] == r"\delta_{z_{1}} &= \delta_{a_{1}} \odot \mathbb{1}\left[z_{1} > 0\right] \\"
    assert lines[8] == r"\frac{\partial L}{\partial W_{1}} &= X^{\top} \delta_{z_{1}} \\"


def test_equations_of_a_plain_expression_and_hessian_names():
    assert equations(X @ w) == "out = Xw"
    assert equations({"hessian_w": sm.hessian(sm.norm2(w), w)}) == "∂²L/∂w∂wᵀ = 2I"
    assert equations({"grad": w}) == "∇L = w"


# --------------------------------------------------------------------------- every op prints


def _every_op():
    N, C, H, W, O, kh, kw, k = sm.dims("N C H W O kh kw k")
    img, ker = sm.tensor("img", (N, C, H, W)), sm.tensor("K", (O, C, kh, kw))
    Z = sm.tensor("Z", (n, k))
    conv = sm.conv2d(img, ker)
    return {
        "conv2d": conv,
        "conv2d kernel grad": sm.grad(sm.sum(sm.relu(conv)), ker),
        "conv2d input grad": sm.grad(sm.sum(sm.relu(conv)), img),
        "maxpool2d": sm.maxpool2d(img),
        "avgpool2d": sm.avgpool2d(img, 3),
        "maxpool2d grad": sm.grad(sm.sum(sm.maxpool2d(img) ** 2), img),
        "logsumexp": sm.logsumexp(Z),
        "logsumexp axis": sm.logsumexp(Z, axis=1),
        "logsumexp grad": sm.grad(sm.logsumexp(Z), Z),
        "softmax": sm.softmax(Z),
        "log_softmax": sm.log_softmax(Z, axis=0),
        "inv": sm.inv(A),
        "inv grad": sm.grad(sm.sum(sm.inv(A)), A),
        "det": sm.det(A),
        "einsum": sm.einsum("ij,jk,k->i", A, A, x),
        "outer": sm.outer(x, w),
        "diag": sm.diag(x),
        "trace": sm.trace(A),
        "taylor": sm.taylor(sm.sum(sm.exp(w)), w, x, 2),
        "mean": sm.mean(X, axis=0),
        "matrix hessian": sm.hessian(sm.sum(sm.tanh(X @ A)), A),
    }


@pytest.mark.parametrize("name", list(_every_op()))
def test_every_op_prints(name):
    e = _every_op()[name]
    for text in (pretty(e), latex(e), index_form(e), index_form(e, fmt="latex")):
        assert text and "<" not in text.replace(r"\left", "").replace(r"\lVert", "")


def test_structured_spellings():
    ops = _every_op()
    assert pretty(ops["conv2d"]) == "conv2d(img, K)"
    assert index_form(ops["conv2d"]) == "Σ_mpq (img)_{i,m,k+p,l+q} K_jmpq"
    assert pretty(ops["conv2d input grad"]) == "conv2d_transpose(𝟙[conv2d(img, K) > 0], K)"
    assert pretty(ops["conv2d kernel grad"]) == "conv2d_weight(img, 𝟙[conv2d(img, K) > 0])"
    assert pretty(ops["maxpool2d"]) == "maxpool2d(img)"
    assert pretty(ops["avgpool2d"]) == "avgpool2d(img, size=3)"
    assert pretty(ops["maxpool2d grad"]) == "maxunpool2d(2 maxpool2d(img); img)"
    assert pretty(ops["logsumexp"]) == "logsumexp(logsumexp(Z, axis=1))"
    assert index_form(ops["logsumexp"]) == "log(Σ_ij exp(Z_ij))"
    assert pretty(ops["softmax"]) == "softmax(Z)"  # exp(Z − logsumexp(Z) 𝟏ᵀ), as computed


# --------------------------------------------------------------------------- never raises


def test_a_failing_printer_method_falls_back_to_index_form(monkeypatch):
    monkeypatch.setattr(matrix_mod, "STRICT", False)

    def broken(self, node):
        raise RuntimeError("boom")

    monkeypatch.setattr(matrix_mod.MatrixPrinter, "_print_Einsum", broken)
    assert pretty(X @ w) == "[Σ_j X_ij w_j]_i"
    assert pretty(sm.sigmoid(X @ w)) == "σ([Σ_j X_ij w_j]_i)"


def test_an_unknown_node_prints_as_its_class_and_shape(monkeypatch):
    monkeypatch.setattr(matrix_mod, "STRICT", False)

    class Mystery(Expr):
        __slots__ = ()

    node = Mystery._make((), (), (d,))
    assert pretty(node) == "<Mystery shape=(d,)>"
    assert pretty(node + w) == "<Mystery shape=(d,)> + w"
    assert index_form(node)  # does not raise


# --------------------------------------------------------------------------- the stage's rules

PRINTING = pathlib.Path(symml.printing.__file__).parent


def test_printing_never_imports_codegen():
    for path in PRINTING.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert "codegen" not in (node.module or ""), path.name
            elif isinstance(node, ast.Import):
                assert not any("codegen" in a.name for a in node.names), path.name


def test_modules_stay_small():
    for path in PRINTING.glob("*.py"):
        assert len(path.read_text().splitlines()) < 450, path.name


@pytest.mark.parametrize("module", sorted(p.stem for p in PRINTING.glob("*.py")))
def test_doctests(module):
    name = "symml.printing" if module == "__init__" else f"symml.printing.{module}"
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


# --------------------------------------------------------------------------- names and δ (issue 17)


@pytest.mark.parametrize("name, uni, tex", [
    ("sigma2", "σ²", r"\sigma^{2}"), ("eps", "ε", r"\varepsilon"), ("epsilon", "ε", r"\varepsilon"),
    ("ell", "ℓ", r"\ell"), ("lam", "λ", r"\lambda"), ("mu0", "μ₀", r"\mu_{0}"), ("W1", "W₁", "W_{1}"),
])
def test_textbook_names(name, uni, tex):
    s = sm.scalar(name)
    assert pretty(s) == uni and latex(s) == tex


def test_a_textbook_power_is_parenthesized_before_another_power():
    s2 = sm.scalar("sigma2")
    assert pretty(s2 ** 2) == "(σ²)²"
    assert latex(s2 ** 2) == r"\left(\sigma^{2}\right)^{2}"


def test_delta_means_one_thing():
    delta = sm.scalar("delta")
    assert pretty(delta * w) == "delta w" and latex(delta * w) == r"\mathrm{delta} w"
    adjoint = sm.let("delta_z", X @ w)
    # where δ names an adjoint, the identity's entries print as I_jk, not as a second δ
    assert pretty(sm.einsum("i,jk->ijk", adjoint, sm.eye(d)), where=False) == "[(δ_z)_i I_jk]_ijk"
    assert pretty(sm.einsum("i,jk->ijk", y, sm.eye(d))) == "[y_i δ_jk]_ijk"


def test_kronecker_form_of_a_matrix_hessian():
    W = sm.tensor("W", (d, sm.dims("k")))
    assert pretty(sm.hessian(sm.sum((X @ W - sm.tensor("Y", (n, W.shape[1]))) ** 2), W)) == "2XᵀX ⊗ I"
    assert latex(sm.hessian(sm.trace(W.T @ A @ W), W)) == r"A^{\top} \otimes I + A \otimes I"
