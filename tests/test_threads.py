"""Threads on a busy machine: how the runtime decides how many threads a call gets, that the
wrappers route a call by that decision and by size, and that every route gives one result.

The decisions are tested on a machine whose load is given (a file in the format of
/proc/loadavg); the speed they buy is measured by benchmarks/contention.py, never here.
"""
import importlib
import os
import sys

import numpy as np
import pytest

import symml as sm
from symml.build import generated_source
from symml.codegen.jit import runtime_module


@pytest.fixture
def rt():
    """The runtime every kernel module imports (the kernel cache's copy of its text)."""
    return sys.modules[runtime_module()] if runtime_module() in sys.modules else importlib.import_module(runtime_module())


@pytest.fixture
def machine(rt, monkeypatch, tmp_path):
    """machine(cores, running, own, threads): the runtime reads that load, on that many cores, with
    `own` of this process's threads runnable and `threads` numba threads."""
    fds = []

    def make(cores, running, own=1, threads=2):
        path = tmp_path / f"loadavg{len(fds)}"
        path.write_text(f"1.02 0.87 0.55 {running}/311 4242\n")
        fds.append(os.open(path, os.O_RDONLY))
        monkeypatch.setattr(rt, "_LOAD", [fds[-1], cores])
        monkeypatch.setattr(rt, "_own_running", lambda: own)
        monkeypatch.setattr(rt, "get_num_threads", lambda: threads)

    yield make
    for fd in fds:
        os.close(fd)


@pytest.mark.parametrize("cores, running, own, threads, expected", [
    (2, 1, 1, 2, 2),  # idle: only the caller runs
    (2, 2, 2, 2, 2),  # the caller and its own numba worker, still spinning after the last call
    (2, 2, 1, 2, 1),  # another process holds one of two cores: serial
    (2, 3, 1, 2, 1),  # both held: serial
    (2, 3, 3, 2, 1),  # caller, worker and a BLAS thread of ours spinning: the BLAS thread holds a core
    (8, 3, 1, 8, 6),  # two cores of eight held: six threads
    (8, 12, 1, 8, 1),  # more runnable than cores: serial
    (16, 2, 1, 4, 4),  # numba's thread count bounds it
    (4, 1, 1, 1, 1),  # numba has one thread
])
def test_threads_follow_the_idle_cores(rt, machine, cores, running, own, threads, expected):
    machine(cores, running, own, threads)
    assert rt._threads_now() == (expected, threads)


def test_without_a_load_file_threads_are_numba_s(rt, monkeypatch):
    monkeypatch.setattr(rt, "_LOAD", [None, 2])
    monkeypatch.setattr(rt, "get_num_threads", lambda: 3)
    assert rt._threads_now() == (3, 3)


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="reads /proc (Linux)")
def test_the_real_machine_is_read(rt):
    """On this machine: a count within the bounds, and the caller among this process's runnable threads."""
    import numba

    threads, n = rt._threads_now()
    assert n == numba.get_num_threads() and 1 <= threads <= n
    assert rt._own_running() >= 1


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc (Linux)")
def test_threads_started_after_the_first_count_are_counted_at_the_next(rt):
    """numba starts its workers at the first threaded call, after the runtime first counted this
    process's threads: a worker it does not know of, spinning, read as another process's task."""
    import threading

    rt._own_running()
    started, stop, tid = threading.Event(), threading.Event(), []

    def wait():
        tid.append(str(threading.get_native_id()))
        started.set()
        stop.wait()

    t = threading.Thread(target=wait)
    t.start()
    started.wait()
    try:
        rt._own_running()
        assert tid[0] in rt._TASKS
    finally:
        stop.set()
        t.join()
    import time

    for _ in range(100):  # join returns as Python's thread ends; the system thread may take a moment
        rt._own_running()
        if tid[0] not in rt._TASKS:
            break
        time.sleep(0.01)
    assert tid[0] not in rt._TASKS  # an ended thread's file is closed


