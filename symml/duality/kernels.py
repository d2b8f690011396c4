"""The kernel trick on derived expressions: Gram matrices and :func:`kernelize`.

A dual such as the SVM's, Σα − ½ (α ⊙ y)ᵀXXᵀ(α ⊙ y), depends on the data X only through
inner products xᵢᵀxⱼ. In the normal form of :func:`symml.duality.algebra.expand`, each
such product is a pair of operands X[i, k] X[j, k] of one contraction whose feature index
k appears in no other operand. :func:`kernelize` replaces every such pair by K[i, j], a
kernel matrix built as an ordinary DSL expression of X and the kernel's hyper-parameters:

    linear       K = ABᵀ
    polynomial   K = (γ ABᵀ + c₀)^degree
    rbf          K = exp(−γ ‖aᵢ − bⱼ‖²) = exp(−γ (‖aᵢ‖² + ‖bⱼ‖² − 2aᵢᵀbⱼ))

(the RBF distances are expanded, as scikit-learn computes them, so that a kernel forms
one n × m matrix with BLAS rather than an n × m × d difference tensor). Pairs of two
different data tensors (test points Z against training points X, in a decision function
Z Xᵀ(α ⊙ y)) become the cross-kernel K(Z, X). If X appears in any other way (alone, as in
the primal recovery w = Xᵀ(α ⊙ y), or inside a nonlinearity), kernelize refuses and says
where: such an expression is not a function of inner products.

Takes: graph nodes (or a :class:`symml.duality.Dual`). Gives: graph nodes.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatch

import sympy as sp

from ..calculus import substitute
from .algebra import expand
from ..nodes import Einsum, Expr, Tensor, as_expr, elementwise, fmt_shape, leaves, make_einsum, rebuild, transform, walk

__all__ = ["Kernel", "linear_kernel", "polynomial_kernel", "rbf_kernel", "gram", "kernelize", "KernelizeError"]


class KernelizeError(ValueError):
    """The expression depends on the data other than through inner products."""


@dataclass(frozen=True, eq=False)
class Kernel:
    """A kernel k(a, b): ``gram(A, B)`` is the matrix [k(aᵢ, bⱼ)]ᵢⱼ as a DSL expression.

    Args:
        name: "linear", "polynomial", "rbf" or a name of your own.
        build: (A, B) → the (rows of A) × (rows of B) kernel matrix, both (·, d).
    """

    name: str
    build: object

    def gram(self, A, B=None) -> Expr:
        A = as_expr(A)
        B = A if B is None else as_expr(B)
        if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[1]:
            raise ValueError(f"{self.name} kernel: expected two matrices of rows with one feature size, got "
                             f"{fmt_shape(A.shape)} and {fmt_shape(B.shape)}")
        K = as_expr(self.build(A, B))
        if K.shape != (A.shape[0], B.shape[0]):
            raise ValueError(f"{self.name} kernel: the kernel matrix has shape {fmt_shape(K.shape)}, expected "
                             f"{fmt_shape((A.shape[0], B.shape[0]))}")
        return K


def _hyper(v, name):
    from ..dsl import scalar

    if v is None:
        return scalar(name)
    e = as_expr(v)
    if e.ndim != 0:
        raise ValueError(f"kernel hyper-parameter {name} must be a scalar, got shape {fmt_shape(e.shape)}")
    return e


def linear_kernel() -> Kernel:
    """k(a, b) = aᵀb: K = ABᵀ (kernelize then changes nothing but the spelling)."""
    return Kernel("linear", lambda A, B: A @ B.T)


def polynomial_kernel(degree: int = 3, gamma=None, coef0=None) -> Kernel:
    """k(a, b) = (γ aᵀb + c₀)^degree, as scikit-learn's ``kernel="poly"``.

    Args:
        degree: a positive int.
        gamma, coef0: scalars or numbers; default the hyper-parameters ``gamma``, ``coef0``.
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ValueError(f"polynomial_kernel: degree must be a positive int, got {degree!r}")
    g, c = _hyper(gamma, "gamma"), _hyper(coef0, "coef0")
    return Kernel("polynomial", lambda A, B: (g * (A @ B.T) + c) ** degree)


