"""Closed forms by solving stationarity ∇L = 0, symbolically.

Two solvers, both refusing clearly when their assumptions fail:

- ``solve_linear(g, p)``: g is affine in p (its Jacobian A does not involve p), so
  g(p) = A·p + g(0) = 0 gives p = −A⁻¹ g(0). ``stationary_point(L, [b, w])`` eliminates
  parameters in order: solve ∂L/∂b = 0 for b, substitute into the remaining conditions,
  solve for w, and substitute back. This is how the normal equations are derived.
- ``solve_scalar(g, θ)``: g is a scalar built from sums over samples, Σᵢ m(θ, xᵢ). Each
  sum is split into Σ_k a_k(θ) · Σᵢ u_k(xᵢ) (sufficient statistics), and SymPy's
  ``solve`` solves the scalar equation in θ. This is how maximum-likelihood estimates
  are derived. ``solve_entrywise`` does the same for a tensor parameter whose
  stationarity conditions separate entry by entry (class means, variances, mixture
  updates given responsibilities); it first proves the separation on the graph (each
  entry g[j] must involve p only through one entry p[σ(j)], σ a permutation of axes)
  and refuses otherwise.
- ``solve_inverse(g, P)``: g involves the matrix P only through P⁻¹ (as ∇ log det P and
  the Gaussian precision do), and is entrywise in P⁻¹: P⁻¹ is taken as the unknown,
  so the covariance Σ = P⁻¹ of a Gaussian comes out of the precision's stationarity.

Takes: graph nodes. Gives: graph nodes.
"""
from __future__ import annotations

import sympy as sp

from .calculus import DerivativeError, grad, jacobian, substitute
from .nodes import (
    Dim, Einsum, Expr, Let, Map, Tensor, as_expr, const, fmt_shape, leaves, make_einsum, make_map, placeholder,
    transform, transpose, walk,
)
from .nodes import substitute as substitute_nodes
from .structured import Inv, Solve


class NoClosedForm(DerivativeError):
    """Stationarity could not be solved in closed form by the method asked for."""


def _depends(e: Expr, p: Tensor) -> bool:
    return p.uid in {t.uid for t in leaves(e)}


def solve_linear(g: Expr, p: Tensor) -> Expr:
    """Solve g(p) = 0 for p when g is affine in p (p a scalar, a vector or a matrix)."""
    g = as_expr(g)
    if g.shape != p.shape:
        raise NoClosedForm(f"solve_linear: the equation has shape {fmt_shape(g.shape)}, {p.name} has {fmt_shape(p.shape)}")
    if not _depends(g, p):
        raise NoClosedForm(f"solve_linear: the equation does not involve {p.name}")
    A = jacobian(g, p)
    if _depends(A, p):
        raise NoClosedForm(
            f"stationarity is not linear in {p.name} (its Jacobian still involves {p.name}); "
            "no closed form by a linear solve"
        )
    c = substitute(g, {p: const(0, p.shape)})
    if p.ndim == 0:
        return make_map(-placeholder(1) / placeholder(0), [A, c], ())
    if p.ndim == 1:
        coef_a, A1 = _split_coef(A)
        coef_c, c1 = _split_coef(c)
        # a linear solve, never an explicit inverse: better conditioned, and no d×d inverse is formed
        return make_map(-coef_c / coef_a * placeholder(0), [Solve.new(A1, c1)])
    raise NoClosedForm(f"solve_linear: {p.name} has rank {p.ndim}; use solve_entrywise for separable matrix equations")


def _split_coef(e: Expr):
    """(c, e') with e = c·e' and c a number, so that (2A)⁻¹(2b) prints as A⁻¹b."""
    if isinstance(e, Einsum) and e.coef.is_Number and e.coef != 1:
        return e.coef, make_einsum(e.operands, [list(s) for s in e.subs], list(e.out), dict(enumerate(e.sizes)))
    if isinstance(e, Map):
        c, rest = sp.factor_terms(e.expr).as_coeff_Mul()
        if c.is_Number and c not in (0, 1):
            return c, make_map(rest, e.operands, e.shape)
    return sp.Integer(1), e


