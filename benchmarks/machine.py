"""Measuring: the machine's limits, a call's median time, and a call's peak extra memory.

- Memory bandwidth: a parallel streaming sum (numba ``prange``, several accumulators per
  thread so that add latency is not the bound) over an array of at least 800 MB, far
  beyond the last-level cache; the best of a few passes, in GB/s (10⁹ bytes).
- BLAS: a float64 matmul of two n × n matrices, 2n³ flops, best of a few, in GFLOP/s.
- The BLAS libraries, their versions, architectures and thread counts (threadpoolctl,
  else ``numpy.show_config``), the CPU model and the numba threading layer.
- ``time_call``: warm-up, then a block of repeats of one callable (never interleaved with
  another implementation: numpy's OpenBLAS threads spin after a call and would steal
  the next implementation's cores; ``settle`` waits until they are idle); each repeat
  runs the call enough times to last ``min_time``; the median per-call time of the
  repeats is the result. ``Contention`` reads how much of our cores other processes
  took meanwhile (the machines here are shared), and a disturbed block is timed again.
- ``peak_extra``: the peak resident memory during one call minus the resident memory
  before it (Linux: reset the high-water mark with /proc/self/clear_refs, read VmHWM).
  This sees every allocator (numba's NRT, numpy, XLA, torch), which tracemalloc does
  not; glibc's mmap threshold is lowered during the probe so that freed blocks leave the process
  instead of being reused unseen (see ``peak_extra``). Allocator pools that keep pages
  (XLA, torch) can still under-report.

Takes: nothing. Gives: measurements as plain dicts and floats.

>>> t = time_call(lambda: sum(range(10)), repeats=3, min_time=1e-4)
>>> t["median_s"] > 0
True
"""
from __future__ import annotations

import gc
import os
import platform
import re
import statistics
import sys
import time

import numpy as np

GB = 1e9


