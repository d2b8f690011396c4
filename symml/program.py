"""A derived result as a program: named steps (forward values, adjoints), then outputs.

``program_from_outputs({"loss": L, "grad_w": g})`` walks the graph once and gives the
:class:`Program` that printing, reports and codegen all read: the same steps under the same
names, in dependency order. Nothing downstream derives again, and nothing names again.

The naming rule (deterministic: it depends only on the graph of the outputs)

1. Every ``sm.let`` value is a step under its own name, and so is every adjoint that
   :mod:`symml.calculus` named ``delta_<v>`` for it (printed ``δ_v``) and, in a Hessian or an
   hvp, every second-order adjoint ``delta2_<v>`` (printed ``δ̄_v``).
2. Outputs that hold no ``sm.let`` at all get automatic names, at the places where a
   hand-written derivation introduces a symbol:

   - a *forward value* is named where it is handed from one kind of operation to another:
     a computed value (not an input, a constant, an identity, a rank-0 value, a transpose
     or a scaling c·x) that some node reading it is not of its own kind. The stem says
     the kind: ``z`` for a contraction (z = Xw), ``u`` for an elementwise map
     (u = σ(z + b) ⊙ (1 − σ(z + b))), ``s`` for a structured operation (s = S⁻¹).
     A stem used more than once is numbered in dependency order (z1, z2, …);
     A value read once, by an output, is not named (∂L/∂w = Xᵀδ_z + λw names no
     z₂ = Xᵀδ_z);
   - an *adjoint* is named ``delta_v`` when the gradient pass that made an output
     recorded it (:data:`symml.calculus.ADJOINTS`) as the adjoint of a value v named
     here, whether or not it is itself handed over;
   - an output is never a step: it prints under its own name (∂L/∂w).
3. Names never clash: an automatic name skips the names of inputs, dimensions, ``sm.let``
   values and Python keywords (z taken → z1, z2, …); only adjoints start with ``delta_``;
   two ``sm.let`` values with one name are told apart as ``name_2``, ``name_3``, ….

Each step is a :class:`Step` with the node of the original graph it names (``source``,
what codegen emits under the name) and a ``Let`` over the rebuilt body (``node``, what
printing shows: other steps inside it print as their names). ``Program.outputs`` holds
the outputs over those Lets; ``Program.sources`` the outputs as given.

>>> import symml as sm
>>> n, d = sm.dims("n d")
>>> X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
>>> prog = program_from_outputs({"grad_w": sm.grad(sm.sum(sm.softplus(X @ w) - y * (X @ w)), w)})
>>> [(s.name, s.kind) for s in prog.steps]
[('z', 'forward'), ('delta_z', 'adjoint')]

Takes: graph nodes. Gives: a Program.
"""
from __future__ import annotations

import keyword
from dataclasses import dataclass, field

import sympy as sp

from .calculus import ADJOINTS
from .nodes import Dim, Einsum, Expr, Eye, Let, Map, Tensor, as_expr, placeholder, rebuild, transform, walk

__all__ = ["Program", "Step", "program_from_outputs", "inline_lets", "ADJOINT_PREFIX", "SECOND_ADJOINT_PREFIX",
           "STEMS"]

#: calculus names the adjoint of value ``v`` ``delta_v``; nothing else starts with it
ADJOINT_PREFIX = "delta_"
#: a pass that differentiates a derivative (hessian, hvp) names the adjoint of ``v`` ``delta2_v``
#: (printed δ̄_v): a second-order adjoint, never confused with δ_v = ∂L/∂v
SECOND_ADJOINT_PREFIX = "delta2_"
#: the stem of an automatic forward name, by the kind of the node
STEMS = {"einsum": "z", "map": "u", "other": "s"}


@dataclass(frozen=True)
class Step:
    """One named assignment ``name = node.body``.

    Attributes:
        name: the step's name (math spelling: ``delta_z`` prints δ_z).
        node: a Let over the body as printed (earlier steps inside it are Lets).
        source: the node of the original graph this step computes (what codegen emits).
        kind: "forward", "adjoint" (δ_v = ∂L/∂v) or "adjoint2" (δ̄_v, the adjoint of v in a
            pass that differentiates a derivative: a Hessian's or an hvp's).
    """

    name: str
    node: Let
    source: Expr = None
    kind: str = "forward"


