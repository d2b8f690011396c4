"""The row under contention: logistic value_and_grad while another process keeps one core busy.

In a fresh process limited to two threads and pinned to two cores, a busy-looping
process (started here, pinned to the first of those cores, ended here) takes one core.
Then each variant is warmed up and called ``calls`` times, each call timed on its own:
the catalog kernel threaded (``parallel=True``) and serial (``parallel=False``), and
JAX's ``jit`` of the same loss where JAX is installed. Two more fresh processes time the
threaded kernel with OMP_WAIT_POLICY=PASSIVE and with numba's workqueue threading layer
(settings that must be in place before numba starts its threads). The figures are the
median and the slowest call of each; the issue's target is a slowest threaded call of
at most 3× the serial median.

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
        variants = {{k: v for k, v in variants.items() if k in {names!r}}}
        if "jax" in {names!r}:
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
        for e in out.values():
            e["threading_layer"] = layer
        print(json.dumps({{"variants": out, "threading_layer": layer, "cpus": cpus, "busy_cpu": cpus[0],
                          "threads": numba.get_num_threads()}}))
    finally:
        busy.kill()
        busy.wait()
""")


# (label suffix, environment, variants) of each fresh process
PROCESSES = (
    ("", {}, ("threaded", "serial", "jax")),
    (", OMP_WAIT_POLICY=PASSIVE", {"OMP_WAIT_POLICY": "PASSIVE"}, ("threaded",)),
    (", workqueue layer", {"NUMBA_THREADING_LAYER": "workqueue"}, ("threaded",)),
)


def _process(code, env, cpus):
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    if r.returncode != 0:
        tail = r.stderr.strip().splitlines()
        return {"skipped": f"failed: {tail[-1][:300] if tail else r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def run(tiny: bool = False, calls: int = 15, threads: int = 2, jax: bool = True, settings: bool = True,
        log=sys.stderr) -> dict:
    """Median and slowest of ``calls`` calls of each variant with one core kept busy (fresh processes;
    ``settings``: also the threaded kernel with a passive OpenMP wait and with the workqueue layer)."""
    import importlib.util

    from . import machine

    sizes = TINY_SIZES if tiny else SIZES
    jax = jax and importlib.util.find_spec("jax") is not None
    cpus = sorted(os.sched_getaffinity(0))[:threads] if hasattr(os, "sched_getaffinity") else None
    if not cpus or len(cpus) < 2:
        return {"skipped": "needs at least two cores in this process's affinity set"}
    out = None
    for suffix, extra, names in PROCESSES if settings else PROCESSES[:1]:
        names = [n for n in names if n != "jax" or jax]
        code = CODE.format(sizes=sizes, names=names, calls=calls, cpus=cpus)
        got = _process(code, {**machine.thread_env(threads), **extra}, cpus)
        if out is None:
            if "skipped" in got:
                return got
            out = got
            continue
        if "skipped" in got:
            out["variants"]["threaded" + suffix] = got
        else:
            out["variants"]["threaded" + suffix] = got["variants"]["threaded"]
    out.update({"sizes": sizes, "calls": calls, "case": "logistic_regression value_and_grad "
                + "x".join(str(v) for v in sizes.values())})
    v = out["variants"]
    out["threaded_max_over_serial_median"] = v["threaded"]["max_s"] / v["serial"]["median_s"]
    for name, e in v.items():
        if "median_s" not in e:
            print(f"  busy core: {name}: {e.get('skipped')}", file=log, flush=True)
            continue
        print(f"  busy core: {name:<34} median {e['median_s'] * 1e3:.3f} ms, slowest {e['max_s'] * 1e3:.3f} ms",
              file=log, flush=True)
    return out


if __name__ == "__main__":
    print(json.dumps(run(tiny="--tiny" in sys.argv), indent=1))
