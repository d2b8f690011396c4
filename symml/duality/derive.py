"""Constrained problems: Lagrangians, KKT conditions and duals, derived symbolically.

``lagrangian(f, wrt, eq=..., ineq=...)`` states  min f(x) (or max, with ``maximize``)
subject to hᵢ(x) = 0 and gⱼ(x) ≤ 0, over the primal variables ``wrt``, and attaches one
multiplier tensor per constraint, shaped like it:

    min:  L = f + Σ ⟨νᵢ, hᵢ⟩ + Σ ⟨λⱼ, gⱼ⟩,   λⱼ ≥ 0,   q(ν, λ) = inf_x L   (maximise q)
    max:  L = f − Σ ⟨νᵢ, hᵢ⟩ − Σ ⟨λⱼ, gⱼ⟩,   λⱼ ≥ 0,   q(ν, λ) = sup_x L   (minimise q)

``kkt(problem)`` gives the four groups of KKT conditions as :class:`Condition` objects
(printable, and with numeric residuals). ``dual(problem)`` derives q:

1. For each primal variable p (in the given order; one whose equation cannot be solved
   yet is retried after the others): if ∇_p L no longer involves p, L is affine in p and
   the infimum is −∞ unless ∇_p L = 0, a condition on the multipliers, which becomes a
   dual constraint (Σαᵢyᵢ = 0 from an intercept, C − α − μ = 0 from slacks ξ); p is set
   to 0, which leaves L unchanged under that constraint. Otherwise ∇_p L = 0 is solved for p
   with the stationarity solvers (a multiple of the identity, then ``solve_linear``,
   ``solve_entrywise``, ``solve_scalar``) and substituted into L.
2. A multiplier μ ≥ 0 that appears in one such constraint and nowhere else is eliminated:
   the constraint is solved for μ and μ ≥ 0 becomes a constraint on the others
   (C − α − μ = 0 and μ ≥ 0 give α ≤ C).
3. The result is brought to the normal form of :func:`symml.duality.algebra.expand`, so
   that like terms combine and the Gram matrix XXᵀ is visible to ``kernelize``
   (:mod:`symml.duality.kernels`, re-exported here).

``eliminate(D, ν)`` then optimises the dual over unconstrained multipliers in closed form,
solving ∂q/∂ν = 0 written, by Danskin's theorem, as the constraint at the recovered primal
point (∂q/∂ν = h(x*(ν))): far smaller than the derivative of q itself. ``solve_dual``
eliminates them all and returns the closed-form optimum (least-norm, kernel ridge, the
categorical MLE, a Markov chain's stationary distribution).

Decisions: the solution of ∇_p L = 0 is taken to be the minimiser (maximiser) over p, as
it is for a problem convex (concave) in p. Where the Hessian of L in p involves the
multipliers (PCA: 2S − 2λI), that is not automatic, and the curvature condition (2S − 2λI
⪯ 0, printed λI ⪰ S) is kept as a dual constraint; if then ∇_p L = 0 is homogeneous
(A(λ)p = 0), no recovery is recorded: at the dual optimum A is singular and the primal
solutions span its null space (the eigenvectors). When stationarity cannot be solved, :class:`NoClosedForm`
names the variable, prints its equation and says what each solver found.

Takes: graph nodes. Gives: :class:`Problem`, :class:`KKT`, :class:`Dual` and graph nodes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import reduce

import sympy as sp

from ..calculus import grad, jacobian, substitute
from .algebra import assemble, expand, monomials, stabilize
from .conditions import Condition
from .kernels import (Kernel, KernelizeError, _as_kernel, _data, _rewrite, _uses, gram, kernelize, linear_kernel,
                      polynomial_kernel, rbf_kernel)
from .problem import Problem, lagrangian, render_block, split_sign
from ..nodes import Einsum, Expr, Eye, Tensor, const, is_zero, leaves, make_einsum, make_map, placeholder
from ..stationarity import NoClosedForm, solve_entrywise, solve_linear, solve_scalar
from ..structured import Solve

__all__ = ["Problem", "KKT", "Dual", "Condition", "lagrangian", "kkt", "dual", "eliminate", "solve_dual",
           "NoClosedForm", "kernelize", "gram", "Kernel", "KernelizeError", "linear_kernel", "polynomial_kernel",
           "rbf_kernel"]


def _depends(e: Expr, t: Tensor) -> bool:
    return t.uid in {x.uid for x in leaves(e)}


# --------------------------------------------------------------------------- KKT


@dataclass(eq=False)
class KKT:
    """The KKT conditions of a :class:`Problem`, in four groups of :class:`Condition`."""

    problem: Problem
    stationarity: list
    primal_feasibility: list
    dual_feasibility: list
    complementary_slackness: list

    @property
    def groups(self) -> dict:
        return {"stationarity": self.stationarity, "primal feasibility": self.primal_feasibility,
                "dual feasibility": self.dual_feasibility, "complementary slackness": self.complementary_slackness}

    def residuals(self, **arrays) -> dict:
        """{group: the largest violation of its conditions} at the given primal values,
        multipliers and data (by name). Each is 0 at an exact KKT point."""
        return {g: max((c.residual(**arrays) for c in cs), default=0.0) for g, cs in self.groups.items()}

    def render(self, fmt: str = "unicode") -> str:
        return render_block([(g, [c.render(fmt) for c in cs]) for g, cs in self.groups.items() if cs], fmt)

    def __str__(self):
        return self.render("unicode")

    __repr__ = __str__

    def _repr_latex_(self):
        return "$\\displaystyle " + self.render("latex") + "$"


def kkt(problem: Problem) -> KKT:
    """The KKT conditions: stationarity ∇ₓL = 0, primal feasibility h = 0 and g ≤ 0, dual
    feasibility λ ≥ 0, complementary slackness λ ⊙ g = 0.

    >>> import symml as sm
    >>> from symml.duality import lagrangian, kkt
    >>> d = sm.dims("d")
    >>> S, w = sm.tensor("S", (d, d)), sm.tensor("w", (d,))
    >>> print(kkt(lagrangian(w @ S @ w, [w], eq={"lam": (w @ w, 1)}, maximize=True, symmetric=[S])))
    stationarity:         Sw = λw
    primal feasibility:   wᵀw = 1
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"sm.kkt takes a Problem from sm.lagrangian(...), got {type(problem).__name__}")
    mult = problem.multipliers
    opts = {"multipliers": mult, "primal": problem.wrt, "symmetric": problem.symmetric}
    stat = [Condition(grad(problem.L, p), "=", f"∂L/∂{p.name} = 0", **opts) for p in problem.wrt]
    feas = [Condition(h, "=", "h = 0", sides=sides, **opts) for _, h, sides in problem.eq]
    feas += [Condition(g, "<=", "g ≤ 0", sides=sides, **opts) for _, g, sides in problem.ineq]
    dual_f = [Condition(lam, ">=", f"{lam.name} ≥ 0", **opts) for lam, _, _ in problem.ineq]
    slack = [Condition(lam * g, "=", f"{lam.name} ⊙ g = 0", sides=(lam * split_sign(g)[1], const(0, ())), **opts)
             for lam, g, _ in problem.ineq]
    return KKT(problem, stat, feas, dual_f, slack)


