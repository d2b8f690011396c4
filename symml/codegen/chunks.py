"""Chunk forms of an ``sm.compile`` kernel whose outputs are a loss and its derivatives.

A loss that is a sum over samples plus a term free of row data (:mod:`symml.decompose`)
gives, for every output, the same output of the data term (summed block by block) and of
the regulariser (added once): ``L = Σ_blocks D + R``, ``∇L = Σ ∇D + ∇R``, and so for
Hessians and hvps. The planner (:mod:`symml.codegen.plan`) wrote them into the kernel's
own module, as the catalog's modules have them: ``kernel_chunk`` and ``kernel_reg``, of
which ``kernel`` itself is composed. Here they are wrapped as compiled kernels: nothing is
compiled a second time.

Takes: a CompiledKernel. Gives: Chunks (a chunk kernel and a regulariser kernel).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..decompose import NotDecomposable, per_row_outputs
from .plan import plan_outputs


@dataclass
class Chunks:
    """``chunk`` sums over a block of rows (its ``n_total`` argument counts all rows);
    ``reg`` is added once (None: the loss has no regulariser); ``rows`` are the names of
    the arguments cut by rows; ``per_row`` are the indices of the outputs that are not sums
    but one row per row of the data (the gradient of a factorisation's row factor): the
    blocks' outputs there are put one after another."""

    chunk: object
    reg: object | None
    rows: list[str]
    n_total: str
    per_row: tuple = ()


def _wrap(kernel, module, spec):
    """A compiled kernel over one function of ``kernel``'s module (the spec's public wrapper)."""
    out = type(kernel)(getattr(module, spec.name), kernel._tree, list(zip(kernel.output_names, spec.outputs)),
                       spec.args, [], kernel.path, kernel._dims)
    out._module, out.module_name = module, kernel.module_name
    return out


def chunk_forms(kernel) -> Chunks:
    """The chunk and regulariser kernels of ``kernel``, or NotDecomposable saying why not."""
    plan = kernel._plan
    if plan is None:  # the module came from the cache: plan again (deterministic) for its facts
        plan = plan_outputs(kernel.fn_name, kernel.arg_tensors, [e for _, e in kernel.outputs], "tuple",
                            extra_args=kernel._stand_ins)
        kernel._plan = plan
    if plan.split is None:
        raise NotDecomposable(plan.refusal)
    module = kernel._module
    if getattr(module, "CHUNKED", ()) != plan.chunked:  # pragma: no cover - a module of another planner
        raise NotDecomposable(f"{kernel.path.name} has no chunk kernels; delete it to have it written again")
    whole = plan.spec(kernel.fn_name)
    c = whole.compose
    reg = _wrap(kernel, module, plan.spec(c.reg)) if c.reg is not None else None
    chunk = plan.spec(c.chunk)
    return Chunks(_wrap(kernel, module, chunk), reg, [t.name for t in plan.split.rows], plan.split.n_total.name,
                  per_row_outputs(chunk.outputs, plan.split.dim))
