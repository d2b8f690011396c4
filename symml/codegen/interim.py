"""``sm.compile``'s first calls: computed with numpy while numba compiles the kernel.

numba compiles a kernel at its first call: 0.7 s for a logistic loss and its gradient, about
3 s for an MLP, on a cold cache. A kernel that ``sm.compile`` has just written therefore
answers its first calls with :func:`symml.evaluate`, the numpy reference evaluator, which
computes the same outputs from the same graph (to rounding: the two are tested against each
other and against finite differences). After the first such call a thread compiles numba's
kernel (it runs the kernel once on that call's arguments, so every signature that call needs
is compiled, twins included where the size asks for them); the first call that finds the thread
done runs numba's kernel, and every call after it does.

The arguments are checked as the kernel checks them, before numpy sees them: the same errors,
for the same inputs. An output that numpy cannot compute (a factorisation that fails, say)
waits for numba's kernel, so that its message is the kernel's own. ``numpy_first=False`` on
``sm.compile``, or ``SYMML_NUMPY_FIRST=0``, makes the first call wait for numba instead.

The compile thread starts after the first result is computed, not before: a thread compiling
holds the interpreter lock, and each numpy operation that gives it up would wait for it back.

Takes: a compiled kernel's outputs and its size stand-ins. Gives: the callable the runtime's
``_run`` asks while the kernel compiles (``_INTERIM``).
"""
from __future__ import annotations

import os
import threading

import numpy as np

from ..nodes import Dim


def enabled(numpy_first: bool | None) -> bool:
    """Whether a kernel written now answers its first calls with numpy."""
    if numpy_first is not None:
        return bool(numpy_first)
    return os.environ.get("SYMML_NUMPY_FIRST", "1") != "0"


class NumpyFirst:
    """The interim form of one kernel: sm.evaluate of its outputs, until numba's kernel is compiled."""

    def __init__(self, registry: dict, key: tuple, run, exprs: list, stand_ins: list):
        self._registry, self._key, self._run = registry, key, run
        self._exprs = exprs
        self._stand_ins = {t.name: t.shape[0] for t in stand_ins}  # "_size_n" -> n
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.calls = 0  # how many calls numpy answered (for tests and benchmarks)

    def __call__(self, name, kernels, checked, parallel, min_size, one_blas):
        thread = self._thread
        if thread is threading.current_thread():
            return None  # the compile thread itself runs numba's kernel
        if thread is not None and not thread.is_alive():
            self._registry.pop(self._key, None)  # compiled: numba from now on
            return None
        args, _ = checked
        try:
            out = self._evaluate(args)
        except Exception:  # noqa: BLE001 - numba's kernel computes it, or says why it cannot
            self.wait(start=(name, kernels, checked, parallel, min_size, one_blas))
            return None
        self.calls += 1
        self._start(name, kernels, checked, parallel, min_size, one_blas)
        return out

    def _evaluate(self, args: dict) -> tuple:
        from ..evaluate import evaluate

        arrays, dims = {}, {}
        for k, v in args.items():
            if k in self._stand_ins:  # a (n, 0) array that carries a size no input binds
                if isinstance(self._stand_ins[k], Dim):
                    dims[self._stand_ins[k].name] = v.shape[0]
            else:
                arrays[k] = v
        floats = [v for v in args.values() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
        dt = floats[0].dtype if floats else np.dtype(np.float64)
        with np.errstate(all="ignore"):
            outs = evaluate(self._exprs, dims=dims or None, **arrays)
        # as numba's kernel gives them: a float for a scalar, a fresh C array of the inputs' dtype
        return tuple(float(v) if np.ndim(v) == 0 else np.array(v, dtype=dt, order="C") for v in outs)

    def _start(self, *call) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._compile, args=call, name=f"symml-compile-{self._key[0]}")
                self._thread.start()

    def _compile(self, name, kernels, checked, parallel, min_size, one_blas) -> None:
        try:  # numba's kernel on this call's arguments: it compiles what the call needs, twins by size
            self._run(name, kernels, checked, False, parallel, min_size, one_blas)
        except Exception:  # noqa: BLE001 - the next call runs numba's kernel itself and raises it there
            pass

    def compiling(self) -> threading.Thread | None:
        """The thread compiling numba's kernel, once one has started (a fork waits for it)."""
        return self._thread

    def wait(self, start=None) -> None:
        """Wait until numba's kernel is compiled; after it every call runs numba's kernel.
        ``start``: the call to compile with, when no compile has started yet."""
        if start is not None:
            self._start(*start)
        thread = self._thread
        if thread is threading.current_thread():
            return
        if thread is not None:
            thread.join()
        self._registry.pop(self._key, None)
