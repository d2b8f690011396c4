"""Probability helpers for the catalog: log-densities, expectations, batching over components.

- Log-densities as graph expressions: :func:`normal_logpdf` (elementwise, broadcasting),
  :func:`mvn_logpdf` (rows under N(μ, P⁻¹), precision P), :func:`mvn_logpdf_chol` (rows
  under K Gaussians given the Cholesky factors of their precisions), :func:`loggamma`.
- :func:`expectation`: E over an i.i.d. sample x of a scalar expression in which x enters
  through sums over the sample of polynomials of degree ≤ 2 in xᵢ, affinely. Each such sum
  Σᵢ (a + b xᵢ + c xᵢ²) becomes n (a + b E[x] + c E[x²]). This is how the Fisher information
  E[−∇² log p] of a one- or two-parameter family is read off its symbolic Hessian.
- :func:`fisher_information`: that expectation applied to the Hessian of a negative
  log-likelihood, per observation.
- :func:`vmap`: batch a graph over a new leading axis (a closed form derived for one
  mixture component, batched over all K components).

Takes: graph nodes. Gives: graph nodes.
"""
from __future__ import annotations

from typing import Sequence

import sympy as sp

from .calculus import hessian
from .nodes import (
    Einsum, Expr, Let, Map, Tensor, as_expr, elementwise, make_einsum, make_map, placeholder, transform,
)
from .structured import LogDet

__all__ = ["normal_logpdf", "mvn_logpdf", "mvn_logpdf_chol", "loggamma", "expectation", "fisher_information", "vmap"]

LOG_2PI = sp.log(2 * sp.pi)


# --------------------------------------------------------------------------- log-densities


def loggamma(x) -> Expr:
    """Elementwise log Γ(x) (log C(m, x) = log Γ(m+1) − log Γ(x+1) − log Γ(m−x+1))."""
    return elementwise(sp.loggamma, x, op="loggamma")


def normal_logpdf(x, mu, v) -> Expr:
    """log N(x | μ, v) = −½ log(2πv) − (x − μ)²/(2v), elementwise with numpy broadcasting (v the variance)."""
    return elementwise(lambda a, m, s: -sp.log(2 * sp.pi * s) / 2 - (a - m) ** 2 / (2 * s), x, mu, v,
                       op="normal_logpdf")


def mvn_logpdf(X, mu, P) -> Expr:
    """log N(xᵢ | μ, P⁻¹) for each row xᵢ of X (n, d), with the precision P (d, d):
    ½ log det P − (d/2) log 2π − ½ (xᵢ − μ)ᵀ P (xᵢ − μ). Shape (n,).

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> mvn_logpdf(sm.tensor("X", (n, d)), sm.tensor("mu", (d,)), sm.tensor("P", (d, d))).shape
    (n,)
    """
    X, mu, P = as_expr(X), as_expr(mu), as_expr(P)
    D = X - mu
    d = X.shape[1]
    quad = make_einsum([D, P, D], [["i", "j"], ["j", "k"], ["i", "k"]], ["i"], {})
    return LogDet.new(P) / 2 - d * LOG_2PI / 2 - quad / 2


def mvn_logpdf_chol(X, M, L) -> Expr:
    """log N(xᵢ | μ_k, (L_k L_kᵀ)⁻¹) for rows xᵢ of X (n, d), means M (K, d) and precision
    Cholesky factors L (K, d, d): Σ_j log L_kjj − (d/2) log 2π − ½ ‖L_kᵀ(xᵢ − μ_k)‖². Shape (n, K).

    Every entry of L enters the quadratic form, so the expression (and its gradient) is
    that of the full array; it is the Gaussian log-density when L_k is lower triangular
    with a positive diagonal (scikit-learn's ``precisions_cholesky_``).
    """
    X, M, L = as_expr(X), as_expr(M), as_expr(L)
    D = make_einsum([X], [["i", "j"]], ["i", "k", "j"], {"k": M.shape[0]}) - M  # xᵢ − μ_k, (n, K, d)
    Z = make_einsum([D, L], [["i", "k", "j"], ["k", "j", "l"]], ["i", "k", "l"], {})  # L_kᵀ(xᵢ − μ_k)
    half_logdet = make_einsum([elementwise(sp.log, make_einsum([L], [["k", "j", "j"]], ["k", "j"], {}))],
                              [["k", "j"]], ["k"], {})
    quad = make_einsum([elementwise(lambda z: z**2, Z)], [["i", "k", "l"]], ["i", "k"], {})
    d = X.shape[1]
    return half_logdet - d * LOG_2PI / 2 - quad / 2


# --------------------------------------------------------------------------- expectation


class OutOfScope(ValueError):
    """An expectation that :func:`expectation` does not compute (see its scope)."""