@dataclass
class Program:
    """Inputs, named steps in dependency order, and named outputs.

    Attributes:
        inputs: the input tensors, in order of first use.
        steps: the named steps, operands before users.
        outputs: name → output over the steps' Lets (what printing shows).
        names: node uid → step name, for every step's Let and for its source node.
        sources: name → output as given (the graph codegen emits).
        order: every node of the given graph, operands before users.
    """

    inputs: list[Tensor]
    steps: list[Step]
    outputs: dict[str, Expr]
    names: dict[int, str] = field(default_factory=dict)
    sources: dict[str, Expr] = field(default_factory=dict)
    order: list[Expr] = field(default_factory=list)

    def name_of(self, node: Expr) -> str | None:
        """The step name of ``node`` (a step's Let or the node it computes), or None."""
        return self.names.get(node.uid)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"the program has no step {name!r}; its steps: {', '.join(s.name for s in self.steps)}")

    @property
    def forward(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "forward"]

    @property
    def adjoints(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "adjoint"]


def _kind(n: Expr) -> str:
    return "map" if isinstance(n, Map) else "einsum" if isinstance(n, Einsum) else "other"


def _is_permutation(n: Expr) -> bool:
    return isinstance(n, Einsum) and len(n.operands) == 1 and n.coef == 1


def _is_scaling(n: Expr) -> bool:
    """c·x of one operand (−z, z/2): naming it adds a step and says nothing."""
    return isinstance(n, Map) and len(n.operands) == 1 and sp.diff(n.expr, placeholder(0), 2) == 0


def _nameable(n: Expr, outs: set) -> bool:
    return not (isinstance(n, (Tensor, Eye, Let)) or n.uid in outs or n.ndim == 0
                or (isinstance(n, Map) and not n.operands) or _is_permutation(n) or _is_scaling(n))


def _auto_names(order: list[Expr], outs: set, adjoints: dict, taken: set) -> dict[int, tuple[str, str]]:
    """uid → (name, kind) of the automatic steps (rule 2 of the module docstring)."""
    users: dict[int, list] = {}
    for n in order:
        for o in n.operands:
            users.setdefault(o.uid, []).append(n)
    handed = []
    for n in order:
        if not _nameable(n, outs):
            continue
        us = [u for u in users.get(n.uid, []) if not _is_permutation(u)]
        if len(us) == 1 and us[0].uid in outs:
            continue  # read once, by an output: ∂L/∂w = Xᵀδ_z + λw names no z₂ = Xᵀδ_z
        if {_kind(u) for u in us} - {_kind(n)}:
            handed.append(n)
    cand = {n.uid for n in handed}
    adjoint = {n.uid for n in order if _nameable(n, outs) and any(f in cand and f != n.uid for f in adjoints.get(n.uid, ()))}
    forward = [n for n in handed if n.uid not in adjoint]
    total = {k: sum(1 for n in forward if _kind(n) == k) for k in STEMS}
    count = dict.fromkeys(STEMS, 0)
    names: dict[int, tuple[str, str]] = {}
    for n in forward:
        k = _kind(n)
        while True:
            count[k] += 1
            name = STEMS[k] + (str(count[k]) if total[k] > 1 else "")
            if name not in taken:
                break
            if total[k] == 1:  # a clash with the plain stem: number them from 1
                total[k], count[k] = 2, 0
        taken.add(name)
        names[n.uid] = (name, "forward")
    for n in order:  # adjoints of the values named here, in dependency order
        if n.uid not in adjoint:
            continue
        of = next((names[f][0] for f in adjoints[n.uid] if f in names and names[f][1] == "forward"), None)
        if of is None:
            continue
        name, k = ADJOINT_PREFIX + of, 1
        while name in taken:
            k += 1
            name = f"{ADJOINT_PREFIX}{of}_{k}"
        taken.add(name)
        names[n.uid] = (name, "adjoint")
    return names


