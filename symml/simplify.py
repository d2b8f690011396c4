"""Canonical forms, applied by the node constructors of :mod:`symml.nodes`.

Every rule here is an exact identity; each has a finite-difference test in
tests/test_canonical.py. Printing, codegen, evaluation and CSE all read the graph after
these rules, so a form recognised here prints, computes and shares as one node.

Elementwise maps (:func:`map_expr`), given the map's scalar expression and operands:

- a contraction operand with a numeric coefficient gives the coefficient to the map, so
  ``2AB + AB`` collects to ``3AB``, ``2AB − 2AB`` cancels and a difference knows its sign;
- ML functions are recognised from their elementary forms: ``1/(1 + e^{−z})`` is σ(z),
  ``e^z/(1 + e^z)`` is σ(z), ``log(1 + e^z)`` is softplus(z), ``log σ(z)`` is log σ(z);
- across nodes: ``log Σ_axis e^x`` is logsumexp(x) and ``e^x / Σ_axis e^x`` is softmax(x),
  both computed stably.

Sums (:func:`softmax_sum`): Σ over its axis of softmax(x) is 1, and so is Σ over the last axis
of a tensor declared ``sm.tensor(..., simplex=True)`` (one-hot or soft labels, Σ_k Y_ik = 1).

Contractions (:func:`einsum_operands`): operands in a canonical order (``Xᵀs`` and ``sᵀX``
are one node), rank-0 operands multiplied into one map when that folds a number or cancels
(``det(A) · 1/det(A)``), and the two indices of a symmetric matrix in canonical order, so
``Kᵀ`` is ``K`` for a declared-symmetric K, for ``XXᵀ`` and for the inverse of either.

Takes: SymPy expressions and graph nodes. Gives: the same, in canonical form.
"""
from __future__ import annotations

import functools
import hashlib

import sympy as sp

from sympy.printing.conventions import split_super_sub
from sympy.printing.pretty.pretty_symbology import greek_unicode

from . import functions as F
from .nodes import Dim, Einsum, Eye, Let, Map, Tensor, make_einsum, make_map, placeholder, walk
from .structured import Det, Inv, LogDet, LogSumExp, Solve, softmax_of

# --------------------------------------------------------------------------- structural keys

_KEYS: dict[int, str] = {}


def structural_key(node) -> str:
    """A digest of a node's structure that is the same in every process (uids are not)."""
    hit = _KEYS.get(node.uid)
    if hit is not None:
        return hit

    for n in walk([node]):
        if n.uid in _KEYS:
            continue
        params = _params(n)
        text = type(n).__name__ + "|" + params + "|" + ",".join(_KEYS[o.uid] for o in n.operands)
        _KEYS[n.uid] = hashlib.blake2b(text.encode(), digest_size=10).hexdigest()
    return _KEYS[node.uid]


def _params(n) -> str:

    if isinstance(n, Tensor):
        return f"{n.name}{n.shape}"
    if isinstance(n, Let):
        return n.name
    if isinstance(n, Map):
        return f"{_expr_text(n.expr)}{n.shape}"
    if isinstance(n, Einsum):
        return f"{n.subs}{n.out}{n.sizes}{n.coef}"
    extra = [str(getattr(n, a)) for a in ("axis", "slot", "kind", "size") if hasattr(n, a)]
    return f"{n.shape}{extra}"


@functools.lru_cache(maxsize=4096)
def _expr_text(e) -> str:
    """A deterministic spelling of a SymPy expression, cheaper than ``srepr``."""
    if e.is_Symbol or e.is_Number or e.is_NumberSymbol:
        return str(e)
    return type(e).__name__ + "(" + ",".join(_expr_text(a) for a in e.args) + ")"


# --------------------------------------------------------------------------- symmetry

_SYM: dict[int, bool] = {}


