"""Polynomial normal form of tensor expressions: expand, collect like terms.

A dual is obtained by substituting a solution such as w = Xᵀ(α ⊙ y) back into a
Lagrangian. The result holds ½‖Xᵀ(α ⊙ y)‖² and −αᵀ(y ⊙ XXᵀ(α ⊙ y)) as different
graph nodes, which SymPy cannot combine, and the Gram matrix XXᵀ is hidden inside a
square and an elementwise map. :func:`expand` rewrites an expression as a sum of
monomials, each a coefficient times one contraction of *atoms* (input tensors,
identities, non-polynomial maps such as exp(·), structured nodes such as A⁻¹c), with
the contraction's operands in a canonical order. Equal monomials are then the same
interned node, so like terms combine (½ t − t = −½ t), and every product of two rows of
X, xᵢᵀxⱼ, is visible as one pair of operands of an einsum (what
:func:`symml.duality.kernels.kernelize` looks for).

Decisions:
- A map's scalar expression is expanded only where it is polynomial in its operands
  (integer powers); everything else (exp, log, 1/t, a power of a sum) is kept as an atom,
  whose own operands are normalised recursively. A negative power of a rank-0 operand
  (1/λ) is an atom of rank 0, so it stays a scalar factor of the monomial.
- A map (or a contraction) whose expansion would exceed :data:`MAX_TERMS` monomials is
  kept whole, as one atom: normalising must never blow an expression up.
- Canonical order: operands are sorted by a digest of their structure (never by creation
  order, so generated code is reproducible); among equal operands all orders are
  tried (up to :data:`MAX_PERMUTATIONS`) and the smallest index pattern is kept, so that
  (α⊙y)ᵀXXᵀ(α⊙y) and ‖Xᵀ(α⊙y)‖² become one node.

Takes: graph nodes. Gives: graph nodes (equal in value).
"""
from __future__ import annotations

import hashlib
import itertools
import math

import sympy as sp

from ..structured import LogSumExp, Solve, softmax_of
from ..nodes import (
    Einsum, Expr, Eye, Let, Map, Tensor, as_expr, const, make_einsum, make_map, placeholder, rebuild, transform, walk,
)

__all__ = ["expand", "monomials", "assemble", "stabilize"]

#: The most monomials one node may expand into before it is kept as an atom.
MAX_TERMS = 64
#: The most operand orders tried when canonicalising one contraction.
MAX_PERMUTATIONS = 720

Term = tuple  # (coefficient: sp.Expr, monomial: Expr of coefficient 1)


def expand(expr, symmetric=(), stable: bool = True) -> Expr:
    """``expr`` as a collected sum of monomials (see the module docstring); equal in value.

    Args:
        expr: any tensor expression.
        symmetric: square matrices (input tensors) known to be symmetric: S_ji is read as
            S_ij, so that Sᵀw and Sw are one monomial. The result equals ``expr`` only for
            symmetric values of them.

    Returns:
        An expression of the same shape.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, v = sm.tensor("X", (n, d)), sm.tensor("v", (n,))
    >>> sm.pretty(expand(sm.norm2(X.T @ v) / 2 - v @ (X @ (X.T @ v))))
    '−vᵀXXᵀv/2'
    """
    expr = as_expr(expr)
    out = assemble(monomials(expr, symmetric), expr.shape)
    return stabilize(out) if stable else out


def monomials(expr, symmetric=()) -> list[Term]:
    """[(c, m)] with expr = Σ c·m: numeric (or size) coefficients c, distinct monomials m."""
    expr = as_expr(expr)
    memo: dict[int, list[Term]] = {}
    global _SYMMETRIC
    saved, _SYMMETRIC = _SYMMETRIC, frozenset(t.uid for t in symmetric)
    try:
        for node in walk([expr]):
            memo[node.uid] = _terms(node, memo)
    finally:
        _SYMMETRIC = saved
    return _collect(memo[expr.uid])


#: uids of the tensors read as symmetric during one call of :func:`monomials`
_SYMMETRIC: frozenset = frozenset()


