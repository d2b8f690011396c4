"""Contractions of two tensors read as one matrix product (a tensordot on BLAS).

A pairwise contraction Σ a·b whose operands each keep their free labels and their summed
labels as two contiguous groups, (free, summed) or (summed, free), with the summed labels in
the same order in both, is a matrix product of the operands reshaped to matrices. The dense
layer of a CNN is one: z[n,k] = Σ_{o,p,q} S[n,o,p,q] V[k,o,p,q] is S as an (N, O·P·Q)
matrix times V as a (K, O·P·Q) matrix, transposed; so are its two adjoints. Products of
matrices and vectors (one summed label, rank ≤ 2) are the emitter's own ``_try_blas``; this
takes the rest. Measured here, the three products of the catalog CNN's dense layer take
0.16 ms on np.dot against 0.93 ms as loop nests (one thread, N = 64).

Takes: two operands with their labels. Gives: one ``np.dot`` line, or nothing (the caller
falls back to a loop nest).
"""
from __future__ import annotations

import sympy as sp


class TensordotEmit:
    """``_try_tensordot`` (mixed into KernelBody)."""

    def _try_tensordot(self, name, arrays, out, sizes, fsrc) -> bool:
        (a, la), (b, lb) = arrays
        la, lb = list(la), list(lb)
        if not out or len(set(la)) != len(la) or len(set(lb)) != len(lb) or len(set(out)) != len(out):
            return False
        shared = [l for l in la if l in lb]
        if not shared or any(l in out for l in shared) or [l for l in lb if l in la] != shared:
            return False
        fa, fb = [l for l in la if l not in shared], [l for l in lb if l not in shared]
        if out == fa + fb:
            (x, lx, fx), (y, ly, fy) = (a, la, fa), (b, lb, fb)
        elif out == fb + fa:
            (x, lx, fx), (y, ly, fy) = (b, lb, fb), (a, la, fa)
        else:
            return False

        lengths = {}  # a group of several labels: its length, computed once under a name

        def size(labels):
            if len(labels) == 1:
                return self.size(sizes[labels[0]])
            key = tuple(labels)
            if key not in lengths:
                lengths[key] = self.fresh(name + "_len")
                self.emit(0, f"{lengths[key]} = {self.size(sp.Mul(*[sizes[l] for l in labels]))}")
            return lengths[key]

        def matrix(v, labels, free, rows_free):
            """v as a matrix (free, shared) if rows_free, else (shared, free); None if its labels are interleaved."""
            if labels == free + shared:
                m = v if len(free) == len(shared) == 1 else f"np.ascontiguousarray({v}).reshape(({size(free)}, {size(shared)}))"
                return m if rows_free else m + ".T"
            if labels == shared + free:
                m = v if len(free) == len(shared) == 1 else f"np.ascontiguousarray({v}).reshape(({size(shared)}, {size(free)}))"
                return m + ".T" if rows_free else m
            return None

        if not ((lx in (fx + shared, shared + fx)) and (ly in (fy + shared, shared + fy))):
            return False
        mx, my = matrix(x, lx, fx, True), matrix(y, ly, fy, False)
        self.ops += 2 * sp.Mul(*[sizes[l] for l in dict.fromkeys(la + lb)])
        self.uses_blas_dot = True
        shape = self.shape_src([sizes[l] for l in out])
        prod = f"np.dot({mx}, {my})"
        self.emit(0, f"{name} = {prod}" if len(fx) == len(fy) == 1 else f"{name} = {prod}.reshape({shape})")
        if fsrc:
            self.emit(0, f"{name} = {fsrc} * {name}")
        return True
