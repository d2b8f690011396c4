"""The user-facing tensor DSL: inputs, contractions, reductions and ML functions.

Every function checks shapes when the expression is built and raises a ValueError
naming both shapes on a mismatch. Sizes stay symbolic.

Takes: tensors and numbers. Gives: graph nodes (:mod:`symml.nodes`).
"""
from __future__ import annotations

import builtins

import sympy as sp

from . import functions as F
from .conditions import equal, not_equal, where
from .nodes import (
    Dim, Expr, Eye, Let, Tensor, as_dim, as_expr, broadcast_shapes, broadcast_to, elementwise, fmt_shape,
    make_einsum, make_map, matmul, placeholder, transpose,
)
from .structured import Conv, Det, Inv, LogDet, LogSumExp, Pool, Solve, _norm_axis, softmax_of
from .structured_index import Labels, OneHot, Take
from .structured_linalg import QR
from .structured_shape import ArgSelect, CumSum, Kron, Reshape

__all__ = [
    "tensor", "scalar", "vector", "matrix", "eye", "let", "sum", "mean", "dot", "outer", "diag", "trace",
    "inv", "solve", "det", "logdet", "norm2", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "softplus",
    "log_sigmoid", "relu", "logsumexp", "softmax", "log_softmax", "einsum", "conv2d", "maxpool2d",
    "avgpool2d", "transpose", "matmul", "where_positive", "expand_dims",
    # elementwise functions and selection (issue 16)
    "sin", "cos", "tan", "erf", "erfc", "gelu", "sign", "maximum", "minimum", "clip", "where", "equal",
    "not_equal", "lgamma", "digamma", "polygamma",
]


def tensor(name: str, shape=(), *, symmetric: bool = False, positive_definite: bool = False,
           simplex: bool = False) -> Expr:
    """A named input tensor with a symbolic shape.

    Args:
        name: a Python identifier such as ``"X"``.
        shape: a tuple of dimensions from :func:`symml.dims` or positive ints.
        symmetric: a square matrix with Aᵀ = A (printing and simplification use it).
        positive_definite: a symmetric positive definite matrix (implies ``symmetric``).
        simplex: each slice along the last axis lies on the probability simplex (entries
            ≥ 0 that sum to one): the rows of a one-hot or soft-label matrix Y (n, K), or a
            probability vector. Simplification uses Σ_k Y_ik = 1 and sm.check draws such
            rows; kernels do not test it, so pass only rows that sum to one.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> sm.tensor("X", (n, d)).shape
    (n, d)
    """
    return Tensor.new(name, _check_shape(name, shape), symmetric=symmetric, positive_definite=positive_definite,
                      simplex=simplex)


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


def sum(x, axis=None, keepdims: bool = False) -> Expr:  # noqa: A001 - the math name
    """Σ over all entries (axis=None), one axis or a tuple of axes; ``keepdims`` keeps them as size 1."""
    x = as_expr(x)
    axes = list(range(x.ndim)) if axis is None else _axes(axis, x.ndim, "sm.sum")
    labels = list(range(x.ndim))
    out = make_einsum([x], [labels], [l for l in labels if l not in axes], {})
    return _keepdims(out, axes, x.ndim) if keepdims else out


def mean(x, axis=None, keepdims: bool = False) -> Expr:
    """The mean over all entries, one axis or a tuple of axes."""
    x = as_expr(x)
    axes = list(range(x.ndim)) if axis is None else _axes(axis, x.ndim, "sm.mean")
    count = sp.Mul(*[x.shape[a] for a in axes]) if axes else sp.Integer(1)
    return sum(x, axis, keepdims) / count


def _keepdims(r: Expr, axes, ndim: int) -> Expr:
    """``r`` (reduced over ``axes`` of a rank-``ndim`` tensor) with those axes back, of size 1."""
    labels = list(range(ndim))
    return make_einsum([r], [[l for l in labels if l not in axes]], labels, {a: sp.Integer(1) for a in axes})


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
sin = _unary(sp.sin, "sin")
cos = _unary(sp.cos, "cos")
tan = _unary(sp.tan, "tan")
erf = _unary(sp.erf, "erf")
erfc = _unary(F.erfc, "erfc")  # kept as written: erfc(−u) is not turned into 2 − erfc(u)
# sign' = 0 (SymPy's 2δ(x), dropped: zero almost everywhere; JAX's convention too)
sign = _unary(sp.sign, "sign")
# log|Γ(x)| (scipy's gammaln); its derivative is ψ(x) = polygamma(0, x)
lgamma = _unary(sp.loggamma, "lgamma")