def _terms(node: Expr, memo) -> list[Term]:
    """The monomials of ``node`` (its operands' are in ``memo``)."""
    if isinstance(node, (Tensor, Eye)):
        return [(sp.Integer(1), node)]
    if isinstance(node, Let):
        return memo[node.body.uid]
    if isinstance(node, Map):
        return _map_terms(node, memo)
    if isinstance(node, Einsum):
        return _einsum_terms(node, memo)
    if isinstance(node, Solve):  # A⁻¹c is linear in c: A⁻¹(Σ sₖmₖ) = Σ sₖ A⁻¹mₖ, scalars sₖ pulled out
        A = assemble(memo[node.operands[0].uid], node.operands[0].shape)
        labels = list(range(node.ndim))
        out = []
        for c, m in memo[node.operands[1].uid]:
            scalars, rest = _split_scalars(m)
            e = make_einsum(scalars + [Solve.new(A, rest)], [[] for _ in scalars] + [labels], labels,
                            dict(enumerate(node.shape)))
            out.append(_canonical(c, e))
        return out
    # a structured node: an atom over normalised operands
    ops = [assemble(memo[o.uid], o.shape) for o in node.operands]
    return [(sp.Integer(1), rebuild(node, ops))]


def _split_scalars(m: Expr):
    """([rank-0 factors], the rest) of a monomial: ν𝟏 is ([ν], 𝟏)."""
    if isinstance(m, Einsum):
        scalars = [o for o in m.operands if o.ndim == 0]
        if not scalars:
            return [], m
        tensors = [(o, list(s)) for o, s in zip(m.operands, m.subs) if o.ndim]
        if not tensors:
            return scalars, const(1, m.shape)
        return scalars, make_einsum([o for o, _ in tensors], [s for _, s in tensors], list(m.out),
                                    dict(enumerate(m.sizes)), m.coef)
    if isinstance(m, Map) and m.ndim and all(o.ndim == 0 for o in m.operands):
        return [make_map(m.expr, m.operands, ())], const(1, m.shape)
    return [], m


def _collect(terms: list[Term]) -> list[Term]:
    """Like terms combined (monomials are interned: equal ones are one node); zeros dropped."""
    collected: dict[int, list] = {}
    for c, m in terms:
        if m.uid in collected:
            collected[m.uid][0] += c
        else:
            collected[m.uid] = [c, m]
    return [(c, m) for c, m in ((sp.expand(c), m) for c, m in collected.values()) if c != 0]


def assemble(terms: list[Term], shape) -> Expr:
    """Σ c·m as one node of ``shape``: a map over the monomials (or a monomial itself)."""
    items = _collect(terms)
    if not items:
        return const(0, shape)
    expr = sp.Add(*[c * placeholder(k) for k, (c, _) in enumerate(items)])
    return make_map(expr, [_regroup(m) for _, m in items], shape)


def _regroup(m: Expr) -> Expr:
    """A monomial with its vectors on one index multiplied first: Σᵢ αᵢyᵢXᵢₖ is Xᵀ(α ⊙ y),
    which prints as it is written (the value and the other operands are unchanged)."""
    if not isinstance(m, Einsum):
        return m
    by_label: dict = {}
    for k, (o, s) in enumerate(zip(m.operands, m.subs)):
        if o.ndim == 1:
            by_label.setdefault(s[0], []).append(k)
    wide = {lab for o, s in zip(m.operands, m.subs) if o.ndim > 1 for lab in s}
    groups = [ks for lab, ks in by_label.items() if len(ks) > 1 and lab in wide]  # αᵀy stays a dot
    if not groups:
        return m
    grouped = {k for ks in groups for k in ks}
    ops, subs = [], []
    for k, (o, s) in enumerate(zip(m.operands, m.subs)):
        if k not in grouped:
            ops.append(o)
            subs.append(list(s))
    for ks in groups:
        ops.append(make_map(sp.Mul(*[placeholder(j) for j in range(len(ks))]), [m.operands[k] for k in ks]))
        subs.append(list(m.subs[ks[0]]))
    return make_einsum(ops, subs, list(m.out), dict(enumerate(m.sizes)), m.coef)