def thread_env(threads: int, base: dict | None = None) -> dict:
    """The environment of a fresh process limited to ``threads`` threads (numba, OpenMP, BLAS,
    XLA), with this checkout first on PYTHONPATH."""
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ if base is None else base)
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if threads == 1:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                            " intra_op_parallelism_threads=1").strip()
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _stream_sum():
    from numba import njit, prange

    @njit(parallel=True, fastmath=True, cache=True)
    def stream_sum(a, nchunks):
        # fastmath lets LLVM keep several vector accumulators: add latency is not the bound
        n = a.shape[0]
        parts = np.zeros(nchunks)
        for c in prange(nchunks):
            # NOTE(numba): loop over a slice from 0; `for i in range(lo, hi): s += a[i]` is not
            # vectorised inside a prange body (measured: 5 GB/s against 31 GB/s on one core)
            b = a[c * n // nchunks:(c + 1) * n // nchunks]
            s = 0.0
            for i in range(b.shape[0]):
                s += b[i]
            parts[c] = s
        return parts.sum()

    return stream_sum


def bandwidth(nbytes: float = 8e8, repeats: int = 5) -> dict:
    """Streaming-read bandwidth in GB/s over ``nbytes`` (≥ 800 MB unless told otherwise)."""
    import numba

    a = np.ones(int(nbytes) // 8)  # touched, so the pages are resident before timing
    f = _stream_sum()
    chunks = 8 * numba.get_num_threads()
    f(a[:1000], chunks)
    t = time_call(lambda: f(a, chunks), repeats, 0.0, 0.0)
    best = t["min_s"]  # a limit: the best pass is what the machine can do
    return {"GBps": a.nbytes / best / GB, "bytes": a.nbytes, "best_s": best, "median_s": t["median_s"],
            "threads": numba.get_num_threads(), "foreign_load": t["foreign_load"]}


def blas_gflops(n: int = 2000, repeats: int = 5) -> dict:
    """float64 matmul rate of numpy's BLAS in GFLOP/s (2n³ flops per product)."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    C = np.empty((n, n))
    t = time_call(lambda: np.matmul(A, B, out=C), repeats, 0.0, 0.0)
    best = t["min_s"]
    return {"GFLOPs": 2 * n**3 / best / 1e9, "n": n, "best_s": best, "median_s": t["median_s"],
            "foreign_load": t["foreign_load"]}


def blas_config() -> list[dict]:
    """The BLAS/OpenMP libraries loaded in this process, with versions and thread counts."""
    try:
        import threadpoolctl

        return [{k: v for k, v in lib.items() if k != "filepath"} | {"file": os.path.basename(lib["filepath"])}
                for lib in threadpoolctl.threadpool_info()]
    except ImportError:
        cfg = np.show_config(mode="dicts")
        return [{"numpy_build": cfg.get("Build Dependencies", {}).get("blas", {})}]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
        if m:
            return m.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    """Versions of Python and of every library a column of the table depends on."""
    import importlib

    out = {"python": platform.python_version()}
    for mod in ("numpy", "numba", "scipy", "sympy", "jax", "jaxlib", "torch", "pytensor"):
        try:
            out[mod] = importlib.import_module(mod).__version__
        except Exception:  # noqa: BLE001 - absent optional libraries are simply not listed
            pass
    return out


def numba_layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet in this process
        return "not initialised"


def _busy_s(cpus) -> float:
    """CPU seconds spent busy (user, system, irq, steal) on ``cpus`` since boot, from /proc/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *v = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in v[:8])
                total += user + nice + system + irq + softirq + steal
    return total / tick


class Contention:
    """The share of this process's cores that other processes used during a ``with`` block.

    The machines here are shared: another session's tests can take a core in the middle
    of a timing. This reads the busy time of the cores in this process's affinity set
    (/proc/stat) and subtracts this process's own CPU time; 0.0 means the cores were ours.
    The resolution is one clock tick (10 ms) per core, so short blocks read coarsely.
    """

    def __enter__(self):
        self.cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
        self.ok = os.path.exists("/proc/stat") and bool(self.cpus)
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        self.b0 = _busy_s(self.cpus) if self.ok else 0.0
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.t0
        own = time.process_time() - self.c0
        busy = (_busy_s(self.cpus) - self.b0) if self.ok else own
        self.foreign = max(0.0, (busy - own) / (wall * max(1, len(self.cpus)))) if self.ok and wall > 0 else None
        return False


def settle(max_wait: float = 3.0, quiet: float = 0.05) -> float:
    """Wait until this process's own threads are idle; return the seconds waited.

    Thread pools spin for a while after their work (OpenBLAS, OpenMP, XLA: measured here,
    JAX's threads used 0.24 s of CPU in the second after a host-to-device copy of 160 MB),
    and on a pinned core that steals time from whatever is timed next. symml's threaded twins
    compile in a thread behind a first call that would run them: that thread is waited for too
    (``finish_compiling``), so what is timed next is the twin, not the serial kernel.
    """
    t0 = time.perf_counter()
    # symml.codegen.runtime.finish_compiling's loop, written out: this module also runs in PyTensor's
    # venv, which has no symml to import; a runtime is found by what it defines
    for module in list(sys.modules.values()):  # symml's runtimes: generated/_runtime.py and the kernel cache's
        if hasattr(module, "_TWINS") and callable(getattr(module, "_settle", None)):
            module._settle()
    while time.perf_counter() - t0 < max_wait:
        c0, w0 = time.process_time(), time.perf_counter()
        time.sleep(0.05)
        if time.process_time() - c0 < quiet * (time.perf_counter() - w0):
            break
    return time.perf_counter() - t0


def time_call(fn, repeats: int = 7, min_time: float = 0.05, warmup_time: float = 0.2, first_s: float | None = None,
              max_foreign: float = 0.1, attempts: int = 3) -> dict:
    """Median per-call time of ``fn()`` over ``repeats`` timed repeats, after a warm-up (gc off).

    Args:
        fn: a callable with no arguments (it must finish its work before returning).
        repeats: number of timed repeats (≥ 7 for the reported figures).
        min_time: each repeat calls ``fn`` enough times to last at least this long.
        warmup_time: keep calling ``fn`` for this long first, at least once (compilation,
            caches, and another library's spinning threads going idle).
        first_s: the duration of a first call already made by the caller, if any.
        max_foreign: when other processes took more than this share of our cores during the
            repeats (``Contention``), wait a second and time again, up to ``attempts`` times
            (unless the block took over 20 s); the attempt with the least contention is kept.

    Returns:
        {"median_s", "min_s", "max_s", "repeats", "number", "first_call_s", "all_s",
        "foreign_load", "attempts"}; times are per call.
    """
    if first_s is None:
        t0 = time.perf_counter()
        fn()
        first_s = time.perf_counter() - t0
    per, end = first_s, time.perf_counter() + warmup_time
    while True:
        t0 = time.perf_counter()
        fn()
        per = time.perf_counter() - t0
        if time.perf_counter() >= end:
            break
    number = max(1, int(min_time / max(per, 1e-7)))
    best = None
    for attempt in range(1, attempts + 1):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            times = []
            with Contention() as load:
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    for _ in range(number):
                        fn()
                    times.append((time.perf_counter() - t0) / number)
        finally:
            if was_enabled:
                gc.enable()
        foreign = load.foreign
        if best is None or (foreign is not None and foreign < best[1]):
            best = (times, foreign if foreign is not None else 0.0)
        if foreign is None or foreign <= max_foreign or sum(times) * number > 20.0:
            break  # quiet enough, or too long a block to repeat (torch.func.hessian: minutes)
        time.sleep(1.0)
    times, foreign = best
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeats": repeats,
            "number": number, "first_call_s": first_s, "all_s": times, "foreign_load": foreign,
            "attempts": attempt}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1))


