"""The file skeleton of a generated kernel module.

A module has a header (what it was generated from, how to regenerate it, a hash of the
inputs, no timestamp), imports of numpy and numba only, the argument checks, the stable
scalar helpers it uses, and per kernel a private ``@njit(cache=True)`` function plus a
plain-Python wrapper that validates every argument before numba runs.

Takes: kernel specs (outputs as graph nodes, argument order, docs). Gives: source text.
"""
from __future__ import annotations

import hashlib
import textwrap
import unicodedata
from dataclasses import dataclass, field

import sympy as sp

from ..nodes import Dim, Expr, Tensor, fmt_shape
from ..structured_index import Labels
from .emit import KernelBody, safe_identifier, size_src, unique_identifier
from .fuse import FusedKernelBody
from .scalar import HELPERS

CODEGEN_VERSION = "1"
PARALLEL_MIN_SIZE = 200_000


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


CHECKS = '''
_FLOATS = (np.float32, np.float64)


def _array(x, name, rank, shape):
    """x as a float array of the given rank, or a ValueError naming the argument."""
    if not isinstance(x, np.ndarray):
        try:
            a = np.asarray(x)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{name}: expected a float array of shape {shape}, got {type(x).__name__}") from None
        if a.dtype.kind not in "fiu":  # numbers only: no strings, booleans, complex or out-of-range ints
            raise ValueError(f"{name}: expected a float array of shape {shape}, got {type(x).__name__} of {a.dtype}")
        x = a.astype(np.float64)
    if x.dtype.type not in _FLOATS:
        raise ValueError(
            f"{name}: expected a float32 or float64 array of shape {shape}, got dtype {x.dtype}; "
            f"convert it with {name}.astype(np.float64)"
        )
    if x.ndim != rank:
        raise ValueError(f"{name}: expected shape {shape} (rank {rank}), got shape {x.shape} (rank {x.ndim})")
    return x


def _scalar(x, name):
    """x as a Python float, or a ValueError naming the argument."""
    if isinstance(x, (bool, np.bool_, str, bytes)) or isinstance(x, (complex, np.complexfloating)):
        raise ValueError(f"{name}: expected a real number, got {type(x).__name__}")
    if isinstance(x, np.ndarray):
        if x.ndim != 0:
            raise ValueError(f"{name}: expected a real number, got an array of shape {x.shape}")
        if x.dtype.kind not in "fiu":
            raise ValueError(f"{name}: expected a real number, got an array of dtype {x.dtype}")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a real number, got {type(x).__name__}") from None
    except OverflowError:
        raise ValueError(f"{name}: expected a real number, got an {type(x).__name__} beyond the float64 range") from None


def _size(name, x, axis, expected, dim, source, shape):
    if x.shape[axis] != expected:
        raise ValueError(
            f"{name}: expected shape {shape} with {dim} = {expected} (from {source}), got shape {x.shape}"
        )


def _positive(dim, value, source):
    if value < 1:
        raise ValueError(f"{source}: dimension {dim} must be at least 1, got {value}")


def _finite(**values):
    for name, v in values.items():
        # a sum is one pass with no temporary; only a non-finite sum (NaN, inf or an
        # overflow of finite values) needs the full elementwise scan
        if not np.isfinite(np.sum(v)) and not np.all(np.isfinite(v)):
            raise ValueError(f"{name}: contains NaN or inf; expected finite values")


def _outputs_finite(out):
    for o in out:
        s = o if type(o) is float else o.sum()  # s − s is 0 only for a finite s (no math import)
        if s - s != 0.0 and not np.all(np.isfinite(o)):
            return False
    return True


def _dtype(*arrays):
    for a in arrays:
        if a.dtype.type is np.float64:
            return np.float64
    return np.float32
'''

