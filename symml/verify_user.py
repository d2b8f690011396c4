"""Verification of a user's own model: an expression's derivatives, a compiled kernel's outputs.

The checks of :mod:`symml.verify`, applied to what a user writes rather than to a catalog
module. ``check_expression(L, wrt)`` derives ``sm.grad`` (and the Hessian and hvp of a
scalar L, or the Jacobian of a tensor-valued one) and compares each, through
``sm.evaluate``, with central differences of L. ``check_kernel(kernel)`` compares every
output of an ``sm.compile`` kernel with ``sm.evaluate`` of its expression and, for each
output that is a derivative (the calculus records where each came from), with central
differences of the function it differentiates. Inputs not given are drawn at small random
sizes, in the domain the expression needs (see :func:`infer_domains`).

Takes: expressions or compiled kernels, and optional arrays. Gives: a CheckReport.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from .calculus import grad, hessian, hvp, jacobian, origins
from .evaluate import bind_dims, evaluate
from .nodes import Expr, Let, Map, Tensor, as_expr, leaves, walk
from .verify import (
    DOMAINS, _amax, _draw_sizes, _Tally, directional, jvp_error, random_direction, rel_error, tolerance,
)

#: Structured nodes whose first operand must be symmetric positive definite for the draws.
SPD_READERS = {"Inv", "Solve", "Det", "LogDet", "Cholesky", "BatchInv", "BatchSolve", "BatchDet", "BatchLogDet"}


def _positive_args(e: sp.Expr) -> set[int]:
    """Placeholders that ``e`` takes the log, square root, a fractional or a negative power of."""
    out = set()
    for sub in sp.preorder_traversal(e):
        base = None
        if isinstance(sub, sp.log) or (isinstance(sub, sp.Pow) and sub.exp.is_number and not sub.exp.is_integer):
            base = sub.args[0]
        elif isinstance(sub, sp.Pow) and sub.exp.is_number and sub.exp.is_negative:
            base = sub.base
        if base is not None and base.is_Symbol and base.name.startswith("_t"):
            out.add(int(base.name[2:]))
    return out


def infer_domains(exprs) -> dict[str, str]:
    """{tensor name: domain} for the draws: "spd" for a matrix that inv, solve, det or logdet
    reads, "positive" for a tensor that log, sqrt, a fractional or negative power reads,
    "simplex" for a tensor declared ``simplex=True`` (simplification used Σ_k Y_ik = 1)."""
    doms: dict[str, str] = {}

    def base(o):
        while isinstance(o, Let):
            o = o.body
        return o

    for node in walk(list(exprs)):
        if isinstance(node, Tensor) and getattr(node, "simplex", False):
            doms[node.name] = "simplex"
            continue
        if type(node).__name__ in SPD_READERS and node.operands and isinstance(base(node.operands[0]), Tensor):
            doms[base(node.operands[0]).name] = "spd"
        if isinstance(node, Map):
            for k in _positive_args(node.expr):
                t = base(node.operands[k]) if k < len(node.operands) else None
                if isinstance(t, Tensor) and doms.get(t.name) not in ("spd", "simplex"):
                    doms[t.name] = "positive"
    return doms


def draw_point(name: str, tensors, given: dict, rng, scale: float, sizes, domains: dict, dtype=np.float64) -> dict:
    """Arrays by name for ``tensors``: the given ones, the others drawn at sizes that agree."""
    fixed = bind_dims([t for t in tensors if t.name in given], {t.name: given[t.name] for t in tensors if t.name in given})
    env = _draw_sizes(name, tensors, rng, sizes, fixed={k: int(v) for k, v in fixed.items()})
    point = dict(given)
    for t in tensors:
        if t.name in point:
            continue
        kind = domains.get(t.name, "real")
        if kind not in DOMAINS:
            raise ValueError(f"unknown domain {kind!r} for {t.name}: expected one of {', '.join(DOMAINS)}")
        shape = tuple(int(sp.sympify(s).xreplace(env)) for s in t.shape)
        v = DOMAINS[kind](rng, shape, scale)
        point[t.name] = float(v) if not shape else np.asarray(v, dtype=dtype)
    return point


def _targets(f: Expr, wrt) -> list[Tensor]:
    ts = leaves(f) if wrt is None else (list(wrt) if isinstance(wrt, (list, tuple)) else [wrt])
    for t in ts:
        if not isinstance(t, Tensor):
            raise TypeError(f"sm.check: wrt= takes input tensors from sm.tensor/sm.scalar, got {type(t).__name__}")
    if not ts:
        raise ValueError("sm.check: the expression reads no tensors; there is nothing to differentiate")
    return ts


def _points(scales, points, tensors, given):
    """(scale, point index) pairs: at a point fixed by the arrays, only the directions vary."""
    if all(t.name in given for t in tensors):
        return [(1.0, k) for k in range(points)]
    return [(s, k) for s in scales for k in range(points)]


def _floats(point: dict, names, dtype) -> dict:
    return {k: (np.asarray(v, dtype=dtype) if k in names else v) for k, v in point.items()}


def _flat(values) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in values])


def check_expression(f, wrt, given: dict, *, points=3, scales=(0.3, 1.0, 3.0), seed=0, dtype=np.float64,
                     sizes=None, domains=None, second_order=True):
    """Derivatives of ``f`` in ``wrt`` against central differences of ``sm.evaluate(f)``."""
    f = as_expr(f)
    ts = _targets(f, wrt)
    names = [t.name for t in ts]
    tensors = list(dict.fromkeys(leaves(f) + ts))
    doms = {**infer_domains([f]), **(domains or {})}
    rng = np.random.default_rng(seed)
    tally = _Tally(f"expression in {', '.join(names)}", dtype)
    scalar = f.ndim == 0
    if scalar:
        gs = grad(f, ts)
        if second_order:
            try:
                H = hessian(f, ts)
            except ValueError:  # not supported, e.g. through conv2d: no full Hessian, but an hvp (as the catalog's cnn)
                H = None
            V = [Tensor._make(("_v_" + t.name, t.shape), (), t.shape, name="_v_" + t.name) for t in ts]
            hv = hvp(f, ts, V)
    else:
        J = jacobian(f, ts)
    fun = lambda **a: evaluate(f, **a)
    for scale, _ in _points(scales, points, tensors, given):
        point = _floats(draw_point(tally.name, tensors, given, rng, scale, sizes, doms), names, dtype)
        u = random_direction(point, names, rng, dtype, unit=True)
        if not scalar:
            Jv = evaluate(J, **point)
            tally.note("jacobian vs expression", jvp_error(fun, point, u, directional(dict(zip(names, Jv)), u),
                                                           dtype=dtype))
            continue
        gv = evaluate(gs, **point)
        tally.note("grad vs loss", jvp_error(fun, point, u, directional(dict(zip(names, gv)), u), dtype=dtype))
        if second_order:
            fg = lambda **a: _flat(evaluate(gs, **a))
            fscale = _amax(_flat(gv))
            if H is not None:
                rows = evaluate(H, **point)
                Hu = _flat([directional(dict(zip(names, row)), u) for row in rows])
                tally.note("hessian vs grad", jvp_error(fg, point, u, Hu, dtype=dtype, fscale=fscale))
            hvv = evaluate(hv, **point, **{v.name: u[t.name] for v, t in zip(V, ts)})
            tally.note("hvp vs grad", jvp_error(fg, point, u, _flat(hvv), dtype=dtype, fscale=fscale))
    return tally.report()


def _evaluator(e: Expr):
    """arrays ↦ sm.evaluate(e) (a closure per expression; a tensor may be named anything)."""
    return lambda **a: evaluate(e, **a)


def _origin(e: Expr, have: set | None):
    """The most recent recorded origin of a derivative whose inputs are all available."""
    for o in origins(e):
        _, of, t, direction = o
        need = {x.name for x in leaves(of)} | {t.name}
        if direction is not None:
            need |= {x.name for v in direction[1] for x in leaves(v)} | {x.name for x in direction[0]}
        if have is None or need <= have:
            return o
    return None


def check_kernel(kernel, given: dict, *, points=3, scales=(0.3, 1.0, 3.0), seed=0, dtype=np.float64,
                 sizes=None, domains=None):
    """Every output of a compiled kernel against sm.evaluate, and each derivative among them
    against central differences of the function it differentiates."""
    tolerance(dtype)
    kernel.finish_compiling()  # numba's kernel is what is checked, never numpy's first answers
    outs = kernel.outputs
    have = set(given) if given and all(t.name in given for t in kernel.arg_tensors) else None
    plan = [(path, e, _origin(e, have)) for path, e in outs]
    tensors = list(kernel.arg_tensors)
    for _, _, o in plan:
        if o is not None:
            verb, of, t, direction = o
            extra = leaves(of) + [t] + ([x for v in direction[1] for x in leaves(v)] + list(direction[0])
                                        if direction else [])
            tensors += [x for x in extra if x not in tensors]
    exprs = [e for _, e in outs]
    doms = {**infer_domains(exprs + [o[1] for _, _, o in plan if o]), **(domains or {})}
    rng = np.random.default_rng(seed)
    tally = _Tally(f"kernel {kernel.path.stem}", dtype)
    floats = [t.name for t in tensors]
    grads_of: dict = {}
    for scale, _ in _points(scales, points, tensors, given):
        point = _floats(draw_point(tally.name, tensors, given, rng, scale, sizes, doms), floats, dtype)
        got = kernel.call_flat(**point)
        ref = evaluate(tuple(exprs), **point)
        for (path, e, o), kv, rv in zip(plan, got, ref):
            tally.note(f"{path} vs evaluate", rel_error(kv, rv, _amax(rv), dtype))
            if o is None:
                continue
            verb, of, t, direction = o
            if verb == "hvp":
                key = (of.uid, t.uid)
                if key not in grads_of:
                    grads_of[key] = grad(of, t)
                g = grads_of[key]
                vals = evaluate(tuple(direction[1]), **point)
                v = {x.name: np.asarray(val, dtype=float) for x, val in zip(direction[0], vals)}
                # along the unit direction v/‖v‖ (the step is sized for unit directions), so H·v/‖v‖
                norm = float(np.sqrt(sum(np.sum(x * x) for x in v.values()))) or 1.0
                v = {k: np.asarray(x / norm, dtype=dtype) for k, x in v.items()}
                err = jvp_error(_evaluator(g), point, v, np.asarray(kv) / norm, dtype=dtype)
                label = f"{path} vs fd of ∂/∂{t.name}"
            else:
                u = random_direction(point, [t.name], rng, dtype, unit=True)
                err = jvp_error(_evaluator(of), point, u, directional({t.name: kv}, u), dtype=dtype)
                label = f"{path} vs fd ({verb} in {t.name})"
            tally.note(label, err)
    return tally.report()


def _register() -> None:
    import sys

    from . import verify
    from .codegen import jit
    from .nodes import register_stage

    module = sys.modules[__name__]
    register_stage(verify.USER_CHECKS, module)
    register_stage(jit.VERIFY, module)


_register()
