"""The chain rule of a derivation, read off the program that calculus built.

Reverse mode (:mod:`symml.calculus`) gives every named intermediate ``v = sm.let(...)`` a
named adjoint ``δ_v = ∂L/∂v``. Each adjoint is a sum of contributions, one per use of v:
through an elementwise map, the upstream adjoint times the local derivative that SymPy
computed (``sympy.diff`` of the map's scalar expression); through a contraction, the
upstream adjoint contracted with the other factors (a transposed product); through a
structured node (pooling, convolution, an inverse), that node's own rule.
:func:`chain_steps` finds, in each adjoint step of a :class:`~symml.program.Program`, which
upstream adjoints it reads and how. An adjoint is linear in the adjoints it reads, so the
local derivative of a map is the coefficient of the upstream adjoint in the map's
expression: read off, not derived again.

A derivation that names no intermediates gets its steps from the program itself: the
automatic names of :mod:`symml.program` (``z = Xw``, ``δ_z``), which are the names its
kernels use. Nothing here names or derives again.

Takes: graph nodes and programs. Gives: :class:`ChainStep` lists.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..nodes import Einsum, Expr, Let, Map, make_map, placeholder, walk
from ..program import ADJOINT_PREFIX, Program, Step

__all__ = ["has_steps", "chain_steps", "ChainStep", "Local", "ADJOINT_PREFIX"]


def has_steps(expr: Expr) -> bool:
    """Whether ``expr`` holds a named intermediate (an ``sm.let``)."""
    return any(isinstance(n, Let) for n in walk([expr]))


@dataclass
class Local:
    """One contribution to an adjoint: the upstream adjoint it reads and how.

    Attributes:
        upstream: the adjoint read (a Let named ``delta_u``).
        kind: "elementwise" (through a map), "contraction" or "structured".
        via: the node that has ``upstream`` as an operand (the contribution term, or the
            map around it).
        factor: for "elementwise", the local derivative ∂u/∂v as a Map node (the
            coefficient of the upstream adjoint in ``via``); else None.
    """

    upstream: Let
    kind: str
    via: Expr
    factor: Expr | None = None


@dataclass
class ChainStep:
    """An adjoint step ``δ_v = …``: its forward value v (None if v is not a named step)
    and the contributions it collects (none for the first adjoint, computed from L)."""

    step: Step
    forward: Step | None
    locals: list = field(default_factory=list)


def chain_steps(program: Program) -> list[ChainStep]:
    """The adjoint steps of ``program`` with their contributions (module docstring)."""
    forward = {s.name: s for s in program.forward}
    return [ChainStep(s, forward.get(s.name[len(ADJOINT_PREFIX):]), _locals(s.node.body)) for s in program.adjoints]


def _locals(body: Expr) -> list[Local]:
    """The adjoints ``body`` reads, each with the node that reads it (not crossing a Let)."""
    found, seen, stack = [], set(), [body]
    while stack:
        n = stack.pop()
        if n.uid in seen:
            continue
        seen.add(n.uid)
        for k, op in enumerate(n.operands):
            if isinstance(op, Let):
                if op.name.startswith(ADJOINT_PREFIX):
                    found.append(_local(n, k, op))
            else:
                stack.append(op)
    return found


def _local(n: Expr, k: int, upstream: Let) -> Local:
    if isinstance(n, Map):
        # the map is linear in the adjoint, so this derivative is its coefficient: the local
        # derivative SymPy computed when calculus formed g·∂f/∂v (calculus._map_vjp)
        coef = sp.diff(n.expr, placeholder(k))
        return Local(upstream, "elementwise", n, make_map(coef, n.operands, n.shape))
    if isinstance(n, Einsum):
        return Local(upstream, "contraction", n)
    return Local(upstream, "structured", n)