def is_symmetric(node) -> bool:
    """Whether a square matrix node is known symmetric: declared, I, XXᵀ, A⁻¹ of one, a map of them."""
    if node.ndim != 2 or node.shape[0] != node.shape[1]:
        return False
    hit = _SYM.get(node.uid)
    if hit is not None:
        return hit
    _SYM[node.uid] = False  # a cycle (it cannot happen in a DAG) reads as "not known"
    _SYM[node.uid] = result = _symmetric(node)
    return result


def _symmetric(node) -> bool:

    if isinstance(node, Tensor):
        return bool(getattr(node, "symmetric", False))
    if isinstance(node, Eye):
        return True
    if isinstance(node, Let):
        return is_symmetric(node.body)
    if isinstance(node, Map):
        return all(o.ndim == 0 or is_symmetric(o) for o in node.operands) or _swap_symmetric_map(node)
    if isinstance(node, Einsum):
        return make_einsum([node], [[0, 1]], [1, 0], {}) is node
    name = type(node).__name__
    if name == "Inv":
        return is_symmetric(node.operands[0])
    return False


def _swap_symmetric_map(node) -> bool:
    """A map whose matrix operands come in transposed pairs (A and Aᵀ) and whose expression is
    unchanged when each pair is swapped: A + Aᵀ, (A + Aᵀ)/2, A ⊙ Aᵀ, σ(A) + σ(Aᵀ)."""
    from .nodes import make_einsum, placeholder

    slot = {o.uid: j for j, o in enumerate(node.operands)}
    swap = {}
    for j, o in enumerate(node.operands):
        if o.ndim == 0 or is_symmetric(o):
            continue
        k = slot.get(make_einsum([o], [[0, 1]], [1, 0], {}).uid)
        if k is None:
            return False
        swap[placeholder(j)] = placeholder(k)
    return bool(swap) and sp.expand(node.expr.xreplace(swap) - node.expr) == 0


def is_positive_definite(node) -> bool:

    if isinstance(node, Let):
        return is_positive_definite(node.body)
    return isinstance(node, Tensor) and bool(getattr(node, "positive_definite", False))


# --------------------------------------------------------------------------- maps

_W = sp.Wild("w")


def _recognise(expr: sp.Expr, kinds=None) -> sp.Expr:
    """ML functions from elementary forms: σ, softplus, log σ (exact identities).

    ``kinds``: the function classes among exp, log and σ that ``expr`` holds."""
    w = _W
    if kinds is None:
        kinds = {type(f) for f in expr.atoms(sp.exp, sp.log, F.sigmoid)}
    if sp.exp in kinds and any(isinstance(t, sp.exp) for a in expr.atoms(sp.Add) for t in a.args):
        expr = expr.replace(lambda e: e.is_Mul and _sigmoid_ratio(e) is not None, _sigmoid_ratio)
        expr = expr.replace(1 / (1 + sp.exp(w)), F.sigmoid(-w))
        if sp.log in kinds:
            expr = expr.replace(sp.log(1 + sp.exp(w)), F.softplus(w))
        kinds = {type(f) for f in expr.atoms(sp.exp, sp.log, F.sigmoid)}
    if F.sigmoid in kinds and sp.log in kinds:
        expr = expr.replace(sp.log(F.sigmoid(w)), F.log_sigmoid(w))
    return expr


def _sigmoid_ratio(mul):
    """A product holding e^u and 1/(1 + e^u): σ(u) times the other factors, else None."""
    args = list(mul.args)
    for k, f in enumerate(args):
        if not (f.is_Pow and f.exp == -1 and f.base.is_Add and len(f.base.args) == 2):
            continue
        one, e = f.base.as_coeff_Add()
        if one == 1 and isinstance(e, sp.exp) and e in args:
            rest = [a for j, a in enumerate(args) if j != k]
            rest.remove(e)
            return sp.Mul(*rest) * F.sigmoid(e.args[0])
    return None


