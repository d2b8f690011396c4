"""Reverse-mode calculus on the tensor graph: grad, jacobian, hessian, hvp, taylor.

Adjoints flow from the output to the inputs through each node's vector-Jacobian
product. Elementwise maps are differentiated by SymPy (``sympy.diff`` of the map's
scalar expression); contractions by index bookkeeping; structured nodes by their own
rules (:mod:`symml.structured`). Jacobians carry the output axes as a leading batch of
the adjoint, seeded with identities, so ``hessian`` is the Jacobian of the gradient and
``hvp`` the gradient of a directional derivative, as in JAX.

Named intermediates (``sm.let``) get named adjoints ``delta_<name>``: printed, these are
the δ equations of backpropagation. The other adjoints of a gradient pass are recorded in
:data:`ADJOINTS`, per result, without changing the graph, so that :mod:`symml.program` can
name an adjoint ``delta_z`` where it names the value ``z``.

Takes: graph nodes. Gives: graph nodes.
"""
from __future__ import annotations

from typing import Sequence

import sympy as sp
from sympy.core.function import ArgumentIndexError

from .nodes import (
    Einsum, Expr, Eye, Let, Map, Tensor, as_expr, const, fmt_shape, is_zero, leaves, make_einsum,
    make_map, placeholder, walk,
)
from .nodes import substitute as substitute_nodes


class DerivativeError(ValueError):
    """A derivative was asked of something that cannot be differentiated as requested."""


# --------------------------------------------------------------------------- vjp rules