LABEL_CHECKS = '''
def _labels(x, name, rank, shape, high):
    """x as a contiguous int64 array of labels, or a ValueError naming the argument."""
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise ValueError(
            f"{name}: expected integer labels in 0 … {high} − 1 of shape {shape}, got dtype {a.dtype}; "
            f"convert them with {name}.astype(np.int64)"
        )
    if a.ndim != rank:
        raise ValueError(f"{name}: expected shape {shape} (rank {rank}), got shape {a.shape} (rank {a.ndim})")
    return np.ascontiguousarray(a, dtype=np.int64)


def _labels_range(x, name, high, dim):
    if x.size and (x.min() < 0 or x.max() >= high):
        bad = x.min() if x.min() < 0 else x.max()
        raise ValueError(f"{name}: label {bad} is out of range; expected 0 ≤ {name} < {dim} = {high}")
'''

ADD_PARTS = '''
def _add_parts(a, b, name):
    """a + b for results of one layout (numbers, arrays, tuples of them), checking shapes."""
    if isinstance(b, tuple):
        if not isinstance(a, tuple) or len(a) != len(b):
            raise ValueError(f"{name}: expected a tuple of {len(b)} parts, got {type(a).__name__}")
        return tuple(_add_parts(x, y, f"{name}[{i}]") for i, (x, y) in enumerate(zip(a, b)))
    if np.shape(a) != np.shape(b):
        raise ValueError(f"{name}: expected shape {np.shape(b)}, got {np.shape(a)}")
    return a + b
'''


def _arg_doc(t: Tensor) -> str:
    if isinstance(t, Labels):
        return f"integer array {fmt_shape(t.shape)} of labels in 0 … {t.high} − 1"
    return "array " + fmt_shape(t.shape) if t.ndim else "float"


def _dims_of(args: list[Tensor]):
    """The plain dimensions and where each is first bound: {Dim: (arg, axis)}."""
    bound = {}
    for t in args:
        for ax, s in enumerate(t.shape):
            if isinstance(s, Dim) and s not in bound:
                bound[s] = (t, ax)
    return bound


