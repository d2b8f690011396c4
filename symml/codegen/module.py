"""The file skeleton of a generated kernel module, assembled from a structured description.

A module is a :class:`ModuleText`: a header (what it was generated from, how to regenerate
it, a hash of the inputs, no timestamp), imports (numpy, numba and the shared runtime of
:mod:`symml.codegen.runtime`, nothing else), ``__all__``, constants, the stable scalar
helpers its kernels use, one argument checker per distinct signature, and per kernel a
private ``@njit(cache=True)`` function plus a plain-Python wrapper that validates every
argument before numba runs. Each part is kept apart until :meth:`ModuleText.render` joins
them; nothing edits emitted text afterwards.

Whether a kernel gets a threaded twin, runs by blocks of rows, or hands BLAS one thread per
numba thread is decided from facts recorded while its body was emitted (the helpers it
calls, whether it fused into one row loop, whether it calls np.dot), never from its text.
A twin is the same Python function as its serial kernel, compiled a second time with
``parallel=True`` (the runtime's ``_parallel``): its row loop is a ``prange``, which the
serial compilation runs as a plain range.

Takes: kernel specs (outputs as graph nodes, argument order, docs). Gives: source text.
"""
from __future__ import annotations

import ast
import hashlib
import textwrap
from dataclasses import dataclass, field

import sympy as sp

from ..layout import FlatLayout
from ..nodes import Dim, Expr, Tensor, fmt_shape
from ..structured_index import Labels
from .drivers import blocked_driver, composed_kernel, finish_wrapper
from .emit import KernelBody, safe_identifier, size_src, unique_identifier
from .fuse import FusedKernelBody
from .runtime import BLAS_NAMES, RUNTIME_HELPERS
from .scalar import HELPERS
from .version import CODEGEN_VERSION

__all__ = ["CODEGEN_VERSION", "PARALLEL_MIN_SIZE", "KernelSpec", "Chunking", "EmittedKernel", "ModuleText",
           "kernel_source", "module_parts", "module_source", "flat_adapters", "seal", "is_sealed"]

PARALLEL_MIN_SIZE = 200_000

#: The module docstring's paragraph on the keywords every wrapper takes.
CONVENTIONS = """Every kernel checks its arguments (names, ranks, dtypes, sizes) before numba runs. check_finite:
True scans every argument for NaN or inf first; None (default) only when an output is not finite, so a
NaN or inf reaching the result is named at no cost on finite data; False never. parallel (kernels with
a twin): True runs the row loop on numba's threads, False on this one, None from PARALLEL_MIN_SIZE on;
threads go only to cores that other processes leave idle at the call (all of them on an idle machine)."""


@dataclass
class KernelSpec:
    """One public kernel: its name, arguments, outputs and how to return them.

    ``layout`` is "value" (one output), "tuple" (a tuple of outputs), "pair" (value,
    then a tuple or single gradient), or "blocks" (a square block matrix of Hessian
    blocks, flattened in row-major vec order of the parameters).
    """

    name: str
    args: list[Tensor]
    outputs: list[Expr]
    doc: str = ""
    layout: str = "value"
    block_params: list[Tensor] = field(default_factory=list)
    # a kernel computed as chunk + regulariser (see Chunking); its outputs are then only documentation
    compose: "Chunking | None" = None
    twin: bool = True  # False: never a prange twin (a kernel that reads no rows)
    # names of the arguments whose axis 0 is the sample axis (a chunk kernel): a whole-array body
    # then runs by blocks of rows, serially (``_K_blk``) and on numba's threads (``_K_par``)
    rows: tuple = ()


@dataclass
class Chunking:
    """How a kernel over all rows is built from its chunk kernel and its regulariser kernel.

    ``chunk`` takes the kernel's own arguments plus ``n_total``; ``reg`` takes ``reg_args``
    (parameters, directions, data without the sample axis, hyper-parameters, ``n_total``);
    ``rows`` is the argument whose axis 0 counts the rows; ``add[j]`` says whether the
    regulariser contributes to output j (False: it is identically zero there).
    """

    chunk: str
    reg: str | None  # None: the loss has no regulariser
    n_total: Tensor
    rows: Tensor
    chunk_args: list[Tensor]
    reg_args: list[Tensor]
    add: list[bool]


