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

from ..nodes import Einsum, Let, Map
from .blas import match_gram
from .emit_nests import Nest
from .scalar import scalar_block


class SumEmit:
    """``_sum_reading_only``, ``_emit_fused_sum`` and ``_emit_axis_sum`` (mixed into KernelBody)."""

    def _sum_reading_only(self, node: Map):
        """The Einsum that is ``node``'s one reader when it sums every entry of it, or all its
        axes but some leading ones (row sums; the map is not an output and no other array is in
        the sum), else None."""
        users = getattr(self, "users", None)  # the node-by-node build's readers (the fused row loop has none)
        if not node.ndim or users is None or node.uid in self.out_uids:
            return None
        users = users.get(node.uid, [])
        if len(users) != 1 or not isinstance(users[0], Einsum):
            return None
        e = users[0]
        arrays = [(op, sub) for op, sub in zip(e.operands, e.subs) if op.ndim]
        if len(arrays) != 1 or arrays[0][0] is not node or match_gram(e) is not None:
            return None
        sub = list(arrays[0][1])
        if len(e.out) >= len(sub) or list(e.out) != sub[:len(e.out)]:
            return None
        return e if len(set(sub)) == len(sub) == node.ndim else None

    def _emit_fused_sum(self, e: Einsum, name: str, factor: list[str]) -> None:
        """name = Π factor · Σ (the deferred map's expression), in one loop nest."""
        node, expr, names, ref = self.deferred_sums.pop(e.uid)
        self.ops += sp.Mul(*node.shape)  # the additions (the map's own operations are counted with it)
        if e.out:
            self._emit_fused_row_sum(node, len(e.out), expr, names, name, factor)
            return
        start = len(self.lines)
        self.emit(0, f"{name} = 0.0")
        head = len(self.lines)
        for k, size in enumerate(node.shape):
            self.emit(k, f"for i{k} in range({self.size(size)}):")
        body = len(self.lines)
        lines, helpers = scalar_block(expr, names, f"{name} += ", "    " * node.ndim, "c_")
        self.helpers |= helpers
        self.lines.extend(lines)
        post = len(self.lines)
        if factor:
            self.emit(0, f"{name} = {' * '.join(factor)} * {name}")
        self.nests.append(Nest(name, "sum", start, head, body, post, len(self.lines), ref))

    def _emit_fused_row_sum(self, node: Map, keep: int, expr, names, name: str, factor: list[str]) -> None:
        """name[i0, …] = Π factor · Σ over the map's axes after the first ``keep``, each entry
        summed in a register, as the contraction's own loop does, with no array for the map."""
        self.alloc(name, node.shape[:keep], zero=False)
        for k, size in enumerate(node.shape):
            if k == keep:
                self.emit(k, "acc_ = 0.0")
            self.emit(k, self.loop(f"i{k}", self.size(size), k == 0) if k < keep else
                      f"for i{k} in range({self.size(size)}):")
        lines, helpers = scalar_block(expr, names, "acc_ += ", "    " * node.ndim, "c_")
        self.helpers |= helpers
        self.lines.extend(lines)
        at = ", ".join(f"i{k}" for k in range(keep))
        self.emit(keep, f"{name}[{at}] = {' * '.join(factor + ['acc_'])}")

    def _emit_axis_sum(self, node: Einsum, name: str, arrays, factor: list[str]) -> bool:
        """name = a sum of one map over its leading axes (a bias's gradient Σ_rows δ) or all of
        them, as a loop nest over the map's own domain: one nest emit_nests can join to the map's loop.
        False where it is not such a sum, or the kernel is threaded (its rows are split)."""
        ops = [o for o in node.operands if o.ndim]
        if self.parallel or len(arrays) != 1 or len(ops) != 1:
            return False
        op, (v, sub) = ops[0], arrays[0]
        while isinstance(op, Let):  # a named step: its value is its body's
            op = op.body
        out = list(node.out)
        if (not isinstance(op, Map) or op.uid in self.broadcasts or len(set(sub)) != len(sub)
                or len(sub) != op.ndim or len(out) >= len(sub) or (out and factor)):
            return False
        if out and sub[len(sub) - len(out):] != out:
            # the kept axes must be the innermost: name[i1] += … in a loop over i2 would add into
            # one entry each iteration, a chain through memory that never vectorises (the CNN's
            # bias gradient Σ_{n,p,q} δ[n, o, p, q] took 0.75 ms more so); the contraction's own
            # loop keeps such a sum in a register
            return False
        sizes = [node.sizes[l] for l in sub]
        self.ops += sp.Mul(*sizes)
        start = len(self.lines)
        if out:
            self.emit(0, f"{name} = np.zeros({self.shape_src([node.sizes[l] for l in out])}, dtype=dt)")
        else:
            self.emit(0, f"{name} = 0.0")
        head = len(self.lines)
        for k, size in enumerate(sizes):
            self.emit(k, f"for i{k} in range({self.size(size)}):")
        body = len(self.lines)
        ref = ", ".join(f"i{k}" for k in range(len(sub)))
        at = f"[{', '.join(f'i{sub.index(l)}' for l in out)}]" if out else ""
        self.emit(len(sub), f"{name}{at} += {v}[{ref}]")
        post = len(self.lines)
        if factor:
            self.emit(0, f"{name} = {' * '.join(factor)} * {name}")
        self.nests.append(Nest(name, "sum", start, head, body, post, len(self.lines), ref))
        return True