def rbf_kernel(gamma=None) -> Kernel:
    """k(a, b) = exp(−γ‖a − b‖²), as scikit-learn's ``kernel="rbf"``.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> rbf_kernel().gram(sm.tensor("X", (n, d))).shape
    (n, n)
    """
    g = _hyper(gamma, "gamma")

    def build(A, B):
        from ..dsl import expand_dims, sum as sum_

        sq_a = expand_dims(sum_(elementwise(lambda t: t**2, A), axis=1), 1)  # ‖aᵢ‖², (n, 1)
        sq_b = expand_dims(sum_(elementwise(lambda t: t**2, B), axis=1), 0)  # ‖bⱼ‖², (1, m)
        return elementwise(lambda s: sp.exp(s), -g * (sq_a + sq_b - 2 * (A @ B.T)), op="exp")

    return Kernel("rbf", build)


KERNELS = {"linear": linear_kernel, "polynomial": polynomial_kernel, "poly": polynomial_kernel, "rbf": rbf_kernel}


def _as_kernel(kernel) -> Kernel:
    if isinstance(kernel, Kernel):
        return kernel
    if isinstance(kernel, str) and kernel in KERNELS:
        return KERNELS[kernel]()
    if callable(kernel) and not isinstance(kernel, (str, Expr)):
        return Kernel(getattr(kernel, "__name__", "kernel"), kernel)
    raise TypeError(f"kernel: expected 'linear', 'polynomial', 'rbf', a Kernel or a function (A, B) → K, "
                    f"got {kernel!r}")


def gram(kernel, A, B=None) -> Expr:
    """The kernel matrix [k(aᵢ, bⱼ)]ᵢⱼ of the rows of A (n, d) and B (m, d), shape (n, m);
    B defaults to A.

    >>> import numpy as np, symml as sm
    >>> n, d = sm.dims("n d")
    >>> A = np.array([[0.0, 0.0], [1.0, 1.0]])
    >>> sm.evaluate(gram("rbf", sm.tensor("X", (n, d))), X=A, gamma=0.5).round(4)
    array([[1.    , 0.3679],
           [0.3679, 1.    ]])
    """
    return _as_kernel(kernel).gram(A, B)


# --------------------------------------------------------------------------- kernelize


@singledispatch
def kernelize(obj, kernel, data=None):
    """Replace every inner product of data rows xᵢᵀxⱼ by the kernel k(xᵢ, xⱼ).

    Args:
        obj: an expression, or a :class:`symml.duality.Dual` (its objective and
            constraints; primal recoveries that are not functions of inner products,
            such as w = Xᵀ(α ⊙ y), are dropped from the kernelized dual).
        kernel: "linear", "polynomial", "rbf", a :class:`Kernel`, or a function (A, B) → K.
        data: the data matrix (rows are samples), or a list of them sharing the feature
            axis (training and test points); by default the one matrix whose rows meet in
            inner products.

    Returns:
        The same kind of object, with K in place of the Gram matrices.

    Raises:
        KernelizeError: if the data appear other than through inner products.

    A derived object that holds expressions registers its own rule with
    ``@kernelize.register`` beside its definition (:class:`~symml.duality.Dual` does), so
    this stage never imports the later one.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, a = sm.tensor("X", (n, d)), sm.tensor("a", (n,))
    >>> sm.pretty(kernelize(sm.norm2(X.T @ a), "linear"))
    'aᵀXXᵀa'
    """
    k = _as_kernel(kernel)
    expr = as_expr(obj)
    return _rewrite(expr, k, _data(data, [expr]))


def _uses(expr, data) -> bool:
    return bool({t.uid for t in leaves(expr)} & {t.uid for t in data})