class Calls:
    """A serial and a threaded stand-in kernel that record which ran, on how many threads."""

    def __init__(self, rt, monkeypatch):
        self.ran, self.mask, self.blas = [], [4], [8]
        monkeypatch.setattr(rt, "set_num_threads", lambda k: self.mask.append(k))

        def blas(k):
            prev = self.blas[-1]
            self.blas.append(k)
            return prev

        monkeypatch.setattr(rt, "_blas_threads", blas)
        self.kernels = (self.kernel("serial"), self.kernel("threaded"))

    def kernel(self, which):
        def run(x):
            self.ran.append((which, self.mask[-1], self.blas[-1]))
            return (float(x.sum()),)
        return run


@pytest.mark.parametrize("parallel, size, threads, ran", [
    (None, 100, (4, 4), ("serial", 4)),  # under the size threshold
    (None, 1000, (4, 4), ("threaded", 4)),  # over it, on an idle machine
    (None, 1000, (1, 4), ("serial", 4)),  # over it, busy: the serial kernel
    (None, 1000, (3, 4), ("threaded", 3)),  # over it, one core held: three threads
    (True, 100, (4, 4), ("threaded", 4)),  # asked for threads at any size
    (True, 100, (1, 4), ("serial", 4)),  # ... but not on cores another process holds
    (False, 1000, (4, 4), ("serial", 4)),
])
def test_run_routes_by_size_and_load(rt, monkeypatch, parallel, size, threads, ran):
    calls = Calls(rt, monkeypatch)
    monkeypatch.setattr(rt, "_threads_now", lambda: threads)
    x = np.ones(3)
    out = rt._run("k", calls.kernels, ({"x": x}, size), None, parallel, 500)
    assert out == (3.0,)
    assert calls.ran == [(*ran, 8)]
    assert calls.mask[-1] == 4  # numba's thread count is given back after the call


def test_a_kernel_threaded_by_blocks_holds_the_blas_at_one_thread(rt, monkeypatch):
    calls = Calls(rt, monkeypatch)
    for threads in ((4, 4), (1, 4)):
        monkeypatch.setattr(rt, "_threads_now", lambda: threads)
        rt._run("k", calls.kernels, ({"x": np.ones(3)}, 1000), None, None, 500, one_blas=True)
    assert [r[2] for r in calls.ran] == [1, 1]
    assert calls.blas[-1] == 8  # given back


def test_the_blas_is_given_back_when_the_kernel_fails(rt, monkeypatch):
    calls = Calls(rt, monkeypatch)

    def fails(x):
        raise ZeroDivisionError

    with pytest.raises(ValueError, match="division by zero"):
        rt._run("k", (fails,), ({"x": np.ones(3)}, 3), None, one_blas=True)
    assert calls.blas[-1] == 8


def test_blocked_blas_kernels_and_only_they_hold_the_blas():
    """In the emitted catalog: the MLP's and softmax's blocked kernels (products on np.dot per
    block of rows), the Hessians whose weighted Gram runs in slabs per thread, and the kernels
    composed from them pass one_blas; a fused row loop without a Gram does not."""
    mlp = generated_source("mlp")
    assert "def value_and_grad(" in mlp
    wrapper = mlp[mlp.index("def value_and_grad("):mlp.index("def value_and_grad_finish(")]
    assert "one_blas=True" in wrapper
    chunk = mlp[mlp.index("def value_and_grad_chunk("):]
    assert "one_blas=True" in chunk[:chunk.index("\n\n\n")]
    logistic = generated_source("logistic_regression")
    for name in ("value_and_grad", "value_and_grad_chunk"):
        at = logistic.index(f"def {name}(")
        assert "one_blas" not in logistic[at:logistic.index("\n\n", at)]
    for name in ("hessian", "hessian_chunk"):
        at = logistic.index(f"def {name}(")
        assert "parallel=None" in logistic[at:at + 80] and "one_blas=True" in logistic[at:logistic.index("\n\n", at)]


