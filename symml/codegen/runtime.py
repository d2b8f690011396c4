"""The runtime every generated kernel module imports: generated/_runtime.py.

A generated module holds only its own kernels. What every module needs is written once,
here, and ``symml generate`` writes it (sealed, checked by ``generate --check`` like the
others) as generated/_runtime.py; it imports only numpy, numba and the standard library:

- the integrity checks: a module whose text does not match the hash on its last line refuses
  to import; one whose derivation changed since warns; one generated against another runtime
  refuses too (its kernels were compiled against that runtime's helpers): ``_check_module``;
- the argument checks of the wrappers (``_array``, ``_scalar``, ``_size``, ...) and ``_run``,
  which converts the checked arguments, picks the serial or the threaded kernel by size,
  and names a non-finite input when an output is not finite;
- ``_parallel``: the threaded twin of a kernel, compiled from the same Python function (on the
  first call that would run it, in a thread behind a serial call: ``_twins_ready``), and
  ``_threads_now``, how many threads a call may have: the cores that other processes leave idle;
- the BLAS helpers of :mod:`symml.codegen.blas` (Gram products on syrk, BLAS threads).

An ad-hoc kernel of ``sm.compile`` lives in the kernel cache, outside any package: the cache
gets its own copy of this text, named by its hash (see :func:`symml.codegen.jit.runtime_module`),
so that a kernel always runs with the runtime of the symml that wrote it.

``finish_compiling()`` waits for the twins that every loaded runtime is compiling.

Takes: nothing. Gives: the runtime's text and its hash, and which names it defines.
"""
from __future__ import annotations

import hashlib

from .blas import BLAS_THREAD_HELPERS, GRAM_HELPERS
from .scalar import HELPERS

#: The module name of the runtime inside generated/.
RUNTIME_NAME = "_runtime"

INTEGRITY = '''
def _verify_source(path):
    """ImportError if this file's text does not match SYMML_SOURCE_HASH on its last line."""
    import hashlib
    import os

    if not (isinstance(path, str) and path.endswith(".py") and os.path.exists(path)):
        return  # run from bytecode or an archive: there is no text to compare
    with open(path, "rb") as f:
        text = f.read().replace(b"\\r\\n", b"\\n")
    body, sep, seal = text.rpartition(b"\\nSYMML_SOURCE_HASH = '")
    if not sep or hashlib.sha256(body + b"\\n").hexdigest().encode() + b"'\\n" != seal:  # nothing after it
        raise ImportError(f"{path} is truncated or was edited after generation (its text does not match the "
                          f"hash on its last line); regenerate it with `{_command(path)}`")


def _command(path):
    import os

    name = os.path.splitext(os.path.basename(path))[0]
    return "symml generate" if name.startswith("_") else f"symml generate {name}"


def _check_module(path, expected):
    """ImportError if the module at path is not the text symml wrote, or was generated against
    another version of this runtime (expected: the hash of the runtime it was generated with)."""
    _verify_source(path)
    if SYMML_SOURCE_HASH != expected:
        raise ImportError(f"{path} was generated against another symml runtime than {__file__}; "
                          f"regenerate it with `{_command(path)}`")


def _warn_if_stale(path, derivation, digest):
    """A warning if the derivation this module was generated from has changed since."""
    import hashlib
    import os
    import warnings

    source = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(path))), derivation)
    if os.path.exists(source):
        with open(source, "rb") as f:
            if hashlib.sha256(f.read().replace(b"\\r\\n", b"\\n")).hexdigest() != digest:
                warnings.warn(f"{path} is stale: {derivation} changed after it was generated; "
                              f"regenerate it with `{_command(path)}`", stacklevel=2)


_verify_source(__file__)
'''

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
    """value, the size of dimension dim read from source, if it is at least 1."""
    if value < 1:
        raise ValueError(f"{source}: dimension {dim} must be at least 1, got {value}")
    return value


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


_c = np.ascontiguousarray  # the arrays a kernel takes: C-contiguous, of one dtype


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
    # numba does not check bounds: a label out of range is refused before any kernel reads it
    if x.size and (x.min() < 0 or x.max() >= high):
        bad = x.min() if x.min() < 0 else x.max()
        raise ValueError(f"{name}: label {bad} is out of range; expected 0 ≤ {name} < {dim} = {high}")