def stationary_point(loss: Expr, params: list[Tensor]) -> dict:
    """Solve ∇L = 0 for each parameter by elimination in the given order.

    Returns {param: closed-form expression in the data and hyper-parameters}.
    """
    loss = as_expr(loss)
    solved: dict = {}
    for k, p in enumerate(params):
        g = grad(loss, p)
        for q, sol in solved.items():  # earlier parameters as functions of the later ones
            g = substitute(g, {q: sol}) if _depends(g, q) else g
        solved[p] = solve_linear(g, p)
    out = {}
    for p in reversed(params):  # back-substitution
        sol = solved[p]
        for q in out:
            if _depends(sol, q):
                sol = substitute(sol, {q: out[q]})
        out[p] = sol
    return {p: out[p] for p in params}


# --------------------------------------------------------------------------- scalar solve


class _Lifter:
    """Rewrite a scalar graph as a SymPy expression in θ and θ-free statistics."""

    def __init__(self, theta: Tensor, entry: bool):
        self.theta = theta
        self.sym = sp.Symbol("theta", positive=True)
        self.stats: list[Expr] = []
        self.symbols: list[sp.Symbol] = []
        self.entry = entry

    def stat(self, e: Expr) -> sp.Expr:
        """A symbol standing for the θ-free ``e``; numeric factors and constants stay visible to SymPy."""
        if isinstance(e, Map) and e.ndim == 0:  # a scalar function of statistics: SymPy sees through it
            return e.expr.xreplace({placeholder(i): self.stat(o) for i, o in enumerate(e.operands)})
        if isinstance(e, Map) and not e.operands:
            return e.expr  # a number, or a size such as n
        if isinstance(e, Einsum):
            coef, ops = e.coef, []
            for o in e.operands:  # numeric factors of the factors: Σ(−r/2)x is −½ Σ r x
                if isinstance(o, Map) and o.ndim:
                    c, rest = sp.factor_terms(o.expr).as_coeff_Mul()
                    if c.is_Number and c not in (0, 1):
                        coef, o = coef * c, make_map(rest, o.operands, o.shape)
                ops.append(o)
            if coef != 1:
                return coef * self.stat(make_einsum(ops, [list(s) for s in e.subs], list(e.out),
                                                    dict(enumerate(e.sizes))))
        if isinstance(e, Map):
            c, rest = sp.factor_terms(e.expr).as_coeff_Mul()
            if c.is_Number and c not in (0, 1):
                return c * self.stat(make_map(rest, e.operands, e.shape))
        for s, x in zip(self.symbols, self.stats):
            if x is e:
                return s
        s = sp.Symbol(f"s{len(self.stats)}", real=True)
        self.stats.append(e)
        self.symbols.append(s)
        return s

    def lift(self, e: Expr) -> sp.Expr:
        if not _depends(e, self.theta):
            return self.stat(e)
        if e is self.theta:
            return self.sym
        if isinstance(e, Let):
            return self.lift(e.body)
        if isinstance(e, Map):
            return e.expr.xreplace({placeholder(i): self._lift_operand(o, e) for i, o in enumerate(e.operands)})
        if isinstance(e, Einsum):
            return self._lift_sum(e)
        raise NoClosedForm(f"cannot separate {self.theta.name} from a {type(e).__name__} node")

    def _lift_operand(self, o, parent):
        if o.shape != parent.shape or o.ndim == 0:
            return self.lift(o)
        return self.lift(o)

    def _lift_sum(self, e: Einsum) -> sp.Expr:
        """Σ over samples of a map in θ: split into θ-parts times statistics."""
        dep = [k for k, o in enumerate(e.operands) if _depends(o, self.theta)]
        scalars = [k for k in dep if e.operands[k].ndim == 0]
        tensors = [k for k in dep if e.operands[k].ndim > 0]
        if len(tensors) > 1:
            raise NoClosedForm(f"{self.theta.name} enters a contraction through several factors")
        factor = sp.Mul(*[self.lift(e.operands[k]) for k in scalars])
        keep = [k for k in range(len(e.operands)) if k not in dep]
        sizes = dict(enumerate(e.sizes))

        def stat_with(extra=()):
            ops = [e.operands[k] for k in keep] + [o for o, _ in extra]
            subs = [list(e.subs[k]) for k in keep] + [list(s) for _, s in extra]
            return self.stat(make_einsum(ops, subs, list(e.out), sizes, e.coef))

        if not tensors:
            return factor * stat_with()
        k = tensors[0]
        m = e.operands[k]
        if not isinstance(m, Map):
            raise NoClosedForm(f"cannot separate {self.theta.name} inside a {type(m).__name__} under a sum")
        repl = {}
        for i, o in enumerate(m.operands):
            if o is self.theta:
                repl[placeholder(i)] = self.sym
            elif _depends(o, self.theta):
                if o.ndim:
                    raise NoClosedForm(f"{self.theta.name} enters a summand through an intermediate; no separable form")
                repl[placeholder(i)] = self.lift(o)
            elif o.ndim == 0:  # a θ-free scalar (a hyper-parameter, another parameter): a symbol, so it can cancel
                repl[placeholder(i)] = self.stat(o)
            elif self.entry:
                hoisted = _hoist(o, e.subs[k], e)
                if hoisted is not None:  # constant along the summed axes: a per-entry symbol
                    repl[placeholder(i)] = self.stat(hoisted)
        expr = sp.expand(m.expr.xreplace(repl))
        scalars_syms = [self.sym, *self.symbols, *(s for s in expr.free_symbols if isinstance(s, Dim))]
        groups: dict = {}
        for t in sp.Add.make_args(expr):
            data_part, theta_part = t.as_independent(*scalars_syms, as_Add=False)
            groups[theta_part] = groups.get(theta_part, 0) + data_part
        total = sp.Integer(0)
        for theta_part, data_part in groups.items():  # one statistic per monomial: Σ(x − 1) is Σx − n
            for term in sp.Add.make_args(sp.expand(data_part)):
                c, rest = term.as_coeff_Mul()
                factors = [_factor(f, m, e.subs[k]) for f in sp.Mul.make_args(rest)]  # Σᵢ 1 = n: keep the 1
                total += theta_part * c * stat_with(factors)
        return factor * total