def expectation(expr, x: Tensor, moments: dict, per_observation: bool = False) -> Expr:
    """E[expr] when x (n,) is an i.i.d. sample with E[x] = moments[1], E[x²] = moments[2].

    Scope: ``expr`` is a scalar in scalar parameters and in x, where x enters only through
    sums over the sample Σᵢ m(xᵢ) of polynomials m of degree ≤ 2 in xᵢ, and affinely (a
    product of two such sums is refused: E[ΣΣ] ≠ ΣE·E). Each sum becomes n·E[m(x)]. With
    ``per_observation`` the result is divided by n (E of one term of an i.i.d. sum); n must
    then cancel. The result is simplified by SymPy.

    Args:
        expr: a rank-0 expression.
        x: the sample, shape (n,).
        moments: {1: E[x], 2: E[x²]}, rank-0 expressions in the parameters.
        per_observation: divide by n (the information of one observation).

    >>> import symml as sm
    >>> n = sm.dims("n")
    >>> x, lam = sm.tensor("x", (n,)), sm.scalar("lam")
    >>> H = sm.hessian(-sm.sum(x * sm.log(lam) - lam), lam)        # Σᵢ xᵢ / λ²
    >>> float(sm.evaluate(expectation(H, x, {1: lam, 2: lam + lam**2}, per_observation=True), lam=4.0))
    0.25
    """
    expr = as_expr(expr)
    if expr.ndim != 0 or x.ndim != 1:
        raise OutOfScope("expectation: needs a scalar expression and a sample x of shape (n,)")
    n = x.shape[0]
    lift = _ScalarLift(x)
    value = lift.lift(expr)
    m1, m2 = lift.lift(as_expr(moments[1])), lift.lift(as_expr(moments[2]))
    # E is linear: the expression must be affine in the sample sums
    sums = list(lift.sums)
    for a in sums:
        for b in sums:
            if sp.simplify(sp.diff(value, a, b)) != 0:
                raise OutOfScope("expectation: the expression is not affine in the sums over the sample")
    value = value.xreplace({s: n * _poly_mean(poly, lift.xs, m1, m2) for s, poly in lift.sums.items()})
    if per_observation:
        value = sp.cancel(value / n)
        if n in value.free_symbols:
            raise OutOfScope("expectation: per_observation needs every term to be a sum over the sample")
    value = sp.simplify(value)
    syms = sorted(value.free_symbols - {n}, key=str)
    back = {s: lift.tensors[s] for s in syms}
    return make_map(value.xreplace({s: placeholder(i) for i, s in enumerate(syms)}), [back[s] for s in syms], ())


def _poly_mean(poly, xs, m1, m2):
    p = sp.Poly(sp.expand(poly), xs)
    if p.degree() > 2:
        raise OutOfScope(f"expectation: a sum over the sample has degree {p.degree()} in xᵢ; only ≤ 2 is in scope")
    return p.coeff_monomial(1) + p.coeff_monomial(xs) * m1 + p.coeff_monomial(xs**2) * m2


class _ScalarLift:
    """A rank-0 graph as one SymPy expression; sums over the sample become symbols."""

    def __init__(self, x: Tensor):
        self.x = x
        self.xs = sp.Dummy("x", real=True)
        self.sums: dict[sp.Symbol, sp.Expr] = {}  # symbol → the summand, a polynomial in xs
        self.tensors: dict[sp.Symbol, Tensor] = {}
        self.memo: dict[int, sp.Expr] = {}

    def symbol(self, t: Tensor):
        for s, u in self.tensors.items():
            if u is t:
                return s
        s = sp.Symbol(t.name, real=True)
        self.tensors[s] = t
        return s

    def lift(self, e: Expr) -> sp.Expr:
        if e.uid not in self.memo:
            self.memo[e.uid] = self._lift(e)
        return self.memo[e.uid]

    def _lift(self, e: Expr) -> sp.Expr:
        if isinstance(e, Tensor) and e.ndim == 0:
            return self.symbol(e)
        if isinstance(e, Let):
            return self.lift(e.body)
        if isinstance(e, Map) and e.ndim == 0:
            return e.expr.xreplace({placeholder(i): self.lift(o) for i, o in enumerate(e.operands)})
        if isinstance(e, Einsum) and e.ndim == 0:
            if all(o.ndim == 0 for o in e.operands):
                return e.coef * sp.Mul(*[self.lift(o) for o in e.operands])
            return self._sample_sum(e)
        raise OutOfScope(f"expectation: a {type(e).__name__} node of shape {e.shape} is outside the scope "
                         "(scalar parameters, sums over the sample)")

    def _sample_sum(self, e: Einsum) -> sp.Expr:
        """coef · Π(scalars) · Σᵢ Π_k f_k(xᵢ): the sum becomes a symbol standing for it."""
        labels = {lab for o, s in zip(e.operands, e.subs) if o.ndim for lab in s}
        if any(o.ndim > 1 for o in e.operands) or len(labels) != 1:
            raise OutOfScope("expectation: a contraction other than a sum over the one sample axis")
        factor, summand = e.coef, sp.Integer(1)
        for o in e.operands:
            if o.ndim == 0:
                factor *= self.lift(o)
            elif o is self.x:
                summand *= self.xs
            elif isinstance(o, Map) and all(a is self.x or a.ndim == 0 for a in o.operands):
                summand *= o.expr.xreplace({placeholder(i): (self.xs if a is self.x else self.lift(a))
                                            for i, a in enumerate(o.operands)})
            else:
                raise OutOfScope("expectation: a summand that is not an elementwise function of xᵢ and the parameters")
        s = sp.Dummy("S")
        self.sums[s] = summand
        return factor * s