'''

CALLS = '''
def _run(name, kernels, checked, check_finite, parallel=None, min_size=0, one_blas=False):
    """Run a kernel on its checked arguments; its outputs, a tuple.

    ``checked`` is what a module's argument checker returns: (name → value, in order, the arrays
    C-contiguous and of one dtype; the number of values in the arrays). ``kernels`` is (serial,)
    or (serial, threaded). Threads are asked for when ``parallel`` is True, or when it is None and
    the arrays hold at least ``min_size`` numbers; the threaded kernel then runs on as many threads
    as the machine has idle cores for (``_threads_now``), the serial one where that is one.
    ``check_finite``: True scans every argument for NaN or inf first; None scans them only when an
    output is not finite (or numba refuses one), so the message names the input; False never
    scans. ``one_blas``: the BLAS has one thread while the kernel runs (a kernel that numba threads
    by blocks of rows, each block's products on the BLAS).
    """
    args, size = checked
    if check_finite:
        _finite(**args)
    interim = _INTERIM.get((_module_of(kernels[0]), name)) if _INTERIM else None
    out = None if interim is None else interim(name, kernels, checked, parallel, min_size, one_blas)
    if out is not None:  # computed another way while numba compiles this kernel (sm.compile's numpy first)
        if check_finite is None and not _outputs_finite(out):
            _finite(**args)
        return out
    fn, threads, mask, warm = kernels[0], 1, 1, None
    if len(kernels) > 1 and (parallel or (parallel is None and size >= min_size)):
        threads, mask = _threads_now()
        if mask > 1 and parallel is None and not _twins_ready(kernels[0]):
            # serial now, and the twin compiles after this call: by size, whatever the load at this
            # instant (a call on a busy moment started none, and the next calls ran serially while
            # the one they started compiled)
            threads, mask, warm = 1, 1, kernels[0]
        elif threads > 1:
            fn = kernels[1]
    values = args.values()
    blas = _blas_threads(1) if one_blas else None
    try:
        if 1 < threads < mask:  # fewer threads than numba's for this call: other processes hold cores
            set_num_threads(threads)
            try:
                out = fn(*values)
            finally:
                set_num_threads(mask)
        else:
            out = fn(*values)
    except ZeroDivisionError:
        raise ValueError(f"{name}: division by zero for these arguments (for example an empty class, or a "
                         "zero variance)") from None
    # numba's linear algebra refuses NaN or inf itself ("Array must not contain infs or NaNs."):
    # under the lazy check, name the input that carried it before that message reaches a user
    except ValueError:
        if check_finite is None:
            _finite(**args)
        raise
    finally:
        if blas is not None:
            _blas_threads(blas)
    if check_finite is None and not _outputs_finite(out):
        _finite(**args)  # name the non-finite input, if one caused it
    if warm is not None:
        _warm_twins(warm)
    return out


# The threaded twins of a module (``_parallel``) and whether they are compiled. A call that would
# run a twin numba has not compiled runs the serial kernel, and the twins of its module compile in
# a thread behind it, for the argument types their serial kernels ran with; later calls take the
# twin once that thread is done. So the first result waits for one compile, not two (a parallel
# compile took 1.7 s against 0.8 s for a logistic loss, 7.7 against 4.8 s for the MLP). Asking for
# threads (parallel=True) compiles the twin at once, as before; SYMML_BACKGROUND_COMPILE=0 makes
# every call do so. The thread is not a daemon: a process that ends first waits for it, so the
# twins reach numba's cache.
_TWINS = {}  # module name -> [(serial dispatcher, twin dispatcher)]
# (module name, kernel name) -> what computes that kernel's outputs until numba has compiled it:
# called as interim(name, kernels, checked, parallel, min_size, one_blas), it returns the outputs,
# or None once numba's kernel is the one to run (sm.compile registers its numpy first calls here)
_INTERIM = {}
_READY = {}  # module name -> True once its twins are compiled, or the thread compiling them
_BACKGROUND = os.environ.get("SYMML_BACKGROUND_COMPILE", "1") != "0"
_WARM_LOCK = threading.Lock()


def _module_of(kernel):
    return getattr(getattr(kernel, "py_func", kernel), "__module__", None)


def _twins_ready(serial):
    """Whether the threaded twins of serial's module may run now (compiled, or compiled on demand)."""
    mod = _module_of(serial)
    state = _READY.get(mod)
    if state is True or not _BACKGROUND or mod not in _TWINS:
        return True
    if state is not None and not state.is_alive():
        _READY[mod] = True
        return True
    return False


def _warm_twins(serial):
    """Start compiling the twins of serial's module in a thread, unless one is already."""
    mod = _module_of(serial)
    with _WARM_LOCK:
        if mod in _READY:
            return
        thread = threading.Thread(target=_compile_twins, args=(mod,), name=f"symml-twins-{mod}")
        _READY[mod] = thread
    thread.start()


