"""The tensor expression graph: hash-consed nodes with symbolic shapes.

Every tensor expression is a DAG of a few node kinds:

- ``Tensor`` (a named input), ``Eye`` (the identity δ_ij);
- ``Einsum``: any contraction, transpose, sum, trace, diagonal or broadcast, with a
  scalar coefficient; nested einsums are flattened and identities contracted away;
- ``Map``: an elementwise function of same-shape (or rank-0) operands, held as a SymPy
  scalar expression in placeholder symbols ``_t0, _t1, ...``; SymPy differentiates it;
- a few structured nodes with their own derivative rules (in :mod:`symml.structured`).

Nodes are interned: structurally equal expressions are the same Python object, so
common subexpressions are shared by construction. Shapes are tuples of SymPy integer
expressions in dimension symbols; nothing is ever created per tensor entry.

Takes: user DSL calls. Gives: the graph that calculus, printing and codegen read.
"""
from __future__ import annotations

import itertools
from typing import Iterable, Sequence

import sympy as sp

from .functions import drop_distributions
from .sizes import Dim, _check_name, as_dim, dims, fmt_shape  # noqa: F401 - the graph's sizes, re-exported
from .stages import Stage, register_stage  # noqa: F401 - re-exported for the later stages

# --------------------------------------------------------------------------- later stages

simplify = Stage("symml.simplify")  # canonical forms, applied by the node constructors below
conditions = Stage("symml.conditions")  # comparisons of expressions give elementwise conditions
printing = Stage("symml.printing")  # repr and _repr_latex_


# --------------------------------------------------------------------------- base

_INTERN: dict = {}
#: name → the input tensors created with that name in this process, in order (several if it was
#: declared again): the arrays one dict of inputs may bind (see symml.evaluate)
DECLARED: dict[str, list] = {}
_ids = itertools.count()
T = [sp.Symbol(f"_t{i}", real=True) for i in range(64)]


def placeholder(i: int) -> sp.Symbol:
    while i >= len(T):
        T.append(sp.Symbol(f"_t{len(T)}", real=True))
    return T[i]


class Expr:
    """A tensor expression with a symbolic shape. Build it with the DSL, not directly."""

    __slots__ = ("shape", "operands", "uid", "__weakref__")
    precedence = 100
    # numpy defers to our reflected operators (ndarray + Expr → Expr.__radd__, which refuses arrays)
    __array_ufunc__ = None

    @classmethod
    def _make(cls, key_params: tuple, operands: tuple, shape: tuple, **attrs):
        key = (cls, key_params, tuple(o.uid for o in operands))
        hit = _INTERN.get(key)
        if hit is not None:
            return hit
        obj = object.__new__(cls)
        obj.shape = tuple(shape)
        obj.operands = tuple(operands)
        obj.uid = next(_ids)
        for k, v in attrs.items():
            object.__setattr__(obj, k, v)
        _INTERN[key] = obj
        if cls is Tensor and not obj.name.startswith("_"):
            DECLARED.setdefault(obj.name, []).append(obj)
        return obj

    # -- basic facts
    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __hash__(self):
        return self.uid

    # -- comparisons give elementwise conditions for sm.where (symml.conditions). The truth
    # value of ``a == b`` stays ``a is b``, so hashing, interning and ``in`` tests are unchanged.
    def __eq__(self, other):
        return _compare("==", self, other, lambda: self is other)

    def __ne__(self, other):
        return _compare("!=", self, other, lambda: self is not other)

    def __lt__(self, other):
        return _compare("<", self, other)

    def __le__(self, other):
        return _compare("<=", self, other)

    def __gt__(self, other):
        return _compare(">", self, other)

    def __ge__(self, other):
        return _compare(">=", self, other)

    def __bool__(self):
        return True

    def __iter__(self):
        raise TypeError("a symml tensor expression is not iterable; index it in sm.einsum instead")

    # -- arithmetic (numpy semantics, elementwise with broadcasting)
    def __add__(self, o):
        return elementwise(lambda a, b: a + b, self, o, op="+")

    def __radd__(self, o):
        return elementwise(lambda a, b: a + b, o, self, op="+")

    def __sub__(self, o):
        return elementwise(lambda a, b: a - b, self, o, op="-")

    def __rsub__(self, o):
        return elementwise(lambda a, b: a - b, o, self, op="-")

    def __mul__(self, o):
        return elementwise(lambda a, b: a * b, self, o, op="*")

    def __rmul__(self, o):
        return elementwise(lambda a, b: a * b, o, self, op="*")

    def __truediv__(self, o):
        return elementwise(lambda a, b: a / b, self, o, op="/")

    def __rtruediv__(self, o):
        return elementwise(lambda a, b: a / b, o, self, op="/")

    def __pow__(self, o):
        return elementwise(lambda a, b: a**b, self, o, op="**")

    def __rpow__(self, o):
        return elementwise(lambda a, b: a**b, o, self, op="**")

    def __neg__(self):
        return elementwise(lambda a: -a, self, op="-")

    def __pos__(self):
        return self

    def __matmul__(self, o):
        return matmul(self, o)

    def __rmatmul__(self, o):
        return matmul(as_expr(o), self)

    @property
    def T(self):
        return transpose(self)

    # -- display (the printing stage registers itself; see symml.printing)
    def _repr_latex_(self):
        return "$\\displaystyle " + printing.latex(self) + "$"

    def __repr__(self):
        try:
            return printing.pretty(self)
        except Exception:  # pragma: no cover - repr must never raise
            return f"<{type(self).__name__} shape={fmt_shape(self.shape)}>"

    __str__ = __repr__


