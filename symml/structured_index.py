"""Integer data inputs and the nodes that index with them: take (gather), its scatter-add, one-hot.

- ``Labels``: a named input of integers in ``0 … K − 1`` (class labels, token ids), made
  by ``sm.labels(name, shape, K)``. The bound K is part of its type: every kernel wrapper
  and ``sm.evaluate`` check the integer dtype and ``0 ≤ label < K`` before any value is
  read, since numba does not check bounds. Labels are indices, not numbers: arithmetic on
  them is refused, and they have no derivative.
- ``Take(E, y, axis)``: ``numpy.take``, entries of E picked along ``axis`` by the labels;
  the shape is ``E.shape[:axis] + y.shape + E.shape[axis + 1:]``. Its adjoint is
  ``ScatterAdd``: each upstream entry is added back to the row it came from (a row picked
  twice receives both).
- ``OneHot(y)``: shape ``y.shape + (K,)``, 1 at each label, 0 elsewhere; a constant for the
  calculus.

Takes: graph nodes. Gives: graph nodes.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from .nodes import Dim, Expr, Tensor, _check_name, as_dim, as_expr, fmt_shape
from .structured import _norm_axis


class Labels(Tensor):
    """A named input of integer labels in 0 … high − 1."""

    __slots__ = ("high",)

    @classmethod
    def new(cls, name: str, shape, high):
        _check_name(name, "tensor")
        if isinstance(shape, (int, sp.Expr)):
            shape = (shape,)
        shape, high = tuple(as_dim(s) for s in shape), as_dim(high)
        return cls._make((name, shape, high), (), shape, name=name, high=high, symmetric=False, positive_definite=False,
                         simplex=False)

    def _refuse(self, *_):
        raise TypeError(
            f"{self.name} holds integer labels in 0 … {self.high} − 1, not numbers: use sm.one_hot({self.name}) "
            f"for indicator vectors or sm.take(E, {self.name}) to pick rows"
        )

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __neg__ = __matmul__ = __rmatmul__ = _refuse


def check_labels(y: Labels, a, high: int) -> np.ndarray:
    """``a`` as an int64 array of labels of ``y``, or a ValueError saying what was expected."""
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise ValueError(
            f"{y.name}: expected integer labels in 0 … {y.high} − 1 of shape {fmt_shape(y.shape)}, got dtype {a.dtype}; "
            f"convert with {y.name}.astype(np.int64)"
        )
    if a.size and (a.min() < 0 or a.max() >= high):
        bad = a.min() if a.min() < 0 else a.max()
        raise ValueError(f"{y.name}: label {bad} is out of range; expected 0 ≤ {y.name} < {y.high} = {high}")
    return a.astype(np.int64, copy=False)


def _as_labels(y, what) -> Labels:
    if not isinstance(y, Labels):
        kind = type(y).__name__ if not isinstance(y, Expr) else f"a float tensor of shape {fmt_shape(y.shape)}"
        raise TypeError(f"{what} needs integer labels from sm.labels(name, shape, K), got {kind}")
    return y


class Take(Expr):
    """numpy.take(E, y, axis): entries of E along ``axis`` picked by the labels y."""

    __slots__ = ("axis",)

    @classmethod
    def new(cls, E, y, axis=0):
        E = as_expr(E)
        y = _as_labels(y, "sm.take")
        if E.ndim == 0:
            raise ValueError("sm.take needs a tensor of rank ≥ 1 to pick from, got a scalar")
        axis = _norm_axis(axis, E.ndim, "sm.take")
        if y.high != E.shape[axis]:
            raise ValueError(
                f"sm.take: {y.name} takes values below {y.high} but axis {axis} of {fmt_shape(E.shape)} has "
                f"{E.shape[axis]} entries; declare sm.labels({y.name!r}, shape, {E.shape[axis]})"
            )
        shape = E.shape[:axis] + y.shape + E.shape[axis + 1:]
        return cls._make((axis,), (E, y), shape, axis=axis)

    def rebuild(self, ops):
        return Take.new(ops[0], ops[1], self.axis)

    def vjp(self, k, g, batch):
        if k == 1:
            return None  # labels are integers
        return ScatterAdd.new(g, self.operands[1], self.axis + len(batch))

    def numpy(self, E, y):
        return np.take(E, y, axis=self.axis)


class ScatterAdd(Expr):
    """The adjoint of Take: out[..., y[p], ...] += g[..., p, ...], along ``axis``, zeros elsewhere."""

    __slots__ = ("axis",)

    @classmethod
    def new(cls, g, y, axis):
        g, y = as_expr(g), _as_labels(y, "scatter-add")
        shape = g.shape[:axis] + (y.high,) + g.shape[axis + y.ndim:]
        return cls._make((axis,), (g, y), shape, axis=axis)

    def rebuild(self, ops):
        return ScatterAdd.new(ops[0], ops[1], self.axis)

    def vjp(self, k, g, batch):
        if k == 1:
            return None
        return Take.new(g, self.operands[1], self.axis + len(batch))

    def numpy_at(self, shape, g, y):
        out = np.zeros(shape)
        ax, r = self.axis, y.ndim
        gm = np.moveaxis(g, list(range(ax, ax + r)), list(range(r)))  # the label axes first
        np.add.at(np.moveaxis(out, ax, 0), y, gm)
        return out


class OneHot(Expr):
    """one_hot(y): shape y.shape + (K,), with 1 at each label."""

    __slots__ = ()

    @classmethod
    def new(cls, y, K=None):
        y = _as_labels(y, "sm.one_hot")
        if K is not None and (not isinstance(K, (int, Dim)) or isinstance(K, bool) or K != y.high):
            raise ValueError(f"sm.one_hot: {y.name} has labels below {y.high}, so K must be {y.high}, got {K!r}")
        return cls._make((), (y,), y.shape + (y.high,))

    def rebuild(self, ops):
        return OneHot.new(ops[0])

    def vjp(self, k, g, batch):
        return None

    @staticmethod
    def numpy_at(shape, y):
        return (y[..., None] == np.arange(shape[-1])).astype(float)