def _compile_twins(mod):
    from numba import typeof

    for serial, twin in list(_TWINS.get(mod, ())):
        for sig in list(serial.signatures):
            # a default argument the serial kernel ran without (threads_=1) is passed to the twin
            sig = tuple(typeof(t.value) if isinstance(t, _nb_types.Omitted) else t for t in sig)
            try:
                twin.compile(sig)
            except Exception:  # noqa: BLE001 - the call that needs it compiles it again and says why
                pass
    _READY[mod] = True


def _settle():
    """Wait until every kernel and twin this runtime is compiling in the background is compiled."""
    for interim in list(_INTERIM.values()):
        interim.wait()
    for state in list(_READY.values()):
        if state is not True:
            state.join()


def _before_fork():
    """Wait for the compiles in flight (not those yet to start). A compiling thread holds numba's
    compiler lock: a child forked meanwhile inherits it held by a thread it does not have, and
    its first compile waited for ever (multiprocessing's fork right after a first call)."""
    me = threading.current_thread()
    threads = [getattr(i, "compiling", lambda: None)() for i in list(_INTERIM.values())]
    threads += [s for s in list(_READY.values()) if s is not True]
    for t in threads:
        if t is not None and t is not me and t.is_alive():
            t.join()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork)


def _keep_heap():
    """Let the C heap keep freed blocks of up to 32 MiB, and up to 128 MiB of them in all, for the
    next call, instead of handing them back to the system; glibc only, and only where the user has
    set neither MALLOC_MMAP_THRESHOLD_ nor MALLOC_TRIM_THRESHOLD_, nor SYMML_KEEP_HEAP=0.

    A kernel's temporaries the size of its data (UVᵀ and δ of a masked factorisation, n × m) are
    fresh blocks on every call. By default glibc maps a block that large from the system and
    unmaps it when it is freed (or trims the heap once 2× the block is free at its top), so every
    call touched fresh pages: a page fault each 4 KiB, half of the 11.4 ms that value_and_grad of a
    2000 × 1000 factorisation took (5.7 ms with the blocks kept). mallopt fixes both thresholds
    (so glibc's own rise of the first stops); 32 MiB is the largest it accepts for the first.
    """
    if os.environ.get("SYMML_KEEP_HEAP", "1") == "0" or "MALLOC_MMAP_THRESHOLD_" in os.environ \
            or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt  # absent outside glibc (musl, macOS, Windows)
    except (OSError, AttributeError, TypeError):
        return
    mallopt(-1, 128 << 20)  # M_TRIM_THRESHOLD
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD


_keep_heap()


_LOAD = []  # [fd of /proc/loadavg or None where there is none, this process's cores], at the first threaded call


