"""Plans that keep the memory and the work of a computation bounded by the problem.

Two decisions are made here, once, for both ways a graph is computed (the numpy evaluator
and the emitted kernels):

- :func:`bounded` rebuilds a graph so that no contraction reads an elementwise *sum* that
  is larger than everything it is made of. Differentiating twice through a product of
  per-sample values makes such sums: the Hessian block ∂²L/∂P∂μ of a Gaussian negative
  log-likelihood ½ Σᵢ (xᵢ − μ)ᵀP(xᵢ − μ) is −½ Σᵢ (δ_ac rᵢ_b + rᵢ_a δ_bc), and as built by
  the calculus the sum inside is a (d, d, n, d) array, the sample axis still in it. A
  contraction is linear, so Σᵢ (A + B) = Σᵢ A + Σᵢ B: each term is contracted on its own,
  the sample axis goes first, and what remains is O(n·d + d³). The rewrite applies to any
  contraction of a linear map (a sum of products of contractions with constant
  coefficients) whose size no operand of its terms reaches; a map made of something at
  least as large (z − y with z = Xw reads X) is left alone, since splitting it would only
  compute z twice. The same split serves a plain sum over rows of terms of one sign where a
  term is a matrix product that nothing else reads: the Gaussian's ∂L/∂μ is
  −½ Σᵢ (rᵢP + rᵢPᵀ), and Σᵢ rᵢPᵀ is (Σᵢ rᵢ)Pᵀ (:func:`presummed`), without the n × d product.
  A contraction reads a named multiple of one value (δz = r/2) as that value, the number in its
  coefficient, so that rᵀδz is the Gram product rᵀr/2 (BLAS syrk, half the work).
- :func:`factor_plan` says which square matrices are read by several of log det, det,
  solve and inverse, so that one factorisation serves them all, and whether a Cholesky
  factorisation is worth trying first (:func:`spd_hint`: a declared positive definite
  tensor, XᵀX + λI, K + σ²I with K one of those). The hint is only about speed: a
  factorisation that tries Cholesky falls back to LU when the matrix is not symmetric or
  Cholesky fails, so a wrong hint never gives a wrong number.

Takes: graph nodes. Gives: graph nodes, and facts about them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .nodes import Einsum, Expr, Eye, Let, Map, Tensor, make_einsum, make_map, placeholder, rebuild, transform, walk
from .simplify import is_positive_definite, is_symmetric
from .structured import Det, Inv, LogDet, Solve

__all__ = ["bounded", "is_monomial", "size_leq", "linear_terms", "factor_plan", "planned_order", "FactorPlan",
           "spd_hint"]


# --------------------------------------------------------------------------- sizes


def _count(shape) -> sp.Expr:
    return sp.Mul(*shape) if shape else sp.Integer(1)


def is_monomial(e) -> bool:
    """Whether a symbolic size is a number times a product of powers of dimensions (n·d², 3d),
    the sizes :func:`size_leq` can compare."""
    coeff, rest = sp.sympify(e).as_coeff_Mul()
    return coeff.is_number and all(b.is_Symbol and x.is_number for b, x in rest.as_powers_dict().items() if b != 1)


def size_leq(a, b) -> bool:
    """Whether the symbolic size ``a`` is at most ``b`` for every value of the dimensions ≥ 1.

    Sizes are products of dimensions (n·d², 3·d); b/a must then be a product of dimensions
    with non-negative powers times a number ≥ 1. Anything else (a size with a sum in it) is
    not comparable, and reads as False.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> size_leq(n * d, n * d**3), size_leq(n * d**3, n * d), size_leq(d**2, n * d)
    (True, False, False)
    """
    r = sp.powsimp(sp.sympify(b) / sp.sympify(a))
    coeff, rest = r.as_coeff_Mul()
    if not (coeff.is_number and coeff >= 1):
        return False
    for base, e in rest.as_powers_dict().items():
        if base == 1:
            continue
        if not (base.is_Symbol and e.is_number and e >= 0):
            return False
    return True


# --------------------------------------------------------------------------- linear maps


def linear_terms(node: Map):
    """The terms of a map that is a sum of products of its operands, each operand at most once
    in a term, with coefficients free of operands: [(coefficient, [operand index, ...])], or
    None for any other map (a σ, a square, a quotient)."""
    expr = sp.expand(node.expr)
    slots = {placeholder(j): j for j in range(len(node.operands))}
    out = []
    for term in sp.Add.make_args(expr):
        coef, idx = sp.S.One, []
        for f in sp.Mul.make_args(term):
            if f in slots:
                idx.append(slots[f])
            elif f.free_symbols & set(slots):
                return None  # a power, a function of an operand
            else:
                coef *= f
        if len(set(idx)) != len(idx):
            return None
        out.append((coef, idx))
    return out


def _ingredients(op: Expr) -> list:
    """The sizes that computing ``op`` needs as arrays: its operands' if it is a contraction
    (which may broadcast them), else its own."""
    if isinstance(op, Einsum):
        return [_count(o.shape) for o in op.operands]
    return [_count(op.shape)]


def _blows_up(m: Map, out_size) -> bool:
    """Whether the map is larger than each of the arrays its terms are made of, and than the
    contraction that reads it: building it costs memory that the problem does not need."""
    size = _count(m.shape)
    if not is_monomial(size) or size_leq(size, out_size):
        return False
    return not any(size_leq(size, s) for op in m.operands for s in _ingredients(op))


def _own_indices(e: Einsum) -> list[tuple[int, list]]:
    """(operand position, the indices kept) for each matrix operand of ``e`` that alone carries an
    index the result lacks (the indices kept: its others, in order)."""
    if len(e.operands) < 2:
        return []
    counts: dict = {}
    for s in e.subs:
        for lab in set(s):
            counts[lab] = counts.get(lab, 0) + 1
    found = []
    for k, (o, s) in enumerate(zip(e.operands, e.subs)):
        keep = [lab for lab in s if counts[lab] > 1 or lab in e.out]
        if o.ndim >= 2 and 0 < len(keep) < len(s) and len(set(s)) == len(s):
            found.append((k, keep))
    return found


def presummed(e: Expr) -> Expr:
    """``e`` with each matrix operand first summed over the indices that it alone carries and the
    result lacks: Σ_n Σ_k P_ik u_nk is P·(Σ_n u), n·d + d² operations where the contraction as
    written takes n·d². The partial sum is a named intermediate (``rowsum``), so that it is not
    flattened back into ``e``; ``e`` itself where no operand has such an index."""
    own = _own_indices(e) if isinstance(e, Einsum) else []
    if not own:
        return e
    sizes = dict(enumerate(e.sizes))
    ops, subs = list(e.operands), [list(s) for s in e.subs]
    for k, keep in own:
        ops[k] = Let.new("rowsum", make_einsum([ops[k]], [subs[k]], keep, sizes))
        subs[k] = keep
    return make_einsum(ops, subs, list(e.out), sizes, e.coef)


def _opened(o: Expr, shared) -> Expr:
    """A named contraction that nothing else reads, as its contraction (which a contraction of it
    then flattens); ``o`` itself otherwise."""
    while isinstance(o, Let) and o.uid not in shared and isinstance(o.body, (Let, Einsum)):
        o = o.body
    return o


def _scales_opened(e: Expr) -> Expr:
    """``e`` with each operand that is a named multiple of one value (δz = u/2) read as that
    value, its number taken into the contraction's coefficient: uᵀδz is then the Gram product
    uᵀu/2, half the work on BLAS syrk, and no array holds u/2 for it."""
    if not isinstance(e, Einsum):
        return e
    ops = list(e.operands)
    for j, o in enumerate(ops):
        body = o.body if isinstance(o, Let) else None
        if isinstance(body, Map) and len(body.operands) == 1 and body.operands[0].shape == body.shape:
            c = body.expr / placeholder(0)
            if c.is_number and c != 0:
                ops[j] = body
    if all(a is b for a, b in zip(ops, e.operands)):
        return e
    return make_einsum(ops, [list(s) for s in e.subs], list(e.out), dict(enumerate(e.sizes)), e.coef)


def _term(e: Einsum, k: int, op: Map, coef, idx: list, shared=None):
    """(coefficient, ``e`` with the term ``coef · Π op.operands[idx]`` in place of its operand ``k``);
    with ``shared``, a named contraction in the term that nothing else reads is opened (:func:`_opened`)."""
    sub = e.subs[k]
    terms = [op.operands[j] if shared is None else _opened(op.operands[j], shared) for j in idx]
    ops = list(e.operands[:k]) + terms + list(e.operands[k + 1:])
    subs = [list(s) for s in e.subs[:k]]
    subs += [list(sub) if op.operands[j].ndim else [] for j in idx]
    subs += [list(s) for s in e.subs[k + 1:]]
    if not idx:  # a constant term: Σ of a constant is a multiple of it
        ops.insert(k, make_map(coef, [], op.shape))
        subs.insert(k, list(sub))
        coef = sp.S.One
    return coef, make_einsum(ops, subs, list(e.out), dict(enumerate(e.sizes)), e.coef)


def _matrix_product(op: Map, idx: list, shared) -> bool:
    """Whether the term ``Π op.operands[idx]`` is one matrix product (n × d from n × d and d × d)
    that nothing else reads: summing its rows first saves n·d² operations. A matrix-vector
    product saves n·d, less than what summing terms apart may cost in accuracy."""
    if len(idx) != 1 or op.operands[idx[0]].uid in shared:
        return False
    inner = _opened(op.operands[idx[0]], shared)
    return isinstance(inner, Einsum) and len(inner.operands) >= 2 and inner.ndim >= 2


def _as_map(parts: list, shape) -> Expr:
    """Σ_j c_j · part_j, for parts [(c_j, part_j)]."""
    expr = sp.Add(*[c * placeholder(j) for j, (c, _) in enumerate(parts)])
    return make_map(expr, [p for _, p in parts], shape)


def _sums_first(e: Einsum, k: int, op: Map, terms: list, shared) -> Expr | None:
    """``e`` split by the terms of the linear map ``op`` (its operand ``k``) where a term that is a
    matrix product then sums an index first (:func:`presummed`): Σ_n (z + uPᵀ) is Σ_n z + P(Σ_n u),
    without the n × d product uPᵀ that the map needs. None where no term does."""
    # only a plain sum of terms of one sign: Σ_n (a − b) as Σa − Σb could cancel what Σ(a − b)
    # keeps, and XᵀX − n·x̄x̄ᵀ for (X − x̄)ᵀX does (a least-squares intercept's closed form)
    signs = {bool(c.is_number and c > 0) for c, _ in terms}
    if len(e.operands) != 1 or len(signs) != 1 or not all(c.is_number for c, _ in terms):
        return None
    parts, first = [], False
    for coef, idx in terms:
        c, p = _term(e, k, op, coef, idx, shared)
        if _matrix_product(op, idx, shared) and isinstance(p, Einsum) and _own_indices(p):
            p, first = presummed(p), True
        parts.append((c, p))
    return _as_map(parts, e.shape) if first else None


def _distribute(e: Expr, shared=frozenset()) -> Expr:
    """``e`` with each contracted operand that is a linear map split into one contraction per
    term (Σ (A + B) = Σ A + Σ B), applied again to the terms, where the map is blown up or a
    term then sums an index first (:func:`_sums_first`). A map in ``shared`` (uids of maps that
    something else reads too, so it is built anyway) is kept."""
    if not isinstance(e, Einsum):
        return e
    size = _count(e.shape)
    for k, (op, sub) in enumerate(zip(e.operands, e.subs)):
        if op.uid in shared:
            continue
        big = isinstance(op, Map) and op.operands and _blows_up(op, size)
        while not big and isinstance(op, Let) and isinstance(op.body, (Let, Map)):  # a named δ nothing else reads
            op = op.body
        if not (isinstance(op, Map) and op.operands):
            continue
        summed = any(lab not in e.out for lab in sub) and any(
            isinstance(_opened(o, shared), Einsum) for o in op.operands)
        if not (big or summed):
            continue
        terms = linear_terms(op)
        if terms is None or len(terms) < 2:
            continue
        if big:
            return _as_map([(c, _distribute(p, shared)) for c, p in (_term(e, k, op, coef, idx) for coef, idx in terms)],
                           e.shape)
        split = _sums_first(e, k, op, terms, shared)
        if split is not None:
            return split
    return e


_BOUNDED: dict[tuple, list] = {}  # root uids → the planned roots (graphs are immutable: plan once)


def bounded(roots: list[Expr]) -> list[Expr]:
    """``roots`` rebuilt bottom-up with every blown-up linear map split under the contraction
    that reads it (see the module docstring). Nodes that need no change stay the same nodes.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, mu, P = sm.tensor("X", (n, d)), sm.tensor("mu", (d,)), sm.tensor("P", (d, d))
    >>> L = sm.sum(((X - mu) @ P) * (X - mu)) / 2
    >>> H = sm.hessian(L, [mu, P])[1][0]           # ∂²L/∂P∂μ, of shape (d, d, d)
    >>> big = lambda e: max(len(x.shape) for x in sm.nodes.walk([e]))
    >>> big(H), big(bounded([H])[0])                # a rank-4 (d, d, n, d) array before, none after
    (4, 3)
    """
    key = tuple(r.uid for r in roots)
    hit = _BOUNDED.get(key)
    if hit is not None:
        return list(hit)
    if len(_BOUNDED) > 4096:  # a bound on what the cache holds alive
        _BOUNDED.clear()
    order = walk(list(roots))
    readers: dict[int, set] = {}
    for node in order:
        for o in node.operands:
            readers.setdefault(o.uid, set()).add(node.uid)
    outs = {r.uid for r in roots}
    shared: set = set()  # rebuilt maps that are read twice or are outputs: they are built anyway

    def split(node, ops):
        m = _distribute(_scales_opened(rebuild(node, ops)), shared)
        if len(readers.get(node.uid, ())) > 1 or node.uid in outs:
            shared.add(m.uid)
        return m

    _BOUNDED[key] = out = transform(list(roots), split)
    return list(out)


# --------------------------------------------------------------------------- factorisations


_SPD: dict[int, bool] = {}


def spd_hint(node: Expr) -> bool:
    """Whether ``node`` is known (or meant) to be symmetric positive definite: a tensor declared
    ``positive_definite=True``, the identity, the inverse of one, XᵀX, and sums of these with
    positive numeric or scalar-operand coefficients where some term is positive definite
    (XᵀX + λI, K + σ²I). A hint for trying Cholesky first, never a promise (see the module
    docstring): σ² is not known to be positive."""
    hit = _SPD.get(node.uid)
    if hit is None:
        _SPD[node.uid] = hit = _spd(node, strict=True)
    return hit


def _psd(node: Expr) -> bool:
    return _spd(node, strict=False)


def _spd(node: Expr, strict: bool) -> bool:
    if node.ndim != 2 or node.shape[0] != node.shape[1]:
        return False
    if isinstance(node, Let):
        return _spd(node.body, strict)
    if isinstance(node, (Tensor, Let)):
        return is_positive_definite(node)
    if isinstance(node, Eye):
        return True
    if isinstance(node, Inv):
        return _spd(node.operands[0], strict)
    if isinstance(node, Einsum):  # a Gram product Σ_c A[c,i] A[c,j] (times a number > 0) is PSD
        if strict or not is_symmetric(node) or not (node.coef.is_number and node.coef > 0):
            return False
        mats = [(o, s) for o, s in zip(node.operands, node.subs) if o.ndim]
        return len(mats) == 2 and mats[0][0] is mats[1][0] and mats[0][1][0] == mats[1][1][0] \
            and mats[0][1][0] not in node.out
    if isinstance(node, Map):
        terms = linear_terms(node)
        if not terms:
            return False
        some_pd = False
        for coef, idx in terms:
            mats = [node.operands[j] for j in idx if node.operands[j].ndim]
            if len(mats) != 1 or (coef.is_number and coef <= 0):
                return False
            if _spd(mats[0], True):
                some_pd = True
            elif not _psd(mats[0]):
                return False
        return some_pd or not strict
    return False


@dataclass
class FactorPlan:
    """The square matrices that one factorisation serves.

    Attributes:
        users: matrix uid → the log det, det, solve and inverse nodes that read it (solves
            through their matrix operand only).
        cholesky: matrix uid → whether to try Cholesky first (see :func:`spd_hint`; also
            when a log det reads it, since log det is only real for det > 0).
    """

    users: dict[int, list] = field(default_factory=dict)
    cholesky: dict[int, bool] = field(default_factory=dict)

    def shared(self, A: Expr) -> bool:
        """Whether ``A`` gets one factorisation for its readers: it has two or more, or
        Cholesky is known to fit it (then even one solve is cheaper through it)."""
        us = self.users.get(A.uid, ())
        return A.ndim == 2 and (len(us) >= 2 or (len(us) == 1 and spd_hint(A)))


_PLANS: dict[tuple, tuple] = {}  # root uids → (their nodes in order, their FactorPlan)


def planned_order(roots: list[Expr]) -> tuple[list[Expr], list[Expr], FactorPlan]:
    """``bounded(roots)``, the nodes of that graph in order and its FactorPlan, made once per
    set of roots (sm.evaluate calls this on every evaluation)."""
    planned = bounded(roots)
    key = tuple(r.uid for r in planned)
    hit = _PLANS.get(key)
    if hit is None:
        if len(_PLANS) > 4096:
            _PLANS.clear()
        order = walk(planned)
        _PLANS[key] = hit = (order, factor_plan(order))
    return planned, hit[0], hit[1]


def factor_plan(order: list[Expr]) -> FactorPlan:
    """The :class:`FactorPlan` of the nodes ``order`` (operands before users)."""
    plan = FactorPlan()
    mats = {}
    for node in order:
        if isinstance(node, (LogDet, Det, Inv, Solve)):
            A = node.operands[0]
            if A.ndim != 2:
                continue
            mats[A.uid] = A
            if node not in plan.users.setdefault(A.uid, []):
                plan.users[A.uid].append(node)
    for uid, A in mats.items():
        plan.cholesky[uid] = spd_hint(A) or any(isinstance(u, LogDet) for u in plan.users[uid])
    return plan