def _compare(op, a, b, truth=None):
    """``a op b`` as a Condition, or NotImplemented for an operand that is no expression or number."""
    if not isinstance(b, Expr):
        try:
            as_expr(b)
        except TypeError:
            return NotImplemented
    return conditions.compare(op, a, b, None if truth is None else truth())


# --------------------------------------------------------------------------- leaves


class Tensor(Expr):
    """A named input tensor (a parameter, data or hyper-parameter)."""

    __slots__ = ("name", "symmetric", "positive_definite", "simplex")

    @classmethod
    def new(cls, name: str, shape: Sequence = (), symmetric: bool = False, positive_definite: bool = False,
            simplex: bool = False):
        _check_name(name, "tensor")
        if isinstance(shape, (int, sp.Expr)):
            shape = (shape,)
        shape = tuple(as_dim(s) for s in shape)
        for flag, value in (("symmetric", symmetric), ("positive_definite", positive_definite), ("simplex", simplex)):
            if not isinstance(value, bool):
                raise TypeError(f"sm.tensor({name!r}): {flag} must be True or False, got {value!r}")
        symmetric = symmetric or positive_definite  # a positive definite matrix is symmetric
        if symmetric and (len(shape) != 2 or shape[0] != shape[1]):
            what = "positive_definite" if positive_definite else "symmetric"
            raise ValueError(f"sm.tensor({name!r}): {what}=True needs a square matrix shape such as (d, d), "
                             f"got {fmt_shape(shape)}")
        if simplex and not shape:
            raise ValueError(f"sm.tensor({name!r}): simplex=True needs at least one axis (the last axis sums "
                             f"to one), got a scalar")
        if simplex and symmetric:
            raise ValueError(f"sm.tensor({name!r}): simplex=True does not combine with symmetric= or "
                             f"positive_definite=")
        flags = (symmetric, positive_definite) if symmetric else ("simplex",) if simplex else ()
        return cls._make((name, shape) + flags, (), shape, name=name, symmetric=symmetric,
                         positive_definite=positive_definite, simplex=simplex)


class Eye(Expr):
    """The identity matrix I (δ_ij) of a symbolic size."""

    __slots__ = ()

    @classmethod
    def new(cls, d):
        d = as_dim(d)
        return cls._make((d,), (), (d, d))


