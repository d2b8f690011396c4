"""The user-facing tensor DSL: inputs, contractions, reductions and ML functions.

Every function checks shapes when the expression is built and raises a ValueError
naming both shapes on a mismatch. Sizes stay symbolic.

Takes: tensors and numbers. Gives: graph nodes (:mod:`symml.nodes`).
"""
from __future__ import annotations

import builtins

import sympy as sp

from . import functions as F
from .nodes import (
    Dim, Expr, Eye, Let, Tensor, as_expr, broadcast_shapes, broadcast_to, elementwise, fmt_shape,
    make_einsum, make_map, matmul, placeholder, transpose,
)
from .structured import Conv, Det, Inv, LogDet, LogSumExp, Pool, Solve, _norm_axis, softmax_of

__all__ = [
    "tensor", "scalar", "vector", "matrix", "eye", "let", "sum", "mean", "dot", "outer", "diag", "trace",
    "inv", "solve", "det", "logdet", "norm2", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "softplus",
    "log_sigmoid", "relu", "logsumexp", "softmax", "log_softmax", "einsum", "conv2d", "maxpool2d",
    "avgpool2d", "transpose", "matmul", "where_positive", "expand_dims",
]


def tensor(name: str, shape=(), *, symmetric: bool = False, positive_definite: bool = False) -> Expr:
    """A named input tensor with a symbolic shape.

    Args:
        name: a Python identifier such as ``"X"``.
        shape: a tuple of dimensions from :func:`symml.dims` or positive ints.
        symmetric: a square matrix with Aᵀ = A (printing and simplification use it).
        positive_definite: a symmetric positive definite matrix (implies ``symmetric``).

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> sm.tensor("X", (n, d)).shape
    (n, d)
    """
    return Tensor.new(name, _check_shape(name, shape), symmetric=symmetric, positive_definite=positive_definite)


def _check_shape(name, shape) -> tuple:
    """Refuse shapes that are not a tuple of sizes, naming the entry and what a size may be."""
    if isinstance(shape, (int, sp.Expr)) and not isinstance(shape, bool):
        shape = (shape,)
    where = f"sm.tensor({name!r}, shape)"
    expected = "expected a dimension from sm.dims(...) or a positive int"
    if not isinstance(shape, (tuple, list)):
        raise TypeError(
            f"{where}: shape must be a tuple of sizes such as (n, d) or (3,), each a dimension from "
            f"sm.dims(...) or a positive int, got {shape!r} ({type(shape).__name__})"
        )
    for s in shape:
        if isinstance(s, str):
            raise TypeError(f"{where}: unknown dimension {s!r}; {expected}: create it with sm.dims({s!r})")
        if isinstance(s, bool) or not isinstance(s, (int, sp.Expr)):
            raise TypeError(f"{where}: size {s!r} ({type(s).__name__}) is not a size; {expected}")
        if isinstance(s, int) and s <= 0:
            raise ValueError(f"{where}: size {s} is not positive; {expected}")
        if isinstance(s, sp.Expr):
            strangers = sorted(str(f) for f in s.free_symbols if not isinstance(f, Dim))
            if strangers:
                raise TypeError(
                    f"{where}: size {s} uses {', '.join(strangers)}, which is not a dimension; "
                    f"{expected}: create it with sm.dims({' '.join(strangers)!r})"
                )
            if s.is_integer is not True:
                raise TypeError(
                    f"{where}: size {s} is not an integer; {expected}, or an integer expression such as n + 1"
                )
    return tuple(shape)


def scalar(name: str) -> Expr:
    """A named rank-0 input (a hyper-parameter such as λ)."""
    return Tensor.new(name, ())


def vector(name: str, size) -> Expr:
    return tensor(name, (size,))


def matrix(name: str, rows, cols) -> Expr:
    return tensor(name, (rows, cols))


def eye(d) -> Expr:
    """The d×d identity."""
    return Eye.new(d)


def let(name: str, expr) -> Expr:
    """Name an intermediate, e.g. ``z = sm.let("z", X @ w)``; printing and codegen keep it."""
    return Let.new(name, expr)


def expand_dims(x, axis: int) -> Expr:
    """Insert an axis of size 1 (numpy's np.expand_dims), to broadcast against other tensors.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> sm.expand_dims(sm.tensor("x", (n, d)), 1).shape
    (n, 1, d)
    """
    x = as_expr(x)
    axis = _norm_axis(axis, x.ndim + 1, "sm.expand_dims")
    labels = list(range(x.ndim))
    out = labels[:axis] + ["new"] + labels[axis:]
    return make_einsum([x], [labels], out, {"new": sp.Integer(1)})