# --------------------------------------------------------------------------- maps


def _map_terms(node: Map, memo) -> list[Term]:
    if not node.operands:
        return [(node.expr, const(1, node.shape))] if node.expr != 0 else []
    atoms: dict = {}

    def hide(e):
        """Replace non-polynomial subexpressions by dummies (atoms)."""
        if e.is_Number or e in placeholder_set:
            return e
        if isinstance(e, (sp.Add, sp.Mul)):
            return e.func(*[hide(a) for a in e.args])
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 0:
            return sp.Pow(hide(e.base), e.exp)
        if e.free_symbols and not (e.free_symbols & placeholder_set):
            return e  # a size such as n
        # a named symbol, not a Dummy: Dummies order by creation, which would make output vary
        return atoms.setdefault(e, sp.Symbol(f"_atom{len(atoms)}"))

    placeholder_set = {placeholder(i) for i in range(len(node.operands))}
    poly = sp.expand(hide(node.expr))
    inverse = {v: k for k, v in atoms.items()}
    orig = node.operands
    if atoms:  # atoms read normalised operands (X pairs inside exp(·) are visible too)
        node = Map.raw(node.expr, [assemble(memo[o.uid], o.shape) for o in orig], node.shape)
    expanded = []
    for mono in sp.Add.make_args(poly):
        c, factors = mono.as_coeff_mul()
        parts: list[list[Term]] = []
        for f in factors:
            base, k = f.as_base_exp()
            if base in inverse:
                atom = _atom(inverse[base], node)
                parts.extend([[(sp.Integer(1), atom)]] * int(k) if k.is_Integer and k > 0 else
                             [[(sp.Integer(1), _atom(f.xreplace(inverse), node))]])
            elif base in placeholder_set and k.is_Integer and k > 0:
                sub = memo[orig[_slot(base)].uid]
                parts.extend([sub] * int(k))
            elif not (f.free_symbols & placeholder_set) and not (f.free_symbols & set(inverse)):
                c = c * f  # a size
            else:
                parts.append([(sp.Integer(1), _atom(f.xreplace(inverse), node))])
        expanded.append((c, parts))
    if sum(math.prod(len(p) for p in parts) for _, parts in expanded) > MAX_TERMS:
        # keep the map whole rather than blow it up: one atom over normalised operands
        return [(sp.Integer(1), make_map(node.expr, [assemble(memo[o.uid], o.shape) for o in orig], node.shape))]
    return [t for c, parts in expanded for t in _product(c, parts, node.shape)]


def _slot(ph: sp.Symbol) -> int:
    return int(ph.name[2:])


def _atom(e: sp.Expr, node: Map) -> Expr:
    """A non-polynomial factor as a map of its own (rank 0 when it uses only scalars)."""
    used = [i for i in range(len(node.operands)) if placeholder(i) in e.free_symbols]
    e = e.xreplace({placeholder(i): placeholder(k) for k, i in enumerate(used)})
    ops = [node.operands[i] for i in used]
    return make_map(e, ops, () if all(o.ndim == 0 for o in ops) else node.shape)


def _product(c, parts: list[list[Term]], shape) -> list[Term]:
    """Distribute an elementwise product of sums of monomials (all of ``shape`` or rank 0)."""
    out = []
    labels = list(range(len(shape)))
    for combo in itertools.product(*parts):
        coef = c * sp.Mul(*[t[0] for t in combo])
        ms = [t[1] for t in combo]
        if not ms:
            out.append(_canonical(coef, const(1, shape)))
            continue
        e = make_einsum(ms, [labels if m.ndim else [] for m in ms], labels, dict(enumerate(shape)))
        out.append(_canonical(coef, e))
    return out


# --------------------------------------------------------------------------- contractions


