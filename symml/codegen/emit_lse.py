"""Log-sum-exp in kernels: the stable reduction, and x − logsumexp(x) read from its parts.

log Σ e^x is emitted as m + log1p(Σ_{j ≠ argmax} e^{x_j − m}) (no overflow; log1p keeps the
digits that log(1 + s) rounds away when one entry dominates), keeping m and the log1p part,
so that a map reading x − logsumexp(x), as log_softmax builds it, spells it (x − m) − l.

Takes: LogSumExp nodes and the maps that read them. Gives: Python source lines (mixed into KernelBody).
"""
from __future__ import annotations

import sympy as sp

from ..nodes import Einsum, Map, placeholder
from ..structured import LogSumExp


class LogSumExpEmit:
    """``_stable_log_softmax`` and ``_emit_LogSumExp`` (mixed into KernelBody)."""

    def _stable_log_softmax(self, node: Map, idx, names) -> sp.Expr:
        """The map's expression with x − logsumexp(x) spelled (x − m) − l (m the max, l the log1p part).

        x − (m + l) loses every digit of l when x = m ≫ l (a confident softmax row): the
        cross-entropy, entropy and KL of such a row would round to 0. The substitution
        lse → x − D, with D = (x − m) − l, is exact, and SymPy cancels x − lse to D.
        """
        expr = node.expr
        for j, op in enumerate(node.operands):
            lse = op.operands[0] if _is_broadcast_of_lse(op, node.ndim) else op
            if not isinstance(lse, LogSumExp) or lse.uid not in self.lse or lse.ndim != node.ndim - 1:
                continue
            x = lse.operands[0]
            i = next((k for k, o in enumerate(node.operands) if o is x), None)
            if i is None or x.shape != node.shape:
                continue
            m, l = self.lse[lse.uid]
            rest = ", ".join(v for k, v in enumerate(idx) if k != lse.axis)
            at = f"[{rest}]" if rest else ""
            D = sp.Symbol(f"_lsm{j}", real=True)
            names[D] = f"(({names[placeholder(i)]} - {m}{at}) - {l}{at})"
            expr = expr.xreplace({placeholder(j): placeholder(i) - D})
        return expr

    def _emit_LogSumExp(self, node: LogSumExp, name):
        # log Σ e^x = m + log1p(Σ_{j ≠ argmax} e^{x_j − m}): no overflow, and log1p keeps the digits
        # that log(1 + s) rounds away when one entry dominates. m and the log1p part are kept (name_m,
        # name_l) so that maps spell x − logsumexp(x) as (x − m) − l (see _stable_log_softmax).
        x = node.operands[0]
        xv = self.var[x.uid]
        ax = node.axis
        idx = [f"i{k}" for k in range(x.ndim)]
        outer = [i for k, i in enumerate(idx) if k != ax]
        ref = lambda j: ", ".join(j if k == ax else i for k, i in enumerate(idx))  # noqa: E731
        self.ops += 3 * sp.Mul(*x.shape)
        depth = len(outer)
        m, l = self.fresh(name + "_m"), self.fresh(name + "_l")
        if depth:
            for v in (name, m, l):
                self.alloc(v, node.shape, zero=False)
        for k, i in enumerate(outer):
            self.emit(k, self.loop(i, self.size(x.shape[idx.index(i)]), k == 0))
        n_ax = self.size(x.shape[ax])
        self.emit(depth, f"m_ = {xv}[{ref('0')}]")
        self.emit(depth, "a_ = 0")
        self.emit(depth, f"for j_ in range(1, {n_ax}):")
        self.emit(depth + 1, f"if {xv}[{ref('j_')}] > m_:")
        self.emit(depth + 2, f"m_ = {xv}[{ref('j_')}]")
        self.emit(depth + 2, "a_ = j_")
        self.emit(depth, "s_ = 0.0")
        self.emit(depth, "if np.isfinite(m_):  # else all −inf (the sum is 0), +inf or NaN: the result is m")
        self.emit(depth + 1, f"for j_ in range({n_ax}):")
        self.emit(depth + 2, "if j_ != a_:")
        self.emit(depth + 3, f"s_ += _exp({xv}[{ref('j_')}] - m_)")  # vecmath's: no libm call in the loop
        at = f"[{', '.join(outer)}]" if depth else ""
        if not depth:  # scalars: each is dropped where nothing reads it (see _drop_dead)
            self.parts += [(m, len(self.lines)), (name, len(self.lines) + 2)]
        self.emit(depth, f"{m}{at} = m_")
        self.emit(depth, f"{l}{at} = _log1p(s_)")
        self.helpers |= {"_exp", "_log1p"}
        self.emit(depth, f"{name}{at} = m_ + {l}{at}")
        self.lse[node.uid] = (m, l)


def _is_broadcast_of_lse(op, ndim) -> bool:
    """Whether ``op`` is a logsumexp broadcast back along its reduced axis (as log_softmax builds it)."""
    if not (isinstance(op, Einsum) and len(op.operands) == 1 and op.coef == 1 and len(op.out) == ndim):
        return False
    lse = op.operands[0]
    return isinstance(lse, LogSumExp) and list(op.subs[0]) == [l for k, l in enumerate(op.out) if k != lse.axis]