@pytest.mark.compile
def test_every_route_of_a_compiled_kernel_agrees(rt, monkeypatch):
    """sm.compile's logistic loss and gradient, above its threshold: the threaded twin and the
    serial kernel that the load sends a call to give one result, numpy's."""
    n, d = sm.dims("n d")
    X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
    L = sm.sum(sm.softplus(X @ w) - y * (X @ w)) / n
    k = sm.compile({"L": L, "g": sm.grad(L, w)})
    module = sys.modules[k._fn.__module__]
    assert "_kernel_par" in vars(module), "a fused kernel has a threaded twin"
    monkeypatch.setattr(module, "PARALLEL_MIN_SIZE", 0)
    rng = np.random.default_rng(4)
    Xv, wv = rng.normal(size=(3001, 7)), rng.normal(size=7)
    yv = (rng.random(3001) < 0.5) * 1.0
    ran = []
    k(X=Xv, y=yv, w=wv)  # the first call runs the serial kernel; the twin compiles behind it
    sm.finish_compiling()
    for threads in ((2, 2), (1, 2)):
        monkeypatch.setattr(rt, "_threads_now", lambda: (ran.append(threads), threads)[1])
        ran.append(k(X=Xv, y=yv, w=wv))
    assert [r for r in ran if isinstance(r, tuple)] == [(2, 2), (1, 2)]  # each call asked for threads
    twin, serial = [r for r in ran if isinstance(r, dict)]
    z = Xv @ wv
    assert np.isclose(serial["L"], np.mean(np.logaddexp(0, z) - yv * z), rtol=1e-13)
    assert np.allclose(serial["g"], Xv.T @ (1 / (1 + np.exp(-z)) - yv) / 3001, rtol=1e-12, atol=1e-15)
    assert abs(twin["L"] - serial["L"]) <= 1e-12 * abs(serial["L"])
    assert np.allclose(twin["g"], serial["g"], rtol=1e-12, atol=1e-15)


