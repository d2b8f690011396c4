"""Matrix-heavy models, symml against jax.jit side by side: value_and_grad at 1 and 2 threads.

Three models, each written once for symml and once in jax.numpy:

- ``cnn``: the catalog's CNN (generated/cnn.py) at the size of benchmarks/cases.py;
- ``mlp``: the catalog's tanh MLP 100-64-64-10 (generated/mlp.py) at n = 10⁴;
- ``autoencoder``: a tied-weight autoencoder ½‖tanh(XW + c)Wᵀ + e − X‖² that a user writes
  and compiles with ``sm.compile`` (n = 10⁴, d = 100, r = 32).

For each thread count a child process is pinned to that many cores (so XLA's and numba's
pools both see them), and in it symml and JAX run in turn: ``--rounds`` rounds, each timing
``--calls`` calls of every implementation, samples interleaved, so that load from other
processes falls on both alike. A figure is the median over rounds of the per-call time;
the ratio is JAX ÷ symml (above 1: symml is faster). Before timing, the two results are
compared (value and every gradient), and a disagreement stops the run.

symml runs serially at one thread (``parallel=False``); at two, as a user calls it
(``parallel=None``: the wrapper takes numba's threads from PARALLEL_MIN_SIZE input numbers
on, so the CNN's 50 000 stay serial), or with ``--force-threads`` on its threads whatever
the size. JAX is float64 on the CPU.

Run: ``python -m benchmarks.matrix_models [--models cnn,mlp,autoencoder] [--threads 1,2]``.
Not part of the test run; no figure here is asserted anywhere.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

AUTOENCODER = {"n": 10_000, "d": 100, "r": 32}


def _case(model):
    from benchmarks.cases import CASES, MAKERS

    case = next(c for c in CASES if c.model == model and c.kernel == "value_and_grad")
    import numpy as np

    return case, MAKERS[model](np.random.default_rng(0), **case.sizes)


def _catalog(model, jax, jnp):
    """(symml fn(parallel), jax fn, description) for a catalog model at its benchmark size."""
    import importlib

    from benchmarks.cases import SIGNATURES
    from benchmarks.impls_jax import _losses

    case, data = _case(model)
    mod = importlib.import_module("generated." + model)
    params, rest = SIGNATURES[model]
    args = [data[p] for p in params] + [data[r] for r in rest]
    g = jax.jit(jax.value_and_grad(_losses(jnp, jax)[model], argnums=tuple(range(len(params)))))
    J = [jnp.asarray(a) for a in args]

    def ours(parallel):
        v, gs = mod.value_and_grad(*args, parallel=parallel)
        return v, list(gs)

    def theirs():
        v, gs = jax.block_until_ready(g(*J))
        return v, list(gs)

    return ours, theirs, f"{model} {case.sizes}"


def _autoencoder(jax, jnp, parallel):
    import numpy as np

    import symml as sm

    n, d, r = sm.dims("n d r")
    X, W = sm.tensor("X", (n, d)), sm.tensor("W", (d, r))
    c, e = sm.tensor("c", (r,)), sm.tensor("e", (d,))
    L = sm.sum((sm.tanh(X @ W + c) @ W.T + e - X) ** 2) / 2
    kernel = sm.compile({"L": L, "g": sm.grad(L, [W, c, e])}, parallel=parallel)
    rng = np.random.default_rng(0)
    s = AUTOENCODER
    a = {"X": rng.standard_normal((s["n"], s["d"])), "W": 0.1 * rng.standard_normal((s["d"], s["r"])),
         "c": 0.1 * rng.standard_normal(s["r"]), "e": 0.1 * rng.standard_normal(s["d"])}

    def f(W, c, e, X):
        return jnp.sum((jnp.tanh(X @ W + c) @ W.T + e - X) ** 2) / 2

    g = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))
    J = [jnp.asarray(a[k]) for k in ("W", "c", "e", "X")]

    def ours(parallel):
        out = kernel(**a)  # threads fixed when compiled
        return out["L"], list(out["g"])

    def theirs():
        v, gs = jax.block_until_ready(g(*J))
        return v, list(gs)

    return ours, theirs, f"autoencoder (sm.compile) {s}"


def _agree(a, b, model):
    import numpy as np

    va, ga = a
    vb, gb = b
    scale = max(1.0, abs(float(vb)))
    bad = abs(float(va) - float(vb)) > 1e-8 * scale
    for x, y in zip(ga, gb):
        x, y = np.asarray(x), np.asarray(y)
        bad |= x.shape != y.shape or float(np.max(np.abs(x - y))) > 1e-8 * max(1.0, float(np.max(np.abs(y))))
    if bad:
        raise SystemExit(f"{model}: symml and JAX disagree; no timing")


def child(models, threads, rounds, calls, force=False):
    """Runs in the pinned child: the figures of one thread count, as a JSON line on stdout."""
    import numpy as np

    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numba

    from symml.codegen.runtime import finish_compiling

    numba.set_num_threads(threads)
    parallel = False if threads == 1 else (True if force else None)
    out = {"threads": threads, "models": {}}
    for model in models:
        ours, theirs, what = _autoencoder(jax, jnp, parallel) if model == "autoencoder" else _catalog(model, jax, jnp)
        _agree(ours(parallel), theirs(), model)
        for _ in range(3):  # warm: compiled, caches and pools settled
            ours(parallel)
            theirs()
        finish_compiling()  # a threaded twin compiles behind the first call
        times = {"symml": [], "jax": []}
        for _ in range(rounds):
            for name, fn in (("symml", lambda: ours(parallel)), ("jax", theirs)):
                t = time.perf_counter()
                for _ in range(calls):
                    fn()
                times[name].append((time.perf_counter() - t) / calls)
        med = {k: float(np.median(v)) for k, v in times.items()}
        out["models"][model] = {"what": what, "symml_ms": 1e3 * med["symml"], "jax_ms": 1e3 * med["jax"],
                                "ratio": med["jax"] / med["symml"]}
    print(json.dumps(out))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="cnn,mlp,autoencoder")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--force-threads", action="store_true", help="symml on its threads at any size")
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    models = [m for m in a.models.split(",") if m]
    if a.child:
        child(models, a.child, a.rounds, a.calls, a.force_threads)
        return
    import numpy as np

    print(f"numpy {np.__version__}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}; "
          f"{os.cpu_count()} cores; figures: medians of {a.rounds} rounds of {a.calls} calls")
    print(f"{'model':<54} {'threads':>7} {'symml ms':>9} {'jax ms':>9} {'jax/symml':>9}")
    for t in (int(x) for x in a.threads.split(",")):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(t),
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        if t == 1:
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                "intra_op_parallelism_threads=1").strip()
        cores = sorted(os.sched_getaffinity(0))[:t]
        cmd = [sys.executable, "-m", "benchmarks.matrix_models", "--child", str(t), "--models", a.models,
               "--rounds", str(a.rounds), "--calls", str(a.calls)] + (["--force-threads"] if a.force_threads else [])
        res = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                             preexec_fn=lambda: os.sched_setaffinity(0, cores))
        if res.returncode:
            raise SystemExit(res.stderr[-3000:])
        row = json.loads(res.stdout.strip().splitlines()[-1])
        for m, r in row["models"].items():
            print(f"{r['what']:<54} {t:>7} {r['symml_ms']:>9.2f} {r['jax_ms']:>9.2f} {r['ratio']:>9.2f}")


if __name__ == "__main__":
    main()
