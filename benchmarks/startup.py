"""Start-up costs: cold vs cached kernels, measured in fresh processes.

- ``sm.compile`` of the logistic loss + gradient: first process (codegen + numba
  compile) against a second process (cache hit: no codegen, numba loads from disk).
- Each generated catalog module: first call of every kernel with numba's cache
  empty (cold compile) and with it warm (load from disk).

Run: ``python -m benchmarks.startup`` (uses temporary cache directories).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ADHOC = textwrap.dedent("""
    import time
    t0 = time.perf_counter()
    import numpy as np, symml as sm
    n, d = sm.dims("n d")
    X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
    L = sm.sum(sm.softplus(X @ w) - y * (X @ w))
    k = sm.compile({"loss": L, "grad": sm.grad(L, w)})
    t1 = time.perf_counter()
    k(X=np.ones((5, 2)), w=np.zeros(2), y=np.ones(5))
    t2 = time.perf_counter()
    print(t1 - t0, t2 - t1)
""")

MODULE = textwrap.dedent("""
    import time, importlib, numpy as np
    t0 = time.perf_counter()
    from symml.verify import sample_inputs
    from symml.catalog import load
    d = load({name!r})
    k = importlib.import_module("generated." + {name!r})
    args = sample_inputs(d, np.random.default_rng(0))
    p = [args[t.name] for t in d.params]
    rest = [args[t.name] for t in d.data + d.hyper]
    t1 = time.perf_counter()
    for kern in ("loss", "grad", "value_and_grad", "hessian"):
        if hasattr(k, kern):
            getattr(k, kern)(*p, *rest)
    if hasattr(k, "hvp"):
        k.hvp(*p, *p, *rest)
    print(time.perf_counter() - t1)
""")


def _py(code, env):
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return [float(x) for x in r.stdout.split()]


def run(names=None) -> dict:
    from symml.catalog import catalog

    res = {"adhoc": {}, "modules": {}}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "SYMML_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        res["adhoc"]["first_process_s"] = sum(_py(ADHOC, env))
        second = _py(ADHOC, env)
        res["adhoc"]["second_process_s"] = sum(second)
        res["adhoc"]["second_process_first_call_s"] = second[1]
    for name in names or catalog():
        with tempfile.TemporaryDirectory() as nc:
            env = {**os.environ, "NUMBA_CACHE_DIR": nc, "PYTHONPATH": str(ROOT)}
            cold = _py(MODULE.format(name=name), env)[0]
            warm = _py(MODULE.format(name=name), env)[0]
        res["modules"][name] = {"cold_compile_s": cold, "cached_first_calls_s": warm}
    return res


if __name__ == "__main__":
    r = run(sys.argv[1:] or None)
    a = r["adhoc"]
    print(f"sm.compile, first process (derive + codegen + numba compile + call): {a['first_process_s']:.2f} s")
    print(f"sm.compile, second process (cache hit + call):                        {a['second_process_s']:.2f} s"
          f" (first call {a['second_process_first_call_s'] * 1e3:.0f} ms)")
    print(f"{'module':<28}{'cold compile':>14}{'cached':>10}   (all kernels' first calls)")
    for k, v in r["modules"].items():
        print(f"{k:<28}{v['cold_compile_s']:>12.2f} s{v['cached_first_calls_s']:>8.2f} s")
    print(json.dumps(r))
