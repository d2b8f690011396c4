"""The row under contention: logistic value_and_grad while another process keeps one core busy.

In a fresh process limited to two threads and pinned to two cores, a busy-looping
process (started here, pinned to the first of those cores, ended here) takes one core.
Then each variant is warmed up and called ``calls`` times, each call timed on its own:
the catalog kernel threaded (``parallel=True``) and serial (``parallel=False``), and
JAX's ``jit`` of the same loss where JAX is installed. The figures are the median and
the slowest call of each; the issue's target is a slowest threaded call of at most 3×
the serial median.

    python -m benchmarks.contention_row [--tiny]

Takes: nothing. Gives: ``run()`` → {"variants": {name: {"median_s", "max_s", "all_s"}}, ...}.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"n": 20_000, "d": 20}
TINY_SIZES = {"n": 2_000, "d": 20}

CODE = textwrap.dedent("""
    import json, os, statistics, subprocess, sys, time
    cpus = {cpus!r}
    os.sched_setaffinity(0, cpus)  # before numpy and the thread pools start
    busy = subprocess.Popen([sys.executable, "-c",
                             "import os; os.sched_setaffinity(0, {{%d}}); exec('while True: pass')" % cpus[0]])
    try:
        import numpy as np
        import numba
        from benchmarks import cases
        import generated.logistic_regression as m
        case = cases.Case("logistic_regression", "value_and_grad", {sizes!r})
        a = case.data()
        args = (a["w"], a["b"], a["X"], a["y"], a["lam"])
        variants = {{"threaded": lambda: m.value_and_grad(*args, parallel=True),
                    "serial": lambda: m.value_and_grad(*args, parallel=False)}}
        if {jax!r}:
            from benchmarks import impls_jax
            variants["jax"] = impls_jax.build(case, a)["jax"][0]
        time.sleep(0.5)  # the busy process is running
        out = {{}}
        for name, fn in variants.items():
            for _ in range(5):
                fn()
            ts = []
            for _ in range({calls}):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            out[name] = {{"median_s": statistics.median(ts), "max_s": max(ts), "all_s": ts}}
        try:
            layer = numba.threading_layer()
        except ValueError:
            layer = "not initialised"
        print(json.dumps({{"variants": out, "threading_layer": layer, "cpus": cpus, "busy_cpu": cpus[0],
                          "threads": numba.get_num_threads()}}))
    finally:
        busy.kill()
        busy.wait()
""")


def run(tiny: bool = False, calls: int = 15, threads: int = 2, jax: bool = True, log=sys.stderr) -> dict:
    """Median and slowest of ``calls`` calls of each variant with one core kept busy (fresh process)."""
    import importlib.util

    from . import machine

    sizes = TINY_SIZES if tiny else SIZES
    jax = jax and importlib.util.find_spec("jax") is not None
    cpus = sorted(os.sched_getaffinity(0))[:threads] if hasattr(os, "sched_getaffinity") else None
    if not cpus or len(cpus) < 2:
        return {"skipped": "needs at least two cores in this process's affinity set"}
    code = CODE.format(sizes=sizes, jax=jax, calls=calls, cpus=cpus)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=machine.thread_env(threads),
                       cwd=ROOT)
    if r.returncode != 0:
        tail = r.stderr.strip().splitlines()
        return {"skipped": f"failed: {tail[-1][:300] if tail else r.returncode}"}
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out.update({"sizes": sizes, "calls": calls, "case": "logistic_regression value_and_grad "
                + "x".join(str(v) for v in sizes.values())})
    v = out["variants"]
    out["threaded_max_over_serial_median"] = v["threaded"]["max_s"] / v["serial"]["median_s"]
    for name, e in v.items():
        print(f"  busy core: {name:<9} median {e['median_s'] * 1e3:.3f} ms, slowest {e['max_s'] * 1e3:.3f} ms",
              file=log, flush=True)
    return out


if __name__ == "__main__":
    print(json.dumps(run(tiny="--tiny" in sys.argv), indent=1))