# --------------------------------------------------------------------------- reductions


def sum(x, axis=None) -> Expr:  # noqa: A001 - the math name
    """Σ over all entries (axis=None) or over one axis (or a tuple of axes)."""
    x = as_expr(x)
    if axis is None:
        axes = set(range(x.ndim))
    else:
        axes = set(_axes(axis, x.ndim, "sm.sum"))
    labels = list(range(x.ndim))
    return make_einsum([x], [labels], [l for l in labels if l not in axes], {})


def mean(x, axis=None) -> Expr:
    """The mean over all entries or over an axis."""
    x = as_expr(x)
    if axis is None:
        count = sp.Mul(*x.shape) if x.shape else sp.Integer(1)
    else:
        count = sp.Mul(*[x.shape[a] for a in _axes(axis, x.ndim, "sm.mean")])
    return sum(x, axis) / count


def _axes(axis, ndim: int, what: str) -> list[int]:
    """Normalised axes from an int or a tuple of ints; a repeated axis is an error, as in numpy."""
    axes_in = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = [_norm_axis(a, ndim, what) for a in axes_in]
    if len(set(axes)) != len(axes):
        raise ValueError(
            f"{what}: axis {tuple(axes_in)} repeats an axis; expected distinct axes of a rank-{ndim} tensor"
        )
    return axes


def dot(a, b) -> Expr:
    """aᵀb for two vectors of the same length."""
    a, b = as_expr(a), as_expr(b)
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"sm.dot needs two vectors of one length, got {fmt_shape(a.shape)} and {fmt_shape(b.shape)}")
    return make_einsum([a, b], [["i"], ["i"]], [], {})


def outer(a, b) -> Expr:
    """abᵀ for two vectors."""
    a, b = as_expr(a), as_expr(b)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"sm.outer needs two vectors, got {fmt_shape(a.shape)} and {fmt_shape(b.shape)}")
    return make_einsum([a, b], [["i"], ["j"]], ["i", "j"], {})


def diag(x) -> Expr:
    """Vector → diagonal matrix, or square matrix → its diagonal (numpy's np.diag)."""
    x = as_expr(x)
    if x.ndim == 1:
        return make_einsum([x, Eye.new(x.shape[0])], [["i"], ["i", "j"]], ["i", "j"], {})
    if x.ndim == 2 and x.shape[0] == x.shape[1]:
        return make_einsum([x], [["i", "i"]], ["i"], {})
    raise ValueError(f"sm.diag needs a vector or a square matrix, got shape {fmt_shape(x.shape)}")


def trace(A) -> Expr:
    """tr A of a square matrix."""
    A = as_expr(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"sm.trace needs a square matrix, got shape {fmt_shape(A.shape)}")
    return make_einsum([A], [["i", "i"]], [], {})


def inv(A) -> Expr:
    """A⁻¹."""
    return Inv.new(A)


def solve(A, c) -> Expr:
    """A⁻¹c by a linear solve (better conditioned and cheaper than forming A⁻¹)."""
    return Solve.new(A, c)


def det(A) -> Expr:
    """det A."""
    return Det.new(A)


def logdet(A) -> Expr:
    """log det A (A with positive determinant, e.g. SPD)."""
    return LogDet.new(A)


def norm2(x) -> Expr:
    """The squared Euclidean (Frobenius) norm ‖x‖² = Σ x²."""
    x = as_expr(x)
    return sum(make_map(placeholder(0) ** 2, [x]))


# --------------------------------------------------------------------------- elementwise


def _unary(fn, name):
    def apply(x) -> Expr:
        return elementwise(fn, x, op=name)

    apply.__name__ = name
    apply.__doc__ = f"Elementwise {name}."
    return apply


exp = _unary(sp.exp, "exp")
log = _unary(sp.log, "log")
sqrt = _unary(sp.sqrt, "sqrt")
abs = _unary(sp.Abs, "abs")  # noqa: A001
tanh = _unary(sp.tanh, "tanh")
sigmoid = _unary(F.sigmoid, "sigmoid")
softplus = _unary(F.softplus, "softplus")
log_sigmoid = _unary(F.log_sigmoid, "log_sigmoid")
relu = _unary(F.relu, "relu")
where_positive = _unary(F.step, "step")