def fisher_information(loss, params: Sequence[Tensor], x: Tensor, moments: dict):
    """The Fisher information of one observation, I(θ) = E[∇²_θ L] / n for L = −log p(x | θ)
    of an i.i.d. sample x (n,): one expression per Hessian block, in row-major order
    (a single expression for one parameter)."""
    params = list(params)
    if len(params) == 1:
        return expectation(hessian(loss, params[0]), x, moments, per_observation=True)
    return tuple(expectation(b, x, moments, per_observation=True) for row in hessian(loss, params) for b in row)


# --------------------------------------------------------------------------- vmap


def vmap(exprs, mapping: dict):
    """Batch expressions over a new leading axis of size K.

    Each tensor t in ``mapping`` is replaced by ``mapping[t] = (T, axis)``, T holding one t
    per batch entry along ``axis``; every node that depends on a mapped tensor gains a
    leading batch axis. This is how a closed form derived for one mixture component
    (responsibilities r (n,)) becomes the update of all K components (R (n, K), axis 1).
    Elementwise maps, contractions and named intermediates batch; other nodes (inverses,
    determinants, log-sum-exp) are refused.

    Args:
        exprs: an expression or a tuple of them.
        mapping: {tensor: (batched expression, batch axis)}.

    Returns:
        The batched expression(s), each of shape (K,) + the unbatched shape.

    >>> import numpy as np, symml as sm
    >>> n, K = sm.dims("n K")
    >>> r, x, R = sm.tensor("r", (n,)), sm.tensor("x", (n,)), sm.tensor("R", (n, K))
    >>> mean = sm.sum(r * x) / sm.sum(r)                          # one component
    >>> sm.evaluate(vmap(mean, {r: (R, 1)}), x=np.array([1.0, 3.0]), R=np.array([[1.0, 0.5], [0.0, 0.5]]))
    array([1., 2.])
    """
    many = isinstance(exprs, (tuple, list))
    roots = [as_expr(e) for e in (exprs if many else [exprs])]
    B = ("vmap",)
    batched: dict[int, Expr] = {}
    sizes = set()
    for t, (T, axis) in mapping.items():
        T = as_expr(T)
        axis = axis % T.ndim
        if not isinstance(t, Tensor) or T.shape[:axis] + T.shape[axis + 1:] != t.shape:
            raise ValueError(f"vmap: {getattr(t, 'name', t)} {t.shape} is not {T.shape} without axis {axis}")
        sizes.add(T.shape[axis])
        labels = list(range(T.ndim))
        batched[t.uid] = make_einsum([T], [labels], [axis] + labels[:axis] + labels[axis + 1:], {})
    if len(sizes) != 1:
        raise ValueError(f"vmap: the mapped tensors disagree on the batch size: {sizes}")
    K = sizes.pop()

    def batch(node, ops):  # a node over a batched operand is batched; the others stay as they are
        moved = {o.uid: b for o, b in zip(node.operands, ops) if b is not o}
        return _batch_node(node, moved, B, K) if moved else None

    out = transform(roots, batch, batched)
    for r, o in zip(roots, out):
        if o is r:
            raise ValueError("vmap: an expression does not depend on any mapped tensor")
    return tuple(out) if many else out[0]


def _batch_node(node: Expr, batched: dict, B, K) -> Expr:
    def full(o, shape):  # o batched along the leading axis, with shape (K,) + shape
        if o.uid in batched:
            b = batched[o.uid]
            if b.ndim - 1 == len(shape):
                return b
            labels = list(range(len(shape)))  # a batched rank-0 operand broadcast over the map's shape
            return make_einsum([b], [[B]], [B] + labels, {B: K, **dict(enumerate(shape))})
        if o.ndim == 0:
            return o
        labels = list(range(o.ndim))
        return make_einsum([o], [labels], [B] + labels, {B: K})

    if isinstance(node, Let):
        return Let.new(node.name, batched[node.body.uid])
    if isinstance(node, Map):
        ops = [full(o, node.shape) if (o.uid in batched or o.ndim) else o for o in node.operands]
        return make_map(node.expr, ops, (K,) + tuple(node.shape))
    if isinstance(node, Einsum):
        ops, subs = [], []
        for o, s in zip(node.operands, node.subs):
            ops.append(batched.get(o.uid, o))
            subs.append(([B] if o.uid in batched else []) + list(s))
        sizes = dict(enumerate(node.sizes))
        sizes[B] = K
        return make_einsum(ops, subs, [B] + list(node.out), sizes, node.coef)
    raise ValueError(f"vmap: no batching rule for {type(node).__name__} nodes")

