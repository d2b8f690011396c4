"""Row fusion: one pass over the samples for loss, gradient and hvp kernels.

A kernel whose data has a sample axis n (the first axis of its largest input) is
split into three phases:

- *pre*: nodes that do not depend on the samples (computed once, before the loop);
- *loop*: per-sample nodes of shape (n,) computed in registers, row by row, and
  reductions over n to a scalar or a vector, accumulated per chunk of rows;
- *post*: everything that needs a finished reduction, and contractions over n whose
  result is a matrix (Hessians), which stay on BLAS with their per-sample factors
  materialised as length-n arrays.

The rows are split into a fixed number of chunks that depends only on n, so the
result is the same with one thread or many; with ``parallel`` the chunks run in
``prange`` and each writes only its own row of the partial sums. Fusion is all or
nothing: a graph it cannot schedule in one pass (a per-sample value that needs a
finished reduction, a per-sample matrix) falls back to the node-by-node emitter.

Like the node-by-node emitter, it reads the kernel's Program: the phases are cut from the
program's order, and a step keeps its name (a per-sample value of step ``z`` is ``z_r`` in
the loop, its materialised array ``z``).

Takes: graph nodes (through their Program). Gives: Python source lines (through ``FusedKernelBody``).
"""
from __future__ import annotations

import sympy as sp

from ..decompose import sample_dim
from ..nodes import Einsum, Expr, Let, Map, Tensor
from ..structured import LogSumExp
from .emit import KernelBody
from .scalar import scalar_block

CHUNKS = 64  # rows are split into min(n, CHUNKS) chunks


class _NoFusion(Exception):
    pass


class Plan:
    """Which nodes run before, inside and after the row loop."""

    def __init__(self, outputs, inputs, order):
        self.n = sample_dim(inputs, ())
        if self.n is None:
            raise _NoFusion
        self.kind: dict[int, str] = {}  # uid → "G" (global), "R" (row), "A" (accumulated), "P" (post)
        self.row_label: dict[int, object] = {}
        for node in order:
            self.kind[node.uid] = self._classify(node)
        if not any(k == "A" for k in self.kind.values()):
            raise _NoFusion
        # rows needed as whole arrays: outputs, and operands of post nodes
        self.materialize: set[int] = set()
        for node in order:
            if self.kind[node.uid] in ("P", "G"):
                for o in node.operands:
                    if self.kind[o.uid] == "R" and not isinstance(o, Tensor):
                        self.materialize.add(o.uid)
        for o in outputs:
            if self.kind[o.uid] == "R" and not isinstance(o, Tensor):
                self.materialize.add(o.uid)
        by_uid = {x.uid: x for x in order}
        for uid in list(self.materialize):  # a named intermediate is materialised through its body
            node = by_uid[uid]
            while isinstance(node, Let):
                node = node.body
            self.materialize.add(node.uid)

    def _classify(self, node: Expr) -> str:
        kinds = [self.kind[o.uid] for o in node.operands]
        n = self.n
        if isinstance(node, Tensor):
            if n in node.shape[1:]:
                raise _NoFusion  # samples on a later axis (e.g. a Gram matrix)
            return "R" if node.shape and node.shape[0] == n else "G"
        if isinstance(node, Let):
            return kinds[0]
        if "P" in kinds or "A" in kinds:
            if "R" in kinds:
                raise _NoFusion  # a per-sample value that needs a finished reduction: two passes
            return "P"
        if "R" not in kinds:
            return "G"
        if isinstance(node, Map):
            if node.shape != (n,):
                raise _NoFusion  # per-sample vectors stay on the BLAS path
            return "R"
        if isinstance(node, LogSumExp):
            raise _NoFusion
        if isinstance(node, Einsum):
            rows = {s[0] for o, s in zip(node.operands, node.subs) if self.kind[o.uid] == "R"}
            if len(rows) != 1:
                raise _NoFusion
            (lab,) = rows
            for o, s in zip(node.operands, node.subs):
                if lab in s[1:] or (self.kind[o.uid] != "R" and lab in s):
                    raise _NoFusion
            self.row_label[node.uid] = lab
            if node.out and node.out[0] == lab:
                if len(node.out) != 1:
                    raise _NoFusion
                return "R"
            if lab in node.out:
                raise _NoFusion
            if len(node.out) <= 1:
                return "A"
            return "P"  # a matrix-valued reduction: BLAS after the loop
        raise _NoFusion