class Let(Expr):
    """A named intermediate: printing and codegen keep it as one name."""

    __slots__ = ("name",)

    @classmethod
    def new(cls, name: str, expr: "Expr"):
        if not (isinstance(name, str) and name.replace("δ", "d").isidentifier()):
            raise ValueError(f"invalid intermediate name {name!r}: expected an identifier such as 'z' or 'h1'")
        expr = as_expr(expr)
        if isinstance(expr, (Tensor, Let)) or is_const(expr):
            return expr
        return cls._make((name,), (expr,), expr.shape, name=name)

    @property
    def body(self) -> Expr:
        return self.operands[0]


# --------------------------------------------------------------------------- Map


class Map(Expr):
    """Elementwise SymPy expression ``expr`` of operands that share ``shape`` or are rank 0."""

    __slots__ = ("expr",)

    @classmethod
    def raw(cls, expr, operands, shape):
        return cls._make((expr, tuple(shape)), tuple(operands), shape, expr=expr)


def const(value, shape=()) -> Expr:
    """A constant tensor filled with ``value`` (a number or SymPy expression in dims)."""
    return Map.raw(sp.sympify(value), (), tuple(shape))


def is_const(e: Expr, value=None) -> bool:
    if not (isinstance(e, Map) and not e.operands):
        return False
    return value is None or e.expr == value


def is_zero(e: Expr) -> bool:
    return is_const(e, 0)


def zeros(shape) -> Expr:
    return const(0, shape)


def make_map(expr: sp.Expr, operands: Sequence[Expr], shape=None) -> Expr:
    """Smart constructor: inline inner maps, dedupe operands, drop unused ones."""
    operands = [as_expr(o) for o in operands]
    if shape is None:
        shapes = {o.shape for o in operands if o.shape}
        if len(shapes) > 1:
            raise ValueError("elementwise operands must share one shape: " + ", ".join(fmt_shape(s) for s in shapes))
        shape = shapes.pop() if shapes else ()
    shape = tuple(shape)
    expr = drop_distributions(sp.sympify(expr))
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ValueError("the expression divides by zero or is otherwise undefined (SymPy gives it as ∞ or nan)")
    new_ops: list[Expr] = []

    def slot(op: Expr) -> sp.Symbol:
        for j, o in enumerate(new_ops):
            if o is op:
                return placeholder(j)
        new_ops.append(op)
        return placeholder(len(new_ops) - 1)

    repl = {}
    for k, op in enumerate(operands):
        if op.shape and op.shape != shape:
            raise ValueError(f"elementwise operand of shape {fmt_shape(op.shape)} does not match {fmt_shape(shape)}")
        if isinstance(op, Map):
            inner = {placeholder(j): slot(o) for j, o in enumerate(op.operands)}
            repl[placeholder(k)] = op.expr.xreplace(inner)
        elif isinstance(op, Einsum) and all(o.ndim == 0 for o in op.operands):
            # a scalar broadcast to the map's shape: keep the scalar, not the broadcast
            factors = [o.expr.xreplace({placeholder(j): slot(x) for j, x in enumerate(o.operands)})
                       if isinstance(o, Map) else slot(o) for o in op.operands]
            repl[placeholder(k)] = op.coef * sp.Mul(*factors)
        else:
            repl[placeholder(k)] = slot(op)
    expr = expr.xreplace(repl)
    canon_expr, canon_ops = simplify.map_expr(expr, list(new_ops), shape, placeholder)
    if canon_expr != expr or any(a is not b for a, b in zip(canon_ops, new_ops)) or len(canon_ops) != len(new_ops):
        # a rule fired: build again from the canonical form (inlines and dedupes what it made)
        return make_map(canon_expr, canon_ops, shape)
    # drop operands that the expression no longer uses
    used = [j for j in range(len(new_ops)) if placeholder(j) in expr.free_symbols]
    if len(used) != len(new_ops):
        expr = expr.xreplace({placeholder(j): placeholder(i) for i, j in enumerate(used)})
        new_ops = [new_ops[j] for j in used]
    if expr == placeholder(0) and len(new_ops) == 1 and new_ops[0].shape == shape:
        return new_ops[0]
    return Map.raw(expr, new_ops, shape)


