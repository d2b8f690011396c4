"""The numpy reference evaluator: slow, simple, and independent of codegen.

``evaluate(expr, **arrays)`` binds dimension sizes from the arrays, checks every shape,
and computes the expression node by node with numpy (einsum for contractions, a small
interpreter over the SymPy tree for elementwise maps). Codegen kernels are tested
against it, and finite differences test it. It walks the graph as :mod:`symml.lowering`
plans it, as the kernels do: no array larger than the problem needs, and one SciPy
factorisation (Cholesky or LU) for all the log dets, dets, solves and inverses of a matrix.

Takes: graph nodes and numpy arrays. Gives: numpy arrays.
"""
from __future__ import annotations

import difflib
import string
import warnings

import numpy as np
import sympy as sp

from . import nodes
from .functions import NUMPY_FUNCTIONS
from .nodes import Dim, Einsum, Expr, Eye, Let, Map, Tensor, as_expr, fmt_shape, leaves
from .lowering import FactorPlan, planned_order
from .structured import Det, Inv, LogDet, Solve
from .structured_index import Labels, check_labels


class BindError(ValueError):
    """An input array does not fit the expression."""


# ------------------------------------------------------------------ declared tensors
#
# One dict of inputs serves a loss and all its derivatives, although a derivative may stop
# reading some of them (∂/∂b of a loss linear in b reads neither b nor λ). So an array whose
# name is not read by the expression is accepted when a tensor of that name has been
# *declared*: created with sm.tensor/sm.scalar (or any DSL call that makes an input) in
# this process. The graph records them as it builds them (symml.nodes.DECLARED). A name that
# no tensor has is refused, with the closest names offered.


def declared_tensors(name: str) -> list[Tensor]:
    """Every input tensor created with this name in this process (several if re-declared)."""
    return list(nodes.DECLARED.get(name, ()))


def unknown_input(name: str, reads) -> str:
    """The message for an array whose name matches no declared tensor, with a did-you-mean."""
    pool = sorted(set(reads) | set(nodes.DECLARED))
    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return (f"unknown input {name!r}{hint}: no tensor of that name was created with sm.tensor/sm.scalar; "
            f"the expression reads {', '.join(sorted(reads)) or 'no inputs'}")


def related_tensors(roots) -> dict[str, Tensor]:
    """{name: tensor} for the inputs of ``roots`` and of the functions they are derivatives
    of (the most recent record of each, see ``symml.calculus.ORIGINS``), with the targets:
    the tensors an unread array most likely stands for, when a name was declared twice."""
    from .calculus import ORIGINS

    out: dict[str, Tensor] = {}
    stack, seen = list(roots), set()
    while stack:
        e = stack.pop()
        if e.uid in seen:
            continue
        seen.add(e.uid)
        for t in leaves(e):
            out.setdefault(t.name, t)
        if ORIGINS.get(e.uid):
            _, of, t, direction = ORIGINS[e.uid][-1]
            out.setdefault(t.name, t)
            stack.append(of)
            if direction:
                stack += list(direction[0]) + list(direction[1])
    return out


def _extra_tensor(name: str, a, related: dict | None = None) -> Tensor | None:
    """The declared tensor an unread array stands for: the one of that name among the
    ``related`` tensors, else the only one of that name, else the only one of the array's
    rank; None if that is ambiguous (it is then accepted unchecked)."""
    if related and name in related:
        return related[name]
    every = declared_tensors(name)
    if len(every) == 1:
        return every[0]
    fits = {t.shape: t for t in every if t.ndim == np.ndim(a)}
    return next(iter(fits.values())) if len(fits) == 1 else None


