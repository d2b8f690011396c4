"""Rich display in Jupyter: a derivation as LaTeX, a fit result as an HTML table.

``Derivation._repr_latex_`` and ``OptimizeResult._repr_html_`` call these functions, so the
shared classes carry one line each and the layout lives with the other reports.

- :func:`derivation_latex`: the loss; the parameters with their shapes; the gradient (the
  backpropagation equations where the derivation names intermediates) and the Hessian (or
  how the hvp kernel gets ∇²L·v); the kernels. One ``aligned`` block, in that order.
- :func:`result_html` and :func:`result_blocks`: a fit's method, state, iterations, loss,
  gradient norm and parameters.

Takes: Derivations and OptimizeResults. Gives: LaTeX, HTML and report blocks.
"""
from __future__ import annotations

import html

import numpy as np

from ..printing.equations import output_lhs
from ..printing.matrix import MatrixPrinter
from ..printing.notation import LATEX
from ..program import program_from_outputs
from .doc import Para, Table

__all__ = ["derivation_latex", "result_html", "result_blocks"]


def _tt(name: str) -> str:
    return r"\mathtt{" + name.replace("_", r"\_") + "}"


def _text(s: str) -> str:
    return r"\text{" + s + "}"


def derivation_latex(d) -> str:
    """A derivation for Jupyter: loss, parameters with shapes, gradient, Hessian, kernels.

    >>> import symml as sm
    >>> text = derivation_latex(sm.load("ridge"))
    >>> [k in text for k in (r"\\text{parameters}", r"\\frac{\\partial L}{\\partial w}", r"\\mathtt{closed\\_form}")]
    [True, True, True]
    """
    from .formulas import loss_symbol, partial, space
    from .steps import has_steps

    f = loss_symbol(d)
    fl = LATEX.name(f).text
    plain = MatrixPrinter(LATEX)
    rows = [(fl, plain.doprint(d.loss))]
    params = r",\; ".join(f"{LATEX.name(p.name).text} \\in {space(p).latex}" for p in d.params)
    rows.append((_text("parameters"), params))
    grads = {f"grad_{p.name}": g for p, g in zip(d.params, d.grads)}
    if any(has_steps(g) for g in grads.values()):
        prog = program_from_outputs(grads)
        named = MatrixPrinter(LATEX, prog.names)
        rows += [(LATEX.name(s.name).text, named.print_node(s.node.body).text) for s in prog.steps]
        rows += [(output_lhs(k, LATEX, f), named.print_node(v).text) for k, v in prog.outputs.items()]
    else:
        rows += [(output_lhs(k, LATEX, f), plain.doprint(v)) for k, v in grads.items()]
    if "hessian" in d.kernels:
        k = 0
        for i, p in enumerate(d.params):
            for j, q in enumerate(d.params):
                if j >= i:
                    lhs = partial(f, [(p.name, False), (q.name, q.ndim > 0)]).latex
                    rows.append((lhs, plain.doprint(d.hessian_blocks[k])))
                k += 1
    elif "hvp" in d.kernels:
        rows.append((r"\nabla^{2} " + fl + r"\, v", _text("by the hvp kernel, as ") + r"\nabla\left(\nabla " + fl
                     + r" \cdot v\right)"))
    kernels = list(d.kernels) + list(d.extra)
    rows.append((_text("kernels"), ", ".join(_tt(k) for k in kernels)))
    body = r" \\ ".join(f"{a} &= {b}" if not a.startswith(r"\text") else f"{a} &\\quad {b}" for a, b in rows)
    return "$\\displaystyle \\begin{aligned}" + body + r"\end{aligned}$"


def _state(r) -> str:
    return "converged" if r.converged else ("DIVERGED" if r.diverged else "not converged")


def _values(v) -> str:
    return np.array2string(np.asarray(v), precision=4, threshold=8, edgeitems=3, separator=", ")


def _model(r) -> str:
    problem = r.info.get("problem")
    return problem.derivation.name if problem is not None else ""


def result_html(r) -> str:
    """An OptimizeResult as an HTML table: state, iterations, loss, gradient norm, parameters."""
    summary = [("model", _model(r)), ("method", r.method), ("state", _state(r)), ("iterations", str(r.n_iter)),
               ("loss", f"{r.loss:.6g} (from {float(r.loss_history[0]):.6g})"),
               ("‖∇L‖", f"{float(r.grad_norm_history[-1]):.3g}"), ("message", r.message)]
    head = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                   f"{html.escape(v)}</td></tr>" for k, v in summary if v)
    params = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(np.shape(v)))}</td>"
                     f"<td style='text-align:left'><code>{html.escape(_values(v))}</code></td></tr>"
                     for k, v in r.params.items())
    return (f"<table>{head}</table><table><tr><th>parameter</th><th>shape</th><th>value</th></tr>{params}</table>")


def result_blocks(r) -> list:
    """The fit summary as report blocks (for ``sm.explain(result)``)."""
    summary = [["model", _model(r)], ["method", r.method], ["state", _state(r)], ["iterations", str(r.n_iter)],
               ["loss", f"{r.loss:.6g} (from {float(r.loss_history[0]):.6g})"],
               ["gradient norm", f"{float(r.grad_norm_history[-1]):.3g}"]]
    rows = [[k, str(np.shape(v)), _values(v)] for k, v in r.params.items()]
    return [Para([r.message or _state(r)]), Table(["", "value"], [row for row in summary if row[1]]),
            Table(["parameter", "shape", "value"], rows)]