def map_expr(expr: sp.Expr, ops: list, shape: tuple, placeholder) -> tuple[sp.Expr, list]:
    """The canonical scalar expression and operands of an elementwise map.

    ``ops`` are the map's operands (after inner maps were inlined); the result may have
    other operands (a contraction without its coefficient, a logsumexp node).
    """
    repl = {}
    for k, op in enumerate(ops):
        if isinstance(op, Einsum) and op.coef != 1 and not (op.coef.free_symbols - _dim_symbols(op.coef)):
            unit = make_einsum(op.operands, op.subs, op.out, dict(enumerate(op.sizes)), 1)
            ops[k] = unit
            repl[placeholder(k)] = op.coef * placeholder(k)
    if repl:
        expr = expr.xreplace(repl)
    kinds = _kinds(expr)
    if not kinds:
        return expr, ops  # no rule below can fire: the common case, one traversal
    expr = _recognise(expr, kinds)
    if sp.log in kinds and any(type(o).__name__ == "Det" for o in ops):
        expr, ops = _log_det(expr, ops, placeholder)
    if expr.has(sp.log, sp.exp):
        expr, ops = _cross_node(expr, ops, placeholder, tuple(shape))
    return expr, ops


@functools.lru_cache(maxsize=8192)
def _kinds(expr: sp.Expr) -> frozenset:
    """The classes among exp, log and σ that ``expr`` holds (backprop builds the same
    scalar expressions many times: one traversal each)."""
    return frozenset(type(f) for f in expr.atoms(sp.exp, sp.log, F.sigmoid))


def _log_det(expr, ops, placeholder):
    """log det A → logdet A for a declared positive definite A (det A > 0 there)."""
    for k, op in enumerate(list(ops)):
        t = placeholder(k)
        if isinstance(op, Det) and is_positive_definite(op.operands[0]) and expr.has(sp.log(t)):
            s = placeholder(len(ops))
            ops = ops + [LogDet.new(op.operands[0])]
            expr = expr.xreplace({sp.log(t): s})
    return expr, ops


@functools.lru_cache(maxsize=8192)
def _dim_symbols(e):
    return frozenset(s for s in e.free_symbols if isinstance(s, Dim))


def _exp_sum_axis(op):
    """(argument node, axis, broadcast?) when ``op`` is Σ_axis e^u (optionally broadcast back)."""
    if not (isinstance(op, Einsum) and op.coef == 1 and len(op.operands) == 1):
        return None
    inner, sub = op.operands[0], op.subs[0]
    if not (isinstance(inner, Map) and isinstance(inner.expr, sp.exp) and inner.ndim >= 1):
        return None
    if len(set(sub)) != len(sub):
        return None
    summed = [p for p, l in enumerate(sub) if l not in op.out]
    if len(summed) != 1:
        return None
    axis = summed[0]
    kept = [l for p, l in enumerate(sub) if p != axis]
    out = list(op.out)
    if out == kept:
        broadcast = False
    elif len(out) == len(sub) and [l for p, l in enumerate(out) if p != axis] == kept and out[axis] not in sub:
        broadcast = True
    else:
        return None
    arg = make_map(inner.expr.args[0], inner.operands, inner.shape)
    return arg, axis, broadcast


def softmax_argument(arg: sp.Expr, ops, placeholder):
    """(x, axis) when ``exp(arg)``, over a map's operands ``ops``, is softmax(x) as symml
    computes it, exp(x − logsumexp(x)) with the logsumexp broadcast back; else None."""
    for k, op in enumerate(ops):
        t = placeholder(k)
        if not arg.has(t) or sp.diff(arg, t) != -1:
            continue
        lse, axis = op, None
        if isinstance(op, Einsum) and op.coef == 1 and len(op.operands) == 1 and isinstance(op.operands[0], LogSumExp):
            lse = op.operands[0]
            x = lse.operands[0]
            sub, out = list(op.subs[0]), list(op.out)
            rest = [p for p in range(x.ndim) if p != lse.axis]
            if len(out) == x.ndim and [out[p] for p in rest] == sub and out[lse.axis] not in sub:
                axis = lse.axis
        elif isinstance(op, LogSumExp) and op.operands[0].ndim == 1:
            axis = 0
        if axis is None:
            continue
        x = lse.operands[0]
        rest = sp.expand(arg + t)
        if rest.has(t) or x.shape != _map_shape(ops, x):
            continue
        if make_map(rest, ops, x.shape) is x:
            return x, axis
    return None