def logsumexp(x, axis=None) -> Expr:
    """log Σ exp(x) over one axis (or all entries when axis is None), computed stably."""
    x = as_expr(x)
    if axis is None:
        if x.ndim == 0:
            raise ValueError("sm.logsumexp needs a tensor of rank ≥ 1, got a scalar")
        while x.ndim > 1:  # log Σ_jk e^x = log Σ_j e^{log Σ_k e^x}: reduce the last axis repeatedly
            x = LogSumExp.new(x, x.ndim - 1)
        return LogSumExp.new(x, 0)
    return LogSumExp.new(x, axis)


def softmax(x, axis=-1) -> Expr:
    """exp(x) / Σ_axis exp(x), computed as exp(x − logsumexp(x))."""
    x = as_expr(x)
    return softmax_of(x, _norm_axis(axis, x.ndim, "sm.softmax"))


def log_softmax(x, axis=-1) -> Expr:
    """x − logsumexp(x) broadcast along ``axis``."""
    x = as_expr(x)
    axis = _norm_axis(axis, x.ndim, "sm.log_softmax")
    lse = LogSumExp.new(x, axis)
    full = list(range(x.ndim))
    wide = make_einsum([lse], [[a for a in full if a != axis]], full, {axis: x.shape[axis]})
    return x - wide


# --------------------------------------------------------------------------- einsum


def einsum(spec: str, *operands) -> Expr:
    """Any contraction in numpy's notation, e.g. ``sm.einsum("ij,j->i", X, w)``."""
    if not isinstance(spec, str):
        raise TypeError(f"sm.einsum: the spec must be a string such as 'ij,j->i', got {type(spec).__name__}")
    ops = [as_expr(o) for o in operands]
    spec = spec.replace(" ", "")
    if spec.count("->") > 1:
        raise ValueError(
            f"sm.einsum: spec {spec!r} has {spec.count('->')} arrows; expected at most one, as in 'ij,j->i'"
        )
    if "->" in spec:
        lhs, rhs = spec.split("->", 1)
    else:
        lhs = spec
        letters = [c for c in lhs if c != ","]
        rhs = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    terms = lhs.split(",")
    if len(terms) != len(ops):
        raise ValueError(f"sm.einsum: spec {spec!r} names {len(terms)} operands, {len(ops)} were given")
    for t in terms + [rhs]:
        if not all(c.isalpha() for c in t):
            raise ValueError(f"sm.einsum: spec {spec!r} may contain only letters, ',' and '->'")
    sizes = {}
    for t, o in zip(terms, ops):
        if len(t) != o.ndim:
            raise ValueError(
                f"sm.einsum: term {t!r} has {len(t)} indices but its operand has shape {fmt_shape(o.shape)}; "
                f"expected {o.ndim} indices, one per axis"
            )
        for c, s in zip(t, o.shape):
            if c in sizes and sizes[c] != s:
                raise ValueError(
                    f"sm.einsum: index {c!r} is bound to sizes {sizes[c]} and {s}; expected one size per index letter"
                )
            sizes[c] = s
    for c in rhs:
        if c not in sizes:
            raise ValueError(f"sm.einsum: output index {c!r} appears in no operand")
    if len(set(rhs)) != len(rhs):
        raise ValueError(
            f"sm.einsum: output indices {rhs!r} repeat; expected each output index once (a diagonal is 'ii->i')"
        )
    return make_einsum(ops, [list(t) for t in terms], list(rhs), sizes)


# --------------------------------------------------------------------------- CNN layers


def conv2d(x, k) -> Expr:
    """Valid, stride-1 2-D convolution (cross-correlation) of x (N, C, H, W) with k (O, C, kh, kw)."""
    return Conv.new("y", x, k)


def maxpool2d(x, size: int = 2) -> Expr:
    """Non-overlapping size×size max pooling over the last two axes."""
    _check_pool(size)
    return Pool.new("max", size, x, x)


def avgpool2d(x, size: int = 2) -> Expr:
    """Non-overlapping size×size average pooling over the last two axes."""
    _check_pool(size)
    return Pool.new("avg", size, x, x)


def _check_pool(size):
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"pool size must be a positive int, got {size!r}")


_ = (builtins, broadcast_shapes, broadcast_to, matmul, transpose)  # re-exported helpers
