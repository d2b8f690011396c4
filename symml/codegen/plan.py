"""The kernel planner: how kernels over all rows are built, for the catalog and ``sm.compile`` alike.

A loss that is a sum over the rows of its data plus a regulariser (:mod:`symml.decompose`)
is lowered the same way wherever it comes from. Each kernel K of it becomes

* ``K_chunk``: the data term's outputs over one block of rows (its ``n_total`` argument
  counts all rows); a body that does not fuse into one row loop runs by blocks of rows
  (``_K_chunk_blk``) and on numba's threads (``_K_chunk_par``), see
  :mod:`symml.codegen.module`;
* ``K_reg``: the regulariser's outputs, added once (absent when the loss has none);
* K itself, composed: ``K_chunk`` over all rows plus ``K_reg``, sharing their code, with
  ``K_finish`` for partial sums gathered elsewhere (Dask).

The catalog's derivations say which outputs a standard kernel has for one term of the loss
(:class:`symml.spec.Derivation`); for ``sm.compile`` the planner reads it from the graph:
the calculus records where each derivative came from, so an output ``sm.grad(L, w)`` is
rebuilt as ``sm.grad(D, w)`` and ``sm.grad(R, w)``, nothing derived by hand. Outputs that
are not one scalar loss and derivatives of it keep one kernel, as before.

Takes: kernel specs and a loss's sample split (or a compiled kernel's outputs). Gives: the
kernel specs of a module and its chunk facts (SAMPLE_DIM, ROW_ARGS, N_TOTAL, CHUNKED).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

from ..calculus import grad, hvp, jacobian, origins
from ..decompose import NotDecomposable, SampleSplit, per_row_outputs, row_parameters, split_samples
from ..nodes import Dim, Expr, Let, Map, Tensor, const, is_zero, leaves, make_map, placeholder, rebuild, transform
from ..program import program_from_outputs
from .module import Chunking, KernelSpec

__all__ = ["Plan", "plan_kernels", "plan_outputs", "chunk_specs", "chunk_constants", "split_rows"]


@dataclass
class Plan:
    """The kernels of a module and how they run over rows.

    ``specs``: the kernels users call first, then their chunk and regulariser kernels;
    ``split``: the loss as a sum over rows plus a regulariser (None: no chunk forms, and
    ``refusal`` says why); ``chunked``: the kernels that have chunk forms; for
    :func:`plan_outputs`, ``loss`` and ``params`` are the loss found among the outputs and
    the tensors they differentiate with respect to.
    """

    specs: list[KernelSpec]
    split: SampleSplit | None = None
    chunked: tuple = ()
    refusal: str = ""
    loss: Expr | None = None
    params: list = field(default_factory=list)

    def spec(self, name: str) -> KernelSpec:
        return next(s for s in self.specs if s.name == name)


def split_rows(loss: Expr, data, others) -> tuple[SampleSplit | None, str]:
    """(the sample split of ``loss``, "") or (None, why it has none)."""
    try:
        return split_samples(loss, data, others), ""
    except NotDecomposable as e:
        return None, str(e)


def chunk_specs(spec: KernelSpec, split: SampleSplit, data: list, hyper: list,
                outputs_of: Callable[[Expr], list]) -> list[KernelSpec]:
    """``spec`` rebuilt as its chunk kernel and its regulariser's: [chunk spec, reg spec].

    ``spec.compose`` is set: the kernel over all rows calls them. ``outputs_of(part)`` gives
    the kernel's outputs for one term of the loss. The regulariser's kernel takes the leading
    arguments of ``spec`` (parameters, directions: what is neither data nor a
    hyper-parameter), the data without rows and the hyper-parameters it reads, and n_total.
    There is no regulariser kernel when the loss has no regulariser.
    """
    k = spec.name
    reg = split.reg_term if split.reg_term is not None else const(0)
    lead = [t for t in spec.args if t not in data and t not in hyper]
    fixed = [t for t in data if t not in split.rows]
    used_s = {t.uid for t in leaves(split.data_term)}
    used_r = {t.uid for t in leaves(reg)}
    reg_args = lead + [t for t in fixed + hyper if t.uid in used_r] + [split.n_total]
    if split.reg_term is None:
        reg_args = [split.n_total]
    chunk_args = [t for t in spec.args if t not in hyper or t.uid in used_s] + [split.n_total]
    outs = outputs_of(split.data_term)
    per_row = [str(j) for j in per_row_outputs(outs, split.dim)]
    rows_doc = (f" Output{'s' if len(per_row) > 1 else ''} {', '.join(per_row)} {'have' if len(per_row) > 1 else 'has'} "
                f"one row per row of the block: put the blocks' one after another, in order." if per_row else "")
    chunk = KernelSpec(
        f"{k}_chunk", chunk_args, outs,
        f"Partial sums of {k} over one block of rows of {', '.join(t.name for t in split.rows)}, without the "
        f"regulariser: sum them over blocks that partition the rows and pass the total to {k}_finish "
        f"({split.n_total.name}: the number of rows in all blocks).{rows_doc}",
        spec.layout, spec.block_params, rows=tuple(t.name for t in split.rows))
    if split.reg_term is None:  # nothing to add: the kernel is its chunk kernel over all rows
        spec.compose = Chunking(chunk.name, None, split.n_total, split.rows[0], chunk_args, reg_args, [])
        return [chunk]
    reg_outs = outputs_of(reg)
    regs = KernelSpec(f"{k}_reg", reg_args, reg_outs,
                      f"The regulariser's part of {k}: the terms that read no row of the data.",
                      spec.layout, spec.block_params, twin=False)
    add = [not is_zero(o) for o in reg_outs]
    spec.compose = Chunking(chunk.name, regs.name, split.n_total, split.rows[0], chunk_args, reg_args, add)
    return [chunk, regs]


def plan_kernels(specs: list[KernelSpec], split: SampleSplit | None, data: list, hyper: list,
                 outputs_of: dict[str, Callable[[Expr], list]]) -> list[KernelSpec]:
    """``specs`` followed by the chunk and regulariser kernels of those named in ``outputs_of``.

    ``outputs_of[name](part)``: kernel ``name``'s outputs for one term of the loss. With no
    split the specs are returned as they are.
    """
    if split is None:
        return list(specs)
    parts = []  # chunk and regulariser kernels, after the kernels users call first
    for spec in specs:
        if spec.name in outputs_of:
            parts += chunk_specs(spec, split, data, hyper, outputs_of[spec.name])
    return list(specs) + parts


def chunk_constants(split: SampleSplit | None, chunked, refusal: str = "") -> str:
    """The module constants that say which kernels have a chunk form (read by symml.dask)."""
    if split is None:
        return (f"# No chunk kernels: {refusal or 'not a sum over samples'}.\n"
                "SAMPLE_DIM = None\nROW_ARGS = ()\nCHUNKED = ()")
    return ("# The loss is a sum over the rows of ROW_ARGS (axis 0, dimension SAMPLE_DIM) plus a regulariser:\n"
            "# each kernel K in CHUNKED has K_chunk (partial sums over a block of rows), K_reg and K_finish.\n"
            f"SAMPLE_DIM = {str(split.dim)!r}\nROW_ARGS = {tuple(t.name for t in split.rows)!r}\n"
            f"N_TOTAL = {split.n_total.name!r}\nCHUNKED = {tuple(chunked)!r}")


# --------------------------------------------------------------------------- outputs as sm.compile gets them


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


class _Rewrite:
    """Outputs that are L or derivative chains of L, with one term of L in place of L.

    The gradients of one function are taken together, with respect to every target the
    outputs ask of it (as ``sm.grad(L, [w, b])`` took them), so the parts share one
    backward pass as the whole did.
    """

    def __init__(self, L: Expr, outputs: list[Expr]):
        self.L = L
        self.targets: dict[int, list] = {}  # uid of a function → the targets of its gradients
        self.done: dict = {}  # (part, outputs) → the rewritten outputs
        for e in outputs:
            self._collect(e, set())

    def _collect(self, e: Expr, seen: set) -> None:
        if e.uid in seen:
            return
        seen.add(e.uid)
        for verb, of, t, _ in origins(e):
            if verb == "grad":
                ts = self.targets.setdefault(of.uid, [])
                if t not in ts:
                    ts.append(t)
            self._collect(of, seen)

    def outputs(self, part: Expr | None, outputs: list[Expr]) -> list[Expr]:
        key = (None if part is None else part.uid, tuple(e.uid for e in outputs))
        if key not in self.done:
            memo: dict = {}
            self.done[key] = [self._one(e, part, memo) for e in outputs]
        return self.done[key]

    def _one(self, e: Expr, part: Expr | None, memo: dict) -> Expr:
        if e is self.L:
            return part if part is not None else const(0)
        if e.uid in memo:
            return memo[e.uid]
        for verb, of, t, direction in origins(e):
            try:
                inner = self._one(of, part, memo)
            except NotDecomposable:
                continue
            if verb == "grad":
                ts = self.targets.get(of.uid, [t])
                key = ("grad", inner.uid)
                if key not in memo:
                    memo[key] = grad(inner, ts)
                out = memo[key][ts.index(t)]
            elif verb == "jacobian":
                out = jacobian(inner, t)
            else:
                ts, vs = direction
                key = ("hvp", inner.uid, tuple(x.uid for x in ts), tuple(x.uid for x in vs))
                if key not in memo:
                    memo[key] = hvp(inner, list(ts), list(vs))
                out = memo[key][list(ts).index(t)]
            memo[e.uid] = out
            return out
        raise NotDecomposable("an output is neither the loss nor a derivative of it")


def loss_of(outputs: list[Expr]) -> tuple[Expr, list]:
    """(L, params): the one scalar function that every output is, or is a derivative of, and
    the tensors they differentiate with respect to (directions of hvps included)."""
    chains = [_chains(e) for e in outputs]
    common = [r for r, _ in chains[0] if all(any(r2 is r for r2, _ in c) for c in chains[1:])]
    if not common or common[0].ndim != 0:
        raise NotDecomposable("the outputs must be one scalar loss and derivatives of it")
    L = common[0]
    params = []
    for c in chains:
        for root, ts in c:
            if root is L:
                params += [t for t in ts if t not in params]
    return L, params


def named_values(L: Expr) -> Expr:
    """``L`` with its forward values named, as a catalog derivation names them with sm.let.

    The steps are those ``symml show`` names (:mod:`symml.program`). A named elementwise
    function of a combination, h = tanh(z + b), is named in two steps, a = z + b and
    h = tanh(a), as a derivation writes a layer. The parts of the loss are then derived
    afresh over these names: the derivatives reuse the forward values (tanh' = 1 − h² reads
    h, never tanh again), and the function runs over a contiguous a, never over a
    broadcast b, so that its loop vectorises. Without them, a user's MLP ran 1.6× slower
    than the catalog's.
    """
    top = program_from_outputs({"loss": L}).outputs["loss"]
    named: list[Let] = []  # the named maps built so far (operands first)

    def reuse(m: Expr) -> Expr:
        """A map that repeats a named map's expression over the same operands, reading the name
        instead: z ∘ (X − μ) with u = X − μ named is z ∘ u, so that its derivative in z is u/2,
        not X/2 − μ/2, and uᵀ(u/2) is a Gram product."""
        if not (isinstance(m, Map) and m.operands):
            return m
        expr, ops = m.expr, list(m.operands)
        for let in named:
            body = let.body
            if any(o is let for o in ops) or body.shape != m.shape:
                continue
            at = [next((j for j, o in enumerate(ops) if o is b), None) for b in body.operands]
            if None in at:
                continue
            pattern = body.expr.xreplace({placeholder(j): placeholder(k) for j, k in enumerate(at)})
            if pattern.is_Atom:
                continue
            new = expr.subs(pattern, placeholder(len(ops)))
            if placeholder(len(ops)) in new.free_symbols:
                expr, ops = new, ops + [let]
        return m if expr is m.expr else make_map(expr, ops, m.shape)

    def split(node, ops):
        m = reuse(rebuild(node, ops))
        body = m.body if isinstance(m, Let) else None
        if (isinstance(body, Map) and body.operands and isinstance(body.expr, sp.Function)
                and len(body.expr.args) == 1 and not body.expr.args[0].is_Symbol):
            inner = Let.new(f"{m.name}_in", make_map(body.expr.args[0], list(body.operands), body.shape))
            named.append(inner)
            return Let.new(m.name, make_map(body.expr.func(placeholder(0)), [inner], body.shape))
        if isinstance(body, Map) and body.operands:
            named.append(m)
        return m

    return transform([top], split)[0]


def _unbound(spec: KernelSpec) -> list:
    """The dimensions of ``spec``'s outputs that none of its arguments' shapes bind."""
    bound = {s for t in spec.args for s in t.shape if isinstance(s, Dim)}
    need = set()
    for o in spec.outputs:
        for s in o.shape:
            need |= {x for x in sp.sympify(s).free_symbols if isinstance(x, Dim)}
    return sorted(need - bound, key=str)


def _order(e: Expr, L: Expr) -> int:
    """How many derivatives lie between ``L`` and the output ``e`` (0 for L itself)."""
    if e is L:
        return 0
    for _verb, of, _t, _dir in origins(e):
        return 1 + _order(of, L)
    return 0


def plan_outputs(name: str, args: list[Tensor], outputs: list[Expr], layout: str = "tuple", doc: str = "",
                 extra_args: list[Tensor] = ()) -> Plan:
    """The kernels of one ``sm.compile`` kernel ``name`` over ``args`` with ``outputs``.

    When the outputs are one scalar loss that sums over rows (plus a regulariser) and
    derivatives of it, the kernel is planned as the catalog's are: a chunk kernel
    (``name_chunk``), the regulariser's (``name_reg``), and ``name`` composed of them.
    Otherwise, or when ``extra_args`` (size stand-ins no input binds) are needed, one
    kernel computes every output, and ``refusal`` says why.
    """
    whole = KernelSpec(name, list(args) + list(extra_args), list(outputs), doc, layout)
    if extra_args:
        return Plan([whole], refusal="a size is bound by no input (it is passed as dims=)")
    try:
        L, params = loss_of(list(outputs))
    except NotDecomposable as e:
        return Plan([whole], refusal=str(e))
    data = [t for t in args if t.ndim and t not in params]
    hyper = [t for t in args if not t.ndim and t not in params]
    others = [t for t in args if t not in data] + [t for t in params if t not in args]
    # forward values are named for first derivatives only: a Hessian or hvp derived over the
    # names goes through the adjoints of Lets (δ of δ_z), and its Gram product Xᵀdiag(s)X is then
    # no longer the form that goes to BLAS syrk (nor exactly symmetric)
    second = any(_order(e, L) > 1 for e in outputs)
    form = L if second else named_values(L)
    split, why = split_rows(form, data, others)
    rowp = row_parameters(data, params, others) if split is None else []
    if rowp:  # a factorisation's row factor: read row by row, as the data are
        split, _ = split_rows(form, data + rowp, [t for t in others if t not in rowp])
    if split is None:
        return Plan([whole], refusal=why, loss=L, params=params)
    rewrite = _Rewrite(L, list(outputs))
    try:
        parts = rewrite.outputs(split.data_term, list(outputs))
    except NotDecomposable as e:
        return Plan([whole], refusal=str(e), loss=L, params=params)
    n = split.dim
    for e, o in zip(outputs, parts):  # per-row outputs have the rows on axis 0, and nowhere else
        if any(n in sp.sympify(s).free_symbols for s in o.shape[1:]) or (o.shape and o.shape[0] != n and (
                n in sp.sympify(o.shape[0]).free_symbols)):
            return Plan([whole], loss=L, params=params, refusal=(
                f"an output of shape {e.shape} carries the rows of "
                f"{', '.join(t.name for t in rowp) or f'the sample dimension {n}'} on an axis other than the first"))
    specs = plan_kernels([whole], split, data, hyper, {name: lambda part: rewrite.outputs(part, list(outputs))})
    for s in specs[1:]:
        free = _unbound(s)
        if free:  # a size only the row data bind (a Hessian that reads no parameter): one kernel
            whole.compose = None
            return Plan([KernelSpec(name, list(args), list(outputs), doc, layout)], loss=L, params=params,
                        refusal=f"{s.name} would need the size {free[0]}, which only the row data bind")
    return Plan(specs, split, (name,), loss=L, params=params)