def _data(data, exprs) -> list[Tensor]:
    """The data matrices: given, or the unique matrix paired with itself in some contraction."""
    if data is not None:
        ds = list(data) if isinstance(data, (list, tuple)) else [data]
        for t in ds:
            if not isinstance(t, Tensor) or t.ndim != 2:
                raise TypeError(f"kernelize: data must be input matrices (rows are samples), got {t!r}")
        if len({t.shape[1] for t in ds}) != 1:
            raise ValueError("kernelize: the data matrices must share their feature size, got "
                             + ", ".join(fmt_shape(t.shape) for t in ds))
        return ds
    found = {}
    for e in exprs:
        for node in walk([expand(e)]):
            if isinstance(node, Einsum):
                for t, _, _ in _pairs(node.operands, node.subs, node.out, None):
                    found[t.uid] = t
    if len(found) != 1:
        names = ", ".join(t.name for t in found.values()) or "none"
        raise KernelizeError(f"kernelize: cannot tell the data matrix (matrices in inner products: {names}); "
                             "pass data=X")
    return list(found.values())


def _pairs(operands, subs, out, data_ids):
    """[(tensor, k, l)]: operands k, l of a contraction are rows of data matrices that meet in
    an inner product over their feature index, which no other operand carries. Without
    ``data_ids``, only a matrix paired with itself counts (the search for X)."""
    count: dict = {}
    for s in subs:
        for lab in s:
            count[lab] = count.get(lab, 0) + 1
    cands = [k for k, o in enumerate(operands) if isinstance(o, Tensor) and o.ndim == 2
             and (data_ids is None or o.uid in data_ids)]
    found, used = [], set()
    for a in cands:
        for b in cands:
            if a < b and a not in used and b not in used:
                fa, fb = subs[a][1], subs[b][1]
                if fa == fb and fa not in out and count[fa] == 2 and operands[a].shape[1] == operands[b].shape[1]:
                    if data_ids is None and operands[a] is not operands[b]:
                        continue
                    found.append((operands[a], a, b))
                    used.update((a, b))
    return found


def _rewrite(expr: Expr, kernel: Kernel, data: list[Tensor]) -> Expr:
    ids = {t.uid for t in data}
    expr = expand(expr)
    grams: dict = {}

    def kernel_trick(node, ops):
        if isinstance(node, Einsum) and any(o.uid in ids for o in node.operands):
            return _rewrite_einsum(node, ops, ids, grams)
        return None

    out = transform([expr], kernel_trick)[0]
    stray = [t.name for t in leaves(out) if t.uid in ids]
    if stray:
        from ..printing import pretty

        raise KernelizeError(
            f"kernelize: {pretty(expr)} depends on {', '.join(dict.fromkeys(stray))} other than through inner "
            "products of its rows (xᵢᵀxⱼ), so it has no kernel form; kernelize the dual objective or a "
            "decision function such as Z @ w, not the primal weights")
    return substitute(out, {g: kernel.gram(A, B) for g, (A, B) in grams.items()})


def _rewrite_einsum(node: Einsum, ops, ids, grams) -> Expr:
    pairs = _pairs(ops, node.subs, node.out, ids)
    if not pairs:
        return rebuild(node, ops)
    drop = {k for _, a, b in pairs for k in (a, b)}
    new_ops = [o for k, o in enumerate(ops) if k not in drop]
    new_subs = [list(s) for k, s in enumerate(node.subs) if k not in drop]
    for _, a, b in pairs:
        A, B = ops[a], ops[b]
        key = (f"_gram_{A.name}_{B.name}", (A.shape[0], B.shape[0]))
        K = Tensor._make(key, (), key[1], name=f"K_{A.name}{B.name}")
        grams[K] = (A, B)
        new_ops.append(K)
        new_subs.append([node.subs[a][0], node.subs[b][0]])
    return make_einsum(new_ops, new_subs, list(node.out), dict(enumerate(node.sizes)), node.coef)
