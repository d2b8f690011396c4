"""``sm.compile``: ad-hoc kernels, written to a real .py file and cached on disk.

The cache key is a SHA-256 of the graph's structure (node kinds, parameters and
operand order), the codegen version and the SymPy, numba and numpy versions. A second
process that builds the same expression finds the module by its key, checks that the
file's recorded key matches and that its text matches the hash on its last line (a
truncated, edited or foreign file is regenerated, never loaded blindly), and imports it;
numba's own on-disk cache then skips compilation. No string is ever passed to exec or
eval: the module is imported by the normal import machinery.

Takes: graph nodes. Gives: a callable over numpy arrays.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import sympy as sp

from ..evaluate import BindError, _extra_tensor, declared_tensors, related_tensors, unknown_input
from ..nodes import DECLARED, Dim, Expr, Stage, Tensor, as_expr, fmt_shape, leaves, walk
from . import interim
from .module import CODEGEN_VERSION, is_sealed, module_parts, seal
from .plan import chunk_constants, plan_outputs
from .runtime import runtime_text

#: ``kernel.check()`` (verification is a later stage: symml.verify_user registers itself here)
VERIFY = Stage("symml.verify_user")


def cache_dir() -> Path:
    """The kernel cache: $SYMML_CACHE_DIR, else ~/.cache/symml/kernels."""
    root = os.environ.get("SYMML_CACHE_DIR")
    path = Path(root) if root else Path.home() / ".cache" / "symml" / "kernels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _codegen_digest() -> str:
    """A hash of codegen's own source: a change to how kernels are spelled invalidates the cache."""
    h = hashlib.sha256()
    for p in sorted(Path(__file__).parent.glob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()


_CODEGEN_DIGEST = _codegen_digest()


def graph_key(exprs: list[Expr], args) -> str:
    """A structural hash of the expressions (stable across processes)."""
    index: dict[int, int] = {}
    import numba  # imported here: deriving and printing never need numba

    h = hashlib.sha256()
    h.update(f"codegen={CODEGEN_VERSION}:{_CODEGEN_DIGEST};sympy={sp.__version__};numba={numba.__version__};"
             f"numpy={np.__version__}".encode())
    for node in walk(exprs):
        index[node.uid] = len(index)
        attrs = []
        for cls in type(node).__mro__:
            for a in getattr(cls, "__slots__", ()):
                if a not in ("shape", "operands", "uid", "__weakref__"):
                    v = getattr(node, a)
                    attrs.append(f"{a}={sp.srepr(v) if isinstance(v, sp.Basic) else repr(v)}")
        ops = ",".join(str(index[o.uid]) for o in node.operands)
        h.update(f"{type(node).__name__}|{node.shape}|{';'.join(attrs)}|{ops}\n".encode())
    h.update(("outputs:" + ",".join(str(index[e.uid]) for e in exprs)).encode())
    h.update(("args:" + ",".join(t.name for t in args)).encode())
    return h.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def drop_unreadable_numba_cache(path: Path) -> list[Path]:
    """Delete the numba cache files of the module at ``path`` that are not whole pickles.

    numba treats a missing cache file as a miss and recompiles, but raises UnpicklingError
    (or EOFError) at the first call for a truncated or garbled one. The pickles are walked
    opcode by opcode, never loaded: a data file names the kernel module, not imported yet.
    Returns what was deleted.
    """
    import pickletools

    dropped = []
    for f in sorted((path.parent / "__pycache__").glob(f"{path.stem}.*.nb[ic]")):
        try:
            with open(f, "rb") as fh:
                for _ in range(2 if f.suffix == ".nbi" else 1):  # an index is two pickles: version, entries
                    for _op in pickletools.genops(fh):
                        pass
        except FileNotFoundError:
            continue
        except Exception:  # a bad opcode or a truncated stream: not a file numba can read
            f.unlink(missing_ok=True)
            dropped.append(f)
    return dropped


def runtime_module() -> str:
    """The name of the cache's copy of the generated-code runtime, imported (written first if needed).

    Ad-hoc kernels live outside any package, so they cannot import generated/_runtime.py, and
    that file may be stale or absent (a checkout whose codegen changed, an install elsewhere).
    The cache holds its own copy, named by its hash: a kernel always runs with the runtime of
    the symml that wrote it, and copies of several versions live side by side.
    """
    text, digest = runtime_text(CODEGEN_VERSION)
    modname = f"symml_runtime_{digest[:16]}"
    if modname in sys.modules:
        return modname
    path = cache_dir() / f"{modname}.py"
    old = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    if old != text:  # missing, truncated or edited: written again, never imported as it is
        write_atomic(path, text)
    drop_unreadable_numba_cache(path)
    import_path(path, modname)
    return modname


def import_path(path: Path, modname: str):
    """Import a module from a file path (no exec of strings)."""
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- outputs as users write them


def _flatten_outputs(outputs):
    """(tree, [(path, expr)]): an expression, a tuple or list of them (``sm.grad(L, [w, b])``),
    or a dict name → any of these, nested to any depth."""
    flat: list[tuple[str, Expr]] = []

    def go(o, path):
        if isinstance(o, dict):
            if not o:
                raise ValueError(f"sm.compile: output {path or 'dict'} is an empty dict; expected at least one output")
            for k in o:
                if not isinstance(k, str) or not k.isidentifier():
                    raise ValueError(f"sm.compile: output name {k!r} must be an identifier such as 'grad'")
            return {k: go(v, f"{path}.{k}" if path else k) for k, v in o.items()}
        if isinstance(o, (tuple, list)):
            if not o:
                raise ValueError(f"sm.compile: output {path or 'tuple'} is empty; expected at least one expression")
            return [go(v, f"{path or 'out'}[{i}]") for i, v in enumerate(o)]
        if isinstance(o, bool) or not isinstance(o, (Expr, int, float, np.number)):
            raise TypeError(
                f"sm.compile: output {path or ''} is a {type(o).__name__}; expected a symml expression "
                "(such as sm.grad(L, w)), a tuple or list of them, or a dict name → expression"
            )
        flat.append((path or "out", as_expr(o)))
        return len(flat) - 1

    return go(outputs, ""), flat


def _rebuild(tree, values):
    if isinstance(tree, dict):
        return {k: _rebuild(v, values) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return tuple(_rebuild(v, values) for v in tree)  # as sm.evaluate: a list of outputs gives a tuple
    return values[tree]


def _graph_dims(exprs) -> list[Dim]:
    """Every dimension that the graph's shapes, sizes and coefficients mention."""
    found: set = set()
    for node in walk(exprs):
        vals = list(node.shape)
        for cls in type(node).__mro__:
            for a in getattr(cls, "__slots__", ()):
                if a not in ("shape", "operands", "uid", "__weakref__", "name"):
                    vals.append(getattr(node, a, None))
        stack = vals
        while stack:
            v = stack.pop()
            if isinstance(v, sp.Basic):
                found |= {x for x in v.free_symbols if isinstance(x, Dim)}
            elif isinstance(v, (tuple, list)):
                stack.extend(v)
            elif isinstance(v, dict):
                stack.extend(v.values())
    return sorted(found, key=str)


def _size_stand_in(dim) -> Tensor:
    """A (dim, 0) argument that carries a size no input binds: it holds no numbers. A kernel
    of constants, which reads nothing, gets a (1, 0) one, so that it has an argument."""
    name = f"_size_{dim.name}" if isinstance(dim, Dim) else "_size_none"
    return Tensor._make((name, (dim, sp.Integer(0))), (), (dim, sp.Integer(0)), name=name)


class CompiledKernel:
    """A compiled set of outputs; call it with arrays by name.

    ``kernel(**arrays)`` returns the outputs in the structure they were given to sm.compile
    (one array, a tuple, a dict, nested as given). Arrays of declared tensors that no
    output reads are accepted, so the dict that serves the loss serves its derivatives;
    they also bind sizes that no argument binds, as ``dims=`` does. Keywords:
    ``check_finite``, ``dims`` and ``parallel`` (as the catalog's wrappers take it).
    """

    def __init__(self, fn, tree, outputs, args, sizes, path, dims=None):
        self._fn = fn
        self._tree = tree
        self.outputs = outputs  # [(path, expr)], in the order of the flat kernel's results
        self.output_names = [p for p, _ in outputs]
        self.arg_tensors = list(args)
        self.args = [t.name for t in args]
        self.shapes = {t.name: fmt_shape(t.shape) for t in args}
        self.sizes = list(sizes)  # dims no argument binds, passed as (n, 0) stand-ins
        self.path = path
        self._dims = dict(dims or {})
        self._extra_ok: set[str] = set()
        self._chunks = None
        self._module = None  # the kernel's module (its chunk kernels live there too)
        self._plan = None  # the planner's Plan, when this process wrote the module
        self._stand_ins: list = []
        self._interim = None  # numpy's answers while numba compiles (symml.codegen.interim), when written now
        self.module_name = ""  # the name the module is imported under (set by compile)
        self.fn_name = getattr(fn, "__name__", "kernel")  # the public function of the module
        try:
            self._has_twin = "parallel" in inspect.signature(fn).parameters
        except (TypeError, ValueError):  # pragma: no cover - not a Python function
            self._has_twin = False
        self._related = related_tensors([e for _, e in outputs])

    def _size(self, dim, arrays, dims) -> int:
        if not isinstance(dim, Dim):
            return int(dim)
        for src in (dims or {}, self._dims):
            if dim.name in src or dim in src:
                v = src.get(dim.name, src.get(dim))
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                    raise BindError(f"dims: {dim} must be a positive int, got {v!r}")
                return int(v)
        for name, a in arrays.items():
            t = _extra_tensor(name, a, self._related)
            if t is not None and dim in t.shape and np.ndim(a) == t.ndim:
                return int(np.shape(a)[t.shape.index(dim)])
        holders = sorted({t.name for t in self._declared_with(dim)})[:3]
        raise BindError(
            f"kernel: size {dim} is not bound by any argument; pass dims={{{dim.name!r}: ...}}"
            + (f" or an array of {', '.join(holders)}" if holders else "")
        )

    @staticmethod
    def _declared_with(dim):
        return [t for ts in DECLARED.values() for t in ts if dim in t.shape]

    def _arguments(self, arrays, dims):
        for name in arrays:
            if name not in self.shapes and name not in self._extra_ok:
                if not declared_tensors(name):
                    raise BindError(unknown_input(name, self.args))
                self._extra_ok.add(name)
        missing = [a for a in self.args if a not in arrays]
        if missing:
            raise BindError(f"missing input {missing[0]!r}: expected an array of shape {self.shapes[missing[0]]}")
        vals = [arrays[a] for a in self.args]
        if self.sizes:
            f32 = [v for v in vals if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
            dt = np.float32 if f32 and all(v.dtype == np.float32 for v in f32) else np.float64
            vals += [np.empty((self._size(s, arrays, dims), 0), dtype=dt) for s in self.sizes]
        return vals

    def call_flat(self, check_finite: bool | None = None, dims: dict | None = None, parallel: bool | None = None,
                  **arrays) -> list:
        """The outputs as a flat list, in the order of ``self.outputs``.

        ``parallel``: True runs the row loops on all numba threads, False on this one, None
        picks by input size (as the catalog's wrappers do); a kernel without a threaded twin
        has one way to run and ignores it.
        """
        extra = {"parallel": parallel} if parallel is not None and self._has_twin else {}
        return list(self._fn(*self._arguments(arrays, dims), check_finite=check_finite, **extra))

    def __call__(self, check_finite: bool | None = None, dims: dict | None = None, parallel: bool | None = None, **arrays):
        return _rebuild(self._tree, self.call_flat(check_finite=check_finite, dims=dims, parallel=parallel, **arrays))

    def finish_compiling(self) -> None:
        """Wait until numba has compiled this kernel, if a first call left it compiling: every
        call after it runs numba's kernel (before, calls may be answered with numpy)."""
        if self._interim is not None:
            self._interim.wait()

    def chunks(self):
        """The chunk forms, from the kernel's own module (see :mod:`symml.codegen.chunks`): the
        kernel over one block of rows and the regulariser's; NotDecomposable, saying why, if
        the outputs are not a loss that sums over rows and derivatives of it."""
        if self._chunks is None:
            from .chunks import chunk_forms

            self._chunks = chunk_forms(self)
        return self._chunks

    def check(self, *, points: int = 3, scales=(0.3, 1.0, 3.0), seed: int = 0, dtype=np.float64,
              sizes: dict | None = None, domains: dict | None = None, inputs: dict | None = None, **arrays):
        """Verify the kernel: every output against ``sm.evaluate``, every derivative among
        them against central differences of what it differentiates (see ``sm.check``).
        Inputs not given are drawn at small random sizes. Returns a CheckReport (``.passed``)."""
        return VERIFY.check_kernel(self, {**(inputs or {}), **arrays}, points=points, scales=scales, seed=seed,
                            dtype=dtype, sizes=sizes, domains=domains)

    def __repr__(self):
        return f"<symml kernel ({', '.join(self.args)}) -> {', '.join(self.output_names)}; {self.path.name}>"


class VerificationError(ValueError):
    """``sm.compile(..., check=True)`` found a derivative that disagrees with finite differences."""


_RESERVED = ("check_finite", "parallel", "dims")


def compile(outputs, *, parallel: bool | None = None, fuse: bool = True, dims: dict | None = None,  # noqa: A001
            check: bool = False, numpy_first: bool | None = None) -> CompiledKernel:
    """Compile expressions into one fused numba kernel, cached on disk.

    Args:
        outputs: an expression; a tuple or list of them (``sm.grad(L, [w, b])``); or a dict
            name → any of these, nested to any depth. The kernel returns the same structure,
            with tuples for tuples and lists (as ``sm.evaluate`` does).
        parallel: True or False for every loop; None picks threads by input size.
        fuse: fuse per-sample work into one loop over the rows.
        dims: default sizes, e.g. ``{"n": 1000}``, of dimensions that no argument binds (a
            Hessian that depends on n only through a sum of ones); a call may pass its own
            ``dims=`` or an array of any declared tensor that has that dimension.
        check: verify the kernel at once (``kernel.check()`` at small random sizes) and
            raise VerificationError if any output disagrees with finite differences.
        numpy_first: a kernel written by this call answers the calls made while numba
            compiles it with ``sm.evaluate`` (numpy), so its first result does not wait for
            the compile (see :mod:`symml.codegen.interim`); False makes the first call wait.
            None (default): True unless the environment sets SYMML_NUMPY_FIRST=0.

    Returns:
        A CompiledKernel: ``kernel(**arrays)`` with one array per input tensor, by name.

    >>> import numpy as np, symml as sm
    >>> d = sm.dims("d")
    >>> w = sm.tensor("w", (d,))
    >>> k = sm.compile({"f": sm.norm2(w), "g": sm.grad(sm.norm2(w), w)})
    >>> k(w=np.array([3.0, 4.0]))["f"]
    25.0
    """
    tree, flat = _flatten_outputs(outputs)
    exprs = [e for _, e in flat]
    args = []
    for e in exprs:
        for t in leaves(e):
            if t not in args:
                args.append(t)
    for word in _RESERVED:
        if any(t.name == word for t in args):
            raise ValueError(f"tensor name {word!r} is taken by the compiled kernel's keyword of that name; rename it")
    bound = {s for t in args for s in t.shape if isinstance(s, Dim)}
    sizes = [s for s in _graph_dims(exprs) if s not in bound]
    if not args and not sizes:
        sizes = [sp.Integer(1)]
    for k, v in (dims or {}).items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"sm.compile: dims[{k!r}] must be a positive int, got {v!r}")
    stand_ins = [_size_stand_in(s) for s in sizes]
    key = graph_key(exprs, args + stand_ins) + {None: "a", True: "p", False: "s"}[parallel] + ("f" if fuse else "")
    path = cache_dir() / f"k_{key[:24]}{key[64:]}.py"
    stamp = f"SYMML_KEY = {key!r}"
    old = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    # the key says which kernel the file is for, the seal that its text is the one written for it:
    # a truncated, edited or foreign entry is written again, never imported
    runtime = runtime_module()  # before the kernel module, which imports it by this name
    plan = None
    if not (stamp in old and is_sealed(old)):
        # the catalog's planner: a loss summed over rows gets chunk forms, blocks, threads, BLAS
        plan = plan_outputs("kernel", args, exprs, "tuple", "Ad-hoc kernel compiled by sm.compile.", stand_ins)
        header = f"Ad-hoc symml kernel (sm.compile), cached under its key.\n\nOutputs: {', '.join(p for p, _ in flat)}"
        m = module_parts(header, plan.specs, parallel=parallel, fuse=fuse, runtime=runtime)
        m.constants.insert(0, chunk_constants(plan.split, plan.chunked, plan.refusal))
        write_atomic(path, seal(m.render() + f"\n\n{stamp}\n"))
    drop_unreadable_numba_cache(path)
    modname = f"symml_kernel_{key[:24]}"
    module = import_path(path, modname)
    if getattr(module, "SYMML_KEY", None) != key:  # pragma: no cover - a foreign file raced us
        raise RuntimeError(f"kernel cache entry {path} does not match its key; delete it and retry")
    kernel = CompiledKernel(module.kernel, tree, flat, args, sizes, path, dims)
    kernel._module, kernel._plan, kernel._stand_ins, kernel.module_name = module, plan, stand_ins, modname
    if plan is not None and interim.enabled(numpy_first):  # written now: numba has compiled none of it
        rt = sys.modules[runtime]
        key = (modname, kernel.fn_name)
        kernel._interim = rt._INTERIM[key] = interim.NumpyFirst(rt._INTERIM, key, rt._run, exprs, stand_ins)
    if check:
        report = kernel.check()
        if not report.passed:
            raise VerificationError(f"sm.compile(check=True): the kernel disagrees with finite differences\n{report}")
    return kernel
