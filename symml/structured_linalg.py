"""The reduced QR factorisation of a tall matrix, and the triangular folds its derivative needs.

``QR(A, "Q")`` and ``QR(A, "R")`` are the two factors of A = QR (A of shape (m, n), m ≥ n,
full column rank): Q (m, n) with orthonormal columns, R (n, n) upper triangular with a
**positive diagonal**, which makes the factorisation unique (numpy's LAPACK QR does not
fix the signs; the numeric forms here flip each column of Q and row of R whose diagonal
entry is negative). Codegen factors A once for both nodes.

The reverse-mode rule (for tall, full-rank A) is

    M = R R̄ᵀ − Q̄ᵀQ,    Ā = (Q̄ + Q copyltu(M)) R⁻ᵀ,

with copyltu(M) the symmetric matrix whose lower triangle is M's. It is linear in
(Q̄, R̄), so each factor contributes its own term and backpropagation adds them:
Q̄ gives (Q̄ − Q copyltu(Q̄ᵀQ)) R⁻ᵀ and R̄ gives Q copyltu(R R̄ᵀ) R⁻ᵀ.

``TriFold(kind, M)`` acts on the last two axes (leading axes are a batch):
``"copyltu"``: out[i, j] = M[max(i, j), min(i, j)]; ``"fold"``, its adjoint: the strict
lower triangle of M + Mᵀ, M's diagonal, zeros above.

Takes: graph nodes. Gives: graph nodes.
"""
from __future__ import annotations

import numpy as np

from .nodes import Expr, as_expr, fmt_shape, make_einsum, make_map, placeholder
from .structured import Inv, _b, _bsizes


def qr_positive(A: np.ndarray):
    """numpy's reduced QR with the signs fixed so that R's diagonal is positive."""
    Q, R = np.linalg.qr(A)
    s = np.where(np.diagonal(R, axis1=-2, axis2=-1) < 0, -1.0, 1.0)
    return Q * s[..., None, :], R * s[..., :, None]


class QR(Expr):
    """One factor (``part`` "Q" or "R") of the reduced QR of a tall matrix, R's diagonal positive."""

    __slots__ = ("part",)

    @classmethod
    def new(cls, A, part):
        A = as_expr(A)
        if A.ndim != 2:
            raise ValueError(f"sm.qr needs a matrix (m, n) with m ≥ n, got shape {fmt_shape(A.shape)}")
        m, n = A.shape
        if (m - n).is_number and m - n < 0:
            raise ValueError(f"sm.qr needs a tall matrix (rows ≥ columns) for the reduced QR, got shape {fmt_shape(A.shape)}")
        if part not in ("Q", "R"):  # pragma: no cover - internal
            raise ValueError(f"unknown QR factor {part!r}")
        shape = (m, n) if part == "Q" else (n, n)
        return cls._make((part,), (A,), shape, part=part)

    def rebuild(self, ops):
        return QR.new(ops[0], self.part)

    def vjp(self, k, g, batch):
        A = self.operands[0]
        Q, R = QR.new(A, "Q"), QR.new(A, "R")
        b, sz = _b(batch), _bsizes(batch)
        if self.part == "Q":
            # −copyltu(Q̄ᵀQ), then Q̄ + Q·that
            m_ = make_einsum([g, Q], [b + ["k", "i"], ["k", "j"]], b + ["i", "j"], sz, -1)
            inner = make_einsum([Q, TriFold.new("copyltu", m_)], [["i", "k"], b + ["k", "j"]], b + ["i", "j"], sz)
            inner = make_map(placeholder(0) + placeholder(1), [g, inner], g.shape)
        else:
            m_ = make_einsum([R, g], [["i", "k"], b + ["j", "k"]], b + ["i", "j"], sz)
            inner = make_einsum([Q, TriFold.new("copyltu", m_)], [["i", "k"], b + ["k", "j"]], b + ["i", "j"], sz)
        # X R⁻ᵀ: Σ_k X[i, k] (R⁻¹)[j, k]
        return make_einsum([inner, Inv.new(R)], [b + ["i", "k"], ["j", "k"]], b + ["i", "j"], sz)

    def numpy(self, A):
        if A.shape[0] < A.shape[1]:
            raise ValueError(f"sm.qr: A has shape {A.shape}; expected at least as many rows as columns")
        return qr_positive(A)[0 if self.part == "Q" else 1]


class TriFold(Expr):
    """copyltu(M) (the lower triangle mirrored) or its adjoint fold(M), over the last two axes."""

    __slots__ = ("kind",)

    @classmethod
    def new(cls, kind, M):
        M = as_expr(M)
        if M.ndim < 2 or M.shape[-1] != M.shape[-2]:  # pragma: no cover - built by the QR rule
            raise ValueError(f"{kind} needs square matrices, got shape {fmt_shape(M.shape)}")
        return cls._make((kind,), (M,), M.shape, kind=kind)

    def rebuild(self, ops):
        return TriFold.new(self.kind, ops[0])

    def vjp(self, k, g, batch):
        return TriFold.new("fold" if self.kind == "copyltu" else "copyltu", g)

    def numpy(self, M):
        low = np.tril(M)
        if self.kind == "copyltu":
            return low + np.swapaxes(np.tril(M, -1), -1, -2)
        return low + np.tril(np.swapaxes(M, -1, -2), -1)