def elementwise(fn, *args, op: str = "") -> Expr:
    """Apply a SymPy-level function elementwise with numpy broadcasting."""
    exprs = [as_expr(a) for a in args]
    shape = broadcast_shapes([e.shape for e in exprs], op)
    exprs = [broadcast_to(e, shape) if e.shape and e.shape != shape else e for e in exprs]
    return make_map(fn(*[placeholder(i) for i in range(len(exprs))]), exprs, shape)


def broadcast_shapes(shapes: Sequence[tuple], op: str = "") -> tuple:
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for k in range(1, rank + 1):
        sizes = {s[-k] for s in shapes if len(s) >= k and s[-k] != 1}
        if len(sizes) > 1:
            what = f"'{op}'" if op else "an elementwise operation"
            raise ValueError(
                f"shapes {' and '.join(fmt_shape(s) for s in shapes)} do not broadcast in {what}: "
                "expected equal sizes or rank-0 operands (numpy broadcasting rules)"
            )
        out.append(sizes.pop() if sizes else sp.Integer(1))
    return tuple(reversed(out))


def broadcast_to(e: Expr, shape: tuple) -> Expr:
    """Broadcast ``e`` (numpy rules, aligned on the right) to ``shape``."""
    off = len(shape) - len(e.shape)
    out = list(range(len(shape)))
    sub = []
    sizes = dict(enumerate(shape))
    for k, s in enumerate(e.shape):
        if s == shape[off + k]:
            sub.append(off + k)
        else:  # a size-1 axis being stretched: give it its own summed-over index
            sub.append(("one", k))
            sizes[("one", k)] = s
    return make_einsum([e], [sub], out, sizes)


# --------------------------------------------------------------------------- Einsum


class Einsum(Expr):
    """coef · Σ_{contracted} Π_k operand_k[subs_k], indexed by ``out``.

    Index labels are small ints, canonically numbered; ``sizes[label]`` is its size.
    Labels in ``out`` that no operand has broadcast the result along that axis.
    """

    __slots__ = ("subs", "out", "sizes", "coef")


class _Fresh:
    __slots__ = ()