def _einsum_terms(node: Einsum, memo) -> list[Term]:
    parts = [memo[o.uid] for o in node.operands]
    total = math.prod(len(p) for p in parts)
    sizes = dict(enumerate(node.sizes))
    if total > MAX_TERMS:
        ops = [assemble(p, o.shape) for p, o in zip(parts, node.operands)]
        return [_canonical(sp.Integer(1), make_einsum(ops, [list(s) for s in node.subs], list(node.out), sizes,
                                                      node.coef))]
    out = []
    for combo in itertools.product(*parts):
        coef = node.coef * sp.Mul(*[t[0] for t in combo])
        e = make_einsum([t[1] for t in combo], [list(s) for s in node.subs], list(node.out), sizes)
        out.append(_canonical(coef, e))
    return out


def _canonical(coef, e: Expr) -> Term:
    """(coef', e') with e' a coefficient-1 contraction in canonical operand order."""
    if isinstance(e, Map) and not e.operands:  # a constant
        return coef * e.expr, const(1, e.shape)
    if not isinstance(e, Einsum):
        return coef, e
    coef = coef * e.coef
    sizes = dict(enumerate(e.sizes))
    scalars = [o for o in e.operands if o.ndim == 0]
    tensors = [(o, list(sub)) for o, sub in zip(e.operands, e.subs) if o.ndim]
    if scalars and (e.ndim == 0 and tensors or len(scalars) > 1 or any(isinstance(o, Map) for o in scalars)):
        # the scalar factors as one SymPy product, so that λ·λ·(1/λ) is λ, and (1/s)·s is 1
        # when the rest contracts to s
        if e.ndim == 0 and tensors:
            c2, rest = _canonical(sp.Integer(1), make_einsum([o for o, _ in tensors], [s for _, s in tensors],
                                                              [], sizes))
            factors = scalars + [rest]
        else:
            c2, factors = sp.Integer(1), scalars
        prod = make_map(sp.Mul(*[placeholder(k) for k in range(len(factors))]), factors, ())
        if e.ndim == 0 and tensors:
            return (coef * c2 * prod.expr, const(1, ())) if isinstance(prod, Map) and not prod.operands \
                else (coef * c2, prod)
        e = make_einsum([prod] + [o for o, _ in tensors], [[]] + [s for _, s in tensors], list(e.out), sizes)
        if not isinstance(e, Einsum):
            return _canonical(coef, e)
        coef = coef * e.coef
    items = sorted(zip(e.operands, e.subs), key=lambda t: signature(t[0]))
    groups = [list(g) for _, g in itertools.groupby(items, key=lambda t: t[0].uid)]
    sizes = dict(enumerate(e.sizes))
    best = None
    n_orders = math.prod(math.factorial(len(g)) for g in groups)
    orders = itertools.product(*[itertools.permutations(g) for g in groups]) if n_orders <= MAX_PERMUTATIONS \
        else [tuple(groups)]
    flips = [k for k, (o, _) in enumerate(items) if o.uid in _SYMMETRIC and o.ndim == 2]
    for order in orders:
        flat = [it for g in order for it in g]
        flippable = [k for k, (o, _) in enumerate(flat) if o.uid in _SYMMETRIC and o.ndim == 2][:6]
        for mask in range(2 ** len(flippable) if flips else 1):
            cand = [(o, tuple(reversed(s)) if k in flippable and mask >> flippable.index(k) & 1 else s)
                    for k, (o, s) in enumerate(flat)]
            key = _pattern([s for _, s in cand], e.out)
            if best is None or key < best[0]:
                best = (key, cand)
    flat = best[1]
    return coef, make_einsum([o for o, _ in flat], [list(s) for _, s in flat], list(e.out), sizes)


_SIGNATURES: dict[int, str] = {}


