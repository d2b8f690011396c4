"""Chunk forms of an ``sm.compile`` kernel whose outputs are a loss and its derivatives.

A loss that is a sum over samples plus a term free of row data (:mod:`symml.decompose`)
gives, for every output, the same output of the data term (summed block by block) and of
the regulariser (added once): ``L = Σ_blocks D + R``, ``∇L = Σ ∇D + ∇R``, and so for
Hessians and hvps. The calculus records where each derivative came from, so an output
``sm.grad(L, w)`` is rebuilt as ``sm.grad(D, w)`` and ``sm.grad(R, w)``; nothing is
derived by hand. The parameters are the tensors the outputs differentiate with respect to;
the data are the other array arguments.

Takes: a CompiledKernel. Gives: Chunks (a chunk kernel and a regulariser kernel).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..calculus import grad, hvp, jacobian, origins
from ..decompose import NotDecomposable, split_samples
from ..nodes import Expr, const, leaves


@dataclass
class Chunks:
    """``chunk`` sums over a block of rows (its ``n_total`` argument counts all rows);
    ``reg`` is added once; ``rows`` are the names of the arguments cut by rows."""

    chunk: object
    reg: object
    rows: list[str]
    n_total: str


def _chains(e: Expr) -> list[tuple[Expr, list]]:
    """Every (function, targets on the way) that ``e`` is a repeated derivative of; a zero
    may be the derivative of many functions, so all recorded origins are followed."""
    found = origins(e)
    if not found:
        return [(e, [])]
    out = []
    for _, of, t, direction in found:
        extra = list(direction[0]) + [x for v in direction[1] for x in leaves(v)] if direction else []
        out += [(root, ts + [t] + extra) for root, ts in _chains(of)]
    return out


def _rewrite(e: Expr, L: Expr, part: Expr | None) -> Expr:
    """Output ``e`` (L or a derivative chain of L) with ``part`` in place of L."""
    if e is L:
        return part if part is not None else const(0)
    for verb, of, t, direction in origins(e):
        try:
            inner = _rewrite(of, L, part)
        except NotDecomposable:
            continue
        if verb == "grad":
            return grad(inner, t)
        if verb == "jacobian":
            return jacobian(inner, t)
        ts, vs = direction
        return hvp(inner, list(ts), list(vs))[list(ts).index(t)]
    raise NotDecomposable("an output is neither the loss nor a derivative of it")


def _tree(tree, flat):
    if isinstance(tree, dict):
        return {k: _tree(v, flat) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return [_tree(v, flat) for v in tree]
    return flat[tree]


def chunk_forms(kernel, compile_fn) -> Chunks:
    """The chunk and regulariser kernels of ``kernel``, or NotDecomposable saying why not."""
    chains = [_chains(e) for _, e in kernel.outputs]
    common = [r for r, _ in chains[0] if all(any(r2 is r for r2, _ in c) for c in chains[1:])]
    if not common or common[0].ndim != 0:
        raise NotDecomposable("the outputs must be one scalar loss and derivatives of it")
    L = common[0]
    params = []
    for c in chains:
        for root, ts in c:
            if root is L:
                params += [t for t in ts if t not in params]
    data = [t for t in kernel.arg_tensors if t.ndim and t not in params]
    others = [t for t in kernel.arg_tensors if t not in data] + [t for t in params if t not in kernel.arg_tensors]
    split = split_samples(L, data, others)
    chunk = [_rewrite(e, L, split.data_term) for _, e in kernel.outputs]
    reg = [_rewrite(e, L, split.reg_term) for _, e in kernel.outputs]
    return Chunks(compile_fn(_tree(kernel._tree, chunk)), compile_fn(_tree(kernel._tree, reg)),
                  [t.name for t in split.rows], split.n_total.name)