def bind_dims(inputs, arrays: dict, dims: dict | None = None, related: dict | None = None) -> dict:
    """Check arrays against input tensors and return {Dim: int}.

    Arrays named after declared tensors that ``inputs`` does not contain are accepted (see
    :func:`declared_tensors`): they are checked like inputs and bind the sizes that the
    inputs leave free (the d of a zero gradient ∂L/∂b, b ∈ ℝᵈ). A name that no tensor has
    raises BindError with a did-you-mean.

    Raises BindError naming the tensor, its expected shape in dimension names and the
    actual shape.
    """
    env: dict = {}
    for k, v in (dims or {}).items():
        key = k if isinstance(k, Dim) else Dim(str(k))
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise BindError(f"dims: {key} must be a positive int, got {v!r}")
        env[key] = sp.Integer(int(v))
    names = {t.name for t in inputs}
    if len(names) != len(inputs):
        seen = {}
        for t in inputs:
            if t.name in seen:
                raise BindError(
                    f"two different input tensors are named {t.name!r} (shapes {fmt_shape(seen[t.name].shape)} and "
                    f"{fmt_shape(t.shape)}); give each tensor its own name"
                )
            seen[t.name] = t
    extras = []
    for k in arrays:
        if k in names:
            continue
        if not declared_tensors(k):
            raise BindError(unknown_input(k, names))
        t = _extra_tensor(k, arrays[k], related)
        if t is not None:
            extras.append(t)
    for t in inputs:
        if t.name not in arrays:
            raise BindError(f"missing input {t.name!r}: expected an array of shape {fmt_shape(t.shape)}")
    checked = list(inputs) + extras
    for t in checked:
        a = np.asarray(arrays[t.name])
        if a.dtype.kind not in "biuf":
            raise BindError(f"input {t.name!r}: expected a real array of shape {fmt_shape(t.shape)}, got dtype {a.dtype}")
        if a.ndim != t.ndim:
            raise BindError(f"{t.name}: expected rank {t.ndim} with shape {fmt_shape(t.shape)}, got shape {a.shape}")
        for s, actual in zip(t.shape, a.shape):
            if isinstance(s, Dim) and s not in env:
                env[s] = sp.Integer(int(actual))
            elif isinstance(s, Dim) and int(env[s]) != actual and dims and (s in dims or s.name in dims):
                raise BindError(f"{t.name}: dimension {s} is {actual} but dims= gives {env[s]}")
    for t in checked:
        a = np.asarray(arrays[t.name])
        want = tuple(int(s.xreplace(env)) if s.free_symbols <= set(env) else None for s in t.shape)
        if any(w is not None and w != g for w, g in zip(want, a.shape)):
            pretty = ", ".join(f"{s}={env[s]}" for s in sorted(env, key=str))
            raise BindError(
                f"{t.name}: expected shape {fmt_shape(t.shape)} = {tuple(want)}"
                + (f" (with {pretty})" if pretty else "") + f", got {a.shape}"
                + ("" if t.name in names else " (an input the expression does not read, checked all the same)")
            )
    return env


def size_of(s, env) -> int:
    v = sp.sympify(sp.sympify(s).xreplace(env))
    if not v.is_number:
        free = ", ".join(sorted(str(x) for x in v.free_symbols))
        raise BindError(
            f"size {s} is not bound: no array given has {free} in its shape; pass the array of a tensor whose shape "
            f"has it (for example the data the loss reads), or dims={{{', '.join(repr(x) + ': ...' for x in free.split(', '))}}}"
        )
    return int(v)


def eval_scalar(expr: sp.Expr, args: list, env: dict):
    """Evaluate a SymPy scalar expression with numpy arrays for the placeholders."""
    if expr.is_Symbol:
        if expr.name.startswith("_t"):
            return args[int(expr.name[2:])]
        if expr in env:
            return float(env[expr])
        raise BindError(f"unbound symbol {expr} in an elementwise expression")
    if expr.is_Number or expr.is_NumberSymbol:
        return float(expr)
    if expr.is_Add:
        out = eval_scalar(expr.args[0], args, env)
        for a in expr.args[1:]:
            out = out + eval_scalar(a, args, env)
        return out
    if expr.is_Mul:
        out = eval_scalar(expr.args[0], args, env)
        for a in expr.args[1:]:
            out = out * eval_scalar(a, args, env)
        return out
    if expr.is_Pow:
        base = eval_scalar(expr.args[0], args, env)
        e = expr.args[1]
        if e == sp.Rational(1, 2):
            return np.sqrt(base)
        if e.is_Integer and e < 0:
            return 1.0 / np.power(base, -int(e))
        return np.power(base, eval_scalar(e, args, env))
    fn = NUMPY_FUNCTIONS.get(expr.func)
    if fn is None:
        raise TypeError(f"no numeric form for {expr.func.__name__} in an elementwise expression")
    return fn(*[eval_scalar(a, args, env) for a in expr.args])


