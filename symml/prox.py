"""Proximal operators derived symbolically, and their elementwise tensor forms.

The proximal operator of t·h (t > 0) at v is the solution of a one-dimensional problem,

    prox_{t h}(v) = argmin_x  φ(x),   φ(x) = ½(x − v)² + t·h(x).

For a convex penalty h that is smooth on x > 0 and on x < 0, with at most a kink at 0
(|x|, max(x, 0), ...), :func:`derive_prox` solves it the way one does on paper:

1. on each open sign region σx > 0 (σ = ±1), h is smooth, so the minimiser there solves
   φ'(x) = 0; SymPy solves it, and the region condition σ·x*(v) > 0 is solved for v;
2. x = 0 is the minimiser iff 0 lies in the subdifferential, φ'(0⁻) ≤ 0 ≤ φ'(0⁺), again
   solved for v;
3. the three sets of v are checked to partition ℝ (they abut, each boundary point in
   exactly one), which is what makes the piecewise answer a function of v;
4. for an even h the three pieces are assembled as sign(v)·max(x₊*(|v|), 0), with x₊* the
   root of the positive region, and that expression is checked against every piece.

For h = |x| this derives soft-thresholding, S_t(v) = sign(v)·max(|v| − t, 0), spelled
with ``sign``, ``Max`` and ``Abs``, which codegen supports. :func:`soft_threshold`
applies it elementwise to a tensor.

Reference: Parikh & Boyd, Proximal Algorithms (2014), §6.5.2.

Takes: SymPy scalar penalties, or tensors. Gives: SymPy expressions, or a Map node.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from .nodes import Expr, elementwise


class ProxError(ValueError):
    """The prox problem is not of the form this module solves (one smooth root per sign region)."""


@dataclass(frozen=True)
class ProxDerivation:
    """The derived prox of t·h: its pieces, their regions in v, and a closed form.

    Attributes:
        penalty: h(x).
        x, v, t: the SymPy symbols (x, v real; t positive).
        branches: ((x*(v), region of v), ...) for the regions x > 0 and x < 0.
        zero_region: the interval of v where the minimiser is x = 0 (a point for a smooth h).
        piecewise: the minimiser as a Piecewise in v.
        closed_form: sign(v)·max(x₊*(|v|), 0) for an even h, else None.
    """

    penalty: sp.Expr
    x: sp.Symbol
    v: sp.Symbol
    t: sp.Symbol
    branches: tuple
    zero_region: sp.Interval
    piecewise: sp.Expr
    closed_form: sp.Expr | None


def derive_prox(h: sp.Expr, x: sp.Symbol) -> ProxDerivation:
    """Derive prox_{t h}(v) = argmin_x ½(x − v)² + t·h(x) for a penalty with a kink at 0.

    Args:
        h: the penalty, a SymPy expression in x.
        x: the real symbol h is written in.

    Returns:
        A ProxDerivation; raises ProxError where a step of the derivation fails.

    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> derive_prox(sp.Abs(x), x).closed_form
    sign(v)*Max(0, -t + Abs(v))
    """
    x_r = sp.Symbol(x.name, real=True)
    h = sp.sympify(h).xreplace({x: x_r})
    x = x_r
    v = sp.Symbol("v", real=True)
    t = sp.Symbol("t", positive=True)
    phi = (x - v) ** 2 / 2 + t * h
    branches, slopes = [], []
    for sgn in (1, -1):
        # on σx > 0 write x = σ·ξ with ξ > 0, so Abs, Max, sign resolve; then back to x
        xi = sp.Symbol("xi", positive=True)
        smooth = phi.xreplace({x: sgn * xi}).xreplace({xi: sgn * x})
        dphi = sp.diff(smooth, x)
        if dphi.has(sp.Abs, sp.sign, sp.Max, sp.Min, sp.Heaviside, sp.Piecewise):
            raise ProxError(f"{h} is not smooth on the region {'x > 0' if sgn > 0 else 'x < 0'}")
        if not sp.diff(dphi, x).xreplace({x: sgn * xi}).is_positive:
            raise ProxError(f"½(x − v)² + t·({h}) is not strictly convex on {'x > 0' if sgn > 0 else 'x < 0'}")
        roots = sp.solve(dphi, x)
        if len(roots) != 1:
            raise ProxError(f"stationarity on {'x > 0' if sgn > 0 else 'x < 0'} has {len(roots)} roots: {roots}")
        root = roots[0]
        region = sp.solve_univariate_inequality(sgn * root > 0, v, relational=False)
        branches.append((sp.simplify(root), region))
        slopes.append(dphi.subs(x, 0))  # φ'(0⁺), then φ'(0⁻)
    right, left = slopes
    # 0 ∈ ∂φ(0) = [φ'(0⁻), φ'(0⁺)]
    zero_region = _meet(sp.solve_univariate_inequality(left <= 0, v, relational=False),
                        sp.solve_univariate_inequality(right >= 0, v, relational=False))
    _check_partition([branches[1][1], zero_region, branches[0][1]])
    piecewise = sp.Piecewise(
        (branches[0][0], branches[0][1].as_relational(v)),
        (branches[1][0], branches[1][1].as_relational(v)),
        (sp.S.Zero, True),
    )
    closed = None
    if sp.simplify(h.xreplace({x: -x}) - h) == 0:
        closed = _assemble_even(branches, zero_region, v, t)
    return ProxDerivation(h, x, v, t, tuple(branches), zero_region, piecewise, closed)


def _meet(a: sp.Set, b: sp.Set) -> sp.Set:
    """The intersection of two intervals with symbolic ends (SymPy leaves it unevaluated)."""
    if not (isinstance(a, sp.Interval) and isinstance(b, sp.Interval)):
        raise ProxError(f"the zero region is not an interval: {a} ∩ {b}")
    lo, hi = sp.Max(a.inf, b.inf), sp.Min(a.sup, b.sup)
    left_open = a.left_open if lo == a.inf and lo != b.inf else b.left_open if lo == b.inf and lo != a.inf else (
        a.left_open or b.left_open)
    right_open = a.right_open if hi == a.sup and hi != b.sup else b.right_open if hi == b.sup and hi != a.sup else (
        a.right_open or b.right_open)
    return sp.Interval(lo, hi, left_open, right_open)


def _check_partition(parts: list) -> None:
    """Intervals ordered left to right cover ℝ, and each shared end lies in exactly one."""
    ends = []
    for p in parts:
        if isinstance(p, sp.FiniteSet) and len(p) == 1:  # a smooth h: x = 0 only at one v
            (a,) = p.args
            ends.append((a, a, False, False))
        elif isinstance(p, sp.Interval) and (p.inf < p.sup) == sp.true:
            ends.append((p.inf, p.sup, p.left_open, p.right_open))
        else:
            raise ProxError(f"a region of v is not an interval or a point: {p}")
    if ends[0][0] != -sp.oo or ends[-1][1] != sp.oo:
        raise ProxError(f"the regions {parts} do not cover the real line")
    for (_, a_sup, _, a_ropen), (b_inf, _, b_lopen, _) in zip(ends, ends[1:]):
        if a_sup != b_inf or a_ropen == b_lopen:
            raise ProxError(f"the regions {parts} do not meet in exactly one point at {a_sup}")


def _assemble_even(branches, zero_region, v, t) -> sp.Expr:
    """sign(v)·max(x₊*(|v|), 0), checked against each branch and the zero region."""
    (root_pos, region_pos), (root_neg, region_neg) = branches
    inner = root_pos.xreplace({v: sp.Abs(v)})
    closed = sp.sign(v) * sp.Max(inner, 0)
    s = sp.Symbol("s", positive=True)
    # on (a, ∞) put v = a + s, on (−∞, a) put v = a − s, with s > 0: the region holds by construction
    for root, region, at in ((root_pos, region_pos, region_pos.inf + s), (root_neg, region_neg, region_neg.sup - s)):
        if sp.simplify(closed.xreplace({v: at}) - root.xreplace({v: at})) != 0:
            raise ProxError(f"sign(v)·max({inner}, 0) differs from {root} on {region}")
    # on the zero region the max is 0 exactly: {v : x₊*(|v|) ≤ 0} is that region
    dead = sp.solve_univariate_inequality(inner <= 0, v, relational=False)
    if dead != zero_region:
        raise ProxError(f"max({inner}, 0) vanishes on {dead}, the minimiser on {zero_region}")
    return closed


@lru_cache(maxsize=None)
def soft_threshold_derivation() -> ProxDerivation:
    """The prox of t·|x|, derived: soft-thresholding."""
    x = sp.Symbol("x", real=True)
    return derive_prox(sp.Abs(x), x)


def soft_threshold(v, t) -> Expr:
    """S_t(v) = sign(v)·max(|v| − t, 0), elementwise: the prox of t‖·‖₁ at v.

    Args:
        v: a tensor expression (any shape).
        t: the threshold, a rank-0 expression (t > 0).

    >>> import symml as sm
    >>> d = sm.dims("d")
    >>> soft_threshold(sm.tensor("w", (d,)), sm.scalar("t")).shape
    (d,)
    """
    p = soft_threshold_derivation()
    return elementwise(lambda a, b: p.closed_form.xreplace({p.v: a, p.t: b}), v, t, op="soft_threshold")
