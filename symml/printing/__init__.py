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

from ..nodes import Expr
from .equations import equations, index_form, named_equations
from .matrix import MatrixPrinter
from .notation import LATEX, UNICODE, Piece, Spelling
from .scalar import print_scalar

__all__ = ["latex", "pretty", "index_form", "equations"]


def latex(obj) -> str:
    """LaTeX of an expression, a tuple/list of them, or a dict name → expression.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, w, y = sm.tensor("X", (n, d)), sm.tensor("w", (d,)), sm.tensor("y", (n,))
    >>> latex(sm.grad(sm.norm2(X @ w - y), w))
    '2 X^{\\\\top} \\\\left(X w - y\\\\right)'
    """
    return _render(obj, LATEX)


def pretty(obj) -> str:
    """Unicode of an expression, a tuple/list of them, or a dict name → expression.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, w, y = sm.tensor("X", (n, d)), sm.tensor("w", (d,)), sm.tensor("y", (n,))
    >>> pretty(sm.grad(sm.norm2(X @ w - y), w))
    '2Xᵀ(Xw − y)'
    """
    return _render(obj, UNICODE)


def _render(obj, spelling: Spelling, nested: bool = False) -> str:
    if isinstance(obj, Expr):
        return MatrixPrinter(spelling).doprint(obj)
    if isinstance(obj, dict):
        return named_equations(obj, spelling)
    if isinstance(obj, (tuple, list)):
        inner = ", ".join(_render(o, spelling, nested=True) for o in obj)
        return spelling.paren(Piece(inner)).text if nested else inner
    if isinstance(obj, (int, float, sp.Basic)) and not isinstance(obj, bool):
        return print_scalar(sp.sympify(obj), spelling).text
    raise TypeError(
        f"cannot print a {type(obj).__name__}: expected a symml expression, a number, "
        "or a tuple, list or dict of them"
    )


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