def _threads_now():
    """(threads for a call now, numba's thread count): numba's threads, or fewer when other
    processes keep cores busy; (n, n) where the load cannot be read (not Linux).

    A parallel loop waits for its slowest thread: a thread that shares its core with another
    process waits a time slice of the scheduler (4 ms here) for its turn, against a kernel of
    ~0.5 ms, and the slowest of 15 calls took 60-550 ms where one core was busy. So a call runs on
    the cores that are idle now: the machine's cores less the tasks runnable on them (the fourth
    field of /proc/loadavg, a count at this instant, not an average; read in about a microsecond),
    not counting this process's own (a numba worker spins ~20 ms after a parallel loop, and is
    runnable while it does). Passive waiting (OMP_WAIT_POLICY=PASSIVE) was measured instead and
    lost: waking the workers made the threaded kernel slower than the serial one on an idle machine
    (0.64 against 0.45 ms), and busy its slowest call still took 5.7 ms; numba's workqueue layer
    was slower still (1.7 ms idle).
    """
    import os

    n = get_num_threads()
    if not _LOAD:
        try:
            _LOAD.append(os.open("/proc/loadavg", os.O_RDONLY))
        except OSError:
            _LOAD.append(None)
        # the cores this process may run on; where that is fewer than the machine's, the load (which
        # counts the whole machine's tasks) is read as if every other task ran on them: fewer
        # threads than could run, never more
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        _LOAD.append(cores or n)
    fd = _LOAD[0]
    if fd is None or n < 2:
        return n, n
    try:
        running = int(os.pread(fd, 128, 0).split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return n, n
    cores = _LOAD[1]
    if running - 1 + n <= cores:  # the others and all of ours fit (the caller is one of the runnable)
        return n, n
    # ours: the caller and numba's workers; a thread of ours beyond them (a BLAS worker spinning
    # after its product, a thread of the user's) holds a core as another process's would
    others = running - min(n, _own_running())
    return max(1, min(n, cores - others)), n


_TASKS = {}  # this process's thread id → fd of its /proc stat file
_TASK_DIR = [0, None]  # the process whose /proc/self/task is open (a forked child opens its own), its fd


def _own_running():
    """How many of this process's threads are runnable now (the caller is one), from /proc/self/task.

    The files stay open (a read is a pread, as for the load). The list of threads is read again
    whenever the number of threads changes (the task folder's link count is 2 + that number, one
    fstat): numba starts its workers at the first threaded call, after the first read, and a list
    read every 256th call missed them for 255 calls, so that a worker still spinning after the
    last call was taken for another process's task, and on an idle two-core machine about half of
    the calls ran serially (3.3 against 1.8 ms for a logistic loss at (10⁵, 100)).
    """
    import os

    pid = os.getpid()
    try:
        if _TASK_DIR[0] != pid:
            if _TASK_DIR[1] is not None:
                os.close(_TASK_DIR[1])
            _TASK_DIR[:] = [pid, os.open("/proc/self/task", os.O_RDONLY)]
            for t in list(_TASKS):  # a forked child's threads are not its parent's
                os.close(_TASKS.pop(t))
        if os.fstat(_TASK_DIR[1]).st_nlink - 2 != len(_TASKS):
            tids = set(os.listdir("/proc/self/task"))
            for t in [t for t in _TASKS if t not in tids]:
                os.close(_TASKS.pop(t))
            for t in tids - set(_TASKS):
                try:
                    _TASKS[t] = os.open(f"/proc/self/task/{t}/stat", os.O_RDONLY)
                except OSError:
                    pass
    except OSError:
        return 1
    count = 0
    for fd in list(_TASKS.values()):  # a copy: another thread of ours may read the list again meanwhile
        try:
            count += os.pread(fd, 512, 0).rpartition(b")")[2][:3] == b" R "
        except OSError:  # a thread that has ended
            pass
    return max(1, count)


def _pair(out):
    """(value, gradient): the gradient alone for one parameter, else a tuple."""
    return out[0], (out[1] if len(out) == 2 else out[1:])


def _blocks(out, m):
    """The m × m Hessian blocks ``out`` (row-major over the parameters) as one square matrix over the
    parameters' flat layout; parameter i has as many entries as the square root of block (i, i)."""
    import math

    parts = [np.asarray(o) for o in out]
    sizes = [math.isqrt(parts[i * m + i].size) for i in range(m)]
    if m == 1:
        return parts[0].reshape(sizes[0], sizes[0])
    at = [0]
    for s in sizes:
        at.append(at[-1] + s)
    H = np.empty((at[-1], at[-1]), dtype=np.result_type(*parts))  # what np.block would give, in less time
    for i in range(m):
        for j in range(m):
            H[at[i]:at[i + 1], at[j]:at[j + 1]] = parts[i * m + j].reshape(sizes[i], sizes[j])
    return H


def _add_parts(a, b, name):
    """a + b for results of one layout (numbers, arrays, tuples of them), checking shapes."""
    if isinstance(b, tuple):
        if not isinstance(a, tuple) or len(a) != len(b):
            raise ValueError(f"{name}: expected a tuple of {len(b)} parts, got {type(a).__name__}")
        return tuple(_add_parts(x, y, f"{name}[{i}]") for i, (x, y) in enumerate(zip(a, b)))
    if np.shape(a) != np.shape(b):
        raise ValueError(f"{name}: expected shape {np.shape(b)}, got {np.shape(a)}")
    return a + b


def _pack(parts):
    """Arrays and numbers as one flat float64 vector (row-major, in order)."""
    return np.concatenate([np.ravel(np.asarray(g, dtype=np.float64)) for g in parts])


def _split(theta, shapes, sizes, shape, layout, name):
    """θ split into views of the given shapes and sizes (a number for shape ()), row-major, in order."""
    theta = _array(theta, name, 1, shape)
    total = sum(sizes)
    if theta.shape[0] != total:
        raise ValueError(f"{name}: expected length {shape[1:-2]} = {total} ({layout}), got {theta.shape[0]}")
    out, at = [], 0
    for s, k in zip(shapes, sizes):
        out.append(theta[at:at + k].reshape(s) if s else float(theta[at]))
        at += k
    return out


@njit(cache=True)
def _plus(a, b):
    # a + b for two arrays of one shape and dtype, as one loop: numba compiles the array expression
    # a + b of rank-4 arrays in ~8 s of CPU (its broadcasting code grows with the rank), this in 0.3 s
    out = np.empty(a.shape, dtype=a.dtype)
    o = out.reshape(-1)
    x = np.ascontiguousarray(a).reshape(-1)
    y = np.ascontiguousarray(b).reshape(-1)
    for q in range(o.size):
        o[q] = x[q] + y[q]
    return out


def _parallel(kernel):
    """The threaded twin of a @njit(cache=True) kernel whose row loop is a prange: the same
    Python function, compiled with parallel=True (compiled without it, prange is range)."""
    import types

    py = kernel.py_func
    # NOTE(numba): numba's cache files are named by qualified name and line, and its index key
    # holds no compiler flags: a second dispatcher of the same function would share (and
    # overwrite) the serial one's cache. The copy's own qualified name gives it its own files.
    twin = types.FunctionType(py.__code__, py.__globals__, py.__name__ + "_par", py.__defaults__, py.__closure__)
    twin.__qualname__ = py.__qualname__ + "_par"
    twin.__doc__ = py.__doc__
    options = {k: v for k, v in kernel.targetoptions.items() if k in ("fastmath", "inline", "error_model")}
    compiled = njit(cache=True, parallel=True, **options)(twin)
    _TWINS.setdefault(py.__module__, []).append((kernel, compiled))
    return compiled
'''

#: Names the runtime defines that a module may import (beyond those of the BLAS helpers).
NAMES = ("_verify_source", "_check_module", "_warn_if_stale", "_array", "_scalar", "_size", "_positive",
         "_finite", "_outputs_finite", "_dtype", "_c", "_run", "_pair", "_blocks", "_add_parts", "_pack", "_split",
         "_parallel", "_plus", "_settle")

#: Names of the BLAS helpers, by the helper key a kernel body records (see blas.py).
BLAS_NAMES = {
    "_blas_syrk": ("_register_blas",),  # _blas_syrk itself is called by the Gram helpers only
    "_syrk_gram": ("_syrk_gram",),
    "_syrk_gram_weighted": ("_syrk_gram_weighted",),
    "_syrk_gram_slabs": ("_syrk_gram_weighted_into", "_gram_slabs", "_gram_total"),
    "_acc_add": ("_acc_add",),
    "_blas_threads": ("_blas_threads",),  # it finds the BLAS's functions itself (_blas_thread_functions)
}
#: The scalar helpers (stable and special functions, vectorisable elementary functions): one copy
#: here for every module, not one per module that calls them.
SCALAR_HELPERS = sorted(set(HELPERS) - set(GRAM_HELPERS) - set(BLAS_THREAD_HELPERS))
RUNTIME_HELPERS = set(GRAM_HELPERS) | set(BLAS_THREAD_HELPERS) | set(SCALAR_HELPERS) | {"_syrk_gram_slabs"}


def finish_compiling() -> None:
    """Wait until the threaded twins that kernels are compiling in the background are compiled:
    after it, a call that threads runs its twin (before, it may run the serial kernel). For
    benchmarks and anything else that times calls after a first one."""
    import sys

    for module in list(sys.modules.values()):
        settle = getattr(module, "_settle", None)
        if callable(settle) and hasattr(module, "_TWINS") and hasattr(module, "_READY"):
            settle()


def runtime_text(codegen_version: str) -> tuple[str, str]:
    """The runtime module's text (sealed) and its hash (the value of its SYMML_SOURCE_HASH)."""
    header = ('"""symml runtime of the generated kernel modules: argument checks, kernel calls, threads, BLAS,\n'
              "integrity checks. Every module of this folder imports its helpers from here.\n\n"
              f"Generated by symml (codegen {codegen_version}). Do not edit: regenerate with `symml generate`.\n"
              '"""')
    parts = [header, "import os\nimport threading\n\nimport numpy as np\nfrom numba import _helperlib as _nb_helperlib\nfrom numba import get_num_threads, njit, set_num_threads\nfrom numba import types as _nb_types", INTEGRITY.strip(), CHECKS.strip(), CALLS.strip()]
    parts += [GRAM_HELPERS[k].strip() for k in ("_blas_syrk", "_syrk_gram", "_syrk_gram_weighted")]
    parts += [BLAS_THREAD_HELPERS[k].strip() for k in ("_acc_add", "_blas_threads")]
    parts += [HELPERS[k].strip() for k in SCALAR_HELPERS]
    body = "\n\n\n".join(parts) + "\n"
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return body + f"SYMML_SOURCE_HASH = {digest!r}\n", digest