class FusedKernelBody(KernelBody):
    """A KernelBody that fuses per-sample work into one loop where the graph allows."""

    def build(self) -> list[str]:
        try:
            plan = Plan(self.outputs, self.inputs, self.program.order)
        except _NoFusion:
            return super().build()
        self.plan = plan
        order = self.program.order
        pre = [x for x in order if plan.kind[x.uid] == "G" and x.uid not in self.var]
        loop = [x for x in order if plan.kind[x.uid] in ("R", "A") and x.uid not in self.var]
        post = [x for x in order if plan.kind[x.uid] == "P"]
        for node in pre:
            self._emit_node(node)
        self._emit_loop(loop)
        for node in post:
            self._emit_node(node)
        return self.lines

    def _emit_node(self, node):
        if isinstance(node, Let):  # a step's name: its body was emitted under it
            self.var[node.uid] = self.var[node.body.uid]
            return
        name = self.fresh(self.preferred.get(node.uid, "t"))
        meth = getattr(self, "_emit_" + type(node).__name__)
        meth(node, name)
        self.var[node.uid] = name

    # -- the loop
    def _emit_loop(self, loop):
        plan = self.plan
        n = self.size(plan.n)
        self.local: dict[int, str] = {}
        accs = [x for x in loop if plan.kind[x.uid] == "A" and not isinstance(x, Let)]
        self.emit(0, f"nch_ = min({n}, {CHUNKS})")
        names = {}
        for a in accs:
            nm = self.fresh(self.preferred.get(a.uid, "t"))
            while f"{nm}_part" in self.taken or f"{nm}_acc" in self.taken:  # an argument named t1_part
                nm = self.fresh(self.preferred.get(a.uid, "t"))
            self.taken |= {f"{nm}_part", f"{nm}_acc"}
            names[a.uid] = nm
            shape = "nch_" if not a.out else f"(nch_, {self.size(a.shape[0])})"
            self.emit(0, f"{nm}_part = np.zeros({shape}, dtype=dt)")
        for x in loop:
            if x.uid in plan.materialize and not isinstance(x, Let):
                nm = self.fresh(self.preferred.get(x.uid, "t"))
                self.var[x.uid] = nm
                self.emit(0, f"{nm} = np.empty(({n},), dtype=dt)")
        self.emit(0, self.loop("ch_", "nch_", True))
        self.emit(1, f"lo_ = (ch_ * {n}) // nch_")
        self.emit(1, f"hi_ = ((ch_ + 1) * {n}) // nch_")
        for a in accs:
            if not a.out:
                self.emit(1, f"{names[a.uid]}_acc = 0.0")
        self.emit(1, "for r_ in range(lo_, hi_):")
        for x in loop:
            if isinstance(x, Let):  # a name, not a computation
                if x.body.uid in self.local:
                    self.local[x.uid] = self.local[x.body.uid]
            elif plan.kind[x.uid] == "R":
                self._emit_row(x)
            else:
                self._emit_accumulate(x, names[x.uid])
        for a in accs:
            if not a.out:
                self.emit(1, f"{names[a.uid]}_part[ch_] = {names[a.uid]}_acc")
        for a in accs:
            if not isinstance(a, Let):
                self._finish(a, names[a.uid])
        for x in loop:
            if isinstance(x, Let) and x.body.uid in self.var:
                self.var[x.uid] = self.var[x.body.uid]

    def _ref(self, op: Expr, sub, lv: dict) -> str:
        """The entry of ``op`` at the current row, with loop variables ``lv`` for its other labels."""
        kind = self.plan.kind[op.uid]
        if op.ndim == 0:
            return self.var[op.uid]
        if kind == "R" and not isinstance(op, Tensor):
            return self.local[op.uid]
        idx = ["r_" if kind == "R" and k == 0 else lv[lab] for k, lab in enumerate(sub)]
        return f"{self.var[op.uid]}[{', '.join(idx)}]"

    def _emit_row(self, x: Expr):
        nm = self.fresh(self.preferred[x.uid] + "_r" if x.uid in self.preferred else "t")
        self.local[x.uid] = nm
        if isinstance(x, Map):
            names = {sp.Symbol(f"_t{j}", real=True): self._ref(o, (0,) if o.ndim else (), {})
                     for j, o in enumerate(x.operands)}
            names.update(self.dim_names)
            self.ops += (sp.count_ops(x.expr) + 1) * self.plan.n
            lines, helpers = scalar_block(x.expr, names, f"{nm} = ", "    " * 2, "c_")
            self.helpers |= helpers
            self.lines.extend(lines)
        else:  # an einsum with the row label first: one dot product per row
            self._emit_sum(x, f"{nm} = ", f"{nm} += ", 2, lab_out=[])
        if x.uid in self.plan.materialize:
            self.emit(2, f"{self.var[x.uid]}[r_] = {nm}")

    def _emit_sum(self, x: Einsum, init: str, add: str, depth: int, lab_out):
        row = self.plan.row_label[x.uid]
        labels = [l for l in dict.fromkeys(l for s in x.subs for l in s) if l != row]
        lv = {l: f"k{l}_" for l in labels}
        factors = [self._ref(o, s, lv) for o, s in zip(x.operands, x.subs)]
        total = sp.Integer(len(factors))
        for l in labels:
            total *= x.sizes[l]
        self.ops += total * self.plan.n
        inner = [l for l in labels if l not in lab_out]
        outer = [l for l in labels if l in lab_out]
        d = depth
        for l in outer:
            self.emit(d, f"for {lv[l]} in range({self.size(x.sizes[l])}):")
            d += 1
        if init:
            self.emit(d, init + "0.0")
        for l in inner:
            self.emit(d, f"for {lv[l]} in range({self.size(x.sizes[l])}):")
            d += 1
        self.emit(d, add + " * ".join(factors))
        if init and x.coef != 1:
            from .emit import _coef_src

            self.emit(depth, f"{init.split('=')[0].strip()} *= {_coef_src(x.coef, self.dim_names)}")
        return lv

    def _emit_accumulate(self, x: Einsum, nm: str):
        if not x.out:
            self._emit_sum(x, "", f"{nm}_acc += ", 2, lab_out=[])
        else:
            lab = x.out[0]
            self._emit_sum(x, "", f"{nm}_part[ch_, k{lab}_] += ", 2, lab_out=[lab])

    def _finish(self, a: Einsum, nm: str):
        from .emit import _coef_src

        coef = "" if a.coef == 1 else f"{_coef_src(a.coef, self.dim_names)} * "
        # the chunks' partial results added by scalar loops: numba compiles np.sum and an array
        # += in a loop as generic array code (0.3 s of a 1.7 s cold compile here), a loop in a fraction
        if not a.out:
            self.emit(0, f"{nm} = 0.0")
            self.emit(0, "for ch_ in range(nch_):")
            self.emit(1, f"{nm} += {nm}_part[ch_]")
            if coef:
                self.emit(0, f"{nm} = {coef}{nm}")
        else:
            size = self.size(a.shape[0])
            self.emit(0, f"{nm} = np.zeros({size}, dtype=dt)")
            self.emit(0, "for ch_ in range(nch_):")
            self.emit(1, f"for kq_ in range({size}):")
            self.emit(2, f"{nm}[kq_] += {nm}_part[ch_, kq_]")
            if coef:
                self.emit(0, f"for kq_ in range({size}):")
                self.emit(1, f"{nm}[kq_] *= {coef.removesuffix(' * ')}")
        self.var[a.uid] = nm