def _factor(f: sp.Expr, m: Map, sub) -> tuple:
    """One factor of a statistic's summand as an einsum operand (node, labels): a product of
    factors is a contraction (Σᵢ Y_ik x_ij is YᵀX, not an (n, K, d) temporary), and a function of a
    broadcast operand is computed before broadcasting."""
    node = make_map(f, m.operands, m.shape)
    if isinstance(node, Map) and len(node.operands) == 1:
        o = node.operands[0]
        if isinstance(o, Einsum) and len(o.operands) == 1 and o.coef == 1 and len(set(o.subs[0])) == len(o.subs[0]):
            pos = {lab: j for j, lab in enumerate(o.out)}
            if all(lab in pos for lab in o.subs[0]):
                src = o.operands[0]
                return make_map(node.expr, [src], src.shape), [sub[pos[lab]] for lab in o.subs[0]]
    return node, list(sub)


def _hoist(o: Expr, m_sub, e: Einsum):
    """``o`` (an operand of a summand with labels ``m_sub`` in ``e``) re-indexed to e's output,
    if it is a broadcast that does not vary along any summed axis; else None."""
    if not (isinstance(o, Einsum) and len(o.operands) == 1 and o.coef == 1):
        return None
    src, src_sub = o.operands[0], o.subs[0]
    pos = {lab: j for j, lab in enumerate(o.out)}
    if any(lab not in pos for lab in src_sub) or len(set(src_sub)) != len(src_sub):
        return None
    labels = [m_sub[pos[lab]] for lab in src_sub]
    if any(lab not in e.out for lab in labels):
        return None
    return make_einsum([src], [labels], list(e.out), dict(enumerate(e.sizes)))


def _pick(solutions, what):
    sols = [s for s in solutions if not s.has(sp.zoo, sp.oo, sp.nan)]
    if len(sols) != 1:
        raise NoClosedForm(f"stationarity in {what} has {len(sols)} closed-form solutions: {sols}")
    return sols[0]


