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
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import sympy as sp

from ..nodes import Expr, as_expr, fmt_shape, leaves, walk
from .module import CODEGEN_VERSION, KernelSpec, is_sealed, module_source, seal
from .runtime import runtime_text


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


class CompiledKernel:
    """A compiled set of outputs; call it with arrays by name."""

    def __init__(self, fn, names, single, args, path):
        self._fn = fn
        self.output_names = names
        self._single = single
        self.args = [t.name for t in args]
        self.shapes = {t.name: fmt_shape(t.shape) for t in args}
        self.path = path

    def __call__(self, check_finite: bool = True, **arrays):
        unknown = sorted(set(arrays) - set(self.args))
        if unknown:
            raise ValueError(f"unknown input {unknown[0]!r}: expected {', '.join(self.args)}")
        missing = [a for a in self.args if a not in arrays]
        if missing:
            raise ValueError(f"missing input {missing[0]!r}: expected an array of shape {self.shapes[missing[0]]}")
        out = self._fn(*[arrays[a] for a in self.args], check_finite=check_finite)
        if self._single:
            return out[0]
        return dict(zip(self.output_names, out))

    def __repr__(self):
        return f"<symml kernel ({', '.join(self.args)}) -> {', '.join(self.output_names)}; {self.path.name}>"


def compile(outputs, *, parallel: bool | None = None, fuse: bool = True) -> CompiledKernel:  # noqa: A001 - the verb users expect
    """Compile one expression or a dict name → expression into one fused numba kernel.

    >>> import numpy as np, symml as sm
    >>> d, = sm.dims("d")
    >>> w = sm.tensor("w", (d,))
    >>> k = sm.compile({"f": sm.norm2(w), "g": sm.grad(sm.norm2(w), w)})
    >>> k(w=np.array([3.0, 4.0]))["f"]
    25.0
    """
    single = not isinstance(outputs, dict)
    named = {"out": outputs} if single else dict(outputs)
    if not named:
        raise ValueError("sm.compile needs at least one output")
    for k in named:
        if not isinstance(k, str) or not k.isidentifier():
            raise ValueError(f"output name {k!r} must be an identifier")
    exprs = [as_expr(e) for e in named.values()]
    args = []
    for e in exprs:
        for t in leaves(e):
            if t not in args:
                args.append(t)
    for word in ("check_finite", "parallel"):
        if any(t.name == word for t in args):
            raise ValueError(f"tensor name {word!r} is taken by the compiled kernel's keyword of that name; rename it")
    key = graph_key(exprs, args) + {None: "a", True: "p", False: "s"}[parallel] + ("f" if fuse else "")
    path = cache_dir() / f"k_{key[:24]}{key[64:]}.py"
    stamp = f"SYMML_KEY = {key!r}"
    old = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    # the key says which kernel the file is for, the seal that its text is the one written for it:
    # a truncated, edited or foreign entry is written again, never imported
    runtime = runtime_module()  # before the kernel module, which imports it by this name
    if not (stamp in old and is_sealed(old)):
        spec = KernelSpec("kernel", args, exprs, doc="Ad-hoc kernel compiled by sm.compile.", layout="tuple")
        header = f"Ad-hoc symml kernel (sm.compile), cached under its key.\n\nOutputs: {', '.join(named)}"
        src = seal(module_source(header, [spec], parallel=parallel, fuse=fuse, runtime=runtime) + f"\n\n{stamp}\n")
        write_atomic(path, src)
    drop_unreadable_numba_cache(path)
    module = import_path(path, f"symml_kernel_{key[:24]}")
    if getattr(module, "SYMML_KEY", None) != key:  # pragma: no cover - a foreign file raced us
        raise RuntimeError(f"kernel cache entry {path} does not match its key; delete it and retry")
    return CompiledKernel(module.kernel, list(named), single, args, path)
