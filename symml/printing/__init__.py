"""The printing stage: matrix notation, index notation and equations, in unicode or LaTeX.

- :func:`pretty` and :func:`latex` print an expression in matrix notation where one
  exists (``2Xᵀ(Xw − y)``), else in index notation; a tuple or list of expressions
  comma-separated; a dict name → expression as one aligned equation per item.
- :func:`index_form` prints one entry in index notation (``∂L/∂w_k = Σ_i …``).
- :func:`equations` prints the program of a derived result: forward intermediates, the
  adjoints δ of backpropagation, the outputs.

Modules: :mod:`.notation` (spellings and name tables), :mod:`.scalar` (SymPy scalar
expressions), :mod:`.chains` (contractions as matrix products), :mod:`.matrix` (the
node printer), :mod:`.index` (index notation), :mod:`.equations`.

Takes: graph nodes and :mod:`symml.program`. Gives: strings. Never re-derives anything,
and never imports codegen.
"""
from __future__ import annotations

import sympy as sp

from ..nodes import Expr, Let, walk
from ..program import SECOND_ADJOINT_PREFIX, inline_lets, program_from_outputs
from .equations import equations, index_form, named_equations
from .matrix import MatrixPrinter
from .notation import LATEX, UNICODE, Piece, Spelling
from .scalar import print_scalar

__all__ = ["latex", "pretty", "index_form", "equations"]


def latex(obj, where: bool = True) -> str:
    """LaTeX of an expression, a tuple/list of them, or a dict name → expression.

    An expression that uses named intermediates (``sm.let``, the adjoints δ they get) prints
    with their definitions, ``…, \\quad \\text{where } z = …``; ``where=False`` prints the
    names alone (for a display that defines them elsewhere, as ``symml show`` does).

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, w, y = sm.tensor("X", (n, d)), sm.tensor("w", (d,)), sm.tensor("y", (n,))
    >>> latex(sm.grad(sm.norm2(X @ w - y), w))
    '2 X^{\\\\top} \\\\left(X w - y\\\\right)'
    """
    return _render(obj, LATEX, where=where)


def pretty(obj, where: bool = True) -> str:
    """Unicode of an expression, a tuple/list of them, or a dict name → expression.

    An expression that uses named intermediates prints with their definitions, as
    ``Xᵀδ_z + λw, where z = Xw + b, δ_z = σ(z) − y``; ``where=False`` prints the names alone.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, w, y = sm.tensor("X", (n, d)), sm.tensor("w", (d,)), sm.tensor("y", (n,))
    >>> pretty(sm.grad(sm.norm2(X @ w - y), w))
    '2Xᵀ(Xw − y)'
    """
    return _render(obj, UNICODE, where=where)


def _render(obj, spelling: Spelling, nested: bool = False, where: bool = True) -> str:
    if isinstance(obj, Expr):
        return self_contained(obj, spelling) if where else MatrixPrinter(spelling).doprint(obj)
    if isinstance(obj, dict):
        return named_equations(obj, spelling)
    if isinstance(obj, (tuple, list)):
        inner = ", ".join(_render(o, spelling, nested=True, where=where) for o in obj)
        return spelling.paren(Piece(inner)).text if nested else inner
    if isinstance(obj, (int, float, sp.Basic)) and not isinstance(obj, bool):
        return print_scalar(sp.sympify(obj), spelling).text
    raise TypeError(
        f"cannot print a {type(obj).__name__}: expected a symml expression, a number, "
        "or a tuple, list or dict of them"
    )


def self_contained(expr: Expr, spelling: Spelling) -> str:
    """``expr`` with the definitions of the names it uses: ``Xᵀδ_z + λw, where z = Xw + b,
    δ_z = σ(z) − y``. Second-order adjoints (δ̄_v of a Hessian or an hvp) are inlined, so a
    Hessian prints ``Xᵀ diag(σ(z) ⊙ (1 − σ(z))) X + λI, where z = Xw + b``; names stay
    unique as in a Program (two Lets named z print as z and z_2)."""
    top = expr.body if isinstance(expr, Let) else expr
    if not any(isinstance(n, Let) for n in walk([top])):
        return MatrixPrinter(spelling).doprint(expr)
    top = inline_lets(top, lambda let: not let.name.startswith(SECOND_ADJOINT_PREFIX))
    prog = program_from_outputs({"out": top}, auto=False)
    printer = MatrixPrinter(spelling, names=prog.names)
    body = printer.doprint(prog.outputs["out"])
    defs = [spelling.equation(spelling.name(step.name).text, printer.print_node(step.node.body).text)
            for step in prog.steps if step.source is not top]
    if not defs:
        return body
    if spelling.fmt == "latex":
        return body + r", \quad \text{where } " + r", \; ".join(defs)
    return body + ", where " + ", ".join(defs)


def condition_text(c) -> str:
    """A condition of :mod:`symml.conditions` in unicode, e.g. ``x > 0``."""
    from ..nodes import placeholder

    leaves = {placeholder(j): Piece(pretty(o)) for j, o in enumerate(c.operands)}
    return print_scalar(c.rel, UNICODE, leaves).text


def _register() -> None:
    import sys

    from .. import nodes

    nodes.register_stage(nodes.printing, sys.modules[__name__])


_register()
