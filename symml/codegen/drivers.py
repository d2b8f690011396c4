"""The drivers of a kernel that sums over rows: how its chunk kernel runs over all of them.

- ``blocked_driver``: a whole-array body (products on BLAS) run by blocks of rows that fit in
  cache, one run of blocks per thread, their sums added in order;
- ``composed_kernel``: the kernel over all rows as its chunk kernel plus its regulariser (or the
  chunk kernel alone, where there is none): an njit form for jitted callers, and the Python form
  ``_K_rows`` (and ``_K_par``, with the chunk kernel's twin) that the wrapper calls;
- ``finish_wrapper``: a chunk kernel's partial sums over blocks, plus the regulariser.

Takes: a KernelSpec (``spec``: :mod:`.module` defines it, and imports this) with its
identifiers. Gives: Python source, read by :mod:`.module`.
"""
from __future__ import annotations

import sympy as sp

from ..decompose import per_row_outputs
from ..structured_index import Labels
from .emit import size_src, unique_identifier


def blocked_driver(spec, arg_names: dict, dim_names: dict, bound: dict, blas: bool, gram: bool = False) -> str:
    """``_K_blk`` and ``_K_par``: the chunk kernel ``_K`` summed over blocks of rows.

    A block holds about 32 768 numbers of the row arguments (16 to 1024 rows), so a body's
    per-row temporaries stay in cache; the blocks are split into one contiguous run per
    thread, each thread sums its own, and the runs are added in order. ``_K_blk`` is one
    function: serially it runs one run of all blocks; its twin ``_K_blk_par`` gets the
    number of threads.
    """
    params = ", ".join(arg_names[t.name] for t in spec.args)
    rows = [t for t in spec.args if t.name in spec.rows]
    lead = arg_names[rows[0].name]
    width = " + ".join(f"{arg_names[t.name]}.size // max(1, {arg_names[t.name]}.shape[0])" if t.ndim > 1 else "1"
                       for t in rows)
    sliced = ", ".join(f"{arg_names[t.name]}[lo_:hi_]" if t in rows else arg_names[t.name] for t in spec.args)
    arrays = [t for t in spec.args if t.ndim]
    # a per-row output (the gradient of a row factor) is not a sum: each block writes its own
    # rows of it
    at = per_row_outputs(spec.outputs, rows[0].shape[0])
    per_row = [j in at for j in range(len(spec.outputs))]
    used = set()
    for o, r in zip(spec.outputs, per_row):
        for s in o.shape[1:] if r else o.shape:
            used |= sp.sympify(s).free_symbols

    k = ["@njit(cache=True)", f"def _{spec.name}_blk({params}, threads_=1):",
         f"    # _{spec.name} summed over blocks of rows, one run of blocks per thread (threads_ > 1: the twin)",
         f"    dt = {arg_names[next(t for t in arrays if not isinstance(t, Labels)).name]}.dtype"]
    for d, (t, ax) in sorted(bound.items(), key=lambda kv: str(kv[0])):
        if d in used and d in dim_names:
            k.append(f"    {dim_names[d]} = {arg_names[t.name]}.shape[{ax}]")
    # a per-row output is a factorisation's: each block reads the other factor whole, in two
    # products and the sum of its gradient, so blocks have 256 rows where 4 MB of rows allow it
    # (2000 × 1000, rank 10: 3.8 ms against 5.3 at 16 rows and 4.7 unblocked, one thread); so
    # does a block's Gram product (its syrk, and the d × d sum of the blocks)
    wide = any(per_row) or gram
    size = "max(32768 // w_, min(256, 524288 // w_))" if wide else f"32768 // ({width})"
    k += [f"    n_ = {lead}.shape[0]"] + ([f"    w_ = {width}"] if wide else []) + [
          f"    b_ = max(16, min(1024, {size}))",
          "    nb_ = (n_ + b_ - 1) // b_",
          "    nt_ = max(1, min(nb_, threads_))"]
    # one accumulator per thread; explicit adds (_acc_add), which compile in a fraction of
    # the time numba's array expressions take
    for j, o in enumerate(spec.outputs):
        if per_row[j]:
            shape = ", ".join(["n_"] + [size_src(s, dim_names) for s in o.shape[1:]])
            k.append(f"    a{j}_ = np.empty(({shape}{',' if o.ndim == 1 else ''}), dtype=dt)")
            continue
        shape = ", ".join(["nt_"] + [size_src(s, dim_names) for s in o.shape])
        k.append(f"    a{j}_ = np.zeros(({shape}{',' if not o.shape else ''}), dtype=dt)")
    k += ["    for t_ in prange(nt_):",
          "        for k_ in range(t_ * nb_ // nt_, (t_ + 1) * nb_ // nt_):",
          "            lo_ = k_ * b_",
          "            hi_ = min(n_, lo_ + b_)",
          f"            r_ = _{spec.name}({sliced})"]
    k += [f"            a{j}_[lo_:hi_] = r_[{j}]" if per_row[j] else f"            a{j}_[t_] += r_[{j}]"
          if not o.shape else f"            _acc_add(a{j}_[t_], r_[{j}])" for j, o in enumerate(spec.outputs)]
    if not all(per_row):
        k.append("    for t_ in range(1, nt_):  # the threads' sums, in order")
    k += [f"        a{j}_[0] += a{j}_[t_]" if not o.shape else f"        _acc_add(a{j}_[0], a{j}_[t_])"
          for j, o in enumerate(spec.outputs) if not per_row[j]]
    outs = [f"a{j}_" if per_row[j] else f"a{j}_[0]" if not o.shape else f"a{j}_[0].copy()"
            for j, o in enumerate(spec.outputs)]
    k.append(f"    return {', '.join(outs)}{',' if len(outs) == 1 else ''}")
    k += ["", f"_{spec.name}_blk_par = _parallel(_{spec.name}_blk)"]

    # plain Python: numba cannot cache a function that calls get_num_threads, and the BLAS gets
    # one thread per numba thread for the call
    k += ["", f"def _{spec.name}_par({params}):"]
    if blas:
        k += ["    prev_ = _blas_threads(1)",
              "    try:",
              f"        return _{spec.name}_blk_par({params}, get_num_threads())",
              "    finally:",
              "        _blas_threads(prev_)"]
    else:
        k += [f"    return _{spec.name}_blk_par({params}, get_num_threads())"]
    return "\n".join(k)


