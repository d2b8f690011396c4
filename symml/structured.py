"""Structured tensor nodes that are neither contractions nor elementwise maps.

Each class keeps together its shape rule, its vector-Jacobian product (``vjp``) and its
reference numpy form (``numpy``). Codegen spells them in :mod:`symml.codegen`.

``vjp(k, g, batch)`` returns the adjoint of operand ``k`` given the upstream adjoint ``g``
of shape ``batch + self.shape`` (``batch`` is empty for gradients and holds the output
axes for Jacobians), or ``None`` where the adjoint is zero.

Takes: graph nodes. Gives: graph nodes.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from .nodes import Expr, as_expr, fmt_shape, make_einsum, make_map, placeholder


def _b(batch):
    return [("b", k) for k in range(len(batch))]


def _bsizes(batch):
    return {("b", k): s for k, s in enumerate(batch)}


def _square_stack(A, what):
    """A as a square matrix or a stack of them (leading batch axes), else a ValueError."""
    A = as_expr(A)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(
            f"{what} needs a square matrix or a stack of them (shape (..., d, d)), got shape {fmt_shape(A.shape)}"
        )
    return A


def _stack(A):
    """The batch labels of a stack A (..., d, d): ("B", 0), ("B", 1), ..."""
    return [("B", k) for k in range(A.ndim - 2)]


class Inv(Expr):
    """A⁻¹ of a square matrix, or of each matrix of a stack (..., d, d)."""

    __slots__ = ()

    @classmethod
    def new(cls, A):
        A = _square_stack(A, "sm.inv")
        if isinstance(A, Inv):  # (A⁻¹)⁻¹ = A
            return A.operands[0]
        return cls._make((), (A,), A.shape)

    def rebuild(self, ops):
        return Inv.new(*ops)

    def vjp(self, k, g, batch):
        # d(A⁻¹) = −A⁻¹ dA A⁻¹  ⇒  Ā = −A⁻ᵀ Ḡ A⁻ᵀ, matrix by matrix of the stack
        b, B = _b(batch), _stack(self)
        return make_einsum([self, g, self], [B + ["k", "i"], b + B + ["k", "l"], B + ["j", "l"]], b + B + ["i", "j"],
                           _bsizes(batch), -1)

    @staticmethod
    def numpy(A):
        return np.linalg.inv(A)


class Solve(Expr):
    """A⁻¹c by a linear solve (never by forming A⁻¹), for a matrix or a stack of them.

    With A of shape (..., d, d), c of rank A.ndim − 1 is a stack of vectors (..., d) and c
    of rank A.ndim a stack of matrices (..., d, m); the batch axes of A and c agree.
    """

    __slots__ = ()

    @classmethod
    def new(cls, A, c):
        A, c = _square_stack(A, "sm.solve"), as_expr(c)
        lead = A.shape[:-2]
        vec = c.ndim == A.ndim - 1
        if not (vec or c.ndim == A.ndim) or c.shape[:len(lead)] != lead or c.shape[len(lead)] != A.shape[-1]:
            raise ValueError(
                f"sm.solve: right-hand side of shape {fmt_shape(c.shape)} does not fit {fmt_shape(A.shape)}; "
                f"expected {fmt_shape(lead + A.shape[-1:])} (vectors) or {fmt_shape(lead + (A.shape[-1], 'm'))} (matrices)"
            )
        return cls._make((), (A, c), c.shape)

    def rebuild(self, ops):
        return Solve.new(*ops)

    def vjp(self, k, g, batch):
        # x = A⁻¹c:  c̄ = A⁻ᵀḡ,  Ā = −A⁻ᵀḡ xᵀ
        b = _b(batch)
        A = self.operands[0]
        B = _stack(A)
        rest = ["m"] if self.ndim == A.ndim else []
        cbar = make_einsum([Inv.new(A), g], [B + ["j", "i"], b + B + ["j"] + rest], b + B + ["i"] + rest, _bsizes(batch))
        if k == 1:
            return cbar
        return make_einsum([cbar, self], [b + B + ["i"] + rest, B + ["l"] + rest], b + B + ["i", "l"], _bsizes(batch), -1)

    def numpy(self, A, c):
        if self.ndim == A.ndim - 1:
            return np.linalg.solve(A, c[..., None])[..., 0]
        return np.linalg.solve(A, c)


class Det(Expr):
    """det A, of a square matrix or of each matrix of a stack (..., d, d)."""

    __slots__ = ()

    @classmethod
    def new(cls, A):
        A = _square_stack(A, "sm.det")
        return cls._make((), (A,), A.shape[:-2])

    def rebuild(self, ops):
        return Det.new(*ops)

    def vjp(self, k, g, batch):
        b, B = _b(batch), _stack(self.operands[0])  # ∂ det A / ∂A = det(A) A⁻ᵀ
        return make_einsum([g, self, Inv.new(self.operands[0])], [b + B, B, B + ["j", "i"]], b + B + ["i", "j"],
                           _bsizes(batch))

    @staticmethod
    def numpy(A):
        return np.linalg.det(A)


class LogDet(Expr):
    """log det A, for A with positive determinant (SPD matrices in practice), or a stack of them."""

    __slots__ = ()

    @classmethod
    def new(cls, A):
        A = _square_stack(A, "sm.logdet")
        return cls._make((), (A,), A.shape[:-2])

    def rebuild(self, ops):
        return LogDet.new(*ops)

    def vjp(self, k, g, batch):
        b, B = _b(batch), _stack(self.operands[0])  # ∂ log det A / ∂A = A⁻ᵀ
        return make_einsum([g, Inv.new(self.operands[0])], [b + B, B + ["j", "i"]], b + B + ["i", "j"], _bsizes(batch))

    @staticmethod
    def numpy(A):
        sign, val = np.linalg.slogdet(A)
        return np.where(sign > 0, val, np.nan)


class LogSumExp(Expr):
    """log Σ_axis exp(x), computed stably; the axis is removed from the shape."""

    __slots__ = ("axis",)

    @classmethod
    def new(cls, x, axis):
        x = as_expr(x)
        if x.ndim == 0:
            raise ValueError("sm.logsumexp needs a tensor of rank ≥ 1, got a scalar")
        axis = _norm_axis(axis, x.ndim, "sm.logsumexp")
        shape = x.shape[:axis] + x.shape[axis + 1:]
        return cls._make((axis,), (x,), shape, axis=axis)

    def rebuild(self, ops):
        return LogSumExp.new(ops[0], self.axis)

    def vjp(self, k, g, batch):
        x = self.operands[0]
        b = _b(batch)
        full = list(range(x.ndim))
        rest = [a for a in full if a != self.axis]
        sm_ = softmax_of(x, self.axis, self)
        return make_einsum([g, sm_], [b + rest, full], b + full, _bsizes(batch))

    def numpy(self, x):
        m = np.max(x, axis=self.axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        return np.squeeze(m, self.axis) + np.log(np.sum(np.exp(x - m), axis=self.axis))


def softmax_of(x: Expr, axis: int, lse: Expr | None = None) -> Expr:
    """exp(x − logsumexp(x)) broadcast along ``axis``."""
    lse = lse if lse is not None else LogSumExp.new(x, axis)
    full = list(range(x.ndim))
    rest = [a for a in full if a != axis]
    wide = make_einsum([lse], [rest], full, {axis: x.shape[axis]})
    return make_map(sp.exp(placeholder(0) - placeholder(1)), [x, wide])


def _norm_axis(axis, ndim, what):
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{what}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim


# --------------------------------------------------------------------------- convolution

_SLOTS = ("x", "k", "y")


class Conv(Expr):
    """One slot of the trilinear form B(x, k, y) = Σ x[n,c,p+u,q+v] k[o,c,u,v] y[n,o,p,q].

    slot "y" is the valid, stride-1 convolution (cross-correlation, as in deep
    learning) of an input x (N, C, H, W) with kernels k (O, C, kh, kw). Slot "x" is the
    full convolution of an upstream y with the flipped kernel (the input gradient), and
    slot "k" the correlation of the input with the upstream y (the kernel gradient).
    Operands are the two other slots, in the order x, k, y.
    """

    __slots__ = ("slot",)

    @classmethod
    def new(cls, slot, a, b):
        a, b = as_expr(a), as_expr(b)
        names = [s for s in _SLOTS if s != slot]
        for nm, t in zip(names, (a, b)):
            if t.ndim != 4:
                raise ValueError(f"conv2d: {nm} must have rank 4, got shape {fmt_shape(t.shape)}")
        get = dict(zip(names, (a, b)))
        if slot == "y":
            x, k = get["x"], get["k"]
            if x.shape[1] != k.shape[1]:
                raise ValueError(
                    f"conv2d: input channels disagree: x {fmt_shape(x.shape)} has {x.shape[1]}, kernel {fmt_shape(k.shape)} has {k.shape[1]}"
                )
            shape = (x.shape[0], k.shape[0], x.shape[2] - k.shape[2] + 1, x.shape[3] - k.shape[3] + 1)
            for s in shape[2:]:
                if s.is_number and s < 1:
                    raise ValueError(
                        f"conv2d: the kernel {fmt_shape(k.shape)} does not fit in the image {fmt_shape(x.shape)}"
                    )
        elif slot == "x":
            k, y = get["k"], get["y"]
            shape = (y.shape[0], k.shape[1], y.shape[2] + k.shape[2] - 1, y.shape[3] + k.shape[3] - 1)
        else:
            x, y = get["x"], get["y"]
            shape = (y.shape[1], x.shape[1], x.shape[2] - y.shape[2] + 1, x.shape[3] - y.shape[3] + 1)
        return cls._make((slot,), (a, b), shape, slot=slot)

    def rebuild(self, ops):
        return Conv.new(self.slot, *ops)

    def vjp(self, k, g, batch):
        if batch:
            raise ValueError("Jacobians and Hessians through conv2d are not supported; use sm.grad or sm.hvp")
        names = [s for s in _SLOTS if s != self.slot]
        target = names[k]
        have = {names[1 - k]: self.operands[1 - k], self.slot: g}
        a, b = (have[s] for s in _SLOTS if s != target)
        return Conv.new(target, a, b)

    def numpy(self, a, b):
        names = [s for s in _SLOTS if s != self.slot]
        get = dict(zip(names, (a, b)))
        if self.slot == "y":
            x, k = get["x"], get["k"]
            kh, kw = k.shape[2:]
            P, Q = x.shape[2] - kh + 1, x.shape[3] - kw + 1
            out = np.zeros((x.shape[0], k.shape[0], P, Q))
            for u in range(kh):
                for v in range(kw):
                    out += np.einsum("ncpq,oc->nopq", x[:, :, u:u + P, v:v + Q], k[:, :, u, v])
            return out
        if self.slot == "x":
            k, y = get["k"], get["y"]
            kh, kw = k.shape[2:]
            P, Q = y.shape[2:]
            out = np.zeros((y.shape[0], k.shape[1], P + kh - 1, Q + kw - 1))
            for u in range(kh):
                for v in range(kw):
                    out[:, :, u:u + P, v:v + Q] += np.einsum("nopq,oc->ncpq", y, k[:, :, u, v])
            return out
        x, y = get["x"], get["y"]
        P, Q = y.shape[2:]
        kh, kw = x.shape[2] - P + 1, x.shape[3] - Q + 1
        out = np.zeros((y.shape[1], x.shape[1], kh, kw))
        for u in range(kh):
            for v in range(kw):
                out[:, :, u, v] = np.einsum("ncpq,nopq->oc", x[:, :, u:u + P, v:v + Q], y)
        return out


# --------------------------------------------------------------------------- pooling


class Pool(Expr):
    """Non-overlapping s×s pooling of ``h`` over the last two axes, with windows chosen by ``x``.

    For max pooling the selected entry of each window is the argmax of ``x`` (first on
    ties); ``h`` supplies the values. ``maxpool2d(x)`` is ``Pool(x, x)``. This split makes
    the adjoint exact: the selection is piecewise constant in x, so only h has one.
    """

    __slots__ = ("kind", "size")

    @classmethod
    def new(cls, kind, size, x, h):
        x, h = as_expr(x), as_expr(h)
        if x.ndim < 2:
            raise ValueError(f"{kind}pool2d needs a tensor of rank ≥ 2, got shape {fmt_shape(x.shape)}")
        shape = x.shape[:-2] + tuple(sp.floor(s / size) for s in x.shape[-2:])
        if any(s.is_number and s < 1 for s in shape[-2:]):
            raise ValueError(f"{kind}pool2d: a {size}×{size} window does not fit in an image of shape {fmt_shape(x.shape)}")
        return cls._make((kind, size), (x, h), shape, kind=kind, size=size)

    def rebuild(self, ops):
        return Pool.new(self.kind, self.size, *ops)

    def vjp(self, k, g, batch):
        if batch:
            raise ValueError("Jacobians and Hessians through pooling are not supported; use sm.grad or sm.hvp")
        if k == 0:
            return None
        return PoolGrad.new(self.kind, self.size, self.operands[0], g)

    def numpy(self, x, h):
        s = self.size
        H, W = (x.shape[-2] // s) * s, (x.shape[-1] // s) * s
        xw = _windows(x[..., :H, :W], s)
        hw = _windows(h[..., :H, :W], s)
        if self.kind == "avg":
            return hw.mean(axis=-1)
        idx = np.argmax(xw, axis=-1)[..., None]
        return np.take_along_axis(hw, idx, axis=-1)[..., 0]


class PoolGrad(Expr):
    """The adjoint of pooling: spreads g back over each window (to the argmax for max)."""

    __slots__ = ("kind", "size")

    @classmethod
    def new(cls, kind, size, x, g):
        x, g = as_expr(x), as_expr(g)
        return cls._make((kind, size), (x, g), x.shape, kind=kind, size=size)

    def rebuild(self, ops):
        return PoolGrad.new(self.kind, self.size, *ops)

    def vjp(self, k, g, batch):
        if batch:
            raise ValueError("Jacobians and Hessians through pooling are not supported; use sm.grad or sm.hvp")
        if k == 0:
            return None
        return Pool.new(self.kind, self.size, self.operands[0], g)

    def numpy(self, x, g):
        s = self.size
        H, W = g.shape[-2] * s, g.shape[-1] * s
        out = np.zeros(x.shape)
        if self.kind == "avg":
            spread = np.repeat(np.repeat(g, s, axis=-2), s, axis=-1) / (s * s)
            out[..., :H, :W] = spread
            return out
        xw = _windows(x[..., :H, :W], s)
        idx = np.argmax(xw, axis=-1)
        mask = np.zeros(xw.shape)
        np.put_along_axis(mask, idx[..., None], 1.0, axis=-1)
        mask *= g[..., None]
        P, Q = g.shape[-2], g.shape[-1]
        m = mask.reshape(g.shape[:-2] + (P, Q, s, s))
        m = np.moveaxis(m, -2, -3).reshape(g.shape[:-2] + (H, W))
        out[..., :H, :W] = m
        return out


def _windows(a, s):
    """(..., H, W) → (..., H/s, W/s, s*s) view of the non-overlapping windows."""
    *lead, H, W = a.shape
    a = a.reshape(*lead, H // s, s, W // s, s)
    a = np.moveaxis(a, -3, -2)
    return a.reshape(*lead, H // s, W // s, s * s)