def kernel_source(spec: KernelSpec, parallel: bool | None = None, fuse: bool = True,
                  twins: dict | None = None) -> tuple[str, set[str]]:
    """The private njit kernel(s) and the public wrapper of one spec.

    ``parallel``: True or False for every loop; None (the default) gives a fused kernel a
    serial and a ``prange`` twin, chosen per call by the total input size. ``twins`` says,
    for kernels already emitted, whether they got a twin (a composed kernel follows its chunk).
    """
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

    def private(suffix: str, par: bool):
        body = (FusedKernelBody if fuse else KernelBody)(spec.args, spec.outputs, arg_names, dim_names, par)
        lines = body.build()
        k = []
        # NOTE(numba): fastmath "reassoc"/"contract" lets LLVM vectorise reductions and use FMA; it
        # does not assume away NaN or inf, so the stable primitives keep their guarantees.
        flags = ", parallel=True" if par else ""
        flags += ', fastmath={"reassoc", "contract"}' if fuse else ""
        k.append(f"@njit(cache=True{flags})")
        k.append(f"def _{spec.name}{suffix}({params}):")
        k.append("    # inputs: " + ", ".join(f"{t.name} {fmt_shape(t.shape)}" for t in spec.args))
        k.append(f"    # ops ≈ {sp.simplify(body.ops)}")
        k.append(f"    dt = {arg_names[floats[0].name]}.dtype" if floats else "    dt = np.float64")
        for d, (t, ax) in sorted(bound.items(), key=lambda kv: str(kv[0])):
            if d in dim_names:
                k.append(f"    {dim_names[d]} = {arg_names[t.name]}.shape[{ax}]")
        k += ["    " + ln for ln in lines]
        outs = [body.var[o.uid] for o in spec.outputs]
        k.append(f"    return {', '.join(outs)}{',' if len(outs) == 1 else ''}")
        return "\n".join(k), body

    serial = f"_{spec.name}"  # what the wrapper calls without threads
    if spec.compose is not None:
        c = spec.compose
        twin = (twins or {}).get(c.chunk) or False
        k_src = _composed(spec, arg_names, taken, twin)
        helpers = set()  # nothing of its own to emit
    else:
        serial_src, body = private("", bool(parallel))
        # a fused kernel also gets a prange twin: thread start-up costs more than it saves on
        # small inputs, so the wrapper picks by size (chunking depends only on n, so both agree)
        fused = getattr(body, "plan", None) is not None
        # a Gram product (O(n·d²)) dominates and BLAS threads it already; numba's threads, spinning
        # after their O(n·d) loop, took the cores from OpenBLAS's (16.7 vs 9.8 ms serial for a
        # logistic Hessian at n = 20 000, d = 100): such kernels get no twin and no blocks
        gram = "_syrk_gram" in serial_src
        twin = parallel is None and spec.twin and fused and not gram
        k_src = serial_src + ("\n\n\n" + private("_par", True)[0] if twin else "")
        helpers = body.helpers
        if parallel is None and spec.rows and not fused and not gram:
            # a whole-array body (matrix products on np.dot, per-row temporaries the size of the
            # rows): run it by blocks of rows, so its temporaries stay in cache, on every thread
            blas = "np.dot(" in serial_src
            k_src += "\n\n\n" + _blocked(spec, arg_names, dim_names, bound, blas)
            helpers = helpers | {"_acc_add"} | ({"_blas_threads"} if blas else set())
            twin, serial = "blocked", f"_{spec.name}_blk"
    if twins is not None:
        twins[spec.name] = twin

    w = []
    w.append(f"def {spec.name}({params}, *, check_finite=None{', parallel=None' if twin else ''}):")
    doc = spec.doc.strip() or spec.name
    w.append(textwrap.indent('"""' + doc + '\n\nArgs:\n' + "".join(
        f"    {t.name}: {_arg_doc(t)}\n" for t in spec.args
    ) + '    check_finite: True scans every argument for NaN or inf before the kernel runs; None (the\n'
      '        default) scans them only when an output is not finite, so a NaN or inf that reaches\n'
      '        the result is reported by name at no cost on finite data; False never scans.\n' + (
      '    parallel: True runs the row loop on all of numba\'s threads, False on this thread; None (the\n'
      '        default) uses threads from PARALLEL_MIN_SIZE numbers of input on.\n' if twin else '') + '"""', "    "))
    for t in spec.args:
        v = arg_names[t.name]
        if isinstance(t, Labels):
            w.append(f"    {v} = _labels({v}, {t.name!r}, {t.ndim}, {fmt_shape(t.shape)!r}, {str(t.high)!r})")
        elif t.ndim:
            w.append(f"    {v} = _array({v}, {t.name!r}, {t.ndim}, {fmt_shape(t.shape)!r})")
        else:
            w.append(f"    {v} = _scalar({v}, {t.name!r})")
    all_bound = {}
    # bind sizes from the largest arrays first: "w: expected (d,) with d = 3 (from X)" is the
    # message a user expects when X and w disagree
    def size_check(t, ax, s):
        expected = size_src(s, {**{d: dim_names.get(d, d.name) for d in all_bound}})
        src = ", ".join(sorted({all_bound[d].name for d in sp.sympify(s).free_symbols if d in all_bound})) or "its definition"
        w.append(f"    _size({t.name!r}, {arg_names[t.name]}, {ax}, {expected}, {str(s)!r}, {src!r}, {fmt_shape(t.shape)!r})")

    deferred = []
    for t in sorted(spec.args, key=lambda t: -t.ndim):
        for ax, s in enumerate(t.shape):
            v = arg_names[t.name]
            if isinstance(s, Dim) and s not in all_bound:
                all_bound[s] = t
                w.append(f"    {dim_names.get(s, safe_identifier(s.name))} = {v}.shape[{ax}]")
                w.append(f"    _positive({s.name!r}, {dim_names.get(s, s.name)}, {t.name!r})")
            elif not sp.sympify(s).free_symbols <= set(all_bound):
                deferred.append((t, ax, s))  # e.g. ⌊(H − kh + 1)/2⌋ before the argument that binds H
            else:
                size_check(t, ax, s)
    for t, ax, s in deferred:
        size_check(t, ax, s)
    for t in spec.args:  # numba does not check bounds: every label is checked before the kernel runs
        if isinstance(t, Labels):
            if not sp.sympify(t.high).free_symbols <= set(all_bound):
                raise ValueError(f"kernel {spec.name!r}: the bound {t.high} of labels {t.name} is not bound by any "
                                 "argument's shape")
            high = size_src(t.high, {d: dim_names.get(d, d.name) for d in all_bound})
            w.append(f"    _labels_range({arg_names[t.name]}, {t.name!r}, {high}, {str(t.high)!r})")
    if floats:
        arr_names = ", ".join(arg_names[t.name] for t in floats)
        w.append(f"    dt = _dtype({arr_names}{',' if len(floats) == 1 else ''})")
    # a keyword is read in NFKC form (ℌ= is H=): such names go in as strings, never as keywords
    plain = [t for t in spec.args if unicodedata.normalize("NFKC", t.name) == t.name]
    other = [t for t in spec.args if t not in plain]
    finite_call = "_finite(" + ", ".join([f"{t.name}={arg_names[t.name]}" for t in plain] + (
        ["**{" + ", ".join(f"{t.name!r}: {arg_names[t.name]}" for t in other) + "}"] if other else [])) + ")"
    w.append("    if check_finite:")
    w.append(f"        {finite_call}")
    call_args = ", ".join(
        f"np.ascontiguousarray({arg_names[t.name]})" if isinstance(t, Labels) else
        f"np.ascontiguousarray({arg_names[t.name]}, dtype=dt)" if t.ndim else arg_names[t.name] for t in spec.args
    )
    fn = serial
    if twin:
        total = " + ".join(f"{arg_names[t.name]}.size" for t in arrays)
        w.append(f"    if parallel is None:")
        w.append(f"        parallel = {total} >= PARALLEL_MIN_SIZE")
        w.append(f"    fn = _{spec.name}_par if parallel else {serial}")
        fn = "fn"
    w.append("    try:")
    w.append(f"        out = {fn}({call_args})")
    w.append("    except ZeroDivisionError:")
    w.append(f"        raise ValueError(\"{spec.name}: division by zero for these arguments (for example an "
             "empty class, or a zero variance)\") from None")
    # numba's linear algebra refuses NaN or inf itself ("Array must not contain infs or NaNs."):
    # under the lazy check, name the input that carried it before that message reaches a user
    w.append("    except ValueError:")
    w.append("        if check_finite is None:")
    w.append(f"            {finite_call}")
    w.append("        raise")
    w.append("    if check_finite is None and not _outputs_finite(out):")
    w.append(f"        {finite_call}  # name the non-finite input, if one caused it")
    w += ["    " + ln for ln in _returns(spec, dim_names, {d: dim_names.get(d, d.name) for d in all_bound})]
    if spec.compose is not None:
        w += ["", "", _finish_wrapper(spec)]
    return k_src + "\n\n\n" + "\n".join(w) + "\n", helpers