# --------------------------------------------------------------------------- the dual


@dataclass(eq=False)
class Dual:
    """The dual problem: optimise ``objective`` q over ``variables`` subject to ``constraints``.

    Attributes:
        problem: the primal :class:`Problem`.
        objective: q, the dual function (an expression in the multipliers and the data).
        maximize: True for the dual of a minimisation (maximise q), False for the dual of a
            maximisation (minimise q).
        variables: the multiplier tensors q is optimised over.
        constraints: :class:`Condition` list (equations, bounds, curvature conditions).
        recover: primal variable → its value in terms of the multipliers (None for one that
            stationarity leaves undetermined, such as an SVM's intercept).
        eliminated: multiplier → its value in terms of the remaining ones.
    """

    problem: Problem
    objective: Expr
    maximize: bool
    variables: list
    constraints: list = field(default_factory=list)
    recover: dict = field(default_factory=dict)
    eliminated: dict = field(default_factory=dict)

    @property
    def loss(self) -> Expr:
        """The dual objective as a function to minimise: −q for maximize, else q (catalog kernels)."""
        return make_map(-placeholder(0), [self.objective]) if self.maximize else self.objective

    def residuals(self, **arrays) -> list[float]:
        """The violation of each dual constraint at the given multipliers and data."""
        return [c.residual(**arrays) for c in self.constraints]

    def render(self, fmt: str = "unicode") -> str:
        from ..printing import latex, pretty

        show = pretty if fmt == "unicode" else latex
        names = ", ".join(show(v) for v in self.variables)
        rows = [(("maximize" if self.maximize else "minimize") + f" over {names}", [show(self.objective)])]
        if self.constraints:
            rows.append(("subject to", [c.render(fmt) for c in self.constraints]))
        rec = [f"{show(p)} = {show(v)}" for p, v in self.recover.items() if v is not None]
        rec += [f"{show(m)} = {show(v)}" for m, v in self.eliminated.items()]
        if rec:
            rows.append(("recovery", rec))
        return render_block(rows, fmt)

    def __str__(self):
        return self.render("unicode")

    __repr__ = __str__

    def _repr_latex_(self):
        return "$\\displaystyle " + self.render("latex") + "$"


