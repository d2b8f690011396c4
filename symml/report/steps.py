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

A derivation that names no intermediates has no steps to show. :func:`named_loss` then
names the values the loss passes from one kind of node to another (a contraction ``z = Xw``
feeding elementwise functions, an elementwise map ``u = y ⊙ α`` feeding a contraction, a
structured node ``s = S⁻¹``), so that ``sm.grad`` of the named loss, the same function,
writes the same derivative in named steps.

Takes: graph nodes and programs. Gives: named graphs and :class:`ChainStep` lists.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..calculus import rebuild
from ..nodes import Einsum, Expr, Eye, Let, Map, Tensor, make_map, placeholder, walk
from ..program import Program, Step

__all__ = ["named_loss", "has_steps", "chain_steps", "ChainStep", "Local", "ADJOINT_PREFIX"]

#: calculus names the adjoint of intermediate ``v`` ``delta_v``
ADJOINT_PREFIX = "delta_"

#: the stem of an automatic name, by node kind
STEMS = {"einsum": "z", "map": "u", "other": "s"}


def has_steps(expr: Expr) -> bool:
    """Whether ``expr`` holds a named intermediate (an ``sm.let``)."""
    return any(isinstance(n, Let) for n in walk([expr]))


def _kind(n: Expr) -> str:
    return "map" if isinstance(n, Map) else "einsum" if isinstance(n, Einsum) else "other"


def _is_permutation(n: Expr) -> bool:
    return isinstance(n, Einsum) and len(n.operands) == 1 and n.coef == 1


def _is_scaling(n: Expr) -> bool:
    """c·x of one operand (−z, z/2): naming it adds a step and says nothing."""
    return isinstance(n, Map) and len(n.operands) == 1 and sp.diff(n.expr, placeholder(0), 2) == 0


def named_loss(loss: Expr, params, taken=()) -> Expr:
    """``loss`` with its hand-over values named (module docstring); the same function.

    Args:
        loss: a scalar expression without ``sm.let`` intermediates.
        params: the tensors differentiated by (only values that depend on them are named).
        taken: names that must not be used (the derivation's inputs).

    Returns:
        The loss rebuilt with ``Let`` nodes z, u, s (z1, z2, … when there are several).

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
    >>> L = named_loss(sm.sum(sm.softplus(X @ w) - y * (X @ w)), [w], ["X", "y", "w"])
    >>> print(sm.equations({"grad_w": sm.grad(L, w)}))
    z     = Xw
    δ_z   = σ(z) − y
    ∂L/∂w = Xᵀ δ_z
    """
    order = walk([loss])
    pids = {p.uid for p in params}
    depends: dict[int, bool] = {}
    users: dict[int, list] = {}
    for n in order:
        depends[n.uid] = n.uid in pids or any(depends[o.uid] for o in n.operands)
        for o in n.operands:
            users.setdefault(o.uid, []).append(n)
    chosen = []
    for n in order:
        if (isinstance(n, (Tensor, Eye, Let)) or n is loss or n.ndim == 0 or not depends[n.uid]
                or (isinstance(n, Map) and not n.operands) or _is_permutation(n) or _is_scaling(n)):
            continue
        kinds = {_kind(u) for u in users.get(n.uid, []) if not _is_permutation(u)}
        if kinds - {_kind(n)}:  # handed from one kind of node to another
            chosen.append(n)
    if not chosen:
        return loss
    total = {k: sum(1 for n in chosen if _kind(n) == k) for k in STEMS}
    names: dict[int, str] = {}
    count = dict.fromkeys(STEMS, 0)
    taken = set(taken)
    for n in chosen:
        k = _kind(n)
        while True:
            count[k] += 1
            name = STEMS[k] + (str(count[k]) if total[k] > 1 else "")
            if name not in taken:
                break
            total[k] = 2  # a clash: number them
        taken.add(name)
        names[n.uid] = name
    new: dict[int, Expr] = {}
    for n in order:
        ops = [new.get(o.uid, o) for o in n.operands]
        m = n if all(a is b for a, b in zip(ops, n.operands)) else rebuild(n, ops)
        new[n.uid] = Let.new(names[n.uid], m) if n.uid in names else m
    return new[loss.uid]


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
    forward = {s.node.name: s for s in program.steps if not s.node.name.startswith(ADJOINT_PREFIX)}
    out = []
    for s in program.steps:
        name = s.node.name
        if not name.startswith(ADJOINT_PREFIX):
            continue
        out.append(ChainStep(s, forward.get(name[len(ADJOINT_PREFIX):]), _locals(s.node.body)))
    return out


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
