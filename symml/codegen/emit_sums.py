"""The full sum of an elementwise map that nothing else reads, as one loop.

A loss written as Σ f(…) over a matrix (Σ Mask ⊙ (R − UVᵀ)², Σ (tanh(XW + c)Wᵀ + e − X)²,
the MLP's Σ Y ⊙ log softmax) was emitted as two passes: the map into an n × m array, then
its sum. Where the map's one reader is that sum, the sum's loop evaluates the map's
expression itself and no array is made: one pass instead of two, one loop nest less for
LLVM to compile, and the same additions in the same order (row-major), so the same bits.

Takes: a map and the sum that reads it. Gives: the sum's statements (``acc += f(…)``).
"""
from __future__ import annotations

import sympy as sp

from ..nodes import Einsum, Map
from .blas import match_gram
from .scalar import scalar_block


class SumEmit:
    """``_sum_reading_only`` and ``_emit_fused_sum`` (mixed into KernelBody)."""

    def _sum_reading_only(self, node: Map):
        """The Einsum that is ``node``'s one reader when it sums every entry of it (the map is
        not an output and no other array is in the sum), else None."""
        users = getattr(self, "users", None)  # the node-by-node build's readers (the fused row loop has none)
        if not node.ndim or users is None or node.uid in self.out_uids:
            return None
        users = users.get(node.uid, [])
        if len(users) != 1 or not isinstance(users[0], Einsum):
            return None
        e = users[0]
        arrays = [(op, sub) for op, sub in zip(e.operands, e.subs) if op.ndim]
        if e.out or len(arrays) != 1 or arrays[0][0] is not node or match_gram(e) is not None:
            return None
        sub = list(arrays[0][1])
        return e if len(set(sub)) == len(sub) == node.ndim else None

    def _emit_fused_sum(self, e: Einsum, name: str, factor: list[str]) -> None:
        """name = Π factor · Σ (the deferred map's expression), in one loop nest."""
        node, expr, names, ref = self.deferred_sums.pop(e.uid)
        self.ops += sp.Mul(*node.shape)  # the additions (the map's own operations are counted with it)
        self.emit(0, f"{name} = 0.0")
        for k, size in enumerate(node.shape):
            self.emit(k, f"for i{k} in range({self.size(size)}):")
        lines, helpers = scalar_block(expr, names, f"{name} += ", "    " * node.ndim, "c_")
        self.helpers |= helpers
        self.lines.extend(lines)
        if factor:
            self.emit(0, f"{name} = {' * '.join(factor)} * {name}")
