"""Loop templates of the structural nodes: linear algebra over stacks, extrema, reshape,
Kronecker products, cumulative sums, gathers by integer labels, one-hot and QR.

:class:`StructuralEmit` is a mixin of :class:`~symml.codegen.emit.KernelBody`: one
``_emit_<Node>`` method per node class, each writing one statement group under the node's
name. Loops run over symbolic sizes; nothing is unrolled over entries. Scratch names end
in ``_`` and keep one type across templates (``am_`` an int, ``mx_`` a float), since numba
types a name once per function; arrays get names derived from the node's own.

Takes: graph nodes. Gives: Python source lines.
"""
from __future__ import annotations

import sympy as sp

from ..nodes import Let, Tensor
from ..lowering import factor_plan


class StructuralEmit:
    """Emission of the structural nodes (mixed into KernelBody)."""

    # -- helpers
    def _nest(self, names, shape, depth=0, parallel=True) -> int:
        """``for`` loops over ``shape`` with index ``names``; returns the depth of the body."""
        for k, (i, s) in enumerate(zip(names, shape)):
            self.emit(depth + k, self.loop(i, self.size(s), parallel and k == 0 and depth == 0))
        return depth + len(names)

    @staticmethod
    def _at(idx) -> str:
        return f"[{', '.join(idx)}]" if idx else ""

    def _out(self, node, name, zero=False):
        if node.ndim:
            self.alloc(name, node.shape, zero=zero)

    # -- linear algebra, matrix by matrix over leading batch axes
    def _stacked(self, node, name, A, body, tail: str):
        """``name[b] = body(A[b])`` over the flattened batch of a stack A (..., d, d).

        ``tail`` is the shape of one result after the batch axis ("" for a number).
        """
        d = self.size(A.shape[-1])
        # the batch size spelled out, never -1: inside a threaded kernel numba's parfor shape
        # analysis takes a -1 for the size and fails ("negative dimensions not allowed")
        nb = self.size(sp.Mul(*A.shape[:-2]))
        ar, orr = self.fresh(name + "_a"), self.fresh(name + "_o")
        self.emit(0, f"{ar} = np.ascontiguousarray({self.var[A.uid]}).reshape(({nb}, {d}, {d}))")
        self.alloc(name, node.shape, zero=False)
        self.emit(0, f"{orr} = {name}.reshape(({nb}{tail}))")
        self.emit(0, f"for ja_ in range({ar}.shape[0]):")
        for ln in body(ar + "[ja_]", orr + "[ja_]"):
            self.emit(1, ln)

    # -- one factorisation of a matrix for its log det, det, solves and inverse (see symml.lowering)
    def _factored(self, A, name) -> tuple | None:
        """The names (F, piv, kind) of A's one factorisation, emitted at its first reader (whose
        ``name`` they extend, so that its statement group stays while later readers read them);
        None when A is not shared (one reader, no Cholesky hint): that reader calls LAPACK itself."""
        if not hasattr(self, "factor_plan"):
            self.factor_plan = factor_plan(self.program.order)
            self.factors = {}
        if not self.factor_plan.shared(A):
            return None
        if A.uid not in self.factors:
            f, p, k = (self.fresh(f"{name}_{x}") for x in ("fac", "piv", "kind"))
            d = A.shape[-1]
            chol = self.factor_plan.cholesky.get(A.uid, False)
            self.ops += (d ** 3 / 3 if chol else 2 * d ** 3 / 3)
            self.helpers.add("_fac")
            readers = ", ".join(sorted({type(u).__name__ for u in self.factor_plan.users[A.uid]}))
            self.emit(0, f"{f}, {p}, {k} = _fac({self.var[A.uid]}, {chol})  # one factorisation for {readers}")
            self.factors[A.uid] = (f, p, k)
        return self.factors[A.uid]

    def _emit_Inv(self, node, name):
        A = node.operands[0]
        fac = self._factored(A, name) if A.ndim == 2 else None
        if fac is not None:
            self.helpers.add("_fac_inv")
            self.ops += 4 * A.shape[-1] ** 3 / 3
            self.emit(0, f"{name} = _fac_inv({', '.join(fac)})")
            return
        if A.ndim == 2:
            self.emit(0, f"{name} = np.linalg.inv({self.var[A.uid]})")
            return
        d = self.size(A.shape[-1])
        self._stacked(node, name, A, lambda a, o: [f"{o}[:, :] = np.linalg.inv({a})"], f", {d}, {d}")

    def _emit_Solve(self, node, name):
        A, c = node.operands
        av, cv = self.var[A.uid], self.var[c.uid]
        fac = self._factored(A, name) if A.ndim == 2 else None
        if fac is not None:
            self.ops += 2 * A.shape[-1] ** 2 * (c.shape[-1] if c.ndim == 2 else 1)
            self.helpers.add("_fac_solve")
            d = self.size(A.shape[-1])
            if c.ndim == 1:
                self.emit(0, f"{name} = _fac_solve({', '.join(fac)}, np.ascontiguousarray({cv}).reshape(({d}, 1)))"
                             f".reshape(({d},))")
            else:
                self.emit(0, f"{name} = _fac_solve({', '.join(fac)}, {cv})")
            return
        self.ops += sp.Integer(2) * A.shape[-1] ** 3 / 3 * sp.Mul(*A.shape[:-2])
        if A.ndim == 2:
            self.emit(0, f"{name} = np.linalg.solve({av}, {cv})")
            return
        d = self.size(A.shape[-1])
        vec = c.ndim == A.ndim - 1
        cr = self.fresh(name + "_c")
        rest = "" if vec else f", {self.size(c.shape[-1])}"
        self.emit(0, f"{cr} = np.ascontiguousarray({cv}).reshape(({self.size(sp.Mul(*A.shape[:-2]))}, {d}{rest}))")
        colon = ":" if vec else ":, :"
        self._stacked(node, name, A, lambda a, o: [f"{o}[{colon}] = np.linalg.solve({a}, {cr}[ja_])"], f", {d}{rest}")

    def _emit_Det(self, node, name):
        A = node.operands[0]
        fac = self._factored(A, name) if A.ndim == 2 else None
        if fac is not None:
            self.helpers.add("_fac_det")
            self.emit(0, f"{name} = _fac_det({', '.join(fac)})")
            return
        if A.ndim == 2:
            self.emit(0, f"{name} = np.linalg.det({self.var[A.uid]})")
            return
        self._stacked(node, name, A, lambda a, o: [f"{o} = np.linalg.det({a})"], "")

    def _emit_LogDet(self, node, name):
        A = node.operands[0]
        a = self.var[A.uid]
        what = A.name if isinstance(A, (Tensor, Let)) else "the matrix"
        bad = self.fresh(name + "_bad")
        fac = self._factored(A, name) if A.ndim == 2 else None
        if fac is not None:
            self.helpers.add("_fac_logdet")
            self.emit(0, f"{name}, {bad} = _fac_logdet({', '.join(fac)})")
        elif A.ndim == 2:
            self.helpers.add("_logdet")
            self.emit(0, f"{name}, {bad} = _logdet({a})")
        else:
            self.helpers.add("_logdet")
            self.emit(0, f"{bad} = 0")
            self._stacked(node, name, A, lambda a_, o: [f"xe_, am_ = _logdet({a_})", f"{o} = xe_",
                                                        f"{bad} = max({bad}, am_)"], "")
        self.emit(0, f"if {bad} == 1:")
        self.emit(1, f'raise ValueError("logdet: {what} is symmetric but not positive definite (its Cholesky '
                             f'factorization failed); expected an SPD matrix")')
        self.emit(0, f"if {bad} == 2:")
        self.emit(1, f'raise ValueError("logdet: {what} has a determinant <= 0, so log det is not real; '
                             f'expected an SPD matrix")')

    # -- max / min: h at the first arg-extremum of x
    def _argext(self, kind, xv, xi, size, depth):
        """am_ = the first arg-max (arg-min) of x along the index ``ja_`` of ``xi``; NaN counts as extremal."""
        cmp = ">" if kind == "max" else "<"
        at0 = ", ".join("0" if i == "ja_" else i for i in xi)
        self.emit(depth, f"mx_ = {xv}[{at0}]")
        self.emit(depth, "am_ = 0")
        self.emit(depth, f"for ja_ in range(1, {size}):")
        self.emit(depth + 1, f"xe_ = {xv}[{', '.join(xi)}]")
        self.emit(depth + 1, f"if xe_ {cmp} mx_ or (xe_ != xe_ and mx_ == mx_):")
        self.emit(depth + 2, "mx_ = xe_")
        self.emit(depth + 2, "am_ = ja_")

    def _emit_ArgSelect(self, node, name):
        x, h = node.operands
        lead, ax = h.ndim - x.ndim, node.axis
        oi = [f"i{k}" for k in range(node.ndim)]
        xi = oi[lead:lead + ax] + ["ja_"] + oi[lead + ax:]
        hi = oi[:lead] + [("am_" if i == "ja_" else i) for i in xi]
        self.ops += 2 * sp.Mul(*h.shape)
        self._out(node, name)
        depth = self._nest(oi, node.shape)
        self._argext(node.kind, self.var[x.uid], xi, self.size(x.shape[ax]), depth)
        self.emit(depth, f"{name}{self._at(oi)} = {self.var[h.uid]}[{', '.join(hi)}]")

    def _emit_ArgScatter(self, node, name):
        x, g = node.operands
        lead, ax = node.ndim - x.ndim, node.axis
        gi = [f"i{k}" for k in range(g.ndim)]
        xi = gi[lead:lead + ax] + ["ja_"] + gi[lead + ax:]
        oi = gi[:lead] + [("am_" if i == "ja_" else i) for i in xi]
        self.ops += 2 * sp.Mul(*node.shape)
        self.alloc(name, node.shape, zero=True)
        depth = self._nest(gi, g.shape)
        self._argext(node.kind, self.var[x.uid], xi, self.size(x.shape[ax]), depth)
        self.emit(depth, f"{name}[{', '.join(oi)}] = {self.var[g.uid]}{self._at(gi)}")

    # -- layout
    def _emit_Reshape(self, node, name):
        x = node.operands[0]
        xv = self.var[x.uid]
        if x.ndim == 0:
            self.emit(0, f"{name} = np.full({self.shape_src(node.shape)}, {xv}, dtype=dt)")
            return
        if node.ndim == 0:
            self.emit(0, f"{name} = {xv}.ravel()[0]")
            return
        # a copy for an output: a reshaped input would otherwise hand the caller's own array back
        copy = ".copy()" if node.uid in self.out_uids else ""
        self.emit(0, f"{name} = np.ascontiguousarray({xv}).reshape({self.shape_src(node.shape)}){copy}")

    def _emit_Kron(self, node, name):
        A, B = node.operands
        r = A.ndim
        ai, bi = [f"i{k}" for k in range(r)], [f"j{k}" for k in range(r)]
        self.ops += sp.Mul(*node.shape)
        self.alloc(name, node.shape, zero=False)
        depth = self._nest(ai, A.shape)
        depth = self._nest(bi, B.shape, depth)
        at = ", ".join(f"{i} * {self.size(s)} + {j}" for i, j, s in zip(ai, bi, B.shape))
        self.emit(depth, f"{name}[{at}] = {self.var[A.uid]}[{', '.join(ai)}] * {self.var[B.uid]}[{', '.join(bi)}]")

    def _emit_CumSum(self, node, name):
        x = node.operands[0]
        ax = node.axis
        oi = [f"i{k}" for k in range(x.ndim) if k != ax]
        full = oi[:ax] + ["ja_"] + oi[ax:]
        size = self.size(x.shape[ax])
        self.ops += sp.Mul(*x.shape)
        self.alloc(name, node.shape, zero=False)
        depth = self._nest(oi, [s for k, s in enumerate(x.shape) if k != ax])
        self.emit(depth, "sc_ = 0.0")
        self.emit(depth, f"for qa_ in range({size}):")
        self.emit(depth + 1, f"ja_ = {size} - 1 - qa_" if node.reverse else "ja_ = qa_")
        self.emit(depth + 1, f"sc_ += {self.var[x.uid]}[{', '.join(full)}]")
        self.emit(depth + 1, f"{name}[{', '.join(full)}] = sc_")

    # -- integer labels (the wrapper has checked 0 ≤ label < K: numba does not check bounds)
    def _emit_Take(self, node, name):
        E, y = node.operands
        ax = node.axis
        oi = [f"i{k}" for k in range(node.ndim)]
        yi = oi[ax:ax + y.ndim]
        ei = oi[:ax] + [f"{self.var[y.uid]}[{', '.join(yi)}]"] + oi[ax + y.ndim:]
        self.ops += sp.Mul(*node.shape)
        self.alloc(name, node.shape, zero=False)
        depth = self._nest(oi, node.shape)
        self.emit(depth, f"{name}[{', '.join(oi)}] = {self.var[E.uid]}[{', '.join(ei)}]")

    def _emit_ScatterAdd(self, node, name):
        g, y = node.operands
        ax = node.axis
        gi = [f"i{k}" for k in range(g.ndim)]
        yi = gi[ax:ax + y.ndim]
        oi = gi[:ax] + [f"{self.var[y.uid]}[{', '.join(yi)}]"] + gi[ax + y.ndim:]
        self.ops += sp.Mul(*g.shape)
        self.alloc(name, node.shape, zero=True)
        depth = self._nest(gi, g.shape, parallel=False)  # two labels may name one row: no threads
        self.emit(depth, f"{name}[{', '.join(oi)}] += {self.var[g.uid]}[{', '.join(gi)}]")

    def _emit_OneHot(self, node, name):
        y = node.operands[0]
        yi = [f"i{k}" for k in range(y.ndim)]
        self.alloc(name, node.shape, zero=True)
        depth = self._nest(yi, y.shape)
        self.emit(depth, f"{name}[{', '.join(yi + [self.var[y.uid] + self._at(yi)])}] = 1.0")

    # -- QR: one factorisation serves both factors
    def _emit_QR(self, node, name):
        A = node.operands[0]
        qrs = self.__dict__.setdefault("qr_names", {})  # A's uid → the names of its two factors
        if A.uid not in qrs:
            m, n = (self.size(s) for s in A.shape)
            q, r = self.fresh(name + "_q"), self.fresh(name + "_r")
            self.ops += 2 * A.shape[0] * A.shape[1] ** 2
            self.emit(0, f"if {m} < {n}:")
            self.emit(1, 'raise ValueError("qr: A has fewer rows than columns; expected a tall matrix (m >= n)")')
            qf, rf = self.fresh(name + "_qf"), self.fresh(name + "_rf")
            self.emit(0, f"{qf}, {rf} = np.linalg.qr(np.ascontiguousarray({self.var[A.uid]}))")
            # LAPACK's factors are in Fortran order: C order for the matrix products that read them
            self.emit(0, f"{q}, {r} = np.ascontiguousarray({qf}), np.ascontiguousarray({rf})")
            self.emit(0, f"for ja_ in range({n}):  # signs: R's diagonal positive, Q's columns to match")
            self.emit(1, f"if {r}[ja_, ja_] < 0:")
            self.emit(2, f"for qa_ in range({m}):")
            self.emit(3, f"{q}[qa_, ja_] = -{q}[qa_, ja_]")
            self.emit(2, f"for qa_ in range({n}):")
            self.emit(3, f"{r}[ja_, qa_] = -{r}[ja_, qa_]")
            qrs[A.uid] = (q, r)
        src = qrs[A.uid][0 if node.part == "Q" else 1]
        copy = ".copy()" if node.uid in self.out_uids else ""
        self.emit(0, f"{name} = {src}{copy}")

    def _emit_TriFold(self, node, name):
        M = node.operands[0]
        oi = [f"i{k}" for k in range(node.ndim)]
        lead, (i, j) = oi[:-2], oi[-2:]
        mv = self.var[M.uid]
        at = lambda a, c: f"{mv}[{', '.join(lead + [a, c])}]"
        self.alloc(name, node.shape, zero=False)
        depth = self._nest(oi, node.shape)
        if node.kind == "copyltu":
            val = f"{at(i, j)} if {i} >= {j} else {at(j, i)}"
        else:
            val = f"{at(i, j)} + {at(j, i)} if {i} > {j} else ({at(i, j)} if {i} == {j} else 0.0)"
        self.emit(depth, f"{name}[{', '.join(oi)}] = {val}")