def _blocked(spec: KernelSpec, arg_names: dict, dim_names: dict, bound: dict, blas: bool) -> str:
    """``_K_blk`` and ``_K_par``: the chunk kernel ``_K`` summed over blocks of rows.

    A block holds about 32 768 numbers of the row arguments (16 to 1024 rows), so a body's
    per-row temporaries stay in cache; the blocks are split into one contiguous run per
    thread, each thread sums its own, and the runs are added in order.
    """
    params = ", ".join(arg_names[t.name] for t in spec.args)
    rows = [t for t in spec.args if t.name in spec.rows]
    lead = arg_names[rows[0].name]
    width = " + ".join(f"{arg_names[t.name]}.size // max(1, {arg_names[t.name]}.shape[0])" if t.ndim > 1 else "1"
                       for t in rows)
    sliced = ", ".join(f"{arg_names[t.name]}[lo_:hi_]" if t in rows else arg_names[t.name] for t in spec.args)
    arrays = [t for t in spec.args if t.ndim]
    used = set()
    for o in spec.outputs:
        for s in o.shape:
            used |= sp.sympify(s).free_symbols

    def driver(par: bool) -> list[str]:
        name = f"_{spec.name}_prange" if par else f"_{spec.name}_blk"
        k = [f"@njit(cache=True{', parallel=True' if par else ''})", f"def {name}({params}{', threads_' if par else ''}):",
             f"    # _{spec.name} summed over blocks of rows" + (", one run of blocks per thread" if par else "")]
        k.append(f"    dt = {arg_names[next(t for t in arrays if not isinstance(t, Labels)).name]}.dtype")
        for d, (t, ax) in sorted(bound.items(), key=lambda kv: str(kv[0])):
            if d in used and d in dim_names:
                k.append(f"    {dim_names[d]} = {arg_names[t.name]}.shape[{ax}]")
        k += [f"    n_ = {lead}.shape[0]",
              f"    b_ = max(16, min(1024, 32768 // ({width})))",
              "    nb_ = (n_ + b_ - 1) // b_",
              "    nt_ = max(1, min(nb_, threads_))" if par else "    nt_ = 1"]
        # one accumulator per thread; explicit adds (_acc_add), which compile in a fraction of
        # the time numba's array expressions take
        for j, o in enumerate(spec.outputs):
            shape = ", ".join(["nt_"] + [size_src(s, dim_names) for s in o.shape])
            k.append(f"    a{j}_ = np.zeros(({shape}{',' if not o.shape else ''}), dtype=dt)")
        k += [f"    for t_ in {'prange' if par else 'range'}(nt_):",
              "        for k_ in range(t_ * nb_ // nt_, (t_ + 1) * nb_ // nt_):",
              "            lo_ = k_ * b_",
              "            hi_ = min(n_, lo_ + b_)",
              f"            r_ = _{spec.name}({sliced})"]
        k += [f"            a{j}_[t_] += r_[{j}]" if not o.shape else f"            _acc_add(a{j}_[t_], r_[{j}])"
              for j, o in enumerate(spec.outputs)]
        k.append("    for t_ in range(1, nt_):  # the threads' sums, in order")
        k += [f"        a{j}_[0] += a{j}_[t_]" if not o.shape else f"        _acc_add(a{j}_[0], a{j}_[t_])"
              for j, o in enumerate(spec.outputs)]
        outs = [f"a{j}_[0]" if not o.shape else f"a{j}_[0].copy()" for j, o in enumerate(spec.outputs)]
        k.append(f"    return {', '.join(outs)}{',' if len(outs) == 1 else ''}")
        return k

    # plain Python: numba cannot cache a function that calls get_num_threads, and the BLAS gets
    # one thread per numba thread for the call
    src = driver(False) + ["", ""] + driver(True) + ["", "", f"def _{spec.name}_par({params}):"]
    if blas:
        src += ["    prev_ = _blas_threads(1)",
                "    try:",
                f"        return _{spec.name}_prange({params}, get_num_threads())",
                "    finally:",
                "        _blas_threads(prev_)"]
    else:
        src += [f"    return _{spec.name}_prange({params}, get_num_threads())"]
    return "\n".join(src)