@dataclass
class EmittedKernel:
    """One spec as code, with the facts of its body that decide how the module runs it.

    ``twin`` is False (one serial kernel), True (a threaded twin ``_K_par`` of the same
    function) or "blocked" (``_K_blk`` runs the body by blocks of rows, ``_K_par`` on threads).
    """

    name: str
    source: str  # the private kernel(s) and the public wrapper(s), in that order
    exports: list[str]  # its public names
    helpers: set[str]  # scalar helpers the module defines for it
    runtime: set[str]  # names it imports from the runtime
    numba: set[str]  # names it imports from numba
    twin: bool | str = False
    uses_syrk_gram: bool = False  # a Gram product on BLAS syrk (BLAS threads it)
    uses_blas_dot: bool = False  # a matrix product on np.dot


@dataclass
class ModuleText:
    """A generated module, part by part; :meth:`render` joins them in this order."""

    header: str  # the docstring's text
    runtime: str  # the module the runtime is imported from ("._runtime", or a cached copy's name)
    imports: set[str] = field(default_factory=set)  # runtime names
    numba: set[str] = field(default_factory=set)  # numba names
    preamble: list[str] = field(default_factory=list)  # statements run first (integrity checks)
    exports: list[str] = field(default_factory=list)
    constants: list[str] = field(default_factory=list)  # blocks of comments and assignments
    helpers: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    kernels: list[str] = field(default_factory=list)
    adapters: list[str] = field(default_factory=list)
    trailer: list[str] = field(default_factory=list)  # last statements (before the seal)

    def body(self) -> str:
        """Everything after the docstring: imports to trailer."""
        runtime = f"from {self.runtime} import " + ", ".join(sorted(self.imports))
        if len(runtime) > 120:  # wrapped in parentheses, filled to 120 columns
            runtime = textwrap.fill(runtime, 118, subsequent_indent="    ", break_long_words=False,
                                    break_on_hyphens=False).replace(" import ", " import (", 1) + ")"
        imports = ["import numpy as np", f"from numba import {', '.join(sorted(self.numba))}", runtime]
        parts = ["\n".join(imports + self.preamble)]
        parts.append("__all__ = [" + ", ".join(repr(n) for n in self.exports) + "]")
        # a kernel's parts (private kernel, twin, wrappers) are one group, set apart by one blank line,
        # and so are the helpers and the checkers; groups are set apart by two
        parts += self.constants + ["\n\n".join(g) for g in (self.helpers, self.checks) if g] + self.kernels
        if self.adapters:
            parts.append("# scipy.optimize adapters over one flat parameter vector\n\n" + "\n\n\n".join(self.adapters))
        text = "\n\n\n".join(p.strip() for p in parts) + "\n"
        return text + ("\n\n" + "\n".join(self.trailer) + "\n" if self.trailer else "")

    def render(self) -> str:
        return '"""' + self.header.strip() + "\n\n" + CONVENTIONS + '\n"""\n\n\n' + self.body()


def names_read(lines: list[str]) -> set[str]:
    """The names that statements read, as Python's parser sees them (every ``Name`` loaded).

    A kernel's head binds its dtype and sizes from the arguments; this says which of those
    bindings its body uses, so that none is left unused.
    """
    tree = ast.parse(textwrap.dedent("\n".join(lines)))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _dims_of(args: list[Tensor]):
    """The plain dimensions and where each is first bound: {Dim: (arg, axis)}."""
    bound = {}
    for t in args:
        for ax, s in enumerate(t.shape):
            if isinstance(s, Dim) and s not in bound:
                bound[s] = (t, ax)
    return bound


def _signature(args: list[Tensor]) -> str:
    return ", ".join(f"{t.name} {fmt_shape(t.shape)}" + (f" (int labels < {t.high})" if isinstance(t, Labels) else "")
                     for t in args)