def _letters(n):
    pool = string.ascii_letters
    if n > len(pool):
        raise ValueError("einsum with more than 52 distinct indices")
    return pool[:n]


def eval_node(node: Expr, vals: list, env: dict, arrays: dict):
    """One node's value from its operands' values."""
    if isinstance(node, Labels):
        try:
            return check_labels(node, arrays[node.name], size_of(node.high, env))
        except ValueError as e:
            raise BindError(str(e)) from None
    if isinstance(node, Tensor):
        return np.asarray(arrays[node.name], dtype=float)
    if isinstance(node, Eye):
        return np.eye(size_of(node.shape[0], env))
    if isinstance(node, Let):
        return vals[0]
    shape = tuple(size_of(s, env) for s in node.shape)
    if isinstance(node, Map):
        with np.errstate(all="ignore"):
            v = eval_scalar(node.expr, [np.asarray(x, dtype=float) for x in vals], env)
        return np.broadcast_to(np.asarray(v, dtype=float), shape).copy()
    if isinstance(node, Einsum):
        L = _letters(len(node.sizes))
        present = {l for s in node.subs for l in s}
        inner_out = [l for l in node.out if l in present]
        spec = ",".join("".join(L[l] for l in s) for s in node.subs) + "->" + "".join(L[l] for l in inner_out)
        if node.operands:
            v = np.einsum(spec, *vals, optimize=True)
        else:
            v = np.array(1.0)
        v = v * float(node.coef.xreplace(env))
        # broadcast over output labels that no operand has
        full = [slice(None) if l in present else None for l in node.out]
        v = np.asarray(v)[tuple(full)] if full else np.asarray(v)
        return np.broadcast_to(v, shape).copy()
    at = getattr(node, "numpy_at", None)  # a structured node whose value needs its numeric shape
    if at is not None:
        return at(shape, *vals)
    return node.numpy(*vals)


class Factors:
    """One factorisation per shared matrix (see :class:`symml.lowering.FactorPlan`), with SciPy:
    Cholesky where the plan says to try it and the matrix is symmetric and positive definite,
    LU otherwise; log det, det, solves and the inverse of that matrix all read it."""

    def __init__(self, plan: FactorPlan):
        self.plan = plan
        self.done: dict[int, tuple] = {}

    def value(self, node: Expr, vals: list):
        """The value of a log det, det, solve or inverse node from its matrix's factor, or None
        for any other node and for a matrix that is not shared."""
        if not isinstance(node, (LogDet, Det, Inv, Solve)) or not self.plan.shared(node.operands[0]):
            return None
        A = node.operands[0]
        kind, f = self.factor(A, vals[0])
        if isinstance(node, LogDet):
            return np.asarray(self._logdet(kind, f))
        if isinstance(node, Det):
            return np.asarray(self._det(kind, f))
        if kind == "singular":
            raise np.linalg.LinAlgError("Singular matrix")
        import scipy.linalg  # here: importing symml does not load scipy.linalg

        rhs = np.eye(vals[0].shape[0]) if isinstance(node, Inv) else np.asarray(vals[1], dtype=float)
        return (scipy.linalg.cho_solve if kind == "cholesky" else scipy.linalg.lu_solve)(f, rhs, check_finite=False)

    def factor(self, A: Expr, a: np.ndarray):
        """("cholesky", cho_factor) or ("lu", lu_factor) or ("singular", lu_factor) or
        ("not_pd", lu_factor) (symmetric, Cholesky failed) of the matrix value ``a``, once."""
        import scipy.linalg

        hit = self.done.get(A.uid)
        if hit is None:
            a = np.asarray(a, dtype=float)
            hit = None
            if self.plan.cholesky.get(A.uid) and np.all(np.isfinite(a)) and np.array_equal(a, a.T):
                try:
                    hit = ("cholesky", scipy.linalg.cho_factor(a, lower=True, check_finite=False))
                except np.linalg.LinAlgError:
                    hit = ("not_pd", None)
            if hit is None or hit[0] == "not_pd":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a singular matrix: reported by its readers
                    lu = scipy.linalg.lu_factor(a, check_finite=False)
                u = np.diagonal(lu[0])
                kind = "not_pd" if hit is not None else ("singular" if np.any(u == 0) else "lu")
                hit = (kind, lu)
            self.done[A.uid] = hit
        return hit

    @staticmethod
    def _logdet(kind, f):
        if kind == "cholesky":
            return 2.0 * np.sum(np.log(np.diagonal(f[0])))
        u = np.diagonal(f[0])  # LU (also of a symmetric matrix that is not positive definite)
        swaps = np.sum(f[1] != np.arange(len(f[1])))
        negative = (np.sum(u < 0) + swaps) % 2 == 1
        return np.nan if negative or np.any(u == 0) else np.sum(np.log(np.abs(u)))

    @staticmethod
    def _det(kind, f):
        if kind == "cholesky":
            return np.prod(np.diagonal(f[0])) ** 2
        u = np.diagonal(f[0])
        swaps = np.sum(f[1] != np.arange(len(f[1])))
        return float(np.prod(u)) * (-1.0 if swaps % 2 else 1.0)


