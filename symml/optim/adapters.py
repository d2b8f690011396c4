"""Flat-vector adapters over a derivation's kernels, written as a real module and cached.

Every optimizer in :mod:`symml.optim` works on one flat vector θ (p,), laid out by
:class:`symml.layout.FlatLayout` (the layout of the generated modules' scipy adapters too:
θ = [vec(w); b]). This module writes, per derivation, a small module of ``@njit(cache=True)``
functions that unpack θ with the layout's int64 array (``FlatLayout.array``), slice the
data's rows, call the derivation's private ``_value_and_grad`` kernel and write the gradient
back flat; the first-order loops of :mod:`symml.optim.loops` follow in the same file, so
that numba compiles each loop against this derivation's adapters and caches the result on
disk (see the NOTE there).

The file goes to ``<symml kernel cache>/optim/`` under a name keyed by a SHA-256 of its
text (which records a SHA-256 of the kernel module's file), and is imported by the import
machinery; a second process finds it and numba's cache skips compilation, as for
``sm.compile``. A derivation outside generated/ (built in a notebook) gets its kernel
module's text in the same file.

NOTE(numba): the adapters call the serial kernels only, never the ``_par`` twins: a cached
function that calls a parallel one segfaults when it is loaded from the cache (numba issue
#8578; reproduced here with numba 0.68.1). Full-data evaluations outside the loops go
through the public wrappers, which pick the twin by size.

Takes: a Derivation and its kernel module. Gives: the module of jitted adapters and loops.
"""
from __future__ import annotations

import ast
import hashlib
import sys
from pathlib import Path

from ..codegen import cache_dir, module_parts, write_atomic
from ..codegen.jit import import_path, runtime_module
from ..decompose import sample_rows
from ..layout import FlatLayout
from ..spec import Derivation

ADAPTER_VERSION = "1"
LOOPS = Path(__file__).with_name("loops.py")


def _unpack_lines(layout: FlatLayout, vector: str, prefix: str) -> list[str]:
    """Lines that bind prefix0, prefix1, ... to views of the flat vector (θ or a direction),
    read through the int64 ``layout`` array (:meth:`FlatLayout.array`: offsets, then shapes)."""
    lines, at = [], len(layout.names) + 1
    for i, rank in enumerate(layout.ranks):
        view = f"{vector}[layout[{i}]:layout[{i + 1}]]"
        if rank == 0:
            lines.append(f"    {prefix}{i} = {vector}[layout[{i}]]")
        elif rank == 1:
            lines.append(f"    {prefix}{i} = {view}")
        else:
            shape = ", ".join(f"layout[{at + k}]" for k in range(rank))
            lines.append(f"    {prefix}{i} = {view}.reshape(({shape}))")
        at += rank
    return lines


def row_sliced(d: Derivation) -> list[bool]:
    """Which data tensors are split into rows: those that carry the sample axis
    (:func:`symml.decompose.sample_rows`; none where the parameters carry it, as a dual's do)."""
    rows = {t.uid for t in sample_rows(d.data, d.params + d.hyper)}
    return [t.uid in rows for t in d.data]


def _data_lines(d: Derivation, rows: str) -> list[str]:
    return [f"    d{j} = data[{j}]{rows if sliced else ''}" for j, sliced in enumerate(row_sliced(d))]


def _writes(layout: FlatLayout, target: str, first: int) -> list[str]:
    """Write kernel outputs out[first], out[first + 1], ... flat into target."""
    lines = []
    for i, rank in enumerate(layout.ranks):
        k = first + i
        if rank == 0:
            lines.append(f"    {target}[layout[{i}]] = out[{k}]")
        elif rank == 1:
            lines.append(f"    {target}[layout[{i}]:layout[{i + 1}]] = out[{k}]")
        else:
            lines.append(f"    {target}[layout[{i}]:layout[{i + 1}]] = out[{k}].ravel()")
    return lines


def adapter_source(d: Derivation, imports: str) -> str:
    """The adapters _vg and _take for derivation d (see symml/optim/loops.py for their contract)."""
    P = len(d.params)
    args = ", ".join([f"p{i}" for i in range(P)] + [f"d{j}" for j in range(len(d.data))]
                     + [f"hyper[{k}]" for k in range(len(d.hyper))])
    lines = [imports, "", ""]
    lines += ["@njit(cache=True)", "def _vg(theta, lo, hi, g, data, hyper, layout):",
              '    """L of the rows lo:hi and its gradient, written flat into g."""']
    layout = FlatLayout.of(d.params)
    lines += _unpack_lines(layout, "theta", "p") + _data_lines(d, "[lo:hi]")
    lines += [f"    out = _k_value_and_grad({args})"] + _writes(layout, "g", 1) + ["    return out[0]", "", ""]
    taken = [f"data[{j}][perm]" if s else f"data[{j}]" for j, s in enumerate(row_sliced(d))]
    lines += ["@njit(cache=True)", "def _take(data, perm):", '    """The data with their rows permuted (a copy)."""',
              "    return (" + "".join(t + ", " for t in taken) + ")" if taken else "    return data", ""]
    return "\n".join(lines)


def _imports(source: str) -> str:
    """Import lines (catalog module) or an alias line (kernels in this same file)."""
    out = ["import numpy as np", "from numba import njit"]
    out.append(f"from {source} import _value_and_grad as _k_value_and_grad" if source
               else "_k_value_and_grad = _value_and_grad")
    return "\n".join(out)


def _after_docstring(source: str) -> str:
    """A module's source from the line after its docstring on."""
    tree = ast.parse(source)
    first = tree.body[0]
    start = first.end_lineno if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) else 0
    return "".join(source.splitlines(keepends=True)[start:])


def build(d: Derivation, module=None):
    """Write (once) and import the adapter-and-loops module of derivation d.

    ``module`` is its generated kernel module; None for an ad-hoc derivation, whose kernel
    module text then opens the file (public wrappers included).
    """
    # an ad-hoc derivation's kernels, without their docstring, and with the cache's runtime
    kernels = "" if module is not None else module_parts(
        f"{d.name}: kernels of an ad-hoc derivation", d.kernel_specs(), runtime=runtime_module()).body()
    if "value_and_grad" not in d.kernels or "loss" not in d.kernels:
        raise ValueError(f"{d.name}: optimizers need the kernels loss and value_and_grad; "
                         f"this derivation emits {', '.join(d.kernels)}")
    source = f"generated.{d.name}" if module is not None else ""
    # NOTE(numba): numba's cache of a caller is not invalidated when a callee in another file
    # changes, so the kernel module's own bytes are part of this file (and so of its name)
    digest = hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest() if module is not None else "included"
    head = [f'"""symml.optim adapters and loops for {d.name} (generated; do not edit).',
            "",
            f"Kernels: {source or 'included below'} (sha256 of the kernel module: {digest}); "
            f"adapter version {ADAPTER_VERSION}.",
            '"""']
    text = "\n".join(head) + "\n" + kernels
    text += "\n\n" + adapter_source(d, _imports(source))
    loops = LOOPS.read_text(encoding="utf-8")
    text += "\n\n# ---- the loops, from symml/optim/loops.py\n" + _after_docstring(loops)
    key = hashlib.sha256(text.encode()).hexdigest()[:20]
    modname = f"symml_optim_{d.name}_{key}"
    if modname in sys.modules:
        return sys.modules[modname]
    folder = cache_dir() / "optim"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{modname}.py"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text)
    return import_path(path, modname)