@kernelize.register(Dual)
def _kernelize_dual(obj: Dual, kernel, data=None) -> Dual:
    """The kernel trick on a dual: its objective, constraints and the recoveries that are
    functions of inner products (w = Xᵀ(α ⊙ y) lives in feature space and is dropped)."""
    k = _as_kernel(kernel)
    found = _data(data, [obj.objective] + [c.expr for c in obj.constraints])
    cons = [replace(c, expr=_rewrite(c.expr, k, found)) if _uses(c.expr, found) else c for c in obj.constraints]
    recover = {}
    for p, r in obj.recover.items():
        try:
            recover[p] = _rewrite(r, k, found) if r is not None and _uses(r, found) else r
        except KernelizeError:
            continue  # lives in feature space: no kernel form
    return replace(obj, objective=_rewrite(obj.objective, k, found), constraints=cons, recover=recover,
                   eliminated=dict(obj.eliminated), variables=list(obj.variables))


def dual(problem: Problem) -> Dual:
    """The Lagrange dual of ``problem``, derived by solving stationarity (module docstring).

    Raises:
        NoClosedForm: when ∇ₓL = 0 cannot be solved for some primal variable.

    >>> import symml as sm
    >>> from symml.duality import lagrangian, dual
    >>> n, d = sm.dims("n d")
    >>> X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
    >>> D = dual(lagrangian(sm.norm2(w), [w], eq={"nu": (X @ w, y)}))
    >>> sm.pretty(D.objective), sm.pretty(D.recover[w])
    ('−yᵀν − νᵀXXᵀν/4', '−Xᵀν/2')
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"sm.dual takes a Problem from sm.lagrangian(...), got {type(problem).__name__}")
    L, todo, order, solved = problem.L, list(problem.wrt), [], {}
    conditions, curvature = [], []
    opts = {"multipliers": problem.multipliers, "symmetric": problem.symmetric}
    while todo:
        failures = {}
        for p in todo:
            if not _depends(L, p):
                solved[p] = None
                break
            g = grad(L, p)
            if not _depends(g, p):  # L affine in p: bounded only where ∇_p L = 0
                others = [q.name for q in todo if q is not p and _depends(g, q)]
                if others:
                    failures[p] = f"L is affine in {p.name} with a coefficient that involves {', '.join(others)}"
                    continue
                conditions.append(Condition(expand(g, problem.symmetric), "=", f"∂L/∂{p.name} = 0", **opts))
                L, solved[p] = substitute(L, {p: const(0, p.shape)}), None
                break
            try:
                sol, hess = solve_stationarity(g, p)
            except NoClosedForm as exc:
                failures[p] = str(exc)
                continue
            if hess is not None and any(_depends(hess, m) for m in problem.multipliers):
                curvature.append(Condition(expand(hess, problem.symmetric), "nsd" if problem.maximize else "psd",
                                           f"∂²L/∂{p.name}² {'⪯' if problem.maximize else '⪰'} 0", **opts))
                if is_zero(sol):  # A(ν)p = 0: at the optimum A is singular, p spans its null space
                    L, solved[p] = substitute(L, {p: sol}), None
                    break
            L, solved[p] = substitute(L, {p: sol}), sol
            break
        else:
            raise NoClosedForm(_failure_message(problem, failures))
        todo.remove(p)
        order.append(p)
    recover = {}
    for p in reversed(order):  # back-substitution: earlier solutions in terms of later variables
        sol = solved[p]
        if sol is not None:
            later = {q: v for q, v in recover.items() if v is not None and _depends(sol, q)}
            sol = expand(substitute(sol, later) if later else sol)
        recover[p] = sol
    bounds = [Condition(lam, ">=", f"{lam.name} ≥ 0", **opts) for lam, _, _ in problem.ineq]
    variables = list(problem.multipliers)
    D = Dual(problem, expand(L, problem.symmetric), not problem.maximize, variables, [],
             {p: recover[p] for p in problem.wrt})
    return _eliminate_slacks(D, conditions, bounds, curvature)


def _eliminate_slacks(D: Dual, conditions, bounds, curvature) -> Dual:
    """Solve an equation C − α − μ = 0 for a multiplier μ ≥ 0 found nowhere else; μ ≥ 0
    becomes α ≤ C (step 2 of the module docstring)."""
    opts = {"multipliers": D.variables, "symmetric": D.problem.symmetric}
    for bound in list(bounds):
        mu = bound.expr
        rest = [c.expr for c in conditions + curvature] + [D.objective]
        hits = [c for c in conditions if _depends(c.expr, mu)]
        if len(hits) != 1 or _depends(D.objective, mu) or sum(_depends(e, mu) for e in rest) != 1:
            continue
        try:
            sol, _ = solve_stationarity(hits[0].expr, mu)
        except NoClosedForm:
            continue
        sol = expand(sol, D.problem.symmetric)
        conditions.remove(hits[0])
        bounds[bounds.index(bound)] = Condition(sol, ">=", f"{mu.name} = {hits[0].label} ≥ 0", **opts)
        D.variables.remove(mu)
        D.eliminated[mu] = sol
    D.constraints = conditions + bounds + curvature
    for c in D.constraints:
        c.multipliers = list(D.variables)
    return D


def _failure_message(problem: Problem, failures: dict) -> str:
    """One line: which variables, their equations, and what each solver found."""
    from ..printing import pretty

    parts = [f"∂L/∂{p.name} = {pretty(grad(problem.L, p))} = 0 ({why})" for p, why in failures.items()]
    return (f"no closed form for the dual: stationarity cannot be solved for {', '.join(p.name for p in failures)}: "
            + "; ".join(parts) + ". symml solves stationarity that is affine in a variable or separable entry by "
            "entry; solve the dual numerically from the KKT conditions instead (sm.kkt(problem))")


# --------------------------------------------------------------------------- solvers


def solve_stationarity(g: Expr, p: Tensor):
    """Solve g(p) = 0 for p: (solution, ∂g/∂p or None).

    Tried in turn: g affine in p with a Jacobian that is a multiple of the identity
    (p = −g(0)/c, no linear solve); g affine in p with g(0) = 0 (p = 0, the homogeneous
    case of an eigenproblem); :func:`solve_linear`; :func:`solve_entrywise`;
    :func:`solve_scalar` for a scalar p. Raises NoClosedForm naming what each found.
    """
    reasons = []
    try:
        A = jacobian(g, p)
    except Exception as exc:  # noqa: BLE001 - a node without a second derivative: not affine
        A, reasons = None, [f"not differentiable twice ({exc})"]
    if A is not None and not _depends(A, p):
        c0 = expand(substitute(g, {p: const(0, p.shape)}))
        scale = _identity_multiple(A, p)
        if is_zero(c0):
            return const(0, p.shape), A
        if scale is not None:
            return make_map(-placeholder(0) / placeholder(1), [c0, scale], p.shape), A
        if p.ndim == 1:  # a linear solve, with numeric factors pulled out: (XXᵀ)⁻¹y, not (−XXᵀ/2)⁻¹y
            ca, A1 = _content(A)
            cc, c1 = _content(c0)
            return make_map(-cc / ca * placeholder(0), [Solve.new(A1, c1)]), A
        try:
            return solve_linear(g, p), A
        except NoClosedForm as exc:
            reasons.append(str(exc))
    elif A is not None:
        reasons.append(f"not affine in {p.name}")
    try:
        return solve_entrywise(g, p), None
    except NoClosedForm as exc:
        reasons.append(str(exc))
    except Exception as exc:  # noqa: BLE001 - SymPy could not solve the entry equation
        reasons.append(f"the entry equation has no closed form ({type(exc).__name__})")
    if p.ndim == 0:
        try:
            return solve_scalar(g, p), None
        except Exception as exc:  # noqa: BLE001
            reasons.append(str(exc))
    raise NoClosedForm("; ".join(dict.fromkeys(reasons)))


def _content(e: Expr):
    """(c, e/c): the common numeric factor of e's monomials (negative if the first term is)."""
    terms = monomials(e)
    coefs = [c for c, _ in terms]
    if not terms or not all(c.is_Rational for c in coefs):
        return sp.Integer(1), e
    g = abs(reduce(sp.gcd, coefs)) * (-1 if coefs[0] < 0 else 1)
    return g, assemble([(c / g, m) for c, m in terms], e.shape)