def evaluate(expr, dims: dict | None = None, **arrays):
    """Compute an expression, a tuple or a dict of expressions with numpy.

    Args:
        expr: a symml expression, or tuples, lists and dicts of them, nested.
        dims: sizes of dimensions that no array binds, e.g. ``{"n": 5}``.
        **arrays: one array (or number) per input tensor, by name. Arrays of declared
            tensors that ``expr`` does not read are accepted (and bind sizes), so one dict
            serves a loss and all its derivatives; see :func:`declared_tensors`.

    Returns:
        numpy arrays in the same structure as ``expr`` (a list gives a tuple).

    >>> import numpy as np, symml as sm
    >>> d = sm.dims("d")
    >>> w = sm.tensor("w", (d,))
    >>> float(sm.evaluate(sm.norm2(w), w=np.array([3.0, 4.0])))
    25.0
    """
    if isinstance(expr, (tuple, list, dict)):
        flat, rebuild = _flatten(expr)
        roots = [as_expr(e) for e in flat]
    else:
        roots = [as_expr(expr)]
    inputs = []
    for r in roots:
        for t in leaves(r):
            if t not in inputs:
                inputs.append(t)
    env = bind_dims(inputs, arrays, dims, related_tensors(roots) if set(arrays) - {t.name for t in inputs} else None)
    # no contraction of a sum larger than what it is made of; one factor per shared matrix (symml.lowering)
    planned, order, fplan = planned_order(roots)
    factors = Factors(fplan)
    cache: dict[int, np.ndarray] = {}
    for node in order:
        vals = [cache[o.uid] for o in node.operands]
        hit = factors.value(node, vals)
        cache[node.uid] = hit if hit is not None else eval_node(node, vals, env, arrays)
    outs = [cache[r.uid] for r in planned]
    if isinstance(expr, (tuple, list, dict)):
        return rebuild(outs)
    return outs[0]


def _flatten(tree):
    """Leaves of nested tuples, lists and dicts, and a function that rebuilds the structure
    (tuples for tuples and lists, dicts for dicts) from their values."""
    flat = []

    def go(t):
        if isinstance(t, dict):
            return {k: go(x) for k, x in t.items()}
        if isinstance(t, (tuple, list)):
            return [go(x) for x in t]
        flat.append(t)
        return len(flat) - 1

    shape = go(tree)

    def rebuild(vals):
        def back(s):
            if isinstance(s, dict):
                return {k: back(x) for k, x in s.items()}
            return tuple(back(x) for x in s) if isinstance(s, list) else vals[s]

        return back(shape)

    return flat, rebuild