def _composed(spec: KernelSpec, arg_names: dict, taken: set, twin) -> str:
    """A kernel over all rows as its chunk kernel plus its regulariser, sharing their code."""
    c = spec.compose
    serial_chunk = f"_{c.chunk}_blk" if twin == "blocked" else f"_{c.chunk}"
    nt = unique_identifier(c.n_total.name, taken)
    args = ", ".join(arg_names[t.name] for t in spec.args)
    chunk_args = ", ".join(nt if t is c.n_total else arg_names[t.name] for t in c.chunk_args)
    reg_args = ", ".join(nt if t is c.n_total else arg_names[t.name] for t in c.reg_args)
    rows = f"{arg_names[c.rows.name]}.shape[0]"
    if c.reg is None:  # no regulariser: the kernel is its chunk kernel over all rows
        call = ", ".join(f"float({rows})" if t is c.n_total else arg_names[t.name] for t in c.chunk_args)
        k = ["@njit(cache=True)", f"def _{spec.name}({args}):", f"    return {serial_chunk}({call})"]
        if twin:
            k += ["", "", f"def _{spec.name}_par({args}):", f"    return _{c.chunk}_par({call})"]
        return "\n".join(k)
    sums = [f"part_[{j}] + reg_[{j}]" if a else f"part_[{j}]" for j, a in enumerate(c.add)]
    k = ["@njit(cache=True)", f"def _{spec.name}_finish(part_, {reg_args}):",
         f"    # the partial sums of {c.chunk} over every row, plus the regulariser once"]
    if any(c.add):
        k.append(f"    reg_ = _{c.reg}({reg_args})")
    k.append(f"    return {', '.join(sums)}{',' if len(sums) == 1 else ''}")
    k += ["", "", "@njit(cache=True)", f"def _{spec.name}({args}):",
          f"    {nt} = float({rows})",
          f"    return _{spec.name}_finish({serial_chunk}({chunk_args}), {reg_args})"]
    if twin:
        # plain Python: a cached njit caller of a parallel kernel is what numba cannot reload safely
        k += ["", "", f"def _{spec.name}_par({args}):",
              f"    {nt} = float({rows})",
              f"    return _{spec.name}_finish(_{c.chunk}_par({chunk_args}), {reg_args})"]
    return "\n".join(k)