def _libc():
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return None


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
PROBE_MMAP_THRESHOLD = 64 * 1024
# after a probe: what symml's kernel runtime sets when it loads (_keep_heap in
# symml/codegen/runtime.py), glibc's ceiling for its mmap threshold (32 MiB on 64-bit) and a
# heap that keeps 128 MiB of freed blocks; every implementation in the process runs with it
STEADY_MMAP_THRESHOLD = 32 * 1024 * 1024
STEADY_TRIM_THRESHOLD = 128 * 1024 * 1024


def peak_extra(fn, probes: int = 3) -> dict:
    """Peak resident memory during ``fn()`` above the resident memory before it, in bytes.

    During the probe glibc sends every allocation above 64 KiB to mmap and free heap
    pages are released first (malloc_trim), so a temporary shows up as fresh pages
    whether or not an earlier call freed a block of the same size.

    Returns:
        {"bytes": median over probes, "all": each probe, "method": how}; "bytes" is
        None where the platform cannot reset the high-water mark.
    """
    try:
        _status_kb("VmHWM")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except (OSError, AttributeError):
        return {"bytes": None, "method": "unavailable (needs Linux /proc/self/clear_refs)"}
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, PROBE_MMAP_THRESHOLD)
    out = []
    try:
        for _ in range(probes):
            gc.collect()
            if libc is not None:
                libc.malloc_trim(0)
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # VmHWM := VmRSS
            before = _status_kb("VmRSS")
            res = fn()
            out.append((_status_kb("VmHWM") - before) * 1024)
            del res
    finally:
        if libc is not None:
            libc.mallopt(M_MMAP_THRESHOLD, STEADY_MMAP_THRESHOLD)
            libc.mallopt(M_TRIM_THRESHOLD, STEADY_TRIM_THRESHOLD)
    return {"bytes": statistics.median(out), "all": out,
            "method": "RSS high-water mark (VmHWM after clear_refs) minus RSS before the call, with glibc's "
                      "mmap threshold at 64 KiB and free heap pages trimmed during the probe"}