def _map_shape(ops, x):
    shapes = {o.shape for o in ops if o.shape}
    return x.shape if shapes <= {x.shape} else None


def softmax_sum(op, sub, out, sizes):
    """Σ over its own axis of softmax(x), or over the last axis of a tensor declared
    ``simplex=True``, is 1: the constant the sum is, else None."""
    if len(set(sub)) != len(sub):
        return None
    while isinstance(op, Let):  # Σ δ_ℓ with δ_ℓ = −softmax(ℓ): the name changes nothing
        op = op.body
    if isinstance(op, Einsum) and len(op.operands) == 1 and op.subs[0] == op.out and op.coef.is_number:
        inner = softmax_sum(op.operands[0], sub, out, sizes)  # c·softmax(x), as an adjoint holds it
        return None if inner is None else op.coef * inner
    if isinstance(op, Map) and len(op.operands) == 1 and op.operands[0].shape == op.shape and \
            _sums_to_one_candidate(op.operands[0]):
        t = placeholder(0)
        a, c = sp.diff(op.expr, t), op.expr.subs(t, 0)
        if not (a.free_symbols - _dim_symbols(a)) and not (c.free_symbols - _dim_symbols(c)) and a != 0:
            inner = softmax_sum(op.operands[0], sub, out, sizes)  # Σ_k ((1 − ε)Y_ik + ε/K) = 1
            if inner is None:
                return None
            count = sp.Mul(*[sizes[l] for l in sub if l not in out])
            return a * inner + c * count
        return None
    if isinstance(op, Tensor):
        if not getattr(op, "simplex", False):
            return None
        axis = op.ndim - 1
    else:
        if not (isinstance(op, Map) and isinstance(op.expr, sp.exp)):
            return None
        found = softmax_argument(op.expr.args[0], op.operands, placeholder)
        if found is None:
            return None
        _, axis = found
    if sub[axis] in out:
        return None
    factor = sp.S.One
    for p, l in enumerate(sub):
        if p != axis and l not in out:
            factor *= sizes[l]
    return factor


def _sums_to_one_candidate(op) -> bool:
    """A cheap test before the affine rule's derivative: a simplex tensor or an exp map."""
    while isinstance(op, Let):
        op = op.body
    return (isinstance(op, Tensor) and getattr(op, "simplex", False)) or (
        isinstance(op, Map) and isinstance(op.expr, sp.exp))