def test_plus_adds_arrays_of_any_rank_and_layout(rt):
    """The composed kernels' block sums: a + b by one loop, for views that are not contiguous too."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 4, 3, 4))
    b = rng.normal(size=(4, 3, 4, 3)).transpose(3, 2, 1, 0)  # not C-contiguous
    got = rt._plus(a, b)
    assert got.flags.c_contiguous and np.array_equal(got, a + b)
    m = rng.normal(size=(5, 6))
    assert np.array_equal(rt._plus(m[:, ::2], m[:, 1::2]), m[:, ::2] + m[:, 1::2])


def test_composed_hessians_of_matrix_parameters_add_by_loops():
    """A Hessian block of a matrix parameter is rank 4: the composed kernel adds the regulariser's
    part with _plus (numba's array expression of that rank took ~8 s of CPU to compile)."""
    src = generated_source("softmax_regression")
    composed = src[src.index("def _hessian("):src.index("def hessian(")]
    assert "_plus(part_[0], reg_[0])" in composed
    assert " + reg_[" not in composed


def _fresh_logistic(seed):
    """A compiled logistic kernel no other test has compiled (its own key), and its module."""
    n, d = sm.dims("n d")
    X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
    L = sm.sum(sm.softplus(X @ w) - y * (X @ w)) / n + seed * sm.norm2(w)
    k = sm.compile({"L": L, "g": sm.grad(L, w)})
    return k, sys.modules[k._fn.__module__]


@pytest.mark.compile
def test_a_first_call_that_would_thread_runs_serially_and_the_twin_compiles_behind_it(rt, monkeypatch):
    """parallel=None above the threshold: the first call waits for the serial kernel's compile
    only; the twin compiles in a thread for the types the serial kernel ran with, and the calls
    after finish_compiling() run it (its result is the serial one's, to rounding)."""
    k, module = _fresh_logistic(0.125)
    monkeypatch.setattr(module, "PARALLEL_MIN_SIZE", 0)
    monkeypatch.setattr(rt, "_threads_now", lambda: (2, 2))
    rng = np.random.default_rng(5)
    a = {"X": rng.normal(size=(2001, 5)), "y": (rng.random(2001) < 0.5) * 1.0, "w": rng.normal(size=5)}
    first = k(**a)
    twin, serial = module._kernel_chunk_par, module._kernel_chunk
    assert serial.signatures and module.__name__ in rt._READY
    sm.finish_compiling()
    assert rt._READY[module.__name__] is True
    assert twin.signatures == serial.signatures
    assert rt._twins_ready(module._kernel)
    again = k(**a)
    assert abs(again["L"] - first["L"]) <= 1e-12 * abs(first["L"])
    np.testing.assert_allclose(again["g"], first["g"], rtol=1e-12, atol=1e-15)


@pytest.mark.compile
def test_a_first_call_on_a_busy_moment_still_has_the_twin_compiled_behind_it(rt, monkeypatch):
    """Whether a twin compiles follows the size; the load at that instant decides only which
    kernel runs (a busy first call started none, and the calls after it ran serially while the
    first of them that found idle cores compiled it)."""
    k, module = _fresh_logistic(0.625)
    monkeypatch.setattr(module, "PARALLEL_MIN_SIZE", 0)
    monkeypatch.setattr(rt, "_threads_now", lambda: (1, 2))  # another process holds a core now
    rng = np.random.default_rng(7)
    k(X=rng.normal(size=(301, 4)), y=(rng.random(301) < 0.5) * 1.0, w=rng.normal(size=4))
    assert module.__name__ in rt._READY
    sm.finish_compiling()
    assert module._kernel_chunk_par.signatures == module._kernel_chunk.signatures


@pytest.mark.compile
def test_asking_for_threads_or_switching_the_background_off_compiles_the_twin_at_once(rt, monkeypatch):
    rng = np.random.default_rng(6)
    a = {"X": rng.normal(size=(501, 3)), "y": (rng.random(501) < 0.5) * 1.0, "w": rng.normal(size=3)}
    monkeypatch.setattr(rt, "_threads_now", lambda: (2, 2))
    k, module = _fresh_logistic(0.25)
    k(**a, parallel=True)
    assert module._kernel_chunk_par.signatures and module.__name__ not in rt._READY
    monkeypatch.setattr(rt, "_BACKGROUND", False)
    k, module = _fresh_logistic(0.375)
    monkeypatch.setattr(module, "PARALLEL_MIN_SIZE", 0)
    k(**a)
    assert module._kernel_chunk_par.signatures and module.__name__ not in rt._READY


@pytest.mark.parametrize("env, calls", [
    ({}, [(-1, 128 << 20), (-3, 32 << 20)]),  # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
    ({"SYMML_KEEP_HEAP": "0"}, []),
    ({"MALLOC_TRIM_THRESHOLD_": "0"}, []),  # the user's own allocator settings are kept
    ({"MALLOC_MMAP_THRESHOLD_": "65536"}, []),
])
def test_the_runtime_keeps_freed_temporaries_unless_told_not_to(rt, monkeypatch, env, calls):
    import ctypes

    seen = []

    class Libc:
        def mallopt(self, param, value):
            seen.append((param, value))
            return 1

    for name in ("SYMML_KEEP_HEAP", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(ctypes, "CDLL", lambda _: Libc())
    rt._keep_heap()
    assert seen == calls


def test_without_mallopt_the_runtime_leaves_the_allocator_alone(rt, monkeypatch):
    import ctypes

    monkeypatch.delenv("SYMML_KEEP_HEAP", raising=False)
    monkeypatch.setattr(ctypes, "CDLL", lambda _: object())  # a C library with no mallopt (musl, macOS)
    rt._keep_heap()
