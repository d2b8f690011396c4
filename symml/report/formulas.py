"""Printing helpers for reports: every formula in both spellings, from :mod:`symml.printing`.

A report shows each formula twice over (LaTeX for md, tex and html; unicode for text), so
these helpers ask the project's printers for both and return a :class:`~symml.report.doc.Math`.

Takes: graph nodes and names. Gives: Math pairs.
"""
from __future__ import annotations

import sympy as sp

from ..catalog import Derivation
from ..nodes import Expr
from ..printing.equations import index_form, output_lhs
from ..printing.matrix import MatrixPrinter
from ..printing.notation import LATEX, UNICODE
from ..printing.scalar import print_scalar
from .doc import Math

__all__ = ["Printers", "partial", "index_math", "space", "loss_symbol", "stack"]


class Printers:
    """Both spellings of the project's matrix printer, with a program's names."""

    def __init__(self, names: dict | None = None, loss: str = "L"):
        self.names = names or {}
        self.loss = loss
        self.pu, self.pl = MatrixPrinter(UNICODE, self.names), MatrixPrinter(LATEX, self.names)

    def node(self, node: Expr) -> Math:
        """A node as printed inside a formula (a named step prints as its name)."""
        return Math(self.pl.print_node(node).text, self.pu.print_node(node).text)

    def name(self, name: str) -> Math:
        return Math(LATEX.name(name).text, UNICODE.name(name).text)

    def lhs(self, output: str) -> Math:
        """``grad_w`` → ∂L/∂w, ``loss`` → L (see :func:`symml.printing.equations.output_lhs`)."""
        return Math(output_lhs(output, LATEX, self.loss), output_lhs(output, UNICODE, self.loss))

    def equations(self, rows) -> Math:
        """Aligned equations from rows (lhs Math, rhs node or Math)."""
        rows = [(lhs, rhs if isinstance(rhs, Math) else self.node(rhs)) for lhs, rhs in rows]
        return Math(LATEX.equations([(a.latex, b.latex) for a, b in rows]),
                    UNICODE.equations([(a.text, b.text) for a, b in rows]))

    def equation(self, lhs: Math, rhs) -> Math:
        rhs = rhs if isinstance(rhs, Math) else self.node(rhs)
        return Math(f"{lhs.latex} = {rhs.latex}", f"{lhs.text} = {rhs.text}")


def partial(f: str, wrt: list) -> Math:
    """∂f/∂w, ∂²f/∂w∂vᵀ for [w, vᵀ] given as (name, transposed) pairs, and ∂²f/∂b² for a
    scalar b twice.

    >>> partial("L", [("b", False), ("b", False)]).text, partial("L", [("w", False), ("w", True)]).text
    ('∂²L/∂b²', '∂²L/∂w∂wᵀ')
    """
    if len(wrt) == 2 and wrt[0] == wrt[1] and not wrt[0][1]:
        b = wrt[0][0]
        lb, ub = LATEX.name(b).text, UNICODE.name(b).text
        lb = f"{{{lb}}}" if "^" in lb else lb  # σ² squared is {σ²}², not a double superscript
        ub = f"({ub})" if ub[-1:] in "⁰¹²³⁴⁵⁶⁷⁸⁹" else ub
        return Math(rf"\frac{{\partial^{{2}} {LATEX.name(f).text}}}{{\partial {lb}^{{2}}}}", f"∂²{UNICODE.name(f).text}/∂{ub}²")

    def names(sp_):
        return [sp_.transpose(sp_.name(n)).text if t else sp_.name(n).text for n, t in wrt]

    return Math(LATEX.partial(LATEX.name(f).text, names(LATEX)), UNICODE.partial(UNICODE.name(f).text, names(UNICODE)))


def index_math(expr, **kw) -> Math:
    return Math(index_form(expr, fmt="latex", **kw), index_form(expr, fmt="unicode", **kw))


def space(t) -> Math:
    """ℝ, ℝ^d, ℝ^(n×d): the set a tensor lives in, sizes printed by the project's printer."""
    if not t.shape:
        return Math(r"\mathbb{R}", "ℝ")
    lat = [print_scalar(sp.sympify(s), LATEX).text for s in t.shape]
    uni = [print_scalar(sp.sympify(s), UNICODE).text for s in t.shape]
    return Math(r"\mathbb{R}^{" + r" \times ".join(lat) + "}", "ℝ^" + ("×".join(uni) if len(uni) == 1 else
                                                                        "(" + " × ".join(uni) + ")"))


def loss_symbol(d: Derivation) -> str:
    """L, unless an input is called L (the mixture's precision factors): then J."""
    names = {t.name for t in d.inputs}
    return next(s for s in ("L", "J", "F", "Q") if s not in names)


def stack(ms: list) -> Math:
    """Several equations as one aligned block (each aligned at its first ' = ')."""
    def split(s, sep):
        a, _, b = s.partition(" = ")
        return a + sep + b

    return Math(r"\begin{aligned}" + r" \\ ".join(split(m.latex, " &= ") for m in ms) + r"\end{aligned}",
                "\n".join(m.text for m in ms))