def composed_kernel(spec, arg_names: dict, taken: set, twin) -> str:
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
        k = ["@njit(cache=True)", f"def _{spec.name}({args}):", f"    return {serial_chunk}({call})", "",
             # the wrapper calls the chunk kernel itself (compiling the njit caller, for jitted callers
             # only, optimises the chunk kernel again: 0.7 of the MLP's 4.3 s cold first call)
             f"def _{spec.name}_rows({args}):", f"    return {serial_chunk}({call})"]
        if twin:
            k += ["", f"def _{spec.name}_par({args}):", f"    return _{c.chunk}_par({call})"]
        return "\n".join(k)
    # a Hessian block of matrix parameters is rank 4: its sum as an array expression took numba ~8 s
    # of CPU to compile (the softmax module's cold compile was 42 s); _plus is one loop
    sums = [(f"_plus(part_[{j}], reg_[{j}])" if len(o.shape) > 1 else f"part_[{j}] + reg_[{j}]") if a
            else f"part_[{j}]" for j, (a, o) in enumerate(zip(c.add, spec.outputs))]
    ret = f"    return {', '.join(sums)}{',' if len(sums) == 1 else ''}"

    def kernel(chunk: str) -> list[str]:
        k = [f"    {nt} = float({rows})"]
        if any(c.add):
            k.append(f"    part_, reg_ = {chunk}({chunk_args}), _{c.reg}({reg_args})")
        else:
            k.append(f"    part_ = {chunk}({chunk_args})")
        return k + [ret]

    k = ["@njit(cache=True)", f"def _{spec.name}({args}):",
         f"    # {c.chunk} over every row, plus the regulariser once"] + kernel(serial_chunk)
    # what the wrapper calls: the same code run by Python, so that the chunk kernel is not compiled a
    # second time inside an njit caller, it holds the argument types the twins are compiled for (a
    # cached njit caller loads without them), and the twin's form is the same code with the chunk
    # kernel's twin (a cached njit caller of a parallel kernel is what numba cannot reload safely)
    k += ["", f"def _{spec.name}_rows({args}):"] + kernel(serial_chunk)
    if twin:
        k += ["", f"def _{spec.name}_par({args}):"] + kernel(f"_{c.chunk}_par")
    return "\n".join(k)


def finish_wrapper(spec) -> str:
    c = spec.compose
    taken: set[str] = {"partial"}
    names = [unique_identifier(t.name, taken) for t in c.reg_args]  # ℌ and H are two arguments
    partial = "partial"
    names = ", ".join(names)
    if c.reg is None:
        return (f"def {spec.name}_finish({partial}, {names}):\n"
                f'    """{spec.name} over all rows from ``partial``, the sum of {c.chunk} over blocks of rows\n'
                f'    (this loss has no regulariser: nothing is added)."""\n'
                f"    return {partial}")
    return (f"def {spec.name}_finish({partial}, {names}):\n"
            f'    """{spec.name} over all rows: ``partial`` (the sum of {c.chunk} over blocks of rows) plus {c.reg}."""\n'
            f"    return _add_parts({partial}, {c.reg}({names}), {partial!r})")