def solve_scalar(g: Expr, theta: Tensor) -> Expr:
    """Solve the scalar equation g(θ) = 0, where θ enters only through sums over samples."""
    g = as_expr(g)
    if theta.ndim != 0 or g.ndim != 0:
        raise NoClosedForm("solve_scalar needs a scalar equation in a scalar parameter")
    lifter = _Lifter(theta, entry=False)
    eq = lifter.lift(_products_as_maps(g, theta))
    sol = _pick(sp.solve(sp.together(eq), lifter.sym), theta.name)
    return make_map(sol.xreplace({s: placeholder(i) for i, s in enumerate(lifter.symbols)}), lifter.stats, ())


def solve_entrywise(g: Expr, p: Tensor) -> Expr:
    """Solve g(p) = 0 when entry g[j] involves only p[j] (a separable tensor equation).

    The equation for one entry is read off the graph with p's entry as a scalar θ; the
    statistics keep g's shape. Separation is checked first: g[j] may involve p only
    through p[σ(j)] for one permutation σ of the axes (σ ≠ id, e.g. N·Σᵀ − S = 0, gives
    the solution transposed back), otherwise NoClosedForm is raised.

    >>> import numpy as np, symml as sm
    >>> n, K = sm.dims("n K")
    >>> Y, x, m = sm.tensor("Y", (n, K)), sm.tensor("x", (n,)), sm.tensor("m", (K,))
    >>> g = sm.grad(sm.sum(Y * (sm.expand_dims(x, 1) - m) ** 2), m)   # −2 Σᵢ Y_ik (xᵢ − m_k)
    >>> m_hat = sm.solve_entrywise(g, m)                                 # Σᵢ Y_ik xᵢ / Σᵢ Y_ik
    >>> sm.evaluate(m_hat, x=np.array([1.0, 2.0, 6.0]), Y=np.array([[1.0, 0], [1, 0], [0, 1]]))
    array([1.5, 6. ])
    """
    g = as_expr(g)
    if not _depends(g, p):
        raise NoClosedForm(f"solve_entrywise: the equation does not involve {p.name}")
    sigma = _alignment(g, p)
    if sigma is None or any(a is None for a in sigma) or sorted(sigma) != list(range(p.ndim)) or any(
            g.shape[ax] != p.shape[q] for ax, q in enumerate(sigma)):
        raise NoClosedForm(
            f"solve_entrywise: the equation (shape {fmt_shape(g.shape)}) does not separate entry by entry in "
            f"{p.name} {fmt_shape(p.shape)}: an entry of it involves several entries of {p.name}"
        )
    theta = Tensor._make(("_theta", ()), (), (), name="_theta")
    lifter = _Lifter(theta, entry=True)
    entry = _entry_graph(g, p, theta)
    eq = lifter.lift(entry)
    sol = _pick(sp.solve(sp.together(eq), lifter.sym), p.name)
    out = make_map(sol.xreplace({s: placeholder(i) for i, s in enumerate(lifter.symbols)}), lifter.stats, g.shape)
    if list(sigma) != list(range(p.ndim)):  # g[j] pairs with p[σ(j)]: p = gᵀ in σ's sense
        out = transpose(out, [sigma.index(q) for q in range(p.ndim)])
    return out


def _alignment(g: Expr, p: Tensor):
    """σ with g[j] depending on p only through the entry whose axis σ[a] index is j[a].

    Returns a tuple over g's axes (None for an axis along which g varies independently
    of p), or None when some entry of g involves several entries of p (a sum over one of
    p's axes, a product of two entries, a matrix function of p).
    """
    if p.ndim == 0:  # one unknown: nothing to separate
        return () if g.ndim == 0 else None
    memo: dict[int, tuple | None] = {}
    for node in walk([g]):
        if not _depends(node, p):
            continue
        if node is p:
            memo[node.uid] = tuple(range(p.ndim))
        elif isinstance(node, Let):
            memo[node.uid] = memo[node.body.uid]
        elif isinstance(node, Map):
            found = {memo[o.uid] for o in node.operands if _depends(o, p)}
            ok = len(found) == 1 and all(o.shape == node.shape for o in node.operands if _depends(o, p))
            memo[node.uid] = found.pop() if ok and (node.ndim or not p.ndim) else None
        elif isinstance(node, Einsum):
            memo[node.uid] = _einsum_alignment(node, p, memo)
        else:
            memo[node.uid] = None
        if memo[node.uid] is None:
            return None
    return memo.get(g.uid, None)