def gelu(x, approximate="none") -> Expr:
    """GELU(x) = x Φ(x) (``approximate="none"``), or its tanh form (``approximate="tanh"``).

    The tanh form is (x/2)(1 + tanh(√(2/π)(x + 0.044715x³))), computed as x σ(2u). As in
    PyTorch, the default is the exact form; JAX's ``approximate=True``/``False`` are
    accepted too (True is the tanh form).

    >>> import symml as sm
    >>> float(sm.evaluate(sm.gelu(1.0)))  # Φ(1) = 0.8413...
    0.8413447460685429
    """
    forms = {"none": F.gelu, False: F.gelu, "tanh": F.gelu_tanh, True: F.gelu_tanh}
    fn = forms.get(approximate) if isinstance(approximate, (str, bool)) else None
    if fn is None:
        raise ValueError(f"sm.gelu: approximate must be 'none' or 'tanh' (or False/True), got {approximate!r}")
    return elementwise(fn, x, op="gelu")


def polygamma(k, x) -> Expr:
    """ψ⁽ᵏ⁾(x), the k-th derivative of the digamma function ψ = (log Γ)′, for an int k ≥ 0."""
    import numbers

    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
        raise ValueError(f"sm.polygamma: the order k must be an int >= 0 (0 is the digamma), got {k!r}")
    k = int(k)
    return elementwise(lambda t: sp.polygamma(k, t), x, op="polygamma")


def digamma(x) -> Expr:
    """ψ(x) = d/dx log Γ(x), the same node as ``polygamma(0, x)``."""
    return polygamma(0, x)


def maximum(a, b) -> Expr:
    """max(a, b) entry by entry, broadcasting (tensor–tensor or tensor–number).

    At a tie each operand gets half of the gradient (JAX's convention): the derivative
    of max(a, b) in a is the Heaviside step H(a − b) with H(0) = ½.
    """
    return elementwise(sp.Max, a, b, op="maximum")


def minimum(a, b) -> Expr:
    """min(a, b) entry by entry, broadcasting; at a tie each operand gets half of the gradient."""
    return elementwise(sp.Min, a, b, op="minimum")


def clip(x, lo=None, hi=None) -> Expr:
    """min(max(x, lo), hi) entry by entry (numpy's np.clip; either bound may be None).

    The gradient in x is 1 inside (lo, hi), 0 outside and ½ on a bound (JAX's clip is
    minimum(maximum(x, lo), hi), with its ties).
    """
    if lo is None and hi is None:
        raise ValueError("sm.clip: expected at least one bound, got lo=None and hi=None")
    import numbers

    for name, v in (("lo", lo), ("hi", hi)):
        if isinstance(v, bool) or not (v is None or isinstance(v, (numbers.Real, Expr, sp.Expr))):
            raise TypeError(f"sm.clip: {name} must be a number, a tensor expression or None, got {type(v).__name__}")
    if isinstance(lo, numbers.Real) and isinstance(hi, numbers.Real) and lo > hi:
        raise ValueError(f"sm.clip: expected lo <= hi, got lo={lo} and hi={hi}")  # tensor bounds: not checkable here
    lo, hi = (float(v) if isinstance(v, numbers.Real) and not isinstance(v, int) else v for v in (lo, hi))
    out = as_expr(x)
    if lo is not None:
        out = maximum(out, lo)
    if hi is not None:
        out = minimum(out, hi)
    return out


def logsumexp(x, axis=None, keepdims: bool = False) -> Expr:
    """log Σ exp(x) over all entries (axis=None), one axis or a tuple of axes, computed stably.

    Several axes reduce one at a time, the last first: log Σ_jk e^x = log Σ_j e^{log Σ_k e^x}.
    """
    x = as_expr(x)
    if x.ndim == 0:
        raise ValueError("sm.logsumexp needs a tensor of rank ≥ 1, got a scalar")
    axes = list(range(x.ndim)) if axis is None else _axes(axis, x.ndim, "sm.logsumexp")
    out = x
    for a in sorted(axes, reverse=True):
        out = LogSumExp.new(out, a)
    return _keepdims(out, axes, x.ndim) if keepdims else out


def _wide_lse(x: Expr, axes) -> Expr:
    """logsumexp(x) over ``axes``, broadcast back to x's shape."""
    full = list(range(x.ndim))
    lse = logsumexp(x, tuple(axes))
    return make_einsum([lse], [[a for a in full if a not in axes]], full, {a: x.shape[a] for a in axes})


def softmax(x, axis=-1) -> Expr:
    """exp(x) / Σ_axis exp(x) over one axis or a tuple of axes, computed as exp(x − logsumexp(x))."""
    x = as_expr(x)
    axes = _axes(axis, x.ndim, "sm.softmax")
    if len(axes) == 1:
        return softmax_of(x, axes[0])
    return make_map(sp.exp(placeholder(0) - placeholder(1)), [x, _wide_lse(x, axes)])


def log_softmax(x, axis=-1) -> Expr:
    """x − logsumexp(x) broadcast along one axis or a tuple of axes."""
    x = as_expr(x)
    return x - _wide_lse(x, _axes(axis, x.ndim, "sm.log_softmax"))


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


# --------------------------------------------------------------------------- structural operations
# extrema over axes, reshape, kron, cumsum, integer labels with take and one-hot, qr


__all__ += ["max", "min", "reshape", "vec", "flatten", "kron", "cumsum", "labels", "take", "one_hot", "qr"]