def program_from_outputs(outputs, auto: bool = True, named=()) -> Program:
    """The program that computes ``outputs`` (an expression, or a dict name → expression).

    Args:
        outputs: an expression (named "out") or a dict name → expression.
        auto: give automatic names where the outputs hold no ``sm.let`` (rule 2 of the
            module docstring); False names only the Lets.
        named: Lets whose values are steps under their names wherever the outputs compute
            them: a value a derivation names outside its loss (γ = softmax(ℓ), the
            responsibilities of a mixture) prints as γ in the gradient that recomputes it.

    Returns:
        A :class:`Program`.
    """
    if not isinstance(outputs, dict):
        outputs = {"out": outputs}
    sources = {k: as_expr(v) for k, v in outputs.items()}
    if named:
        sources = {k: _name_values(v, named) for k, v in sources.items()}
    order = walk(list(sources.values()))
    inputs = [n for n in order if isinstance(n, Tensor)]
    lets = [n for n in order if isinstance(n, Let)]
    taken = {t.name for t in inputs} | set(keyword.kwlist) | {n.name for n in lets}
    for n in order:
        for s in n.shape:
            taken |= {x.name for x in sp.sympify(s).free_symbols if isinstance(x, Dim)}
    adjoints: dict[int, list[int]] = {}  # what calculus recorded for these outputs (first record wins)
    for o in sources.values():
        for a, of in ADJOINTS.get(o.uid, {}).items():
            adjoints.setdefault(a, of)
    outs = {o.uid for o in sources.values()}
    auto_names = _auto_names(order, outs, adjoints, set(taken)) if auto and not lets else {}
    steps: list[Step] = []
    names: dict[int, str] = {}
    used = {t.name for t in inputs}
    new: dict[int, Expr] = {}

    def step_of(node, ops):  # the node over renamed operands; a step where it is named
        m = rebuild(node, ops)
        if isinstance(node, Let):
            name, k = node.name, 2
            while name in used:
                name = f"{node.name}_{k}"
                k += 1
            kind = ("adjoint" if name.startswith(ADJOINT_PREFIX) else
                    "adjoint2" if name.startswith(SECOND_ADJOINT_PREFIX) else "forward")
            step = Step(name, m, node, kind)
        elif node.uid in auto_names:
            name, kind = auto_names[node.uid]
            m = Let.new(name, m)
            step = Step(name, m, node, kind)
        else:
            return m
        used.add(name)
        names[node.uid] = names[m.uid] = name
        steps.append(step)
        return m

    transform(list(sources.values()), step_of, new)
    return Program(inputs, steps, {k: new[v.uid] for k, v in sources.items()}, names, sources, order)


def _scales_a_name(n: Expr) -> bool:
    """c·v or vᵀ of one named value v."""
    one = isinstance(n, (Einsum, Map)) and len(n.operands) == 1 and isinstance(n.operands[0], Let)
    return one and (_is_permutation(n) or _is_scaling(n) or (isinstance(n, Einsum) and n.coef.is_number and
                                                         n.subs[0] == n.out))


def _name_values(expr: Expr, lets) -> Expr:
    """``expr`` with each bare occurrence of a Let's body in ``lets`` read through that Let."""
    bodies = {let.body.uid: let for let in lets if isinstance(let, Let)}

    def name(node, ops):
        m = rebuild(node, ops)
        let = bodies.get(node.uid)
        if let is not None and not isinstance(node, Let):
            return Let.new(let.name, m)
        if isinstance(m, Let) and m.name.startswith(ADJOINT_PREFIX) and _scales_a_name(m.body):
            return m.body  # δ_ℓ = −γ: the adjoint is −γ itself, and prints so
        return m

    return transform([expr], name)[0]


def inline_lets(expr: Expr, keep) -> Expr:
    """``expr`` with every Let for which ``keep(let)`` is False replaced by its body (the graph
    rebuilt, so the canonical forms of :mod:`symml.simplify` see through it). Printing uses
    it to show a Hessian without its second-order adjoints: ``Xᵀ diag(σ(z) ⊙ (1 − σ(z))) X``."""
    return transform([as_expr(expr)], lambda node, ops: ops[0] if isinstance(node, Let) and not keep(node) else None)[0]
