"""A constrained problem and its Lagrangian: :func:`lagrangian` builds a :class:`Problem`.

Constraints are given as lists or as dicts that name their multipliers:

- ``eq``: each item is an expression h (meaning h = 0) or a pair (lhs, rhs) (lhs = rhs);
- ``ineq``: an expression g (g ≤ 0) or a pair (lhs, rhs) (lhs ≤ rhs).

In a dict the key names the multiplier (a string, or a tensor of the constraint's shape);
in a list the multipliers are named as in Boyd & Vandenberghe: ν for equations, λ for
inequalities (``nu``, ``lam``; ``nu_1``, ``nu_2``, … when there are several), skipping
names the problem already uses. Each multiplier has the shape of its constraint, so
y ⊙ (Xw + b) ≥ 1 over n samples has n multipliers α, one tensor.

Takes: graph nodes. Gives: a Problem (its Lagrangian ``L`` is a graph node).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..nodes import Expr, Map, Tensor, as_expr, fmt_shape, leaves, make_einsum, make_map

__all__ = ["Problem", "lagrangian"]


@dataclass(eq=False)
class Problem:
    """min (or max) ``objective`` over ``wrt`` subject to constraints, with its Lagrangian ``L``.

    Attributes:
        objective: the scalar objective f.
        wrt: the primal variables (input tensors).
        eq: [(ν, h, sides)]: multiplier, h (h = 0), and the user's (lhs, rhs) or None.
        ineq: [(λ, g, sides)]: multiplier, g (g ≤ 0), and the user's (lhs, rhs) or None.
        maximize: whether f is maximised.
        symmetric: matrices known to be symmetric (printing reads Sᵀ as S).
        L: the Lagrangian.
    """

    objective: Expr
    wrt: list
    eq: list
    ineq: list
    maximize: bool
    symmetric: list
    L: Expr

    @property
    def multipliers(self) -> list[Tensor]:
        return [m for m, _, _ in self.eq] + [m for m, _, _ in self.ineq]

    def render(self, fmt: str = "unicode") -> str:
        from .conditions import Condition
        from ..printing import latex, pretty

        show = pretty if fmt == "unicode" else latex
        rows = [(("maximize" if self.maximize else "minimize") + " over " + ", ".join(show(p) for p in self.wrt),
                 [show(self.objective)])]
        cons = [Condition(h, "=", sides=s).render(fmt) for _, h, s in self.eq]
        cons += [Condition(g, "<=", sides=s).render(fmt) for _, g, s in self.ineq]
        if cons:
            rows.append(("subject to", cons))
        rows.append(("Lagrangian", [show(self.L)]))
        return render_block(rows, fmt)

    def __str__(self):
        return self.render("unicode")

    __repr__ = __str__

    def _repr_latex_(self):
        return "$\\displaystyle " + self.render("latex") + "$"


def lagrangian(objective, wrt, eq=(), ineq=(), maximize: bool = False, symmetric=()) -> Problem:
    """The Lagrangian of min (max) f over ``wrt`` subject to ``eq`` and ``ineq``.

    Args:
        objective: the scalar objective f.
        wrt: a primal variable (input tensor) or a list of them.
        eq: equations, as a list or a dict multiplier name → constraint (module docstring).
        ineq: inequalities g ≤ 0, likewise.
        maximize: maximise f; then L = f − Σ⟨ν, h⟩ − Σ⟨λ, g⟩ (still λ ≥ 0).
        symmetric: matrices among the data known to be symmetric (for printing: Sᵀw is Sw).

    Returns:
        A :class:`Problem`; ``problem.L`` is the Lagrangian, ``problem.multipliers`` its
        multiplier tensors.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
    >>> sm.pretty(lagrangian(sm.norm2(w), [w], eq={"nu": (X @ w, y)}).L)
    '‖w‖² + νᵀ(Xw − y)'
    """
    f = as_expr(objective)
    if f.ndim != 0:
        raise ValueError(f"sm.lagrangian: the objective must be a scalar, got shape {fmt_shape(f.shape)}")
    ws = list(wrt) if isinstance(wrt, (list, tuple)) else [wrt]
    if not ws:
        raise ValueError("sm.lagrangian: give the primal variables, e.g. sm.lagrangian(f, [w, b], ...)")
    for p in ws:
        if not isinstance(p, Tensor):
            raise TypeError(f"sm.lagrangian: primal variables must be input tensors from sm.tensor/sm.scalar, "
                            f"got {type(p).__name__}")
    if not isinstance(maximize, bool):
        raise TypeError(f"sm.lagrangian: maximize must be True or False, got {maximize!r}")
    sym = list(symmetric)
    for s in sym:
        if not isinstance(s, Tensor) or s.ndim != 2 or s.shape[0] != s.shape[1]:
            raise ValueError(f"sm.lagrangian: symmetric= takes square input matrices, got {s!r}")
    parsed_eq, parsed_ineq = _parse(eq, "eq"), _parse(ineq, "ineq")
    used = {t.name for e in [f] + [c for _, c, _ in parsed_eq + parsed_ineq] for t in leaves(e)}
    eqs = _name(parsed_eq, "nu", used)
    ineqs = _name(parsed_ineq, "lam", used)
    for p in ws:
        if not any(p.uid in {t.uid for t in leaves(e)} for e in [f] + [c for _, c, _ in eqs + ineqs]):
            raise ValueError(f"sm.lagrangian: the primal variable {p.name} appears neither in the objective "
                             "nor in a constraint")
    prim = {p.uid for p in ws}
    for m, c, _ in eqs + ineqs:
        if m.uid in prim:
            raise ValueError(f"sm.lagrangian: {m.name} is both a primal variable and a multiplier")
        if not prim & {t.uid for t in leaves(c)}:
            raise ValueError(f"sm.lagrangian: the constraint on {m.name} involves none of the primal variables "
                             f"({', '.join(p.name for p in ws)})")
    L = f
    for m, c, _ in eqs + ineqs:
        sign, t = _pair(m, c)
        L = L - t if maximize ^ (sign < 0) else L + t
    return Problem(f, ws, eqs, ineqs, maximize, sym, L)


def _pair(m: Tensor, c: Expr):
    """(s, ⟨m, s·c⟩) with s = ±1: the full contraction of a multiplier with its constraint,
    its sign pulled out (L = ‖w‖² − μᵀξ, not ‖w‖² + (−μᵀξ))."""
    sign, c = split_sign(c)
    labels = list(range(c.ndim))
    return sign, make_einsum([m, c], [labels, labels], [], {})


def _parse(spec, what: str) -> list:
    """[(key or None, expression, sides)] from a list or dict of constraints."""
    if isinstance(spec, dict):
        items = list(spec.items())
    elif isinstance(spec, (list, tuple)):
        items = [(None, c) for c in spec]
    else:
        raise TypeError(f"sm.lagrangian: {what}= takes a list of constraints or a dict multiplier name → "
                        f"constraint, got {type(spec).__name__}")
    out = []
    for key, c in items:
        if isinstance(c, tuple):
            if len(c) != 2:
                raise ValueError(f"sm.lagrangian: a constraint pair must be (lhs, rhs), got {len(c)} items")
            lhs, rhs = as_expr(c[0]), as_expr(c[1])
            try:
                expr = lhs - rhs
            except ValueError as exc:
                raise ValueError(f"sm.lagrangian: the sides of a constraint do not fit: {exc}") from None
            sides = (lhs, rhs)
        elif isinstance(c, Expr):
            expr, sides = c, None
        else:
            raise TypeError(f"sm.lagrangian: a constraint must be an expression or an (lhs, rhs) pair, "
                            f"got {type(c).__name__}")
        out.append((key, expr, sides))
    return out


def _name(parsed: list, stem: str, used: set) -> list:
    """[(multiplier, expression, sides)]: each constraint's multiplier, named or created."""
    out = []
    for k, (key, expr, sides) in enumerate(parsed):
        if isinstance(key, Tensor):
            if key.shape != expr.shape:
                raise ValueError(f"sm.lagrangian: multiplier {key.name} has shape {fmt_shape(key.shape)}, its "
                                 f"constraint {fmt_shape(expr.shape)}")
            m = key
        else:
            if key is None:
                key = stem if len(parsed) == 1 else f"{stem}_{k + 1}"
                while key in used:
                    key += "_"
            elif not isinstance(key, str):
                raise TypeError(f"sm.lagrangian: a multiplier is named by a string or a tensor, got {key!r}")
            if key in used:
                raise ValueError(f"sm.lagrangian: the multiplier name {key!r} is already used in the problem; "
                                 "choose another")
            m = Tensor.new(key, expr.shape)
        if m.name in used:
            raise ValueError(f"sm.lagrangian: the multiplier name {m.name!r} is already used in the problem; "
                             "choose another")
        used.add(m.name)
        out.append((m, expr, sides))
    return out


def split_sign(c: Expr):
    """(−1, −c) when c is written with a leading minus (−ξ), else (1, c)."""
    if isinstance(c, Map):
        coef, _ = sp.factor_terms(c.expr).as_coeff_Mul()
        if coef.is_Number and coef < 0:
            return -1, make_map(-c.expr, c.operands, c.shape)
    return 1, c


def render_block(rows, fmt: str) -> str:
    """Rows (heading, [lines]) as an aligned block: text columns, or a LaTeX ``aligned``."""
    if fmt == "unicode":
        width = max(len(h) for h, _ in rows) + 2
        out = []
        for head, lines in rows:
            for k, line in enumerate(lines):
                out.append(((head + ":") if k == 0 else "").ljust(width + 1) + line)
        return "\n".join(out)
    body = []
    for head, lines in rows:
        # "minimize over w, \xi": the variables are LaTeX, which \text{} would show verbatim
        words, over, variables = head.partition(" over ")
        tex = f"\\text{{{words}{over}}} {variables}" if over else f"\\text{{{head}}}"
        for k, line in enumerate(lines):
            body.append((tex if k == 0 else "") + " &\\quad " + line)
    return "\\begin{aligned}" + " \\\\ ".join(body) + "\\end{aligned}"
