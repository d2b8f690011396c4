"""Comparisons of tensor expressions, and ``where`` that selects by them.

``x > 0``, ``x <= c``, ``x == y`` (and ``sm.equal``) give a :class:`Condition`: an
elementwise SymPy relation over the compared operands, which broadcast like any
elementwise operation. A condition is not a tensor: it has no arithmetic and no
gradient. Conditions combine with ``&``, ``|`` and ``~``, and ``sm.where(cond, a, b)``
turns one into an elementwise SymPy ``Piecewise``, so SymPy differentiates it: the
gradient flows to the branch that is selected, the condition gets none (as in JAX).

``==`` and ``!=`` on expressions must keep serving hashing, interning and ``in`` tests,
which ask for a truth value. So the truth value of ``x == y`` is whether ``x`` and ``y``
are the same (interned) expression, exactly what ``==`` meant before; the truth value of
``x < y`` and the other orderings is an error that points at ``sm.where``.

Takes: tensor expressions and numbers. Gives: conditions, and ``Map`` nodes from ``where``.
"""
from __future__ import annotations

import sys

import sympy as sp

from . import nodes
from .nodes import Expr, as_expr, broadcast_shapes, broadcast_to, fmt_shape, make_map, placeholder

#: operator → SymPy relation class, and how an error message names it.
RELATIONS = {
    ">": sp.StrictGreaterThan, ">=": sp.GreaterThan, "<": sp.StrictLessThan, "<=": sp.LessThan,
    "==": sp.Eq, "!=": sp.Ne,
}


class Condition:
    """An elementwise condition over ``operands`` (SymPy Boolean ``rel`` in placeholders _t0, _t1, …).

    Build one by comparing expressions (``x > 0``); use it in :func:`where`.
    """

    __slots__ = ("_operands", "_pending", "_rel", "_shape", "_truth")

    def __init__(self, rel, operands, shape, truth=None):
        self._rel = rel
        self._operands = tuple(operands)
        self._shape = tuple(shape)
        self._pending = None
        self._truth = truth

    @classmethod
    def of(cls, op: str, a: Expr, b: Expr, truth=None) -> Condition:
        """``a op b``, resolved when first used: ``==`` inside an ``in`` test costs no SymPy work."""
        c = cls.__new__(cls)
        c._pending = (op, a, b)
        c._truth = truth
        return c

    def _resolve(self):
        if self._pending is not None:
            op, a, b = self._pending
            self._shape = broadcast_shapes([a.shape, b.shape], op)
            self._rel = RELATIONS[op](placeholder(0), placeholder(1))
            self._operands = (a, b)
            self._pending = None
        return self

    @property
    def rel(self):
        return self._resolve()._rel

    @property
    def operands(self) -> tuple:
        return self._resolve()._operands

    @property
    def shape(self) -> tuple:
        return self._resolve()._shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __bool__(self):
        if self._truth is None:
            raise TypeError(
                "the truth value of a comparison of tensor expressions is undefined (it holds entry by "
                "entry); select with it in sm.where(cond, a, b)"
            )
        return self._truth

    def __and__(self, other):
        return _combine(sp.And, self, other, op="&")

    def __or__(self, other):
        return _combine(sp.Or, self, other, op="|")

    def __invert__(self):
        return _combine(sp.Not, self, op="~")

    __rand__ = __and__
    __ror__ = __or__

    def __iter__(self):
        raise TypeError("a condition is not iterable; use it in sm.where(cond, a, b)")

    def __repr__(self):
        try:
            return _pretty(self)
        except Exception:  # noqa: BLE001 # pragma: no cover - repr must never raise
            return f"<Condition shape={fmt_shape(self.shape)}>"

    __str__ = __repr__


def _pretty(c: Condition) -> str:
    return nodes.printing.condition_text(c)  # the printing stage registers itself (symml.nodes)


def compare(op: str, a, b, truth=None) -> Condition:
    """``a op b`` entry by entry, with numpy broadcasting; ``op`` is a key of :data:`RELATIONS`."""
    try:
        a, b = as_expr(a), as_expr(b)
    except TypeError as e:
        raise TypeError(f"'{op}' compares tensor expressions and numbers: {e}") from None
    if truth is None:  # an ordering is used at once (in sm.where): check the shapes now
        broadcast_shapes([a.shape, b.shape], op)
    return Condition.of(op, a, b, truth)


def _combine(fn, *conds, op: str):
    for c in conds:
        if not isinstance(c, Condition):
            raise TypeError(
                f"'{op}' combines conditions such as (x > 0) & (x < 1), got {type(c).__name__}; "
                "parenthesise each comparison"
            )
    shape = broadcast_shapes([c.shape for c in conds], op)
    rels, operands = [], []
    for c in conds:
        k = len(operands)
        rels.append(c.rel.xreplace({placeholder(j): placeholder(k + j) for j in range(len(c.operands))}))
        operands.extend(c.operands)
    return Condition(fn(*rels), operands, shape)


def where(cond, a, b) -> Expr:
    """``a`` where ``cond`` holds, else ``b``, entry by entry (numpy's np.where, broadcasting).

    The derivative flows to the selected branch only; the condition has none (JAX's
    convention). Both branches are formulas, so the unselected one is never evaluated
    where it is not defined: ``where(x > 0, log(x), 0)`` has a finite gradient everywhere.

    >>> import symml as sm
    >>> n = sm.dims("n")
    >>> x = sm.tensor("x", (n,))
    >>> sm.where(x > 0, x, 0.1 * x).shape
    (n,)
    """
    if not isinstance(cond, Condition):
        raise TypeError(
            f"sm.where: expected a condition such as x > 0 or sm.equal(x, y) as the first argument, "
            f"got {type(cond).__name__}"
        )
    a, b = as_expr(a), as_expr(b)
    operands = list(cond.operands) + [a, b]
    shape = broadcast_shapes([o.shape for o in operands], "sm.where")
    operands = [broadcast_to(o, shape) if o.shape and o.shape != shape else o for o in operands]
    k = len(cond.operands)
    expr = sp.Piecewise((placeholder(k), cond.rel), (placeholder(k + 1), True))
    return make_map(expr, operands, shape)


def equal(a, b) -> Condition:
    """a = b entry by entry (the same as ``a == b``)."""
    return compare("==", a, b)


def not_equal(a, b) -> Condition:
    """a ≠ b entry by entry (the same as ``a != b``)."""
    return compare("!=", a, b)


nodes.register_stage(nodes.conditions, sys.modules[__name__])