def _cross_node(expr, ops, placeholder, shape):
    """log Σ e^x → logsumexp(x); e^x/Σ e^x → softmax(x)."""
    ops = list(ops)
    for k, op in enumerate(list(ops)):
        t = placeholder(k)
        if not expr.has(t):
            continue
        found = _exp_sum_axis(op)
        if found is None:
            continue
        arg, axis, broadcast = found
        lse = LogSumExp.new(arg, axis)
        if broadcast or (op.ndim == 0 and arg.ndim == 1 and arg.shape == shape):
            if broadcast:
                full = list(range(arg.ndim))
                rest = [a for a in full if a != axis]
                lse = make_einsum([lse], [rest], full, {axis: arg.shape[axis]})
            # e^x / Σ e^x: the map's own operands must spell x for the quotient to cancel
            if arg.shape == shape:
                slots = {o.uid: j for j, o in enumerate(ops)}
                inner = op.operands[0]
                if all(o.uid in slots for o in inner.operands):
                    u = inner.expr.args[0].xreplace({placeholder(j): placeholder(slots[o.uid]) for j, o in enumerate(inner.operands)})
                    soft = softmax_of(arg, axis)
                    s = placeholder(len(ops))
                    trial = expr.xreplace({t: sp.exp(u) / s})
                    if trial.count(sp.exp) < expr.count(sp.exp) and not trial.has(t):
                        return trial, ops + [soft]
        # log Σ e^x → logsumexp(x), only where the sum appears inside log
        logs = [a for a in expr.atoms(sp.log) if a.args[0] == t]
        if logs:
            s = placeholder(len(ops))
            trial = expr.xreplace({sp.log(t): s})
            if not trial.has(t):
                return trial, ops + [lse]
            trial = trial.xreplace({t: sp.exp(s)})  # Σ e^x elsewhere is e^{logsumexp}
            return trial, ops + [lse]
    return expr, ops


# --------------------------------------------------------------------------- contractions


@functools.lru_cache(maxsize=8192)
def constant_part(expr: sp.Expr):
    """The factor of a scalar expression made of numbers and dimensions, and the rest:
    ``(2a − 2b)/(n t)`` gives ``(2/n, (a − b)/t)``. A fraction is taken out of a sum only
    when no term keeps a coefficient: ``a/2 + b/2`` gives 1/2, ``a − b/2`` stays."""
    if expr.is_number:
        return expr, sp.S.One
    if expr.is_Symbol:
        return (expr, sp.S.One) if isinstance(expr, Dim) else (sp.S.One, expr)
    if expr.is_Function and not isinstance(expr.args[0], Dim):
        return sp.S.One, expr
    if expr.is_Mul and not any(a.is_number or a.is_Add or isinstance(a, Dim) or (a.is_Pow and (
            a.base.is_Add or isinstance(a.base, Dim))) for a in expr.args):
        return sp.S.One, expr  # no number, dimension or sum among the factors
    dims = _dim_symbols(expr)
    if not (expr.free_symbols - dims):
        return expr, sp.S.One
    if expr.is_Add:
        coeffs = [t.as_coeff_Mul()[0] for t in expr.args]
        if all(abs(c) == 1 for c in coeffs) and any(c > 0 for c in coeffs):
            return sp.S.One, expr  # the common case, without SymPy's content search
        c, p = expr.as_content_primitive()
        if p.is_Add and all(t.could_extract_minus_sign() for t in p.args):
            c, p = -c, -p
        if not c.is_Rational or (not c.is_Integer and any(abs(t.as_coeff_Mul()[0]) != 1 for t in p.args)):
            return sp.S.One, expr
        return c, p
    if expr.is_Mul:
        c, factors, same = sp.S.One, [], True
        for f in expr.args:
            if f.is_number or not (f.free_symbols - dims):
                c, same = c * f, False
            elif f.is_Add:
                cf, pf = constant_part(f)
                c, factors, same = c * cf, factors + [pf], same and pf is f
            elif f.is_Pow and f.base.is_Add and f.exp.is_Integer:
                cb, pb = constant_part(f.base)
                c, same = c * cb ** f.exp, same and pb is f.base
                factors.append(f if pb is f.base else pb ** f.exp)
            else:
                factors.append(f)
        if same and c == 1:
            return c, expr  # nothing came out: no need to build the product again
        return c, sp.Mul(*factors)
    return sp.S.One, expr