def checker_source(fname: str, args: list[Tensor]) -> tuple[str, set[str]]:
    """A function that checks one argument list: (name → checked value, numbers in its arrays).

    Sizes are bound from the largest arrays first: "w: expected (d,) with d = 3 (from X)" is
    the message a user expects when X and w disagree. A size that no later check reads is
    checked (positive) but not bound.

    Returns:
        (its source, the runtime names it calls).
    """
    taken: set[str] = set()
    arg_names = {t.name: unique_identifier(t.name, taken) for t in args}
    bound = _dims_of(args)
    dim_names = {d: unique_identifier(d.name, taken) for d in sorted(bound, key=str)}
    params = ", ".join(arg_names[t.name] for t in args)
    w = [f"def {fname}({params}):",
         f'    """({_signature(args)}) checked: names, ranks, dtypes and sizes."""']
    calls: set[str] = set()
    for t in args:
        v = arg_names[t.name]
        if isinstance(t, Labels):
            w.append(f"    {v} = _labels({v}, {t.name!r}, {t.ndim}, {fmt_shape(t.shape)!r}, {str(t.high)!r})")
            calls |= {"_labels", "_labels_range"}
        elif t.ndim:
            w.append(f"    {v} = _array({v}, {t.name!r}, {t.ndim}, {fmt_shape(t.shape)!r})")
            calls.add("_array")
        else:
            w.append(f"    {v} = _scalar({v}, {t.name!r})")
            calls.add("_scalar")
    all_bound = {}
    read: set = set()  # the sizes that a later check reads
    binds: dict = {}  # size → the index of its positivity check

    def size_check(t, ax, s):
        read.update(sp.sympify(s).free_symbols)
        calls.add("_size")
        expected = size_src(s, {d: dim_names[d] for d in all_bound})
        src = ", ".join(sorted({all_bound[d].name for d in sp.sympify(s).free_symbols if d in all_bound})) or "its definition"
        w.append(f"    _size({t.name!r}, {arg_names[t.name]}, {ax}, {expected}, {str(s)!r}, {src!r}, {fmt_shape(t.shape)!r})")

    deferred = []
    for t in sorted(args, key=lambda t: -t.ndim):
        for ax, s in enumerate(t.shape):
            v = arg_names[t.name]
            if isinstance(s, Dim) and s not in all_bound:
                all_bound[s] = t
                binds[s] = len(w)  # written below, once it is known whether a check reads it
                w.append(f"_positive({s.name!r}, {v}.shape[{ax}], {t.name!r})")
                calls.add("_positive")
            elif not sp.sympify(s).free_symbols <= set(all_bound):
                deferred.append((t, ax, s))  # e.g. ⌊(H − kh + 1)/2⌋ before the argument that binds H
            else:
                size_check(t, ax, s)
    for t, ax, s in deferred:
        size_check(t, ax, s)
    for t in args:  # numba does not check bounds: every label is checked before the kernel runs
        if isinstance(t, Labels):
            if not sp.sympify(t.high).free_symbols <= set(all_bound):
                raise ValueError(f"the bound {t.high} of labels {t.name} is not bound by any argument's shape")
            high = size_src(t.high, {d: dim_names[d] for d in all_bound})
            read.update(sp.sympify(t.high).free_symbols)
            w.append(f"    _labels_range({arg_names[t.name]}, {t.name!r}, {high}, {str(t.high)!r})")
    for s, at in binds.items():  # always checked; bound to a name only where a check reads it
        w[at] = f"    {dim_names[s]} = {w[at]}" if s in read else f"    {w[at]}"
    # arrays go to the kernel C-contiguous, all float64 if one is (else float32), as straight-line code:
    # the wrappers' cost per call is what an optimizer on small data pays at every step; integer
    # labels are int64 already and do not set the dtype
    arrays = [t for t in args if t.ndim]
    floats = [t for t in arrays if not isinstance(t, Labels)]
    if floats:
        w.append(f"    dt = _dtype({', '.join(arg_names[t.name] for t in floats)}{',' if len(floats) == 1 else ''})")
        calls |= {"_dtype", "_c"}

    def value(t):
        v = arg_names[t.name]
        return v if isinstance(t, Labels) or not t.ndim else f"_c({v}, dt)"

    values = ", ".join(f"{t.name!r}: {value(t)}" for t in args)
    size = " + ".join(f"{arg_names[t.name]}.size" for t in arrays) or "0"
    ret = f"    return {{{values}}}, {size}"
    if len(ret) > 120:  # wrapped inside parentheses
        ret = textwrap.fill(f"    return ({{{values}}}, {size})", 118, subsequent_indent="        ",
                            break_long_words=False, break_on_hyphens=False)
    w.append(ret)
    return "\n".join(w), calls