def _einsum_alignment(node: Einsum, p: Tensor, memo) -> tuple | None:
    label_of: dict[int, object] = {}  # p axis → the einsum label that indexes it
    for o, sub in zip(node.operands, node.subs):
        if not _depends(o, p):
            continue
        for lab, q in zip(sub, memo[o.uid]):
            if q is None:
                continue
            if label_of.setdefault(q, lab) != lab or lab not in node.out:
                return None  # two labels for one axis of p, or a sum over an axis of p
    if len(set(label_of.values())) != len(label_of) or len(label_of) != p.ndim:
        return None
    axis_of = {lab: q for q, lab in label_of.items()}
    return tuple(axis_of.get(lab) for lab in node.out)


def solve_inverse(g: Expr, P: Tensor) -> Expr:
    """Solve g(P) = 0 for P⁻¹, when g involves P only through P⁻¹ and entrywise in it.

    This is how a Gaussian's covariance comes out of the stationarity of its precision
    P: ∇_P [½N log det P − ½ tr(P S)] = ½N P⁻ᵀ − ½S is linear in P⁻¹ (with a transpose,
    handled by :func:`solve_entrywise`). Returns the closed form of P⁻¹.

    >>> import numpy as np, symml as sm
    >>> from symml.stationarity import solve_inverse
    >>> n, d = sm.dims("n d")
    >>> X, P = sm.tensor("X", (n, d)), sm.tensor("P", (d, d))
    >>> ll = n / 2 * sm.logdet(P) - sm.einsum("ij,jk,ik->", X, P, X) / 2
    >>> Sigma = solve_inverse(sm.grad(ll, P), P)                       # XᵀX / n
    >>> Xv = np.array([[1.0, 2.0], [3.0, -1.0]])
    >>> bool(np.allclose(sm.evaluate(Sigma, X=Xv), Xv.T @ Xv / 2))
    True
    """
    g = as_expr(g)
    if P.ndim != 2 or P.shape[0] != P.shape[1]:
        raise NoClosedForm(f"solve_inverse: {P.name} must be a square matrix, got shape {fmt_shape(P.shape)}")
    inverse = Tensor._make((f"_inv_{P.name}", P.shape), (), P.shape, name=f"{P.name}_inv")
    h = substitute_nodes(g, {Inv.new(P): inverse})
    if _depends(h, P):
        raise NoClosedForm(f"solve_inverse: the equation involves {P.name} other than through {P.name}⁻¹")
    if not _depends(h, inverse):
        raise NoClosedForm(f"solve_inverse: the equation does not involve {P.name}⁻¹")
    return solve_entrywise(h, inverse)


def _entry_graph(g, p, theta):
    """Replace p by a broadcast scalar θ (g is separable: see :func:`_alignment`)."""
    bcast = make_einsum([theta], [[]], list(range(p.ndim)), dict(enumerate(p.shape)))
    return _products_as_maps(substitute(g, {p: bcast}), theta)


def _products_as_maps(expr: Expr, theta: Tensor) -> Expr:
    """Rewrite θ-dependent contractions that sum over nothing (elementwise products such as
    rᵢ·(xᵢ − θ)) as elementwise maps, so that the lifter sees one map per summand."""
    def products(node, ops):
        if isinstance(node, Einsum) and len(ops) > 1 and _is_product(node) and _depends(node, theta):
            sizes = dict(enumerate(node.sizes))
            wide = [make_einsum([o], [list(s)], list(node.out), sizes) for o, s in zip(ops, node.subs)]
            return make_map(node.coef * sp.Mul(*[placeholder(i) for i in range(len(wide))]), wide, node.shape)
        return None

    return transform([expr], products)[0]


def _is_product(e: Einsum) -> bool:
    return all(len(set(s)) == len(s) and set(s) <= set(e.out) for s in e.subs)
