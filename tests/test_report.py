"""Derivation reports (sm.explain, `symml show NAME --report`) and rich display in Jupyter.

Reports print what calculus, program and duality produced; these tests check that every
catalog model has one in every format, that the chain-rule steps are the derivation's own
derivative (numerically, against the gradient the kernels are generated from), that the
local derivatives are the textbook ones (numpy as the oracle), that the LaTeX compiles
(pdflatex, where installed) and that constrained problems show their Lagrangian and dual.
No numba: reports compile nothing.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata

import numpy as np
import pytest

import symml as sm
from symml import cli
from symml.nodes import leaves
from symml.optim.result import OptimizeResult
from symml.printing import matrix as matrix_mod
from symml.program import program_from_outputs
from symml.report import explain, report
from symml.report.constrained import constrained_parts, math_out_of_text
from symml.report.doc import tex_text
from symml.report.steps import chain_steps, has_steps
from symml.verify import sample_inputs

CATALOG = sm.catalog()


@pytest.fixture(autouse=True)
def strict(monkeypatch):
    """A printer method that fails raises here, instead of falling back silently."""
    monkeypatch.setattr(matrix_mod, "STRICT", True)


# --------------------------------------------------------------------------- every model, every format


@pytest.mark.parametrize("name", CATALOG)
def test_show_report_works_for_every_catalog_model(name, capsys):
    assert cli.main(["show", name, "--report"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# {name}")
    for section in ("The loss", "Parameters, data and hyper-parameters", "Named intermediates",
                    "The chain rule, step by step", "The gradient", "The Hessian", "Kernels"):
        assert section in out, (name, section)
    assert out.count("$$") % 2 == 0
    d = sm.load(name)
    for p in d.params:  # every parameter is in the table and differentiated
        assert out.count(r"\partial " + sm.latex(p).split("^")[0]) >= 1 or p.name in out


@pytest.mark.parametrize("name", CATALOG)
def test_tex_and_html_are_well_formed(name):
    r = explain(name)
    tex = r.render("tex")
    assert tex.isascii(), "pdflatex without extra packages needs ASCII: unicode is spelled as commands"
    assert tex.count(r"\[") == tex.count(r"\]") and tex.count("{") == tex.count("}")
    assert tex.count(r"\begin{") == tex.count(r"\end{") and r"\end{document}" in tex
    assert not re.search(r"\\text\{[^{}]*\\[a-zA-Z]", tex), "a LaTeX command inside \\text{}"
    page = r.render("html")
    assert page.startswith("<!DOCTYPE html>") and "mathjax" in page and page.count(r"\(") == page.count(r"\)")


PDF_MODELS = ["logistic_regression", "mlp_relu_squared", "cnn", "gaussian_mixture", "svm_dual", "pca_lagrangian",
              "kl_gaussian", "distribution_normal"]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (texlive-latex-base)")
@pytest.mark.parametrize("name", PDF_MODELS)
def test_tex_report_compiles_with_pdflatex(name, tmp_path):
    (tmp_path / "r.tex").write_text(report(name, "tex"), encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "r.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "r.pdf").stat().st_size > 10_000


def test_cli_report_formats_and_errors(capsys):
    assert cli.main(["show", "ridge", "--report", "--format", "tex"]) == 0
    assert capsys.readouterr().out.startswith(r"\documentclass")
    assert cli.main(["show", "ridge", "--report", "--format", "html"]) == 0
    assert "<h2>" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        cli.main(["show", "ridge", "--report", "--format", "pdf"])
    assert e.value.code == 2
    assert cli.main(["show", "no_such_model", "--report"]) == 1
    assert "unknown derivation" in capsys.readouterr().err


# --------------------------------------------------------------------------- the derivation is the derivation's


def _no_steps():
    return [n for n in CATALOG if not has_steps(sm.load(n).loss)]


@pytest.mark.parametrize("name", _no_steps())
def test_named_steps_are_the_derivations_own_gradient(name):
    """Where a derivation names no intermediates, its program names them; the named outputs are
    the derivation's own gradients, the ones its kernels are generated from (numpy evaluation),
    and only adjoints are called δ."""
    d = sm.load(name)
    prog = program_from_outputs({"loss": d.loss, **{f"grad_{p.name}": g for p, g in zip(d.params, d.grads)}})
    assert all(prog.sources[f"grad_{p.name}"] is g for p, g in zip(d.params, d.grads))
    assert all(s.name.startswith("delta_") == (s.kind == "adjoint") for s in prog.steps)
    args = sample_inputs(d, np.random.default_rng(0), sizes={"n": 5, "d": 3, "K": 3, "m": 2})
    def value(e):
        return sm.evaluate(e, **{t.name: args[t.name] for t in leaves(e)})

    for p, g in zip(d.params, d.grads):
        assert np.allclose(value(prog.outputs[f"grad_{p.name}"]), value(g), rtol=1e-12, atol=1e-12), (name, p.name)
    assert np.isclose(value(prog.outputs["loss"]), value(d.loss), rtol=1e-13)


def test_logistic_report_names_z_and_its_adjoint():
    text = str(explain("logistic_regression"))
    assert "z = Xw" in text and "δ_z = σ(z + b) − y" in text
    assert "∂L/∂w = Xᵀ δ_z + λw" in text and "∂L/∂w = Xᵀ(σ(Xw + b) − y) + λw" in text
    assert "∂²L/∂w∂wᵀ = Xᵀ diag(σ(Xw + b) ⊙ (1 − σ(Xw + b))) X + λI" in text
    assert "softplus(z + b) − y ⊙ (z + b) (elementwise: SymPy differentiates it)" in text


@pytest.mark.parametrize("act, phi_prime", [
    ("tanh", lambda a: 1 - np.tanh(a) ** 2),
    ("sigmoid", lambda a: np.exp(-a) / (1 + np.exp(-a)) ** 2),
    ("relu", lambda a: (a > 0).astype(float)),
])
def test_mlp_chain_steps_carry_the_textbook_local_derivatives(act, phi_prime):
    """δ_a = δ_h ⊙ φ'(a): the local derivative read off the program is φ' (numpy as the oracle)."""
    d = sm.load(f"mlp_{act}_squared")
    prog = program_from_outputs({"loss": d.loss, **{f"grad_{p.name}": g for p, g in zip(d.params, d.grads)}})
    steps = {cs.step.name: cs for cs in chain_steps(prog)}
    assert list(steps) == ["delta_z", "delta_h2", "delta_a2", "delta_h1", "delta_a1"]
    args = sample_inputs(d, np.random.default_rng(1), sizes={"n": 4, "d": 3, "h1": 5, "h2": 4, "K": 2})
    for layer in ("a1", "a2"):
        (local,) = steps[f"delta_{layer}"].locals
        assert local.kind == "elementwise" and local.upstream.name == f"delta_h{layer[1]}"
        a, factor = (sm.evaluate(e, **{t.name: args[t.name] for t in leaves(e)})
                     for e in (steps[f"delta_{layer}"].forward.node, local.factor))
        assert np.allclose(factor, phi_prime(a), atol=1e-14)
    for h in ("delta_h1", "delta_h2"):
        assert [loc.kind for loc in steps[h].locals] == ["contraction"]
    assert steps["delta_z"].locals == []  # the first adjoint: from the loss itself
    text = str(explain(d))
    assert "δ_a₂ = δ_h₂ ⊙" in text and "linear in h₂: the transposed product δ_z W₃ᵀ" in text


def test_cnn_report_shows_the_pooling_rule():
    text = str(explain("cnn"))
    assert "δ_R = maxunpool2d(δ_S; R)" in text and "the derivative rule of PoolGrad" in text


# --------------------------------------------------------------------------- constrained problems


def test_svm_dual_reports_tell_the_soft_and_hard_margin_apart():
    soft, hard = str(explain("svm_dual")), str(explain("svm_dual_hard"))
    for text in (soft, hard):
        assert "Lagrangian:" in text and "complementary slackness:" in text and "w = Xᵀ(y ⊙ α)" in text
        assert "The Lagrangian is affine in b" in text and "yᵀα = 0" in text
    def dual_section(text):
        return text[text.index("The dual\n"):text.index("Kernels\n")]

    assert "α ≤ C" in dual_section(soft) and "α ≤ C" not in dual_section(hard)
    assert "The Lagrangian is affine in ξ" in soft


def test_pca_report_explains_the_curvature_condition():
    text = str(explain("pca_lagrangian"))
    assert "Sw = λw" in text and "λI ⪰ S" in text and "is homogeneous" in text


def test_constrained_parts_found_for_every_dual_and_lagrangian():
    found = {n for n in CATALOG if constrained_parts(sm.load(n))[0] is not None}
    assert found == {"categorical_mle", "least_norm", "markov_stationary", "max_entropy", "pca_lagrangian",
                     "ridge_dual", "ridge_dual_rbf", "svm_dual", "svm_dual_hard", "svm_dual_rbf"}


def test_math_moves_out_of_text_headings():
    assert math_out_of_text(r"\text{maximize over \alpha, W_{1}} &\quad q") == \
        r"\text{maximize over } \alpha, W_{1} &\quad q"
    done = r"\text{minimize over } w, \xi &\quad f"  # as duality prints it once the heading is fixed
    assert math_out_of_text(done) == done


# --------------------------------------------------------------------------- explain on other objects


def test_explain_expressions_duals_and_results():
    n, d = sm.dims("n d")
    X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
    z = sm.let("z", X @ w)
    text = str(explain(sm.grad(sm.sum(sm.softplus(z) - y * z), w)))
    assert "δ_z = σ(z) − y" in text and "f_i = Σ_j X_ji (σ(z_j) − y_j)" in text
    assert "ℝ^d" in str(explain({"g": sm.grad(sm.norm2(X @ w - y), w)}))
    D = sm.dual(sm.lagrangian(sm.norm2(w), [w], eq={"nu": (X @ w, y)}))
    text = str(explain(D))
    assert "w = −Xᵀν/2" in text and "maximize over ν" in text
    r = OptimizeResult(params={"w": np.array([1.0, 2.0]), "b": 0.5}, theta=np.array([1.0, 2.0, 0.5]),
                       loss_history=np.array([3.0, 1.0]), grad_norm_history=np.array([2.0, 1e-9]), n_iter=1,
                       converged=True, message="converged after 1 iteration", method="newton")
    assert "converged after 1 iteration" in str(explain(r)) and "0.5" in str(explain(r))
    html = r._repr_html_()
    assert "<table>" in html and "newton" in html and "[1., 2.]" in html


def test_explain_and_report_refuse_bad_input():
    with pytest.raises(TypeError, match="sm.explain takes"):
        explain(42)
    with pytest.raises(ValueError, match="unknown derivation"):
        explain("no_such_model")
    with pytest.raises(ValueError, match="expected one of md, tex, html, text"):
        report("ridge", "pdf")
    with pytest.raises(ValueError, match="unknown suffix"):
        explain("ridge").save("x.pdf")


def test_report_save_and_jupyter_display(tmp_path):
    r = explain("ridge")
    assert r.save(tmp_path / "ridge.tex").read_text(encoding="utf-8").startswith(r"\documentclass")
    assert r.save(tmp_path / "ridge.md").read_text(encoding="utf-8") == r._repr_markdown_()


def test_derivation_displays_loss_params_gradient_hessian_kernels_in_order():
    text = sm.load("logistic_regression")._repr_latex_()
    keys = [r"L &= \operatorname{sum}", r"\text{parameters}", r"\frac{\partial L}{\partial w}",
            r"\frac{\partial^{2} L}{\partial w \partial w^{\top}}", r"\text{kernels}"]
    positions = [text.index(k) for k in keys]
    assert positions == sorted(positions) and text.startswith("$") and text.endswith("$")
    assert r"w \in \mathbb{R}^{d},\; b \in \mathbb{R}" in text
    mlp = sm.load("mlp")._repr_latex_()  # backpropagation's δ equations, and the hvp kernel for the Hessian
    assert r"\delta_{a_{2}} &=" in mlp and r"\text{by the hvp kernel" in mlp
    assert r"J &=" in sm.load("gaussian_mixture")._repr_latex_()  # its parameter L keeps its name


def test_tex_text_spells_every_character_of_the_catalog_docs():
    chars = {c for n in CATALOG for s in (sm.load(n).doc, sm.load(n).title) for c in s if ord(c) > 127}
    for c in chars:
        out = tex_text("x" + c if unicodedata.combining(c) else c)  # an accent needs a letter under it
        assert out.isascii() and out != "?", (c, out)
    assert tex_text("θ̂ = 1") == r"\ensuremath{\hat{\theta}} = 1"
