"""Threaded kernels on a machine where another process keeps a core busy (issue 18, item 5).

    NUMBA_NUM_THREADS=2 python -m benchmarks.contention [--calls 15] [--cases logistic,softmax,mlp] [--json]

For each case it times, in one process, ``calls`` calls each of

- ``serial``: the wrapper with ``parallel=False``;
- ``auto``: the wrapper as a user calls it (``parallel=None``, the size is above
  PARALLEL_MIN_SIZE): the threaded twin on the cores that are idle at the call, else the
  serial kernel (the runtime's ``_threads_now``);
- ``twin``: the private threaded twin called directly, on all numba threads whatever the
  load (what every threaded call did before the runtime looked at the load);

one kernel after the other (a pause between them), first with the machine as it is
("quiet"), then while a child process spins a pure-Python loop on one core ("busy"), then
quiet again. It prints
the median and the slowest call of each, and the slowest ÷ the serial median of the same
phase; the goal is ≤ 3 for ``auto`` while busy, and ``auto``'s quiet median ≤ serial's.

Nothing is asserted: on a machine that other work shares, the quiet phases are not quiet.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

SPIN = "while True:\n    pass\n"


def _logistic(rng):
    from generated import logistic_regression as m

    X = rng.normal(size=(20_000, 20))
    y = (rng.random(20_000) < 0.5) * 1.0
    w = rng.normal(size=20) * 0.1
    args = (w, 0.1, X, y, 0.01)
    return "logistic value_and_grad (20 000, 20)", m.value_and_grad, m._value_and_grad_par, args


def _softmax(rng):
    from generated import softmax_regression as m

    n, d, K = 20_000, 20, 10
    X = rng.normal(size=(n, d))
    Y = np.eye(K)[rng.integers(0, K, n)]
    args = (rng.normal(size=(d, K)) * 0.1, np.zeros(K), X, Y, 0.01)
    return "softmax value_and_grad (20 000, 20, K = 10), blocked", m.value_and_grad, m._value_and_grad_par, args


def _mlp(rng):
    from generated import mlp as m

    n = 5_000
    X = rng.normal(size=(n, 100))
    Y = np.eye(10)[rng.integers(0, 10, n)]
    params = []
    for a, b in [(100, 64), (64, 64), (64, 10)]:
        params += [rng.normal(size=(a, b)) * 0.1, np.zeros(b)]
    return "MLP 100-64-64-10 value_and_grad (n = 5000), blocked on BLAS", m.value_and_grad, m._value_and_grad_par, \
        (*params, X, Y)


CASES = {"logistic": _logistic, "softmax": _softmax, "mlp": _mlp}


def _phase(calls: dict, reps: int) -> dict:
    times = {k: [] for k in calls}
    for k, f in calls.items():
        # one kernel at a time, then a pause: a numba worker spins ~20 ms after a parallel loop
        # and a BLAS worker ~100 ms after a product, and either takes a core from the next calls
        # (interleaved call by call, the raw twin's spinning workers made the others slow)
        f()
        for _ in range(reps):
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
        time.sleep(0.15)
    serial = statistics.median(times["serial"])
    return {k: {"median_ms": statistics.median(v) * 1e3, "slowest_ms": max(v) * 1e3,
                "slowest_over_serial_median": max(v) / serial} for k, v in times.items()}


def run_case(make, reps: int) -> dict:
    title, wrapper, twin, args = make(np.random.default_rng(0))
    calls = {"serial": lambda: wrapper(*args, parallel=False), "auto": lambda: wrapper(*args),
             "twin": lambda: twin(*args)}
    for f in calls.values():  # compiled (or loaded from the cache) and the thread pool started
        f()
        f()
    out = {"case": title, "phases": []}
    out["phases"].append(("quiet", _phase(calls, reps)))
    busy = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        time.sleep(0.5)  # the spinner is running and the scheduler has placed it
        out["phases"].append(("busy", _phase(calls, reps)))
    finally:
        busy.kill()
        busy.wait()
    time.sleep(0.2)
    out["phases"].append(("quiet again", _phase(calls, reps)))
    return out


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=15)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = p.parse_args(argv)
    import numba

    results = [run_case(CASES[c], a.calls) for c in a.cases.split(",")]
    if a.json:
        print(json.dumps({"numba_threads": numba.get_num_threads(), "layer": numba.threading_layer(),
                          "results": results}, indent=1))
        return results
    print(f"numba threads {numba.get_num_threads()}, layer {numba.threading_layer()}; {a.calls} calls each; "
          "ratio: slowest ÷ serial median of the phase")
    for r in results:
        print(f"\n{r['case']}")
        print(f"  {'phase':12s} {'kernel':7s} {'median ms':>10s} {'slowest ms':>11s} {'ratio':>7s}")
        for phase, res in r["phases"]:
            for k, v in res.items():
                print(f"  {phase:12s} {k:7s} {v['median_ms']:10.3f} {v['slowest_ms']:11.3f} "
                      f"{v['slowest_over_serial_median']:7.2f}")
    return results


if __name__ == "__main__":
    main()