def scalar_diff(expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """∂expr/∂x by SymPy's own rules, applied directly rather than through ``sympy.diff``.

    Each rule is the one SymPy applies (``Add`` term by term, ``Mul``'s general Leibniz rule
    for one derivative, ``Pow`` with a constant exponent, a function's ``fdiff`` times its
    argument's derivative), so the result is the same expression (a fuzz test compares them); what it skips is building a ``Derivative`` per subexpression, which was most
    of the time of deriving a small model. Anything with its own rule (Piecewise, Abs, …)
    goes to ``sympy.diff``.
    """
    if expr == x:
        return sp.S.One
    if x not in expr.free_symbols:
        return sp.S.Zero
    if expr.is_Add:
        return expr.func(*[scalar_diff(a, x) for a in expr.args])
    if expr.is_Mul:  # Mul's Leibniz rule for one derivative: a term per factor, multiplied n-ary
        args = expr.args
        terms = []
        for i in range(len(args)):
            da = scalar_diff(args[i], x)
            if da != 0:
                terms.append(sp.S.One * sp.Mul(*args[:i], da, *args[i + 1:]))
        return sp.Add(*terms)
    if expr.is_Pow and x not in expr.exp.free_symbols:
        return expr * (scalar_diff(expr.base, x) * expr.exp / expr.base)
    if (isinstance(expr, sp.Function) and type(expr)._eval_derivative is sp.Function._eval_derivative
            and type(expr)._eval_derivative_n_times is sp.Basic._eval_derivative_n_times):
        terms = []
        for i, a in enumerate(expr.args, 1):
            da = scalar_diff(a, x)
            if da != 0:
                try:
                    terms.append(expr.fdiff(i) * da)
                except ArgumentIndexError:  # no rule for this argument: SymPy's unevaluated form
                    return sp.diff(expr, x)
        return sp.Add(*terms)
    return sp.diff(expr, x)


def _einsum_vjp(node: Einsum, k: int, g: Expr, batch: tuple) -> Expr:
    b = [("b", j) for j in range(len(batch))]
    sizes = {("b", j): s for j, s in enumerate(batch)}
    sizes.update(enumerate(node.sizes))
    target = list(node.subs[k])
    ops, subs = [g], [b + list(node.out)]
    seen: set = set()
    for pos, lab in enumerate(target):  # a repeated index (a diagonal) scatters through δ
        if lab in seen:
            fresh = ("r", pos)
            sizes[fresh] = node.sizes[lab]
            ops.append(Eye.new(node.sizes[lab]))
            subs.append([lab, fresh])
            target[pos] = fresh
        seen.add(lab)
    for j, (o, s) in enumerate(zip(node.operands, node.subs)):
        if j != k:
            ops.append(o)
            subs.append(list(s))
    return make_einsum(ops, subs, b + target, sizes, node.coef)


def _map_vjp(node: Map, k: int, g: Expr, batch: tuple, saved: Expr | None = None) -> Expr:
    local = scalar_diff(node.expr, placeholder(k))
    if local == 0:
        return None
    op = node.operands[k]
    if saved is not None and local.has(node.expr):
        # the derivative reuses the named forward value, as autodiff saves outputs:
        # tanh' = 1 − h², σ' = p(1 − p), exp' = the value itself; computed once, printed as such
        m = len(node.operands)
        local = local.xreplace({node.expr: placeholder(m)})
        lm = make_map(local, [*node.operands, saved], node.shape)
        b = [("b", j) for j in range(len(batch))]
        s = [("s", j) for j in range(node.ndim)]
        sizes = {("b", j): v for j, v in enumerate(batch)}
        sizes.update({("s", j): v for j, v in enumerate(node.shape)})
        if not batch and op.shape == node.shape:
            return make_map(placeholder(0) * placeholder(1), [g, lm], node.shape)
        return make_einsum([g, lm], [b + s, s], b + (s if op.shape else []), sizes)
    if not batch and op.shape == node.shape:
        return make_map(placeholder(0) * local.xreplace({placeholder(i): placeholder(i + 1) for i in range(len(node.operands))}),
                        [g, *node.operands], node.shape)
    lm = make_map(local, node.operands, node.shape)
    b = [("b", j) for j in range(len(batch))]
    s = [("s", j) for j in range(node.ndim)]
    sizes = {("b", j): v for j, v in enumerate(batch)}
    sizes.update({("s", j): v for j, v in enumerate(node.shape)})
    return make_einsum([g, lm], [b + s, s], b + (s if op.shape else []), sizes)


def _let_vjp(node: Let, k: int, g: Expr, batch: tuple) -> Expr:
    return g


def vjp(node: Expr, k: int, g: Expr, batch: tuple, saved: Expr | None = None):
    """The adjoint of operand ``k`` of ``node`` given the node's adjoint ``g``.

    ``saved`` is a named intermediate (``sm.let``) holding the node's own value, which an
    elementwise derivative may reuse instead of recomputing it.
    """
    if isinstance(node, Einsum):
        return _einsum_vjp(node, k, g, batch)
    if isinstance(node, Map):
        return _map_vjp(node, k, g, batch, saved)
    if isinstance(node, Let):
        return _let_vjp(node, k, g, batch)
    rule = getattr(node, "vjp", None)
    if rule is None:
        raise DerivativeError(f"no derivative rule for {type(node).__name__}")
    return rule(k, g, batch)


def add(a: Expr | None, b: Expr | None) -> Expr | None:
    if a is None or is_zero(a):
        return b
    if b is None or is_zero(b):
        return a
    return make_map(placeholder(0) + placeholder(1), [a, b], a.shape)


# --------------------------------------------------------------------------- backprop

#: result uid → {adjoint uid: uids of the values it is the adjoint of}, for the results of
#: gradient passes (no batch): which nodes of a gradient's graph are adjoints, and of what.
#: Keyed by result, so that one model's adjoints never name nodes that another shares. A pass
#: that differentiates a derivative (hessian's, hvp's) records nothing: δ_z means ∂L/∂z.
ADJOINTS: dict[int, dict[int, list[int]]] = {}


def _record_adjoint(seen: dict, node: Expr, g: Expr) -> None:
    if isinstance(node, (Tensor, Let)) or isinstance(g, (Tensor, Let)) or (isinstance(g, Map) and not g.operands):
        return
    of = seen.setdefault(g.uid, [])
    if node.uid not in of:
        of.append(node.uid)


def backprop(y: Expr, targets: Sequence[Tensor], seed: Expr, batch: tuple, name_adjoints: bool = True,
             record: bool = True):
    """Propagate ``seed`` (the adjoint of y, shape batch + y.shape) back to ``targets``.

    ``record``: note the adjoints of this pass in :data:`ADJOINTS` (a gradient pass, no
    batch, of a function that is not itself a derivative).
    """
    # a pass that differentiates a derivative (record=False: hessian's, hvp's) names its adjoints
    # delta2_v, never delta_v: δ_v keeps meaning ∂L/∂v (program.py, printing: δ̄_v)
    prefix = "delta_" if record else "delta2_"
    order = walk([y])
    adj: dict[int, Expr] = {y.uid: seed}
    result: dict[int, Expr] = {}
    target_ids = {t.uid for t in targets}
    named = {n.body.uid: n for n in order if isinstance(n, Let)}  # a value's name, for reuse in derivatives
    seen: dict[int, list[int]] = {}  # adjoint uid → the values it is the adjoint of
    record = record and name_adjoints and not batch
    for node in reversed(order):
        g = adj.pop(node.uid, None)
        if g is None or is_zero(g):
            continue
        if node.uid in target_ids:
            result[node.uid] = g
        if record:
            _record_adjoint(seen, node, g)
        if isinstance(node, Let) and name_adjoints and not isinstance(g, (Tensor, Let)):
            g = Let.new(prefix + node.name, g)
        for k, op in enumerate(node.operands):
            if isinstance(op, Map) and not op.operands:
                continue  # constants have no adjoint
            c = vjp(node, k, g, batch, named.get(node.uid))
            if c is not None:
                adj[op.uid] = add(adj.get(op.uid), c)
    out = []
    for t in targets:
        r = result.get(t.uid)
        out.append(r if r is not None else const(0, tuple(batch) + t.shape))
        if r is not None and seen:
            known = ADJOINTS.setdefault(r.uid, {})
            for a, of in seen.items():
                known.setdefault(a, of)
    return out


def _targets(f: Expr, wrt, verb: str):
    """The tensors to differentiate with respect to, and whether a list was given.

    A target that ``f`` does not read is valid: its derivative is zero (as in JAX), shaped
    like the target. Only what is not an input tensor at all is refused.
    """
    many = isinstance(wrt, (list, tuple))
    ts = list(wrt) if many else [wrt]
    if not ts:
        raise DerivativeError(f"sm.{verb}: give at least one tensor to differentiate with respect to")
    for t in ts:
        if not isinstance(t, Tensor):
            raise DerivativeError(
                f"sm.{verb}: can only differentiate with respect to an input tensor from sm.tensor/sm.scalar, "
                f"got {type(t).__name__}"
            )
    return ts, many


#: Where a derivative came from, by node uid: (verb, of, wrt, direction), most recent last.
#: ``verb`` is "grad", "jacobian" or "hvp"; a Hessian block is the Jacobian of a gradient.
#: Verification (``sm.check``, ``CompiledKernel.check``) reads it to know what each
#: derivative must agree with; nothing else does.
ORIGINS: dict[int, list[tuple]] = {}


def _record(result: Expr, verb: str, of: Expr, wrt: Tensor, direction=None) -> Expr:
    entry = (verb, of, wrt, direction)
    seen = ORIGINS.setdefault(result.uid, [])
    if entry in seen:
        seen.remove(entry)
    seen.append(entry)
    return result


def origins(expr: Expr) -> list[tuple]:
    """The recorded (verb, of, wrt, direction) origins of a derivative, most recent first."""
    return list(reversed(ORIGINS.get(as_expr(expr).uid, [])))


def _check_scalar(f, verb):
    f = as_expr(f)
    if f.ndim != 0:
        raise DerivativeError(
            f"sm.{verb} needs a scalar expression, got shape {fmt_shape(f.shape)}; use sm.jacobian for tensor outputs"
        )
    return f


def grad(f, wrt):
    """∇f with respect to one tensor (result has its shape) or a list of tensors (a tuple).

    >>> import symml as sm
    >>> d = sm.dims("d")
    >>> w, b = sm.tensor("w", (d,)), sm.scalar("b")
    >>> sm.grad(sm.norm2(w), w).shape
    (d,)
    >>> sm.grad(sm.norm2(w), b)   # b is not read: the derivative is zero, shaped like b
    0
    """
    f = _check_scalar(f, "grad")
    ts, many = _targets(f, wrt, "grad")
    gs = [_record(g, "grad", f, t) for g, t in zip(backprop(f, ts, const(1), ()), ts)]
    return tuple(gs) if many else gs[0]


def value_and_grad(f, wrt):
    """(f, ∇f), sharing the forward pass when compiled."""
    return as_expr(f), grad(f, wrt)


def _identity(shape: tuple) -> Expr:
    """δ over every axis: the seed of shape ``shape + shape``."""
    if not shape:
        return const(1)
    ops = [Eye.new(s) for s in shape]
    subs = [[("o", k), ("i", k)] for k in range(len(shape))]
    sizes = {}
    for k, s in enumerate(shape):
        sizes[("o", k)] = s
        sizes[("i", k)] = s
    return make_einsum(ops, subs, [("o", k) for k in range(len(shape))] + [("i", k) for k in range(len(shape))], sizes)


def jacobian(f, wrt):
    """∂f/∂x with shape f.shape + x.shape (a tuple of them for a list of targets)."""
    f = as_expr(f)
    ts, many = _targets(f, wrt, "jacobian")
    js = [_record(j, "jacobian", f, t) for j, t in zip(backprop(f, ts, _identity(f.shape), f.shape), ts)]
    return tuple(js) if many else js[0]


def hessian(f, wrt):
    """∇²f: the Jacobian of the gradient, shape x.shape + x.shape.

    With a list of targets, a tuple of rows of blocks ``H[i][j] = ∂²f/∂x_i∂x_j``.
    """
    f = _check_scalar(f, "hessian")
    ts, many = _targets(f, wrt, "hessian")
    if not many:
        return _jac_or_zero(grad(f, ts[0]), ts[0])
    gs = grad(f, ts)
    return tuple(tuple(_jac_or_zero(g, t) for t in ts) for g in gs)


def _jac_or_zero(g, t):
    if t.uid not in {l.uid for l in leaves(g)}:
        return _record(const(0, g.shape + t.shape), "jacobian", g, t)
    # jacobian(g, t), whose adjoints are a derivative's, not ∂L/∂v: not recorded as δ names
    return _record(backprop(g, [t], _identity(g.shape), g.shape, record=False)[0], "jacobian", g, t)


def hvp(f, wrt, v):
    """∇²f · v, computed as ∇(∇f · v) (reverse over reverse), never forming ∇²f."""
    f = _check_scalar(f, "hvp")
    ts, many = _targets(f, wrt, "hvp")
    vs = list(v) if many else [v]
    if len(vs) != len(ts):
        raise DerivativeError(f"sm.hvp: {len(ts)} targets but {len(vs)} directions")
    gs = grad(f, ts) if many else (grad(f, ts[0]),)
    total = None
    for g, vk, t in zip(gs, vs, ts):
        vk = as_expr(vk)
        if vk.shape != t.shape:
            raise DerivativeError(f"sm.hvp: direction has shape {fmt_shape(vk.shape)}, expected {t.name}'s {fmt_shape(t.shape)}")
        labels = list(range(t.ndim))
        total = add(total, make_einsum([g, vk], [labels, labels], [], {}))
    present = {l.uid for l in leaves(total)}
    res = [backprop(total, [t], const(1), (), record=False)[0] if t.uid in present else const(0, t.shape) for t in ts]
    direction = (tuple(ts), tuple(as_expr(x) for x in vs))
    res = [_record(r, "hvp", f, t, direction) for r, t in zip(res, ts)]
    return tuple(res) if many else res[0]


def substitute(expr: Expr, mapping: dict) -> Expr:
    """Replace input tensors by expressions of the same shape, rebuilding the graph."""
    for k, v in mapping.items():
        if not isinstance(k, Tensor):
            raise TypeError(f"substitute: keys must be input tensors, got {type(k).__name__}")
        if as_expr(v).shape != k.shape:
            raise ValueError(f"substitute: {k.name} has shape {fmt_shape(k.shape)}, replacement {fmt_shape(as_expr(v).shape)}")
    return substitute_nodes(expr, mapping)


def taylor(f, x, x0, order: int = 2) -> Expr:
    """The Taylor polynomial of scalar f in x about x0: Σ_k Dᵏf(x0)[x − x0]ᵏ / k!."""
    f = _check_scalar(f, "taylor")
    ts, many = _targets(f, x, "taylor")
    if many:
        raise DerivativeError(f"sm.taylor expands in one tensor, got a list of {len(ts)}; pass a single tensor")
    x = ts[0]
    x0 = as_expr(x0)
    if x0.shape != x.shape:
        raise DerivativeError(f"sm.taylor: x0 has shape {fmt_shape(x0.shape)}, expected {fmt_shape(x.shape)}")
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise DerivativeError(f"sm.taylor: order must be a non-negative int, got {order!r}")
    h = Tensor._make(("_h", x.shape), (), x.shape, name="_h")
    labels = list(range(x.ndim))
    term, total, fact = f, f, 1
    for k in range(1, order + 1):
        if x.uid not in {l.uid for l in leaves(term)}:
            break
        g = backprop(term, [x], const(1), (), name_adjoints=False)[0]
        term = make_einsum([g, h], [labels, labels], [], {})
        fact *= k
        total = add(total, make_map(placeholder(0) / fact, [term]))
    shifted = substitute(total, {x: x0})
    return substitute(shifted, {h: x - x0})
