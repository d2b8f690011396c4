"""The Program: one named artifact that printing, reports, `symml show` and codegen read."""
from __future__ import annotations

import re

import pytest

import symml as sm
from symml import calculus, cli
from symml.codegen.emit import KernelBody
from symml.nodes import Let
from symml.printing import equations
from symml.program import program_from_outputs
from symml.report import explain

n, d = sm.dims("n d")
X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
b = sm.scalar("b")


def _logistic():
    z = X @ w + b
    return sm.sum(sm.softplus(z) - y * z)


def test_a_model_without_lets_gets_forward_and_adjoint_names():
    gw, gb = sm.grad(_logistic(), [w, b])
    prog = program_from_outputs({"grad_w": gw, "grad_b": gb})
    assert [(s.name, s.kind) for s in prog.steps] == [("z", "forward"), ("delta_z", "adjoint")]
    z, dz = prog.steps
    assert z.source is X @ w and isinstance(z.node, Let) and z.node.body is X @ w
    assert prog.sources["grad_w"] is gw and prog.names[dz.source.uid] == "delta_z"
    assert equations({"grad_w": gw, "grad_b": gb}) == "\n".join([
        "z     = Xw",
        "δ_z   = σ(z + b) − y",
        "∂L/∂w = Xᵀ δ_z",
        "∂L/∂b = sum(δ_z)",
    ])


def test_the_rule_is_deterministic_and_printing_alone_names_nothing():
    g = sm.grad(_logistic(), w)
    first = [(s.name, s.source.uid) for s in program_from_outputs({"g": g}).steps]
    assert first == [(s.name, s.source.uid) for s in program_from_outputs({"g": g}).steps]
    assert sm.pretty(g) == "Xᵀ(σ(Xw + b) − y)"  # an expression printed alone keeps its form


def test_only_adjoints_are_deltas_second_derivatives_name_no_delta():
    H = sm.hessian(_logistic(), w)
    prog = program_from_outputs({"hessian_w": H})
    assert [s.name for s in prog.steps] == ["z"]  # u is read once, by the output: not named
    blocks = sm.hessian(_logistic(), [w, b])
    prog = program_from_outputs({f"h{i}{j}": blocks[i][j] for i in range(2) for j in range(2)})
    assert [(s.name, s.kind) for s in prog.steps] == [("z", "forward"), ("u", "forward")]
    hv = sm.hvp(_logistic(), w, sm.tensor("v", (d,)))
    assert not any(s.name.startswith("delta_") for s in program_from_outputs({"hvp": hv}).steps)


def test_automatic_names_avoid_inputs_dimensions_and_user_names():
    z = sm.tensor("z", (n,))  # an input called z: the contraction is z1 (numbered on a clash)
    g = sm.grad(sm.sum(sm.softplus(X @ w) * z), w)
    assert [s.name for s in program_from_outputs({"g": g}).steps] == ["z1", "delta_z1"]
    u = sm.dims("u")  # a dimension called u
    A = sm.tensor("A", (u, d))
    g = sm.grad(sm.sum(sm.log(A @ sm.exp(A.T @ (A @ w)))), w)
    names = [s.name for s in program_from_outputs({"g": g}).steps]
    assert "u" not in names and all(not nm.startswith("delta_") or nm[6:] in names for nm in names)


def test_user_lets_keep_their_names_and_get_no_automatic_ones():
    z = sm.let("z", X @ w)
    g = sm.grad(sm.sum(sm.softplus(z) - y * z), w)
    assert [s.name for s in program_from_outputs({"g": g}).steps] == ["z", "delta_z"]


# --------------------------------------------------------------------------- codegen reads the program


def _body(outputs, inputs, dim_names=None):
    dim_names = dim_names if dim_names is not None else {n: "n", d: "d"}
    body = KernelBody(inputs, outputs, {t.name: t.name for t in inputs}, dim_names, parallel=False)
    return body, "\n".join(body.build())