class Checkers:
    """The argument checkers of one module, one per distinct argument list, named in order."""

    def __init__(self):
        self.names: dict[tuple, str] = {}
        self.sources: list[str] = []
        self.calls: dict[str, set[str]] = {}  # checker name → the runtime names it calls

    def name_for(self, args: list[Tensor]) -> str:
        key = tuple((t.name, tuple(t.shape)) for t in args)
        if key not in self.names:
            name = self.names[key] = f"_args{len(self.names) + 1}"
            src, self.calls[name] = checker_source(name, args)
            self.sources.append(src)
        return self.names[key]


def kernel_source(spec: KernelSpec, parallel: bool | None = None, fuse: bool = True,
                  twins: dict | None = None, checkers: Checkers | None = None) -> EmittedKernel:
    """The private njit kernel(s) and the public wrapper of one spec.

    ``parallel``: True or False for every loop; None (the default) gives a fused kernel a
    threaded twin, chosen per call by the total input size. ``twins`` says, for kernels
    already emitted, how they run (a composed kernel follows its chunk kernel); ``checkers``
    collects the argument checkers of the module (a fresh set when None).
    """
    checkers = checkers if checkers is not None else Checkers()
    taken: set[str] = set()
    arg_names = {t.name: unique_identifier(t.name, taken) for t in spec.args}  # ℌ and H are two arguments
    bound = _dims_of(spec.args)
    used_dims = set()
    for o in spec.outputs:
        for s in o.shape:
            used_dims |= sp.sympify(s).free_symbols
    dim_names = {}
    for d in sorted(set(bound) | {d for d in used_dims if isinstance(d, Dim)}, key=str):
        dim_names[d] = unique_identifier(d.name, taken)
    missing = [d for d in dim_names if d not in bound]
    if missing:
        raise ValueError(f"kernel {spec.name!r}: dimension {missing[0]} is not bound by any argument's shape")
    arrays = [t for t in spec.args if t.ndim]
    floats = [t for t in arrays if not isinstance(t, Labels)]  # integer labels do not set the dtype
    params = ", ".join(arg_names[t.name] for t in spec.args)

    def private(par: bool):
        body = (FusedKernelBody if fuse else KernelBody)(spec.args, spec.outputs, arg_names, dim_names, par)
        lines = body.build()
        # NOTE(numba): fastmath "reassoc"/"contract" lets LLVM vectorise reductions and use FMA; it
        # does not assume away NaN or inf, so the stable primitives keep their guarantees.
        flags = ", parallel=True" if par and parallel else ""
        flags += ', fastmath={"reassoc", "contract"}' if fuse else ""
        reads = names_read(lines)  # the head binds the dtype and the sizes only where the body reads them
        # a twin's Gram splits its rows into one slab per thread: the thread count is an argument
        # (numba cannot cache a function that calls get_num_threads), 1 for the serial kernel
        extra = ", threads_=1" if "threads_" in reads else ""
        k = [f"@njit(cache=True{flags})", f"def _{spec.name}({params}{extra}):",
             f"    # inputs: {_signature(spec.args)}; ops ≈ {sp.simplify(body.ops)}"]
        if "dt" in reads:
            k.append(f"    dt = {arg_names[floats[0].name]}.dtype" if floats else "    dt = np.float64")
        for d, (t, ax) in sorted(bound.items(), key=lambda kv: str(kv[0])):
            if d in dim_names and dim_names[d] in reads:
                k.append(f"    {dim_names[d]} = {arg_names[t.name]}.shape[{ax}]")
        k += ["    " + ln for ln in lines]
        outs = [body.var[o.uid] for o in spec.outputs]
        k.append(f"    return {', '.join(outs)}{',' if len(outs) == 1 else ''}")
        return "\n".join(k), body

    serial = f"_{spec.name}"  # what the wrapper calls without threads
    runtime, numba = {"_run"}, {"njit"}
    gram = blas = False
    hold = False  # the BLAS is held at one thread while the kernel runs: numba's threads are the only ones
    if spec.compose is not None:
        twin, hold = (twins or {}).get(spec.compose.chunk) or (False, False)
        k_src = composed_kernel(spec, arg_names, taken, twin)
        serial = f"_{spec.name}_rows"
        helpers = set()  # nothing of its own to emit
        if spec.compose.reg is not None:  # a regulariser to add (no regulariser: nothing is added)
            runtime.add("_add_parts")
            if any(a and len(o.shape) > 1 for a, o in zip(spec.compose.add, spec.outputs)):
                runtime.add("_plus")  # the composed kernel adds arrays of rank ≥ 2 by one loop
    else:
        src, body = private(bool(parallel))
        # a fused kernel also gets a threaded twin: thread start-up costs more than it saves on
        # small inputs, so the wrapper picks by size (chunking depends only on n, so both agree)
        fused = getattr(body, "plan", None) is not None
        # A Gram product (O(n·d²)) dominates. numba's threads, spinning after their O(n·d) loop,
        # took the cores from OpenBLAS's (16.7 vs 9.8 ms serial for a logistic Hessian at n = 20 000,
        # d = 100), and OpenBLAS threads small syrk calls badly (7.8 ms at 2 threads, 5.4 at one).
        # So a weighted Gram's twin splits the rows into one slab per numba thread, each slab's
        # syrk on a BLAS held at one thread (2.7 ms; 5000 × 1000: 48 against 58 ms on BLAS threads),
        # and both forms hold the BLAS at one thread. A plain Gram (one syrk on all of A, which
        # BLAS threads well) gets no twin and no blocks.
        gram = bool(body.helpers & {"_syrk_gram", "_syrk_gram_weighted"})
        blas = bool(getattr(body, "uses_blas_dot", False))
        twin = parallel is None and spec.twin and fused and "_syrk_gram" not in body.helpers
        if twin:  # one source for both: the body again, its row loop a prange
            src, body = private(True)
            if "_syrk_gram_slabs" in body.helpers:  # its Gram in slabs: the twin gets the thread count
                src += (f"\n\n_{spec.name}_tw = _parallel(_{spec.name})\n\n\n"
                        f"def _{spec.name}_par({params}):\n    return _{spec.name}_tw({params}, get_num_threads())")
                numba |= {"get_num_threads"}
                hold = True
            else:
                src += f"\n\n_{spec.name}_par = _parallel(_{spec.name})"
            runtime.add("_parallel")
        k_src = src
        helpers = set(body.helpers)
        numba |= {"prange"} if body.parallel else set()  # built for threads: its outer loops are pranges
        # a plain Gram beside other products (the Gaussian's uᵀu/2 beside uP) runs by blocks with them,
        # of 256 rows at least: (20 000, 20) on 2 threads 0.63 ms, against 1.95 unblocked with BLAS
        # threads (one thread: 1.08 and 1.09); (20 000, 200) 25 against 39 ms; (2 000, 500) 21 against 22
        gram_in_blocks = blas and body.helpers & {"_syrk_gram", "_syrk_gram_weighted"} == {"_syrk_gram"}
        if parallel is None and spec.rows and not fused and (not gram or gram_in_blocks):
            # a whole-array body (matrix products on np.dot, per-row temporaries the size of the
            # rows): run it by blocks of rows, so its temporaries stay in cache, on every thread
            k_src += "\n\n" + blocked_driver(spec, arg_names, dim_names, bound, blas, gram_in_blocks)
            # _acc_add sums the blocks' array outputs (scalar ones are added in place)
            helpers |= ({"_acc_add"} if any(o.shape for o in spec.outputs) else set()) | (
                {"_blas_threads"} if blas else set())
            runtime.add("_parallel")
            numba |= {"prange", "get_num_threads"}
            twin, serial = "blocked", f"_{spec.name}_blk"
            # NOTE(OpenBLAS): a BLAS thread spins ~100 ms after a threaded product: the serial
            # kernel's products on BLAS threads took the cores of the next call's numba threads
            # (a blocked softmax twin ran 65 ms against 3 ms); serial, the kernel is one thread
            hold = blas
    if twins is not None:
        twins[spec.name] = (twin, hold)
    for h in helpers & RUNTIME_HELPERS:
        runtime |= set(BLAS_NAMES.get(h, (h,)))
    helpers -= RUNTIME_HELPERS

    doc = spec.doc.strip() or spec.name
    args_doc = "Args: " + _signature(spec.args) + "."
    w = [f"def {spec.name}({params}, *, check_finite=None{', parallel=None' if twin else ''}):"]
    if "\n" not in doc and len(doc) + len(args_doc) <= 109:  # one line of at most 120 columns
        w.append(f'    """{doc} {args_doc}"""')
    else:
        doc = "\n\n".join(textwrap.fill(par, 100) if "\n" not in par else par for par in doc.split("\n\n"))
        w.append(textwrap.indent('"""' + doc + "\n" + textwrap.fill(args_doc, 100, subsequent_indent="    ")
                                 + '\n"""', "    "))
    check = checkers.name_for(spec.args)
    checker = f"{check}({params})"
    runtime |= checkers.calls[check]
    fns = f"({serial}, _{spec.name}_par)" if twin else f"({serial},)"
    tail = (", parallel, PARALLEL_MIN_SIZE" if twin else "") + (", one_blas=True)" if hold else ")")
    if spec.layout in ("value", "tuple", "pair", "blocks"):
        run = f"_run({spec.name!r}, {fns}, {checker}, check_finite{tail}"
        run = {"value": f"{run}[0]", "tuple": run, "pair": f"_pair({run})",
               "blocks": f"_blocks({run}, {len(spec.block_params)})"}[spec.layout]
        runtime |= {"pair": {"_pair"}, "blocks": {"_blocks"}}.get(spec.layout, set())
        if len(run) > 109:  # the keywords on a line of their own
            run = run.replace(f"{checker}, check_finite", f"{checker},\n        check_finite", 1)
        w.append(f"    return {run}")
    else:
        raise ValueError(f"unknown layout {spec.layout!r}")
    exports = [spec.name]
    if spec.compose is not None:
        w += ["", finish_wrapper(spec)]
        exports.append(f"{spec.name}_finish")
    return EmittedKernel(spec.name, k_src + "\n\n" + "\n".join(w) + "\n", exports, helpers, runtime, numba,
                         twin, gram, blas)


