"""Structural tensor nodes: extrema over an axis, reshape, Kronecker products, cumulative sums.

Each class keeps together its shape rule, its vector-Jacobian product (``vjp``, with the
convention of :mod:`symml.structured`: ``g`` has shape ``batch + self.shape``) and its
reference numpy form (``numpy``). Codegen spells them in
:mod:`symml.codegen.emit_structural`, printing in :mod:`symml.printing.structural`.

- ``ArgSelect(kind, axis, x, h)``: ``h`` read at the arg-max (``kind="max"``) or arg-min of
  ``x`` along ``axis``; ``max(x)`` is ``ArgSelect("max", axis, x, x)``. The selection is
  piecewise constant in ``x``, so only ``h`` has an adjoint, ``ArgScatter``. **Ties**: the
  whole adjoint goes to the *first* extremal entry (the one ``numpy.argmax`` returns), the
  rule max pooling follows too. ``h`` may carry leading batch axes (Jacobians).
- ``Reshape(x, shape)``: row-major (C order), sizes symbolic; their products must agree.
- ``Kron(A, B)``: the Kronecker product of two tensors of one rank.
- ``CumSum(x, axis, reverse)``: running sums; the adjoint of a cumulative sum is the
  reversed one.

Takes: graph nodes. Gives: graph nodes.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from .nodes import Expr, as_expr, fmt_shape, make_einsum
from .structured import _b, _bsizes, _norm_axis

# --------------------------------------------------------------------------- max / min


def _check_kind(kind):
    if kind not in ("max", "min"):  # pragma: no cover - internal
        raise ValueError(f"unknown extremum {kind!r}")


def arg_extremum(kind: str, x: np.ndarray, axis: int) -> np.ndarray:
    """The index of the first maximum (or minimum) along ``axis``, NaN counting as extremal (numpy's rule)."""
    return np.argmax(x, axis=axis) if kind == "max" else np.argmin(x, axis=axis)


class ArgSelect(Expr):
    """h read at the first arg-max (or arg-min) of x along ``axis``; h has shape batch + x.shape."""

    __slots__ = ("axis", "kind")

    @classmethod
    def new(cls, kind, axis, x, h):
        _check_kind(kind)
        x, h = as_expr(x), as_expr(h)
        lead = h.ndim - x.ndim
        if lead < 0 or h.shape[lead:] != x.shape:  # pragma: no cover - built by sm.max and the calculus
            raise ValueError(f"sm.{kind}: values {fmt_shape(h.shape)} do not fit selector {fmt_shape(x.shape)}")
        shape = h.shape[:lead + axis] + h.shape[lead + axis + 1:]
        return cls._make((kind, axis), (x, h), shape, kind=kind, axis=axis)

    def rebuild(self, ops):
        return ArgSelect.new(self.kind, self.axis, *ops)

    def vjp(self, k, g, batch):
        if k == 0:
            return None  # the position of the extremum is piecewise constant in x
        return ArgScatter.new(self.kind, self.axis, self.operands[0], g)

    def numpy(self, x, h):
        lead = h.ndim - x.ndim
        idx = np.expand_dims(arg_extremum(self.kind, x, self.axis), self.axis)
        idx = np.broadcast_to(idx, h.shape[:lead] + idx.shape)
        return np.take_along_axis(h, idx, axis=lead + self.axis).squeeze(lead + self.axis)


class ArgScatter(Expr):
    """The adjoint of ArgSelect: g placed at the first arg-max (arg-min) of x along ``axis``, zeros elsewhere."""

    __slots__ = ("axis", "kind")

    @classmethod
    def new(cls, kind, axis, x, g):
        _check_kind(kind)
        x, g = as_expr(x), as_expr(g)
        lead = g.ndim - (x.ndim - 1)
        shape = g.shape[:lead] + x.shape
        return cls._make((kind, axis), (x, g), shape, kind=kind, axis=axis)

    def rebuild(self, ops):
        return ArgScatter.new(self.kind, self.axis, *ops)

    def vjp(self, k, g, batch):
        if k == 0:
            return None
        return ArgSelect.new(self.kind, self.axis, self.operands[0], g)

    def numpy(self, x, g):
        lead = g.ndim - (x.ndim - 1)
        out = np.zeros(g.shape[:lead] + x.shape)
        idx = np.expand_dims(arg_extremum(self.kind, x, self.axis), self.axis)
        idx = np.broadcast_to(idx, g.shape[:lead] + idx.shape)
        np.put_along_axis(out, idx, np.expand_dims(g, lead + self.axis), axis=lead + self.axis)
        return out


# --------------------------------------------------------------------------- reshape


def _product(shape) -> sp.Expr:
    return sp.Mul(*shape) if shape else sp.Integer(1)


class Reshape(Expr):
    """x with its entries in row-major (C) order laid out in a new shape of the same size."""

    __slots__ = ()

    @classmethod
    def new(cls, x, shape):
        x = as_expr(x)
        shape = tuple(sp.sympify(s) for s in shape)
        if sp.simplify(_product(shape) - _product(x.shape)) != 0:
            raise ValueError(
                f"sm.reshape: cannot lay out {fmt_shape(x.shape)} ({_product(x.shape)} entries) as "
                f"{fmt_shape(shape)} ({_product(shape)} entries); expected shapes with equal products"
            )
        while isinstance(x, Reshape):  # a reshape of a reshape is one reshape
            x = x.operands[0]
        if x.shape == shape:
            return x
        return cls._make((shape,), (x,), shape)

    def rebuild(self, ops):
        return Reshape.new(ops[0], self.shape)

    def vjp(self, k, g, batch):
        return Reshape.new(g, tuple(batch) + self.operands[0].shape)

    @staticmethod
    def numpy_at(shape, x):
        """The value at output shape ``shape`` (numbers): sizes such as n·d need the bound dims."""
        return np.reshape(x, shape)


# --------------------------------------------------------------------------- kron


class Kron(Expr):
    """A ⊗ B for A and B of one rank: (A ⊗ B)[i·p + k, j·q + l] = A[i, j] B[k, l]."""

    __slots__ = ()

    @classmethod
    def new(cls, A, B):
        A, B = as_expr(A), as_expr(B)
        if A.ndim == 0 or A.ndim != B.ndim:
            raise ValueError(
                f"sm.kron needs two tensors of one rank ≥ 1, got shapes {fmt_shape(A.shape)} and {fmt_shape(B.shape)}"
            )
        shape = tuple(a * b for a, b in zip(A.shape, B.shape))
        return cls._make((), (A, B), shape)

    def rebuild(self, ops):
        return Kron.new(*ops)

    def vjp(self, k, g, batch):
        # Ā[i, j] = Σ_kl Ḡ[i·p + k, j·q + l] B[k, l]: Ḡ viewed as (m, p, n, q), contracted with B
        A, B = self.operands
        r = A.ndim
        wide = tuple(batch) + tuple(s for a, b in zip(A.shape, B.shape) for s in (a, b))
        g4 = Reshape.new(g, wide)
        b = _b(batch)
        la, lb = [("a", j) for j in range(r)], [("c", j) for j in range(r)]
        inter = b + [lab for pair in zip(la, lb) for lab in pair]
        other, keep = (B, la) if k == 0 else (A, lb)
        drop = lb if k == 0 else la
        return make_einsum([g4, other], [inter, drop], b + keep, _bsizes(batch))

    @staticmethod
    def numpy(A, B):
        return np.kron(A, B)


# --------------------------------------------------------------------------- cumsum


class CumSum(Expr):
    """Running sums of x along ``axis``: y_i = Σ_{j ≤ i} x_j, or Σ_{j ≥ i} x_j when ``reverse``."""

    __slots__ = ("axis", "reverse")

    @classmethod
    def new(cls, x, axis, reverse=False):
        x = as_expr(x)
        if x.ndim == 0:
            raise ValueError("sm.cumsum needs a tensor of rank ≥ 1, got a scalar")
        axis = _norm_axis(axis, x.ndim, "sm.cumsum")
        return cls._make((axis, bool(reverse)), (x,), x.shape, axis=axis, reverse=bool(reverse))

    def rebuild(self, ops):
        return CumSum.new(ops[0], self.axis, self.reverse)

    def vjp(self, k, g, batch):
        # y = Lx with L lower triangular ones; x̄ = Lᵀȳ, the sums from the other end
        return CumSum.new(g, self.axis + len(batch), not self.reverse)

    def numpy(self, x):
        if not self.reverse:
            return np.cumsum(x, axis=self.axis)
        return np.flip(np.cumsum(np.flip(x, self.axis), axis=self.axis), self.axis)