def _identity_multiple(A: Expr, p: Tensor):
    """s (a rank-0 expression) when the Jacobian A of a vector equation is s·I, else None:
    each monomial of A is then the identity times scalars (2I, I/λ, (1 + λ)I)."""
    if p.ndim != 1:
        return None
    parts = []
    for c, m in monomials(A):
        if isinstance(m, Eye):
            parts.append((c, const(1, ())))
            continue
        if not isinstance(m, Einsum):
            return None
        eyes = [k for k, o in enumerate(m.operands) if isinstance(o, Eye)]
        if len(eyes) != 1 or list(m.subs[eyes[0]]) != list(m.out) or \
                any(o.ndim for k, o in enumerate(m.operands) if k != eyes[0]):
            return None
        scalars = [o for k, o in enumerate(m.operands) if k != eyes[0]]
        parts.append((c * m.coef, make_einsum(scalars, [[] for _ in scalars], [], {})))
    return assemble(parts, ()) if parts else None


# --------------------------------------------------------------------------- solving the dual


def eliminate(D: Dual, variables) -> Dual:
    """Optimise the dual over some multipliers in closed form (their stationarity solved and
    substituted). Those multipliers must be unconstrained in the dual.

    This is how ν of Σp = 1 leaves the maximum-entropy dual, which leaves the log-partition
    function, and how an equality-constrained dual is solved outright (:func:`solve_dual`).

    Args:
        D: a dual from :func:`dual`.
        variables: a multiplier tensor of ``D`` or a list of them, eliminated in this order.

    Returns:
        A new Dual without them; ``eliminated`` holds their optimal values.

    >>> import symml as sm
    >>> K = sm.dims("K")
    >>> p, c = sm.tensor("p", (K,)), sm.tensor("c", (K,))
    >>> D = dual(lagrangian(c @ sm.log(p), [p], eq={"nu": (sm.sum(p), 1)}, maximize=True))
    >>> sm.pretty(eliminate(D, D.variables[0]).recover[p])
    '(1/sum(c))c'
    """
    vs = list(variables) if isinstance(variables, (list, tuple)) else [variables]
    D = replace(D, variables=list(D.variables), constraints=list(D.constraints), recover=dict(D.recover),
                eliminated=dict(D.eliminated))
    for v in vs:
        if not any(v is x for x in D.variables):
            raise ValueError(f"eliminate: {getattr(v, 'name', v)!r} is not a variable of this dual "
                             f"(its variables: {', '.join(x.name for x in D.variables)})")
        bound = [c for c in D.constraints if _depends(c.expr, v)]
        if bound:
            raise NoClosedForm(f"{v.name} is constrained in the dual ({bound[0]}); optimise it numerically")
        sol, _ = solve_stationarity(_dual_gradient(D, v), v)
        sym = D.problem.symmetric

        def put(e):  # substitute and collect, in the raw form in which (1/s)·s cancels
            return expand(substitute(e, {v: sol}), sym, stable=False) if e is not None and _depends(e, v) else e

        sol = expand(sol, sym, stable=False)
        D.objective = put(D.objective)
        D.recover = {p: put(r) for p, r in D.recover.items()}
        D.eliminated = {m: put(r) for m, r in D.eliminated.items()}
        D.eliminated[v] = sol
        D.variables.remove(v)
    D.objective = stabilize(D.objective)
    D.recover = {p: (stabilize(r) if r is not None else r) for p, r in D.recover.items()}
    D.eliminated = {m: stabilize(r) for m, r in D.eliminated.items()}
    return D


def _dual_gradient(D: Dual, v: Tensor) -> Expr:
    """∂q/∂ν: by Danskin's theorem ±h(x*(ν)), the constraint at the recovered primal point,
    a far smaller equation than the derivative of q itself (π(ν) = (1 − ν)M⁻¹𝟏 gives
    𝟏ᵀπ(ν) − 1 = 0, linear in ν); the derivative of q where the recovery is incomplete."""
    for m, h, _ in D.problem.eq:
        if m is v:
            rec = {p: r for p, r in D.recover.items() if _depends(h, p)}
            if all(r is not None for r in rec.values()):
                return expand(substitute(h, rec), D.problem.symmetric, stable=False)
    return grad(D.objective, v)


def solve_dual(D: Dual) -> dict:
    """The closed-form dual optimum and primal solution, {tensor: expression}, for a dual
    without constraints on its variables (equality-constrained primal problems).

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
    >>> sm.pretty(solve_dual(dual(lagrangian(sm.norm2(w), [w], eq={"nu": (X @ w, y)})))[w])
    'Xᵀ((XXᵀ)⁻¹y)'
    """
    S = eliminate(D, list(D.variables))
    out = dict(S.eliminated)
    out.update({p: v for p, v in S.recover.items() if v is not None})
    return out