def module_parts(header: str, kernels: list[KernelSpec], parallel: bool | None = None, fuse: bool = True,
                 runtime: str = "._runtime") -> ModuleText:
    """The parts of a module: header docstring, imports, checkers, helpers, kernels, wrappers."""
    emitted, twins, checkers = {}, {}, Checkers()
    for spec in sorted(kernels, key=lambda k: k.compose is not None):  # chunk kernels before their users
        emitted[spec.name] = kernel_source(spec, parallel, fuse, twins, checkers)
    ks = [emitted[k.name] for k in kernels]
    m = ModuleText(header, runtime)
    for k in ks:
        m.imports |= k.runtime
        m.numba |= k.numba
        m.exports += k.exports
    if any(k.uses_syrk_gram for k in ks):
        m.preamble.append("_register_blas()  # the BLAS routines of the Gram products, before any kernel loads")
    if any(k.twin for k in ks):
        m.constants.append(
            "# Twins run on all threads from this many input numbers on (thread start-up costs ~60 µs here).\n"
            f"PARALLEL_MIN_SIZE = {PARALLEL_MIN_SIZE}")
    m.helpers = [HELPERS[h].strip() for h in sorted(set().union(*(k.helpers for k in ks)))]
    # a checker per distinct argument list, in the order the kernels first use them
    m.checks = list(checkers.sources)
    m.kernels = [k.source for k in ks]
    return m