def signature(node: Expr) -> str:
    """A digest of a node's structure (names, shapes, expressions), independent of the order in
    which nodes were created: canonical orders built on it make generated code reproducible."""
    hit = _SIGNATURES.get(node.uid)
    if hit is not None:
        return hit
    for n in walk([node]):
        if n.uid in _SIGNATURES:
            continue
        if isinstance(n, Tensor):
            head = f"T|{n.name}|{n.shape}"
        elif isinstance(n, Map):
            head = f"M|{sp.srepr(n.expr)}|{n.shape}"
        elif isinstance(n, Einsum):
            head = f"E|{n.subs}|{n.out}|{n.sizes}|{sp.srepr(n.coef)}"
        else:
            attrs = [f"{k}={getattr(n, k)!r}" for c in type(n).__mro__ for k in getattr(c, "__slots__", ())
                     if k not in ("shape", "operands", "uid", "__weakref__")]
            head = f"{type(n).__name__}|{n.shape}|{','.join(attrs)}"
        body = head + "(" + ",".join(_SIGNATURES[o.uid] for o in n.operands) + ")"
        _SIGNATURES[n.uid] = hashlib.sha1(body.encode()).hexdigest()
    return _SIGNATURES[node.uid]


def _pattern(subs, out) -> tuple:
    """The index pattern with labels renumbered by first appearance (output first)."""
    canon: dict = {}
    for l in list(out) + [l for s in subs for l in s]:
        canon.setdefault(l, len(canon))
    return tuple(tuple(canon[l] for l in s) for s in subs)


# --------------------------------------------------------------------------- stable forms


def stabilize(expr: Expr) -> Expr:
    """Rewrite the log-partition patterns that duals of entropy problems produce into the
    stable nodes the kernels compute without overflow (a max shift), equal in value:

    - log Σₖ exp(zₖ) → logsumexp(z), anywhere inside an elementwise expression;
    - exp(z) / Σₖ exp(zₖ) → softmax(z).

    Only vectors z are rewritten (the pattern Σ over a vector's one axis).
    """
    def stable(node, ops):
        out = rebuild(node, ops)
        if isinstance(out, Map):
            return _stable_map(out)
        if isinstance(out, Einsum):
            return _stable_softmax(out)
        return out

    return transform([as_expr(expr)], stable)[0]


def _sum_of_exp(e: Expr):
    """z when e is Σₖ exp(zₖ) over a vector z, else None."""
    if isinstance(e, Einsum) and not e.out and e.coef == 1 and len(e.operands) == 1:
        m = e.operands[0]
        if isinstance(m, Map) and m.ndim == 1 and isinstance(m.expr, sp.exp):
            return make_map(m.expr.args[0], m.operands, m.shape)
    return None


def _stable_map(node: Map) -> Expr:
    repl, ops = {}, list(node.operands)
    for k, o in enumerate(node.operands):
        z = _sum_of_exp(o)
        if z is None:
            continue
        t, j = placeholder(k), len(ops)
        logged = node.expr.replace(lambda e: isinstance(e, sp.log) and e.args[0] == t, lambda e: placeholder(j))
        if t in logged.free_symbols:
            continue  # s is used other than as log s: keep it (the solvers see through sums, not lse)
        ops.append(LogSumExp.new(z, 0))
        repl[t] = placeholder(j)
    if not repl:
        return node
    expr = node.expr.replace(lambda e: isinstance(e, sp.log) and e.args[0] in repl, lambda e: repl[e.args[0]])
    return make_map(expr, ops, node.shape)


def _stable_softmax(node: Einsum) -> Expr:
    if len(node.operands) != 2 or node.ndim != 1:
        return node
    (a, sa), (b, sb) = zip(node.operands, node.subs)
    if a.ndim:
        (a, sa), (b, sb) = (b, sb), (a, sa)
    if not (isinstance(a, Map) and a.ndim == 0 and len(a.operands) == 1 and list(sb) == list(node.out)):
        return node
    z = _sum_of_exp(a.operands[0])
    if z is None or not (isinstance(b, Map) and isinstance(b.expr, sp.exp)) \
            or make_map(b.expr.args[0], b.operands, b.shape) is not z:
        return node
    c = a.expr * placeholder(0)  # c / s
    if c.free_symbols:
        c = sp.simplify(a.expr * placeholder(0))
    if c.free_symbols:  # a scalar function of s other than c/s
        return node
    return make_map(node.coef * c * placeholder(0), [softmax_of(z, 0)], node.shape)