def einsum_operands(ops: list, make_map, placeholder):
    """Rank-0 operands multiplied into one map where that folds a number or cancels.

    ``ops`` is a list of (operand, labels). Returns (ops, factor) with ``factor`` a
    number (or dimension expression) for the contraction's coefficient.
    """
    factor = sp.S.One
    folded = []
    for o, s in ops:
        if o.ndim and isinstance(o, Map) and o.operands:
            c, rest = constant_part(o.expr)
            if c != 1:
                factor *= c
                o = make_map(rest, o.operands, o.shape)
        folded.append((o, s))
    ops = folded
    scalars = [o for o, s in ops if o.ndim == 0]
    if not scalars:
        return ops, factor
    if len(scalars) == 1 and not (isinstance(scalars[0], Map) and constant_part(scalars[0].expr)[0] != 1):
        return ops, factor
    prod = make_map(sp.Mul(*[placeholder(j) for j in range(len(scalars))]), scalars, ())
    c, rest = (constant_part(prod.expr) if isinstance(prod, Map) else (sp.S.One, None))
    if rest is not None:
        prod = make_map(rest, prod.operands, ()) if c != 1 else prod
    leaves_before = sum(len(o.operands) if isinstance(o, Map) else 1 for o in scalars)
    rest_ops = [] if (isinstance(prod, Map) and not prod.operands) else [prod]
    leaves_after = sum(len(o.operands) if isinstance(o, Map) else 1 for o in rest_ops)
    if c == 1 and leaves_after >= leaves_before:
        return ops, factor  # nothing folded or cancelled: keep the factors as they were
    if isinstance(prod, Map) and not prod.operands:
        c = c * prod.expr
    kept = [(o, s) for o, s in ops if o.ndim != 0]
    return [(o, []) for o in rest_ops] + kept, c * factor


def as_solve(ops: list, out: list):
    """A⁻¹ contracted with c on A⁻¹'s column index is the solve A⁻¹c: returns that node, or None."""
    if len(ops) != 2:
        return None
    (a, sa), (c, sc) = ops if isinstance(ops[0][0], Inv) else ops[::-1]
    if not isinstance(a, Inv) or isinstance(c, Inv) or c.ndim not in (1, 2) or len(set(sa)) != 2:
        return None
    i, j = sa
    if sc[0] != j or j in out or (c.ndim == 2 and (sc[1] == j or sc[1] == i)):
        return None
    if list(out) != [i] + list(sc[1:]):
        return None
    return Solve.new(a.operands[0], c)


def order_operands(ops: list, out: list) -> list:
    """Operands sorted by structure; equal operands by where their indices go in the output.

    The structural digest is computed only where the reading key ties between operands
    that are not named inputs (it costs a print of the operand's expression)."""
    if len(ops) < 2:
        return ops

    pos = {l: p for p, l in enumerate(out)}
    reading = [_reading_key(o) for o, _ in ops]
    counts: dict = {}
    for r in reading:
        counts[r] = counts.get(r, 0) + 1

    def key(k):
        o, s = ops[k]
        named = isinstance(o, (Tensor, Let))
        digest = "" if named or counts[reading[k]] == 1 else structural_key(o)
        return reading[k], digest, tuple(pos.get(l, len(out)) for l in s)

    return [ops[k] for k in sorted(range(len(ops)), key=key)]


def _reading_key(o):
    """Scalars first (``λw``), then higher ranks (``A_ij x_j``), identities last (``w_k δ_ij``);
    named inputs by name, then named intermediates, then the rest."""
    rank = (0 if o.ndim == 0 else 2 if isinstance(o, Eye) else 1, -o.ndim)
    if isinstance(o, Tensor):  # Latin names (data: X, y) before Greek ones (parameters: α, θ)
        return rank + (0, _is_greek(o.name), o.name)
    if isinstance(o, Let):
        return rank + (1, False, o.name)
    return rank + (2, False, "")


@functools.lru_cache(maxsize=None)
def _is_greek(name: str) -> bool:
    base = split_super_sub(name)[0]
    return base in greek_unicode or base in ("lam", "lamda", "Lam", "Lamda")


def _register() -> None:
    import sys

    from . import nodes

    nodes.register_stage(nodes.simplify, sys.modules[__name__])


_register()