def module_source(header: str, kernels: list[KernelSpec], parallel: bool | None = None, fuse: bool = True,
                  runtime: str = "._runtime") -> str:
    """A complete module (unsealed): see :func:`module_parts`."""
    return module_parts(header, kernels, parallel, fuse, runtime).render()


def flat_adapters(params: list[Tensor], rest: list[Tensor], kernels: list[str]) -> list[str]:
    """scipy adapters over one flat vector θ = [vec(p₁); vec(p₂); …] (row-major), or [] when
    the data does not fix every parameter's size (then θ could not be split)."""
    layout = FlatLayout.of(params)
    bound = _dims_of(rest)
    need = layout.dims()
    if not params or not need <= set(bound) or not {"loss", "grad"} <= set(kernels):
        return []
    names = {t.name: safe_identifier(t.name) for t in params + rest}
    dn = {d: safe_identifier(d.name) + "_" for d in bound}
    rest_args = ", ".join(names[t.name] for t in rest)
    u = [f"def _unpack(theta, {rest_args}, name='theta'):",
         f'    """Split θ into {", ".join(layout.names)} (views, row-major)."""']
    for d, (t, ax) in sorted(bound.items(), key=lambda kv: str(kv[0])):
        if d in need:
            u.append(f"    {dn[d]} = np.shape({names[t.name]})[{ax}]")
    math_total = " + ".join(str(c) for c in layout.counts)
    shapes = ", ".join("(" + ", ".join(size_src(x, dn) for x in s) + ("," if len(s) == 1 else "") + ")"
                       for s in layout.shapes)
    sizes = ", ".join(size_src(c, dn) for c in layout.counts)
    one = "," if len(params) == 1 else ""
    u.append(f"    return _split(theta, ({shapes}{one}), ({sizes}{one}), '({math_total},)', {layout.describe()!r}, name)")
    doc = layout.doc
    fns = [
        "\n".join(u),
        f'def fun(theta, {rest_args}):\n    """L(θ) with {doc}, for scipy.optimize.minimize(fun, theta0, args=...)."""\n'
        f"    return loss(*_unpack(theta, {rest_args}), {rest_args})",
        f'def jac(theta, {rest_args}):\n    """∇L(θ) as one flat vector (same layout as θ)."""\n'
        f"    g = grad(*_unpack(theta, {rest_args}), {rest_args})\n"
        f"    return _pack(g if isinstance(g, tuple) else (g,))",
    ]
    if "hessian" in kernels:
        fns.append(f'def hess(theta, {rest_args}):\n    """∇²L(θ) over the layout of θ."""\n'
                   f"    return hessian(*_unpack(theta, {rest_args}), {rest_args})")
    if "hvp" in kernels:
        fns.append(f'def hessp(theta, p, {rest_args}):\n    """∇²L(θ)·p without forming ∇²L (for Newton-CG and trust-ncg)."""\n'
                   f"    h = hvp(*_unpack(theta, {rest_args}), *_unpack(p, {rest_args}, name='p'), {rest_args})\n"
                   f"    return _pack(h if isinstance(h, tuple) else (h,))")
    return fns


#: The names flat_adapters defines (beyond _unpack) for the kernels a module has, and the runtime names they use.
def flat_exports(kernels: list[str]) -> list[str]:
    return ["fun", "jac"] + [k for k, m in (("hess", "hessian"), ("hessp", "hvp")) if m in kernels]


FLAT_RUNTIME = {"_split", "_pack"}


def seal(text: str) -> str:
    """``text`` (ending in a newline) with a last line SYMML_SOURCE_HASH = sha256 of everything before it."""
    return text + f"SYMML_SOURCE_HASH = {hashlib.sha256(text.encode('utf-8')).hexdigest()!r}\n"


def is_sealed(text: str) -> bool:
    """Whether ``text`` ends with the hash of what precedes it (not truncated, not edited)."""
    body, sep, tail = text.replace("\r\n", "\n").rpartition("\nSYMML_SOURCE_HASH = '")
    return bool(sep) and tail == hashlib.sha256((body + "\n").encode("utf-8")).hexdigest() + "'\n"