def make_einsum(operands, subs, out, sizes, coef=1) -> Expr:
    """Smart constructor: flatten nested einsums, contract identities, fold constants."""
    coef = sp.sympify(coef)
    sizes = dict(sizes)
    work = [(as_expr(o), list(s)) for o, s in zip(operands, subs)]
    out = list(out)
    if len(set(out)) != len(out):
        raise ValueError("einsum output indices must be distinct")
    ops: list[tuple[Expr, list]] = []
    eyes: list[list] = []
    seen = set(out)  # labels that some operand (or the output) carries; `sizes` alone makes no index
    while work:
        op, sub = work.pop(0)
        seen.update(sub)
        if len(sub) != op.ndim:
            raise ValueError(f"einsum operand of shape {fmt_shape(op.shape)} given {len(sub)} indices")
        for lab, s in zip(sub, op.shape):
            if lab in sizes and sizes[lab] != s:
                raise ValueError(f"einsum index bound to sizes {sizes[lab]} and {s}")
            sizes[lab] = s
        if isinstance(op, Einsum):
            ren = {}
            for lab_in, lab_out in zip(op.out, sub):
                if lab_in in ren and ren[lab_in] != lab_out:  # pragma: no cover - out is distinct
                    raise AssertionError
                ren[lab_in] = lab_out
            for lab_in, size in enumerate(op.sizes):
                if lab_in not in ren:
                    f = _Fresh()
                    ren[lab_in] = f
                    sizes[f] = size
            coef *= op.coef
            work = [(o, [ren[l] for l in s]) for o, s in zip(op.operands, op.subs)] + work
        elif isinstance(op, Map) and all(not o.shape for o in op.operands):
            if op.expr == 0:
                for o, s in work:  # the output sizes that operands not yet read carry
                    for lab, size in zip(s, o.shape):
                        sizes.setdefault(lab, size)
                return zeros(tuple(sizes[l] for l in out))
            if op.operands:
                ops.append((make_map(op.expr, op.operands, ()), []))
            else:
                coef *= op.expr
        elif isinstance(op, Eye):
            eyes.append(sub)
        else:
            ops.append((op, sub))
    # contract identities: δ_ab with a (or b) summed over is a renaming a → b
    kept_eyes = []
    for k in range(len(eyes)):
        a, b = eyes[k]
        if a == b:
            continue  # δ_aa = 1; if a is then unused the size rule below adds the factor
        if a in out and b in out:
            kept_eyes.append([a, b])
            continue
        x, y = (a, b) if a not in out else (b, a)
        ops = [(o, [y if l == x else l for l in s]) for o, s in ops]
        for j in range(k + 1, len(eyes)):
            eyes[j] = [y if l == x else l for l in eyes[j]]
        sizes.pop(x, None)
    ops += [(Eye.new(sizes[a]), [a, b]) for a, b in kept_eyes]
    ops, factor = simplify.einsum_operands(ops, make_map, placeholder)
    coef *= factor
    ops = simplify.order_operands(ops, out)
    if len(ops) == 1:  # Σ_axis softmax(x) = 1, Σ_k Y_ik = 1 for a simplex-declared Y
        ones = simplify.softmax_sum(ops[0][0], ops[0][1], out, sizes)
        if ones is not None:
            return const(coef * ones, tuple(sizes[l] for l in out))
    # an index used by nothing and not in the output sums a constant 1: a factor of its size
    used = {l for _, s in ops for l in s} | set(out)
    for l in [l for l in sizes if l in seen and l not in used]:
        coef *= sizes[l]
    out_shape = tuple(sizes[l] for l in out)
    if coef == 0:
        return zeros(out_shape)
    if not ops:
        return const(coef, out_shape)
    if len(ops) == 1 and ops[0][1] == out and coef == 1:
        return ops[0][0]
    # canonical label numbering; a symmetric matrix carries its indices in increasing order
    for _ in range(4):
        canon: dict = {}
        for l in out + [l for _, s in ops for l in s]:
            if l not in canon:
                canon[l] = len(canon)
        swapped = [(o, [s[1], s[0]]) if len(s) == 2 and canon[s[0]] > canon[s[1]] and simplify.is_symmetric(o)
                   else (o, s) for o, s in ops]
        if all(a[1] is b[1] for a, b in zip(swapped, ops)):
            break
        ops = simplify.order_operands(swapped, out)
    solve = simplify.as_solve(ops, out)
    if solve is not None:  # A⁻¹c is a solve, whichever way it was written
        ops = [(solve, list(out))]
        canon = {l: k for k, l in enumerate(out)}
    if len(ops) == 1 and ops[0][1] == out and coef == 1:
        return ops[0][0]
    c_subs = tuple(tuple(canon[l] for l in s) for _, s in ops)
    c_out = tuple(canon[l] for l in out)
    c_sizes = tuple(sizes[l] for l in sorted(canon, key=canon.get))
    operands_ = tuple(o for o, _ in ops)
    return Einsum._make(
        (c_subs, c_out, c_sizes, coef), operands_, out_shape, subs=c_subs, out=c_out, sizes=c_sizes, coef=coef
    )


# --------------------------------------------------------------------------- helpers


