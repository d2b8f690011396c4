"""Sample decomposition: L(θ; X) = Σ_blocks D(θ; X_block) + R(θ).

Almost every loss in the catalog is a sum over samples plus a regulariser. Its value,
gradient, Hessian and hvp are then sums of per-block partial results plus the
regulariser's contribution, added once. ``split_samples`` finds that structure in the
graph itself, never by evaluating anything:

* the *sample dimension* is the leading axis of the data tensors, a dimension that no
  parameter or hyper-parameter carries;
* a node is *row-local* when entry i along its sample axis depends on row i of the data
  only (elementwise maps, contractions that keep the sample label, log-sum-exp over
  another axis, convolution and pooling over a batch);
* the loss is split into D, which reads the data only through sums over the sample label
  of row-local values, and R, which does not read row data at all. Maps must be affine in
  such sums and contractions linear in them; anything else (a log of a total, a product
  of two sums, a matrix inverse of XᵀX) is not decomposable and gets no chunk kernels.

The sample size n also appears as a *value* (a mean's 1/n, a Gaussian's (n/2)·log 2π).
Inside a kernel that sees one block of rows, n would be the block's size, so every such
occurrence is replaced by a scalar input ``n_total``: the number of rows over all blocks.

Takes: a scalar loss and its data tensors. Gives: SampleSplit or NotDecomposable.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .nodes import (
    Dim, Einsum, Expr, Eye, Let, Map, Tensor, make_einsum, make_map, placeholder, transform, walk, zeros,
)
from .structured import Conv, LogSumExp, Pool, PoolGrad


class NotDecomposable(ValueError):
    """The loss is not a sum over samples plus a term free of row data."""


@dataclass(frozen=True)
class SampleSplit:
    """L = data_term + reg_term, where data_term sums over the rows of ``rows``.

    ``data_term`` and ``reg_term`` read the total row count from ``n_total`` (a scalar
    tensor) wherever the loss uses n as a number; either term may be None (absent).
    """

    dim: Dim
    rows: tuple  # the data tensors that carry the sample dimension on axis 0
    data_term: Expr
    reg_term: Expr | None
    n_total: Tensor


def _shape_symbols(t: Expr) -> set:
    out = set()
    for s in t.shape:
        out |= sp.sympify(s).free_symbols
    return out


def sample_dim(data, others) -> Dim | None:
    """The dimension on axis 0 of the data that nothing else carries, or None."""
    taken = set()
    for t in others:
        taken |= _shape_symbols(t)
    for t in data:
        if not t.ndim or not isinstance(t.shape[0], Dim) or t.shape[0] in taken:
            continue
        n = t.shape[0]
        ok = all(
            all(n not in sp.sympify(s).free_symbols for s in u.shape[1:]) and (
                n not in _shape_symbols(u) or u.shape[0] == n)
            for u in data)
        if ok:
            return n
    return None


def sample_rows(data, others) -> tuple:
    """The data tensors that carry the sample dimension (:func:`sample_dim`) on axis 0, in
    order; () when there is none (a dual's parameters carry the row dimension, for one).

    The one answer to "which axis are the samples": the sample split, the optimizers'
    mini-batches and row subsets, and the fused row loops of codegen all read it.
    """
    n = sample_dim(data, others)
    return () if n is None else tuple(t for t in data if t.ndim and t.shape[0] == n)


def row_parameters(data, params, others) -> list:
    """The parameters that carry the sample dimension on axis 0 as the data do, such as the row
    factor U of a factorisation R ≈ UVᵀ: row i of U is read by row i of R only.

    They are read row by row like the data, so a loss over them still splits by rows, and its
    derivatives with respect to them are per-row outputs: a block of rows gives the same block
    of rows of the gradient, which the blocks write side by side instead of adding. [] when the
    data have a sample dimension without them (:func:`sample_dim`) or when no choice of such
    parameters gives one; ``others`` are all parameters and hyper-parameters.
    """
    if sample_dim(data, others) is not None:
        return []
    for t in data:
        if not t.ndim or not isinstance(t.shape[0], Dim):
            continue
        n = t.shape[0]
        rowp = [p for p in params if p.ndim and p.shape[0] == n]
        rest = [u for u in others if all(u is not p for p in rowp)]
        if rowp and sample_dim(list(data) + rowp, rest) == n:
            return rowp
    return []


def per_row_outputs(outputs, n: Dim) -> tuple:
    """The indices of the outputs with one row per sample (the rows on axis 0): a row factor's
    gradient, which blocks of rows write side by side where the other outputs are summed."""
    return tuple(j for j, o in enumerate(outputs) if o.shape and o.shape[0] == n)


class _Analysis:
    def __init__(self, n: Dim):
        self.n = n
        self.status: dict[int, object] = {}  # uid → "const" | "acc" | int (row axis)
        self.parts: dict[int, tuple] = {}  # uid → (C, S) for "acc" nodes

    def fail(self, node, why):
        raise NotDecomposable(f"{type(node).__name__} node {why}")

    def row_axis(self, node) -> int | None:
        axes = [a for a, s in enumerate(node.shape) if self.n in sp.sympify(s).free_symbols]
        if not axes:
            return None
        if len(axes) > 1 or node.shape[axes[0]] != self.n:
            self.fail(node, f"carries the sample dimension {self.n} in a way rows cannot be split "
                            f"(shape {node.shape})")
        return axes[0]

    def of(self, node):
        st = self.status.get(node.uid)
        if st is None:
            st = self._status(node)
            self.status[node.uid] = st
        return st

    def _status(self, node):
        axis = self.row_axis(node)
        ops = [self.of(o) for o in node.operands]
        if axis is not None:
            self._check_row(node, axis, ops)
            return axis
        if isinstance(node, Tensor):
            return "const"
        if all(s == "const" for s in ops):
            return "const"
        self.parts[node.uid] = self._split(node, ops)
        return "acc"

    # -- nodes that keep the sample axis
    def _check_row(self, node, axis, ops):
        if isinstance(node, Tensor):
            return  # a data tensor: sample_dim put n on its axis 0
        if isinstance(node, Eye):
            self.fail(node, "couples rows (an identity over the samples)")
        if "acc" in ops:
            self.fail(node, "combines a per-row value with a sum over all rows")
        if isinstance(node, (Map, Let)):
            return  # operands share the shape (or are scalars): entry i reads entry i
        if isinstance(node, Einsum):
            r = node.out[axis]
            for o, sub, st in zip(node.operands, node.subs, ops):
                oa = self.row_axis(o)
                if (oa is None) != (r not in sub) or (oa is not None and sub[oa] != r):
                    self.fail(node, "contracts the sample axis against another axis")
            return
        if isinstance(node, LogSumExp):
            if ops[0] != axis + (1 if node.axis <= axis else 0):
                self.fail(node, "reduces over the samples")
            return
        if isinstance(node, (Conv, Pool, PoolGrad)) and axis == 0:
            for o in node.operands:
                if self.row_axis(o) not in (None, 0):
                    self.fail(node, "has the sample axis in an image axis")
            return
        self.fail(node, "mixes rows (no per-row form)")

    # -- nodes without the sample axis that read row data: C (no row data) + S (a sum over rows)
    def _split(self, node, ops):
        if isinstance(node, Einsum):
            rowed = [k for k, st in enumerate(ops) if isinstance(st, int)]
            if rowed:
                if "acc" in ops:
                    self.fail(node, "multiplies a sum over rows by a per-row value")
                labels = {node.subs[k][ops[k]] for k in rowed}
                if len(labels) != 1:
                    self.fail(node, "contracts two sample axes against each other")
                for k, (o, sub) in enumerate(zip(node.operands, node.subs)):
                    if k not in rowed and labels & set(sub):
                        self.fail(node, "contracts the sample axis against a parameter")
                return None, node
            accs = [k for k, st in enumerate(ops) if st == "acc"]
            if len(accs) > 1:
                self.fail(node, "multiplies two sums over rows")
            k = accs[0]
            c, s = self.parts[node.operands[k].uid]

            def with_(part):
                if part is None:
                    return None
                operands = list(node.operands)
                operands[k] = part
                return make_einsum(operands, [list(x) for x in node.subs], list(node.out),
                                   dict(enumerate(node.sizes)), node.coef)
            return with_(c), with_(s)
        if isinstance(node, Map):
            accs = [k for k, st in enumerate(ops) if st == "acc"]
            if any(isinstance(st, int) for st in ops):  # pragma: no cover - shapes would carry n
                self.fail(node, "mixes per-row values into a total")
            syms = [placeholder(k) for k in accs]
            for t in syms:
                if sp.diff(node.expr, t).free_symbols & set(syms):
                    self.fail(node, f"is not affine in a sum over rows ({node.expr})")

            def with_(expr, part_index):
                operands, gone = [], {}
                for k, o in enumerate(node.operands):
                    if k in accs:
                        part = self.parts[o.uid][part_index]
                        if part is None:
                            gone[placeholder(k)] = 0
                            part = zeros(o.shape)
                        operands.append(part)
                    else:
                        operands.append(o)
                out = make_map(sp.sympify(expr).subs(gone), operands, node.shape)
                return None if isinstance(out, Map) and not out.operands and out.expr == 0 else out
            # affine: f = f(0) + Σ_k a_k ∂f/∂a_k, the sums' part written as that sum (f − f(0) would
            # compute the regulariser in every block, to subtract it again)
            rows = sp.Add(*[t * sp.diff(node.expr, t) for t in syms])
            return with_(node.expr, 0), with_(rows, 1)
        if isinstance(node, Let):
            c, s = self.parts[node.operands[0].uid]
            return (Let.new(node.name, c) if c is not None else None), (Let.new(node.name, s) if s is not None else None)
        if isinstance(node, Conv) and node.slot == "k" and all(st == 0 for st in ops):
            return None, node  # the kernel gradient Σ over the batch
        self.fail(node, "is not linear in a sum over rows")


def _replace_count(expr: Expr, n: Dim, n_total: Tensor) -> Expr:
    """``expr`` with every use of n as a number read from the scalar tensor n_total."""
    def count(node, ops):
        if isinstance(node, Map) and n in node.expr.free_symbols:
            return make_map(node.expr.subs(n, placeholder(len(ops))), ops + [n_total], node.shape)
        if isinstance(node, Einsum) and n in sp.sympify(node.coef).free_symbols:
            factor = make_map(node.coef.subs(n, placeholder(0)), [n_total], ())
            return make_einsum(ops + [factor], [list(s) for s in node.subs] + [[]], list(node.out),
                               dict(enumerate(node.sizes)), 1)
        return None

    return transform([expr], count)[0]


def _count_free(expr: Expr, n: Dim) -> bool:
    return not any(
        (isinstance(x, Map) and n in x.expr.free_symbols)
        or (isinstance(x, Einsum) and n in sp.sympify(x.coef).free_symbols) for x in walk([expr]))


def split_samples(loss: Expr, data, others) -> SampleSplit:
    """Split a scalar loss into a sum over rows and a term free of row data.

    Args:
        loss: a scalar expression.
        data: the data tensors (the sample dimension is found on their axis 0).
        others: parameters and hyper-parameters (they must not carry the sample dimension).

    Raises:
        NotDecomposable: with the reason, when no such split exists.
    """
    n = sample_dim(data, others)
    if n is None:
        raise NotDecomposable("no data tensor has a sample dimension on axis 0 that the parameters lack")
    rows = sample_rows(data, others)
    a = _Analysis(n)
    st = a.of(loss)
    if st != "acc":
        raise NotDecomposable("the loss does not read the data row by row")
    c, s = a.parts[loss.uid]
    if s is None:
        raise NotDecomposable("the loss has no sum over the samples")
    n_total = Tensor.new(f"{n.name}_total")
    if n_total.name in {t.name for t in list(data) + list(others)}:
        raise NotDecomposable(f"an input is already named {n_total.name}")
    s = _replace_count(s, n, n_total)
    c = _replace_count(c, n, n_total) if c is not None else None
    for part in (s, c):
        if part is not None and not _count_free(part, n):  # pragma: no cover - folding brought n back
            raise NotDecomposable(f"the sample count {n} could not be separated from the row sizes")
    return SampleSplit(n, rows, s, c, n_total)