def test_a_kernel_assigns_every_step_under_its_name_and_aliases_none():
    gw, gb = sm.grad(_logistic(), [w, b])
    body, src = _body([gw, gb], [w, b, X, y])
    assert [s.name for s in body.program.steps] == ["z", "delta_z"]
    assert re.search(r"^z = np\.dot\(X, w\)$", src, re.M), src
    assert re.search(r"^delta_z = np\.empty", src, re.M) and "delta_z[i0] = " in src
    assert not re.search(r"^\w+ = [A-Za-z_]\w*$", src, re.M), "a named value aliased to a temporary"


def test_a_dimension_gives_way_to_a_value_of_its_name():
    h = sm.dims("h")
    W = sm.tensor("W", (d, h))
    hh = sm.let("h", sm.tanh(X @ W))
    L = sm.sum(hh * hh)
    dim_names = {n: "n", d: "d", h: "h"}
    body, src = _body([sm.grad(L, W)], [W, X], dim_names)
    assert dim_names[h] == "h_size"  # renamed in place: the caller's kernel head binds h_size
    # h is read only inside the loop that makes it: a local of that loop, under its own name
    assert re.search(r"^for i1 in range\(h_size\):\n\s+h = _tanh", src.replace("    for i1", "for i1"), re.M), src
    assert "h_2" not in src and "delta_h" in src


def test_show_beside_the_generated_mlp_finds_every_delta_by_its_name():
    from symml.build import generated_source

    dv = sm.load("mlp")
    prog = program_from_outputs({f"grad_{p.name}": g for p, g in zip(dv.params, dv.grads)})
    src = generated_source("mlp")
    kernel = src[src.index("def _grad_chunk("):]  # the body that _grad sums over blocks of rows
    kernel = kernel[:kernel.index("\n\n\n")]
    for s in prog.steps:
        assert re.search(rf"^    (        )*{s.name}(\[i0, i1\])? = ", kernel, re.M), s.name  # an array, or a loop's local
    assert not re.search(r"\bh[12]_2\b", src)


# --------------------------------------------------------------------------- show and reports read, never derive


@pytest.fixture
def no_derivation(monkeypatch):
    """Derived results computed first; afterwards any backpropagation is an error."""
    dv = sm.load("logistic_regression")
    dv.grads, dv.hessian_blocks, dv.hvps  # noqa: B018 - the derivation's own results, cached

    def refuse(*a, **k):
        raise AssertionError("derived again")

    monkeypatch.setattr(calculus, "backprop", refuse)
    return dv


def test_show_hessian_prints_every_block_without_deriving_again(no_derivation, capsys):
    assert cli.main(["show", "logistic_regression", "--hessian"]) == 0
    out = capsys.readouterr().out
    for line in ("z         = Xw", "u         = σ(z + b) ⊙ (1 − σ(z + b))", "∂²L/∂w∂wᵀ = Xᵀ diag(u) X + λI",
                 "∂²L/∂w∂b  = Xᵀu", "∂²L/∂b∂wᵀ = Xᵀu", "∂²L/∂b²   = sum(u)", "δ_z   = σ(z + b) − y"):
        assert line in out, (line, out)
    assert cli.main(["show", "logistic_regression", "--hessian", "b", "--index"]) == 0
    out = capsys.readouterr().out
    assert "∂²L/∂b∂w_k = Σ_i" in out and "∂²L/∂b² = Σ_i" in out


def test_the_report_reads_the_program_without_deriving_again(no_derivation, monkeypatch):
    monkeypatch.undo()
    specs = no_derivation.kernel_specs()  # NOTE: the catalog derives chunk kernels on each call
    monkeypatch.setattr(type(no_derivation), "kernel_specs", lambda self: specs)
    monkeypatch.setattr(calculus, "backprop", lambda *a, **k: (_ for _ in ()).throw(AssertionError("derived")))
    text = str(explain(no_derivation))
    assert "z = Xw" in text and "δ_z = σ(z + b) − y" in text and "∂L/∂b = sum(δ_z)" in text
