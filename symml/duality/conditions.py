"""Conditions: a tensor expression in a relation to zero, printed as a person writes it.

A KKT condition or a dual constraint is held as ``expr rel 0`` (``rel`` one of =, ≤, ≥,
⪰, ⪯; the last two mean positive or negative semidefinite), which is what a numeric
residual needs. For printing, it is rearranged: its monomials (:mod:`symml.duality.algebra`)
are split into the terms that involve the multipliers and the terms that do not, one
side per group, and a common numeric factor is divided out. So ``2Sw − 2λw = 0``
prints as ``Sw = λw``, ``w − Xᵀ(α ⊙ y) = 0`` as ``w = Xᵀ(α ⊙ y)``, and ``C − α ≥ 0`` as
``α ≤ C``. A condition built from a user's ``(lhs, rhs)`` pair prints as the user wrote it.

Takes: graph nodes. Gives: conditions, their text and their numeric residuals.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

import numpy as np
import sympy as sp

from .algebra import assemble, monomials
from ..evaluate import evaluate
from ..nodes import Einsum, Expr, Map, as_expr, const, leaves, make_einsum, make_map

__all__ = ["Condition"]

#: relation → (unicode, LaTeX, its mirror image when the sides swap)
RELATIONS = {
    "=": ("=", "=", "="),
    "<=": ("≤", r"\le", ">="),
    ">=": ("≥", r"\ge", "<="),
    "psd": ("⪰", r"\succeq", "nsd"),
    "nsd": ("⪯", r"\preceq", "psd"),
}


@dataclass(eq=False)
class Condition:
    """``expr rel 0``: an equation, an inequality (entrywise) or a semidefinite condition.

    Args:
        expr: the tensor expression (any shape; a square matrix for psd/nsd).
        rel: "=", "<=", ">=", "psd" (expr ⪰ 0) or "nsd" (expr ⪯ 0).
        label: what the condition is (e.g. "∂L/∂w = 0"), for reports.
        sides: (lhs, rhs) to print instead of the rearranged form (a user's own pair).
        multipliers: tensors whose terms are kept apart from the others when printed.
        primal: tensors whose terms go on the left when printed.
        symmetric: matrices read as symmetric when printed (Sᵀw is Sw).

    >>> import symml as sm
    >>> n = sm.dims("n")
    >>> a, C = sm.tensor("alpha", (n,)), sm.scalar("C")
    >>> str(Condition(C - a, ">=", multipliers=[a]))
    'α ≤ C'
    """

    expr: Expr
    rel: str = "="
    label: str = ""
    sides: tuple | None = None
    multipliers: list = field(default_factory=list)
    primal: list = field(default_factory=list)
    symmetric: list = field(default_factory=list)

    def __post_init__(self):
        self.expr = as_expr(self.expr)
        if self.rel not in RELATIONS:
            raise ValueError(f"Condition: relation {self.rel!r} is not one of {', '.join(RELATIONS)}")

    # -- printing
    def parts(self):
        """(lhs, relation, rhs) as expressions, rearranged for reading (see the module docstring)."""
        if self.sides is not None:
            return self.sides[0], self.rel, self.sides[1]
        terms = monomials(self.expr, self.symmetric)
        mult, primal = {t.uid for t in self.multipliers}, {t.uid for t in self.primal}
        free = [(c, m) for c, m in terms if not mult & _ids(m)]
        withm = [(c, m) for c, m in terms if mult & _ids(m)]
        coefs = [c for c, _ in terms]
        if coefs and all(c.is_Rational for c in coefs):  # divide out a common factor: 2Sw = 2λw → Sw = λw
            g = abs(reduce(sp.gcd, coefs))
            free, withm = [(c / g, m) for c, m in free], [(c / g, m) for c, m in withm]
        # the primal side first (w = Xᵀ(α ⊙ y), Sw = λw); else the multipliers (α + μ = C, α ≤ C)
        if any(primal & _ids(m) for _, m in free) or not withm:
            left, right = free, withm
        else:
            left, right = withm, free
        rel = self.rel
        if left and left[0][0].could_extract_minus_sign():
            left, right, rel = [(-c, m) for c, m in left], [(-c, m) for c, m in right], RELATIONS[rel][2]
        rhs = _side([(-c, m) for c, m in right], self.expr.shape)
        return _side(left, self.expr.shape), rel, rhs

    def render(self, fmt: str = "unicode") -> str:
        from ..printing import latex, pretty

        lhs, rel, rhs = self.parts()
        show = pretty if fmt == "unicode" else latex
        sym = RELATIONS[rel][0 if fmt == "unicode" else 1]
        return f"{show(lhs)} {sym} {show(rhs)}"

    def __str__(self):
        return self.render("unicode")

    __repr__ = __str__

    def _repr_latex_(self):
        return "$\\displaystyle " + self.render("latex") + "$"

    # -- numbers
    def residual(self, **arrays) -> float:
        """The largest violation at the given arrays (0 when the condition holds exactly).

        An equation's residual is max |expr|; an inequality's the largest entry on the
        wrong side of 0; a semidefinite condition's the most negative (psd) or positive
        (nsd) eigenvalue of the symmetric part.
        """
        needed = {t.name for t in leaves(self.expr)}
        v = np.asarray(evaluate(self.expr, **{k: a for k, a in arrays.items() if k in needed}), dtype=float)
        if self.rel == "=":
            return float(np.max(np.abs(v), initial=0.0))
        if self.rel == "<=":
            return float(np.max(v, initial=0.0)) if v.size else 0.0
        if self.rel == ">=":
            return float(max(0.0, -np.min(v, initial=0.0)))
        eig = np.linalg.eigvalsh((v + v.T) / 2)
        return float(max(0.0, -eig.min())) if self.rel == "psd" else float(max(0.0, eig.max()))


def _side(terms, shape) -> Expr:
    """One side of a printed condition; a scalar broadcast to ``shape`` prints as the scalar
    (α ≤ C, not α ≤ C𝟏), and an empty side as 0."""
    if not terms:
        return const(0, ())
    scalars = [_scalar_of(m) for _, m in terms]
    if all(s is not None for s in scalars):
        return assemble([(c, s) for (c, _), s in zip(terms, scalars)], ())
    return assemble(terms, shape)


def _scalar_of(m: Expr):
    """The rank-0 expression that ``m`` broadcasts, or None."""
    if m.ndim == 0:
        return m
    if isinstance(m, Map) and all(o.ndim == 0 for o in m.operands):
        return make_map(m.expr, m.operands, ())
    if isinstance(m, Einsum) and all(o.ndim == 0 for o in m.operands) and len(m.sizes) == m.ndim:
        return make_einsum(list(m.operands), [[] for _ in m.operands], [], {}, m.coef)
    return None


def _ids(expr: Expr) -> set[int]:
    return {t.uid for t in leaves(expr)}