def as_expr(x) -> Expr:
    """Coerce numbers and SymPy scalars (in dims) to rank-0 constants."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, bool):
        raise TypeError("booleans are not tensor expressions")
    if isinstance(x, (int, float)):
        return const(sp.nsimplify(x) if isinstance(x, float) and float(x).is_integer() else sp.sympify(x))
    if isinstance(x, sp.Expr) and all(isinstance(s, Dim) for s in x.free_symbols):
        return const(x)
    raise TypeError(
        f"expected a symml tensor expression or a number, got {type(x).__name__}: "
        "create inputs with sm.tensor(name, shape) or sm.scalar(name)"
    )


def matmul(a, b) -> Expr:
    a, b = as_expr(a), as_expr(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"'@' needs operands of rank 1 or 2, got shapes {fmt_shape(a.shape)} and {fmt_shape(b.shape)}; use '*' for scalars"
        )
    if a.ndim > 2 or b.ndim > 2:
        raise ValueError(
            f"'@' supports vectors and matrices, got shapes {fmt_shape(a.shape)} and {fmt_shape(b.shape)}; use sm.einsum for higher ranks"
        )
    if a.shape[-1] != b.shape[0]:
        raise ValueError(
            f"shape mismatch in '@': {fmt_shape(a.shape)} @ {fmt_shape(b.shape)}; "
            f"the inner sizes must agree ({a.shape[-1]} ≠ {b.shape[0]})"
        )
    sa = ["i", "k"][-a.ndim:] if a.ndim == 2 else ["k"]
    sb = ["k", "j"] if b.ndim == 2 else ["k"]
    out = [l for l in sa + sb if l != "k"]
    sizes = {}
    return make_einsum([a, b], [sa, sb], out, sizes)


def transpose(a, axes: Iterable[int] | None = None) -> Expr:
    a = as_expr(a)
    labels = list(range(a.ndim))
    out = list(reversed(labels)) if axes is None else [labels[k] for k in axes]
    if sorted(out) != labels:
        raise ValueError(f"axes {axes} are not a permutation of the {a.ndim} axes")
    return make_einsum([a], [labels], out, {})


def walk(roots: Sequence[Expr]) -> list[Expr]:
    """All nodes reachable from ``roots``, operands before users (topological order)."""
    seen: set[int] = set()
    order: list[Expr] = []
    stack = [(r, False) for r in reversed(list(roots))]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node.uid in seen:
            continue
        seen.add(node.uid)
        stack.append((node, True))
        for o in reversed(node.operands):
            if o.uid not in seen:
                stack.append((o, False))
    return order


def leaves(expr: Expr) -> list[Tensor]:
    """The named input tensors of an expression, in order of first appearance."""
    return [n for n in walk([expr]) if isinstance(n, Tensor)]


# --------------------------------------------------------------------------- rewriting


def rebuild(node: Expr, ops: Sequence[Expr]) -> Expr:
    """The same node kind over new operands (``node`` itself when they are the same objects).

    The constructors run again, so the canonical forms apply to the new node.
    """
    ops = list(ops)
    if len(ops) == len(node.operands) and all(a is b for a, b in zip(ops, node.operands)):
        return node
    if isinstance(node, Einsum):
        return make_einsum(ops, [list(s) for s in node.subs], list(node.out), dict(enumerate(node.sizes)), node.coef)
    if isinstance(node, Map):
        return make_map(node.expr, ops, node.shape)
    if isinstance(node, Let):
        return Let.new(node.name, ops[0])
    return node.rebuild(ops)


def transform(roots: Sequence[Expr], fn=None, done: dict | None = None) -> list[Expr]:
    """A rewrite of the graph of ``roots``, bottom-up: the one walk every rewrite of symml goes through.

    Each node, operands before users, is handed its operands as already rewritten:
    ``fn(node, ops)`` returns its replacement, or None to keep the node's kind over ``ops``
    (:func:`rebuild`). Without ``fn`` nothing changes but what ``done`` says.

    Args:
        roots: expressions (a sequence).
        fn: ``(node, ops) -> Expr | None``.
        done: uid → the replacement of nodes fixed in advance (their subgraphs are then not
            rewritten for them); it is filled in with every node's replacement.

    Returns:
        The rewritten roots, in order.
    """
    new = {} if done is None else done
    for node in walk(list(roots)):
        if node.uid in new:
            continue
        ops = [new[o.uid] for o in node.operands]
        out = fn(node, ops) if fn is not None else None
        new[node.uid] = rebuild(node, ops) if out is None else out
    return [new[r.uid] for r in roots]


def substitute(expr: Expr, mapping: dict) -> Expr:
    """``expr`` with nodes of any kind (matched by identity) replaced, the graph rebuilt above them.

    A graph-level primitive: it checks nothing (``sm.substitute`` checks that keys are input
    tensors and shapes agree).
    """
    return transform([expr], done={k.uid: as_expr(v) for k, v in mapping.items()})[0]