def _finish_wrapper(spec: KernelSpec) -> str:
    c = spec.compose
    names = [safe_identifier(t.name) for t in c.reg_args]
    partial = "partial_" if "partial" in names else "partial"
    names = ", ".join(names)
    if c.reg is None:
        return (f"def {spec.name}_finish({partial}, {names}):\n"
                f'    """{spec.name} over all rows from ``partial``, the sum of {c.chunk} over blocks of rows\n'
                f'    (this loss has no regulariser: nothing is added)."""\n'
                f"    return {partial}")
    return (f"def {spec.name}_finish({partial}, {names}):\n"
            f'    """{spec.name} over all rows from ``partial``, the sum of {c.chunk} over blocks of rows:\n'
            f'    adds the regulariser ({c.reg}) once. {c.n_total.name} is the number of rows in all blocks."""\n'
            f"    return _add_parts({partial}, {c.reg}({names}), {partial!r})")


def _returns(spec: KernelSpec, dim_names, wrapper_dims) -> list[str]:
    if spec.layout == "value":
        return ["return out[0]"]
    if spec.layout == "tuple":
        return ["return out"]
    if spec.layout == "pair":
        return ["return out[0], (out[1] if len(out) == 2 else out[1:])"]
    if spec.layout == "blocks":
        sizes = [size_src(sp.Mul(*p.shape) if p.shape else sp.Integer(1), wrapper_dims) for p in spec.block_params]
        m = len(sizes)
        rows = []
        for i in range(m):
            rows.append("[" + ", ".join(
                f"np.asarray(out[{i * m + j}]).reshape({sizes[i]}, {sizes[j]})" for j in range(m)) + "]")
        if m == 1:
            return [f"return np.asarray(out[0]).reshape({sizes[0]}, {sizes[0]})"]
        return ["return np.block([" + ", ".join(rows) + "])"]
    raise ValueError(f"unknown layout {spec.layout!r}")


