"""Loop templates of convolution and pooling: im2col and one BLAS product per image.

:class:`ConvEmit` is a mixin of :class:`~symml.codegen.emit.KernelBody`, one ``_emit_<Node>``
method per node class. The three slots of a :class:`~symml.structured.Conv` node are
matrix products once one image's patches are laid out as a matrix (im2col):

- ``cols[(c,u,v), (p,q)] = x[n, c, p+u, q+v]``, a (C·kh·kw, P·Q) matrix per image n;
- slot "y" (the convolution): ``y[n] = K · cols``, K the kernels as an (O, C·kh·kw) matrix;
- slot "k" (the kernel gradient): ``∇K = Σₙ y[n] · colsᵀ``;
- slot "x" (the input gradient): ``Kᵀ · y[n]``, a patch matrix that col2im adds back into
  the image (each pixel collects the patches it belongs to).

Each product is one ``np.dot`` (BLAS). Measured on this machine (one thread, N = 64), it
equals loops that LLVM vectorises for a 1→8 channel 3×3 layer (0.36 ms, against 1.5 ms for
the dot-product loops emitted before) and is twice as fast as them from 16→32 channels
(2.3 against 4.4 ms; the old loops took 36 ms). The patch matrix holds one image at a time,
so the extra memory is kh·kw times one image, never times the batch.

Max pooling scans each s×s window once, without branches (LLVM vectorises the selects),
and keeps the position of each maximum: the adjoint of the same pooling reads it back
instead of scanning the windows again. NaN counts as the maximum (as numpy's argmax), so
a NaN in an image reaches the result and the wrappers' finite check names it.

Takes: graph nodes. Gives: Python source lines.
"""
from __future__ import annotations

import sympy as sp

from ..structured import Conv, Pool, PoolGrad

#: The kernel gradient sums over images in this many groups at most (each with its own
#: partial sum) when the body runs on threads. A fixed number, not the thread count: the
#: result is then the same on any number of threads.
CONV_GROUPS = 16

#: Windows up to this many entries (s·s) are scanned by straight-line code; larger ones by loops.
UNROLL_WINDOW = 16