def _extremum(kind, x, axis, keepdims):
    x = as_expr(x)
    if x.ndim == 0:
        raise ValueError(f"sm.{kind} needs a tensor of rank ≥ 1, got a scalar; use sm.maximum for two values")
    axes = list(range(x.ndim)) if axis is None else _axes(axis, x.ndim, f"sm.{kind}")
    out = x
    for a in sorted(axes, reverse=True):
        out = ArgSelect.new(kind, a, out, out)
    return _keepdims(out, axes, x.ndim) if keepdims else out


def max(x, axis=None, keepdims: bool = False) -> Expr:  # noqa: A001 - numpy's name
    """The largest entry over all entries, one axis or a tuple of axes.

    Its derivative is the subgradient that puts the whole adjoint on the *first* maximiser
    (in row-major order, the entry ``numpy.argmax`` returns), as max pooling does.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> sm.max(sm.tensor("X", (n, d)), axis=1).shape
    (n,)
    """
    return _extremum("max", x, axis, keepdims)


def min(x, axis=None, keepdims: bool = False) -> Expr:  # noqa: A001 - numpy's name
    """The smallest entry over all entries, one axis or a tuple of axes (ties: the first minimiser)."""
    return _extremum("min", x, axis, keepdims)


def reshape(x, shape) -> Expr:
    """x laid out in ``shape``, row-major (C order, as numpy); one size may be -1 (inferred).

    The sizes are symbolic; their product must equal x's, or a ValueError says so.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> sm.reshape(sm.tensor("X", (n, d)), (-1,)).shape
    (d*n,)
    """
    x = as_expr(x)
    if isinstance(shape, (int, sp.Expr)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"sm.reshape: shape must be a tuple of sizes such as (n, d), got {shape!r}")
    total = sp.Mul(*x.shape) if x.shape else sp.Integer(1)
    if builtins.sum(1 for s in shape if isinstance(s, int) and s == -1) > 1:
        raise ValueError(f"sm.reshape: shape {tuple(shape)} has more than one -1; expected at most one inferred size")
    known = [as_dim(s) for s in shape if not (isinstance(s, int) and s == -1)]
    out = []
    for s in shape:
        if isinstance(s, int) and s == -1:
            rest = sp.Mul(*known) if known else sp.Integer(1)
            s = sp.simplify(total / rest)
            if s.is_integer is False or not all(isinstance(f, Dim) for f in s.free_symbols) or sp.fraction(s)[1] != 1:
                raise ValueError(
                    f"sm.reshape: cannot infer the -1 in {tuple(shape)} for {fmt_shape(x.shape)}: "
                    f"{total} / {rest} is not a size"
                )
            out.append(s)
        else:
            out.append(as_dim(s))
    return Reshape.new(x, tuple(out))


def vec(x) -> Expr:
    """The entries of x as one vector, row-major (numpy's ravel; θ = vec(W) in symml's layouts)."""
    x = as_expr(x)
    return Reshape.new(x, (sp.Mul(*x.shape) if x.shape else sp.Integer(1),))


flatten = vec


def kron(A, B) -> Expr:
    """The Kronecker product A ⊗ B of two tensors of one rank (numpy's np.kron)."""
    return Kron.new(A, B)


def cumsum(x, axis=None) -> Expr:
    """Running sums along ``axis`` (numpy's np.cumsum; axis=None runs over vec(x))."""
    x = as_expr(x)
    if axis is None:
        return CumSum.new(vec(x), 0)
    return CumSum.new(x, axis)


def labels(name: str, shape, K) -> Expr:
    """A named input of integer labels in 0 … K − 1 (classes, token ids), e.g. ``sm.labels("y", (n,), K)``.

    Kernels and ``sm.evaluate`` check the integer dtype and the range before they run.
    Labels index (``sm.take``, ``sm.one_hot``); they are not numbers and have no derivative.
    """
    _check_shape(name, shape)
    return Labels.new(name, shape, K)


def take(E, y, axis: int = 0) -> Expr:
    """Entries of E picked along ``axis`` by integer labels (numpy's np.take): rows of an embedding.

    The derivative scatter-adds back: a row picked twice receives both adjoints.

    >>> import symml as sm
    >>> n, V, d = sm.dims("n V d")
    >>> sm.take(sm.tensor("E", (V, d)), sm.labels("tok", (n,), V)).shape
    (n, d)
    """
    return Take.new(E, y, axis)


def one_hot(y, K=None) -> Expr:
    """Indicator vectors of labels: shape y.shape + (K,), K the labels' declared bound."""
    return OneHot.new(y, K)


def qr(A):
    """The reduced QR factorisation A = QR of a tall full-rank matrix: (Q (m, n), R (n, n)).

    Q has orthonormal columns and R is upper triangular with a positive diagonal (the
    unique such pair). The derivative is the reverse-mode rule of the reduced QR.
    """
    return QR.new(A, "Q"), QR.new(A, "R")


_ = (builtins, broadcast_shapes, broadcast_to, matmul, transpose)  # re-exported helpers