def module_source(header: str, kernels: list[KernelSpec], parallel: bool | None = None, fuse: bool = True) -> str:
    """A complete module: header docstring, imports, checks, helpers, kernels, wrappers."""
    parts, helpers, twins = {}, set(), {}
    for spec in sorted(kernels, key=lambda k: k.compose is not None):  # chunk kernels before their users
        src, h = kernel_source(spec, parallel, fuse, twins)
        parts[spec.name] = src
        helpers |= h
    parts = [parts[k.name] for k in kernels]
    names = [n for k in kernels for n in ([k.name] + ([f"{k.name}_finish"] if k.compose else []))]
    out = ['"""' + header.strip() + '\n"""']
    out.append("import numpy as np\nfrom numba import get_num_threads, njit, prange")
    out.append("__all__ = [" + ", ".join(repr(n) for n in names) + "]")
    out.append("# Fused kernels run their row loop on all threads when the inputs hold at least this many\n"
               "# numbers (measured here: thread start-up costs ~60 µs, which pays off from about this size).\n"
               f"PARALLEL_MIN_SIZE = {PARALLEL_MIN_SIZE}")
    out.append(CHECKS.strip())
    if any(isinstance(t, Labels) for k in kernels for t in k.args):
        out.append(LABEL_CHECKS.strip())
    if any(k.compose is not None for k in kernels):
        out.append(ADD_PARTS.strip())
    for h in sorted(helpers):
        out.append(HELPERS[h].strip())
    out.extend(p.strip() for p in parts)
    return "\n\n\n".join(out) + "\n"


def flat_source(params: list[Tensor], rest: list[Tensor], kernels: list[str]) -> str:
    """scipy adapters over one flat vector θ = [vec(p₁); vec(p₂); …] (row-major), or "" when
    the data does not fix every parameter's size (then θ could not be split)."""
    bound = _dims_of(rest)
    need = {s for p in params for s in p.shape for s in sp.sympify(s).free_symbols}
    if not params or not need <= set(bound) or not {"loss", "grad"} <= set(kernels):
        return ""
    names = {t.name: safe_identifier(t.name) for t in params + rest}
    dn = {d: safe_identifier(d.name) + "_" for d in bound}
    rest_args = ", ".join(names[t.name] for t in rest)
    sizes = [size_src(sp.Mul(*p.shape) if p.shape else sp.Integer(1), dn) for p in params]
    total = " + ".join(sizes)
    layout = "; ".join(f"{p.name} {fmt_shape(p.shape)}" for p in params)
    u = [f"def _unpack(theta, {rest_args}, name='theta'):",
         f'    """Split θ into {", ".join(p.name for p in params)} (views, row-major)."""']
    for d, (t, ax) in sorted(bound.items(), key=lambda kv: str(kv[0])):
        if d in need:
            u.append(f"    {dn[d]} = np.shape({names[t.name]})[{ax}]")
    math_total = " + ".join(str(sp.Mul(*p.shape)) if p.shape else "1" for p in params)
    u.append(f"    theta = _array(theta, name, 1, '({math_total},)')")
    u.append(f"    if theta.shape[0] != {total}:")
    u.append(f"        raise ValueError(f\"{{name}}: expected length {math_total} = {{{total}}} ({layout}), "
             "got {theta.shape[0]}\")")
    u.append("    out, at = [], 0")
    for p, s in zip(params, sizes):
        if p.ndim:
            shape = "(" + ", ".join(size_src(x, dn) for x in p.shape) + ("," if p.ndim == 1 else "") + ")"
            u.append(f"    out.append(theta[at:at + {s}].reshape({shape}))")
        else:
            u.append("    out.append(float(theta[at]))")
        u.append(f"    at += {s}")
    u.append("    return out")
    doc = f"θ = [{'; '.join('vec(' + p.name + ')' if p.ndim > 1 else p.name for p in params)}]"
    fns = [
        "def _pack(parts):\n    return np.concatenate([np.ravel(np.asarray(g, dtype=np.float64)) for g in parts])",
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
    return "\n\n\n".join(fns) + "\n"


def seal(text: str) -> str:
    """``text`` (ending in a newline) with a last line SYMML_SOURCE_HASH = sha256 of everything before it."""
    return text + f"SYMML_SOURCE_HASH = {hashlib.sha256(text.encode('utf-8')).hexdigest()!r}\n"


def is_sealed(text: str) -> bool:
    """Whether ``text`` ends with the hash of what precedes it (not truncated, not edited)."""
    body, sep, tail = text.replace("\r\n", "\n").rpartition("\nSYMML_SOURCE_HASH = '")
    return bool(sep) and tail == hashlib.sha256((body + "\n").encode("utf-8")).hexdigest() + "'\n"