class ConvEmit:
    """Emission of Conv, Pool and PoolGrad (mixed into KernelBody)."""

    # -- convolution
    def _im2col(self, depth, x, cols):
        """cols[(c,u,v), (p,q)] = x[a_, c, p+u, q+v] for the image a_ (sizes C_, KH_, KW_, P_, Q_)."""
        self.emit(depth, "for c_ in range(C_):")
        self.emit(depth + 1, "for u_ in range(KH_):")
        self.emit(depth + 2, "for v_ in range(KW_):")
        self.emit(depth + 3, "rw_ = (c_ * KH_ + u_) * KW_ + v_")
        self.emit(depth + 3, "for p_ in range(P_):")
        self.emit(depth + 4, "for q_ in range(Q_):")
        self.emit(depth + 5, f"{cols}[rw_, p_ * Q_ + q_] = {x}[a_, c_, p_ + u_, q_ + v_]")

    def _emit_Conv(self, node: Conv, name):
        a, b = (self.var[o.uid] for o in node.operands)
        self.ops += 2 * sp.Mul(*node.operands[0].shape) * sp.Mul(*node.operands[1].shape[1:])
        self.uses_blas_dot = True
        cols = self.fresh(name + "_cols")
        if node.slot == "y":  # a = x (N, C, H, W), b = k (O, C, kh, kw)
            kf, yf = self.fresh(name + "_kf"), self.fresh(name + "_yf")
            self.emit(0, f"N_, C_, H_, W_ = {a}.shape")
            self.emit(0, f"O_, KH_, KW_ = {b}.shape[0], {b}.shape[2], {b}.shape[3]")
            self.emit(0, "P_, Q_ = H_ - KH_ + 1, W_ - KW_ + 1")
            self.emit(0, f"{kf} = np.ascontiguousarray({b}).reshape((O_, C_ * KH_ * KW_))")
            self.emit(0, f"{name} = np.empty((N_, O_, P_, Q_), dtype=dt)")
            self.emit(0, f"{yf} = {name}.reshape((N_, O_, P_ * Q_))")
            self.emit(0, self.loop("a_", "N_", True))
            self.emit(1, f"{cols} = np.empty((C_ * KH_ * KW_, P_ * Q_), dtype=dt)")
            self._im2col(1, a, cols)
            self.emit(1, f"np.dot({kf}, {cols}, {yf}[a_])  # y[n] = K · cols")
        elif node.slot == "k":  # a = x (N, C, H, W), b = y (N, O, P, Q)
            yf, part = self.fresh(name + "_yf"), self.fresh(name + "_part")
            self.emit(0, f"N_, C_, H_, W_ = {a}.shape")
            self.emit(0, f"O_, P_, Q_ = {b}.shape[1], {b}.shape[2], {b}.shape[3]")
            self.emit(0, "KH_, KW_ = H_ - P_ + 1, W_ - Q_ + 1")
            self.emit(0, f"{yf} = np.ascontiguousarray({b}).reshape((N_, O_, P_ * Q_))")
            groups = f"max(1, min(N_, {CONV_GROUPS}))" if self.parallel else "1"
            self.emit(0, f"ng_ = {groups}")
            self.emit(0, f"{part} = np.zeros((ng_, O_, C_ * KH_ * KW_), dtype=dt)")
            self.emit(0, self.loop("g_", "ng_", True))
            self.emit(1, f"{cols} = np.empty((C_ * KH_ * KW_, P_ * Q_), dtype=dt)")
            self.emit(1, "for a_ in range(g_ * N_ // ng_, (g_ + 1) * N_ // ng_):")
            self._im2col(2, a, cols)
            self.emit(2, f"{part}[g_] += np.dot({yf}[a_], {cols}.T)  # Σₙ y[n] · colsᵀ")
            self.emit(0, "for g_ in range(1, ng_):")
            self.emit(1, f"{part}[0] += {part}[g_]")
            self.emit(0, f"{name} = {part}[0].reshape((O_, C_, KH_, KW_))")
        else:  # slot "x": a = k (O, C, kh, kw), b = y (N, O, P, Q)
            kt, yf = self.fresh(name + "_kt"), self.fresh(name + "_yf")
            self.emit(0, f"O_, C_, KH_, KW_ = {a}.shape")
            self.emit(0, f"N_, P_, Q_ = {b}.shape[0], {b}.shape[2], {b}.shape[3]")
            self.emit(0, f"{kt} = np.ascontiguousarray(np.ascontiguousarray({a}).reshape((O_, C_ * KH_ * KW_)).T)")
            self.emit(0, f"{yf} = np.ascontiguousarray({b}).reshape((N_, O_, P_ * Q_))")
            self.emit(0, f"{name} = np.zeros((N_, C_, P_ + KH_ - 1, Q_ + KW_ - 1), dtype=dt)")
            self.emit(0, self.loop("a_", "N_", True))
            self.emit(1, f"{cols} = np.dot({kt}, {yf}[a_])  # Kᵀ · y[n], then col2im")
            self.emit(1, "for c_ in range(C_):")
            self.emit(2, "for u_ in range(KH_):")
            self.emit(3, "for v_ in range(KW_):")
            self.emit(4, "rw_ = (c_ * KH_ + u_) * KW_ + v_")
            self.emit(4, "for p_ in range(P_):")
            self.emit(5, "for q_ in range(Q_):")
            self.emit(6, f"{name}[a_, c_, p_ + u_, q_ + v_] += {cols}[rw_, p_ * Q_ + q_]")

    # -- pooling
    # Each pooling has scratch names of its own (x and h as stacks of images, its result), so
    # that no name is bound to arrays of two shapes in one kernel.
    def _stack(self, t, name, what) -> str:
        """The tensor ``t`` (..., H, W) as a stack of images (B, H, W), under a name of this pooling."""
        v, nd = self.var[t.uid], t.ndim
        r = self.fresh(f"{name}_{what}")
        # NOTE(numba): B spelled as a product, not -1: with parallel=True, numba's shape analysis
        # took a reshape's -1 for the size itself, and an np.zeros sized by it raised "negative
        # dimensions not allowed" (numba 0.6x; the threaded adjoint of pooling failed so before)
        lead = " * ".join(f"{v}.shape[{k}]" for k in range(nd - 2)) or "1"
        self.emit(0, f"{r} = {v}.reshape(({lead}, {v}.shape[{nd - 2}], {v}.shape[{nd - 1}]))")
        return r

    def _window_argmax(self, x, s, name) -> str:
        """The name of an int32 array (B, H//s, W//s): the position u·s + v of the first
        maximum of each s×s window of x (NaN counts as the maximum); one scan per (x, s)."""
        seen = self.__dict__.setdefault("pool_argmax", {})  # (x's uid, s) → the array's name
        key = (x.uid, s)
        if key in seen:
            return seen[key]
        am = self.fresh(name + "_am")
        self.ops += sp.Mul(*x.shape)
        xr = self._stack(x, am, "x")
        self.emit(0, f"{am} = np.empty(({xr}.shape[0], {xr}.shape[1] // {s}, {xr}.shape[2] // {s}), dtype=np.int32)")
        self.emit(0, self.loop("a_", f"{am}.shape[0]", True))
        self.emit(1, f"for p_ in range({am}.shape[1]):")
        self.emit(2, f"for q_ in range({am}.shape[2]):")
        self.emit(3, f"mx_ = {xr}[a_, {s} * p_, {s} * q_]")
        self.emit(3, "k_ = 0")
        # a select, not a branch, so that LLVM vectorises the scan; x ≤ m is false for a NaN x
        # (it becomes the maximum) and m ≠ m keeps a NaN maximum
        step = ["sel_ = not ((xe_ <= mx_) | (mx_ != mx_))", "mx_ = xe_ if sel_ else mx_"]
        if s * s <= UNROLL_WINDOW:
            for u in range(s):
                for v in range(s):
                    if u == v == 0:
                        continue
                    at = (f"{s} * p_" + (f" + {u}" if u else ""), f"{s} * q_" + (f" + {v}" if v else ""))
                    self.emit(3, f"xe_ = {xr}[a_, {at[0]}, {at[1]}]")
                    for ln in step + [f"k_ = {u * s + v} if sel_ else k_"]:
                        self.emit(3, ln)
        else:
            self.emit(3, f"for u_ in range({s}):")
            self.emit(4, f"for v_ in range({s}):")
            self.emit(5, f"xe_ = {xr}[a_, {s} * p_ + u_, {s} * q_ + v_]")
            for ln in step + [f"k_ = u_ * {s} + v_ if sel_ else k_"]:
                self.emit(5, ln)
        self.emit(3, f"{am}[a_, p_, q_] = k_")
        seen[key] = am
        return am

    def _emit_Pool(self, node: Pool, name):
        x, h = node.operands
        s = node.size
        hr = self._stack(h, name, "h")
        out = self.fresh(name + "_o")
        if node.kind == "max":
            am = self._window_argmax(x, s, name)
            self.ops += sp.Mul(*node.shape)
            self.emit(0, f"{out} = np.empty({am}.shape, dtype=dt)")
            self.emit(0, self.loop("a_", f"{am}.shape[0]", True))
            self.emit(1, f"for p_ in range({am}.shape[1]):")
            self.emit(2, f"for q_ in range({am}.shape[2]):")
            self.emit(3, f"k_ = {am}[a_, p_, q_]")
            self.emit(3, f"{out}[a_, p_, q_] = {hr}[a_, {s} * p_ + k_ // {s}, {s} * q_ + k_ % {s}]")
        else:
            self.ops += sp.Mul(*x.shape)
            self.emit(0, f"{out} = np.empty(({hr}.shape[0], {hr}.shape[1] // {s}, {hr}.shape[2] // {s}), dtype=dt)")
            self.emit(0, self.loop("a_", f"{out}.shape[0]", True))
            self.emit(1, f"for p_ in range({out}.shape[1]):")
            self.emit(2, f"for q_ in range({out}.shape[2]):")
            self.emit(3, "acc_ = 0.0")
            self.emit(3, f"for u_ in range({s}):")
            self.emit(4, f"for v_ in range({s}):")
            self.emit(5, f"acc_ += {hr}[a_, {s} * p_ + u_, {s} * q_ + v_]")
            self.emit(3, f"{out}[a_, p_, q_] = acc_ / {s * s}.0")
        self.emit(0, f"{name} = {out}.reshape({self.shape_src(node.shape)})")

    def _emit_PoolGrad(self, node: PoolGrad, name):
        x, g = node.operands
        s = node.size
        self.ops += sp.Mul(*node.shape)
        xv, nd = self.var[x.uid], x.ndim
        gr = self._stack(g, name, "g")
        out = self.fresh(name + "_o")
        self.emit(0, f"{out} = np.zeros(({gr}.shape[0], {xv}.shape[{nd - 2}], {xv}.shape[{nd - 1}]), dtype=dt)")
        if node.kind == "max":
            am = self._window_argmax(x, s, name)
            self.emit(0, self.loop("a_", f"{am}.shape[0]", True))
            self.emit(1, f"for p_ in range({am}.shape[1]):")
            self.emit(2, f"for q_ in range({am}.shape[2]):")
            self.emit(3, f"k_ = {am}[a_, p_, q_]")
            self.emit(3, f"{out}[a_, {s} * p_ + k_ // {s}, {s} * q_ + k_ % {s}] = {gr}[a_, p_, q_]")
        else:
            self.emit(0, self.loop("a_", f"{gr}.shape[0]", True))
            self.emit(1, f"for p_ in range({gr}.shape[1]):")
            self.emit(2, f"for q_ in range({gr}.shape[2]):")
            self.emit(3, f"for u_ in range({s}):")
            self.emit(4, f"for v_ in range({s}):")
            self.emit(5, f"{out}[a_, {s} * p_ + u_, {s} * q_ + v_] += {gr}[a_, p_, q_] / {s * s}.0")
        self.emit(0, f"{name} = {out}.reshape({self.shape_src(node.shape)})")
