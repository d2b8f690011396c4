"""A user's loss compiled with sm.compile against the catalog kernel of the same mathematics.

Both go through one planner (symml.codegen.plan): a loss that sums over rows gets the same
chunk kernels, blocked and threaded drivers and BLAS either way, so the ratio user ÷ catalog
should be close to 1 (the goal of issue 18 is ≤ 1.1×). The user's losses are written as a
user would, without sm.let and with their own tensors; the catalog's come from generated/.
Each case runs value_and_grad (loss and gradient in one pass) at 1 and 2 numba threads, in
this one process, after a warm-up call; a row is the median of ``--repeats`` calls, the
catalog's and the user's interleaved.

    python benchmarks/compile_vs_catalog.py [--repeats 15] [--cases logistic,mlp]

Prints a markdown table: medians, and the best call of each (on a shared machine the best
is the steadier figure). Speed is measured here, never asserted in tests.
"""
from __future__ import annotations

import argparse
import importlib
import os
import platform
import time

import numba
import numpy as np

import symml as sm
from symml.codegen.runtime import finish_compiling


def _timed(fns, repeats: int) -> list[tuple[float, float]]:
    """(median, best) time of each function; calls interleaved, so that a change of load on a
    shared machine falls on all of them alike."""
    for fn in fns:
        fn()  # warm-up: compiles, or loads numba's cache
    finish_compiling()  # threaded twins compile behind a first call: time the twins, not the serial kernels
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [(float(np.median(ts)), float(min(ts))) for ts in times]


def logistic(rng):
    n, d = 100_000, 100
    N, D = sm.dims("N D")  # the user's own dimensions and tensors
    A, t, u, c, mu = sm.tensor("A", (N, D)), sm.tensor("t", (N,)), sm.tensor("u", (D,)), sm.scalar("c"), sm.scalar("mu")
    z = A @ u + c
    L = sm.sum(sm.softplus(z) - t * z) + mu / 2 * sm.norm2(u)
    X = rng.normal(size=(n, d)) / np.sqrt(d)
    y = (rng.random(n) < 0.5).astype(np.float64)
    w = rng.normal(size=d)
    user = sm.compile({"loss": L, "grad": sm.grad(L, [u, c])})
    mod = importlib.import_module("generated.logistic_regression")
    return (f"logistic ({n}, {d})", lambda: mod.value_and_grad(w, 0.1, X, y, 1.0, check_finite=False),
            lambda: user(A=X, t=y, u=w, c=0.1, mu=1.0, check_finite=False))


def least_squares(rng):
    n, d = 100_000, 100
    N, D = sm.dims("N D")
    A, t, u, c = sm.tensor("A", (N, D)), sm.tensor("t", (N,)), sm.tensor("u", (D,)), sm.scalar("c")
    L = sm.sum((A @ u + c - t) ** 2)
    X = rng.normal(size=(n, d))
    y = rng.normal(size=n)
    w = rng.normal(size=d)
    user = sm.compile({"loss": L, "grad": sm.grad(L, [u, c])})
    mod = importlib.import_module("generated.least_squares")
    return (f"least squares ({n}, {d})", lambda: mod.value_and_grad(w, 0.1, X, y, check_finite=False),
            lambda: user(A=X, t=y, u=w, c=0.1, check_finite=False))


def softmax(rng):
    n, d, K = 20_000, 100, 10
    N, D, C = sm.dims("N D C")
    A, T = sm.tensor("A", (N, D)), sm.tensor("T", (N, C))
    V, v, mu = sm.tensor("V", (D, C)), sm.tensor("v", (C,)), sm.scalar("mu")
    L = -sm.sum(T * sm.log_softmax(A @ V + v, axis=1)) + mu / 2 * sm.norm2(V)
    X = rng.normal(size=(n, d))
    Y = np.eye(K)[rng.integers(0, K, n)]
    W, c = rng.normal(size=(d, K)) * 0.1, rng.normal(size=K) * 0.1
    user = sm.compile({"loss": L, "grad": sm.grad(L, [V, v])})
    mod = importlib.import_module("generated.softmax_regression")
    return (f"softmax K = {K} ({n}, {d})", lambda: mod.value_and_grad(W, c, X, Y, 1.0, check_finite=False),
            lambda: user(A=X, T=Y, V=W, v=c, mu=1.0, check_finite=False))


def mlp(rng):
    n, d, h1, h2, K = 10_000, 100, 64, 64, 10
    N, D, H1, H2, C = sm.dims("N D H1 H2 C")
    A, T = sm.tensor("A", (N, D)), sm.tensor("T", (N, C))
    U1, c1 = sm.tensor("U1", (D, H1)), sm.tensor("c1", (H1,))
    U2, c2 = sm.tensor("U2", (H1, H2)), sm.tensor("c2", (H2,))
    U3, c3 = sm.tensor("U3", (H2, C)), sm.tensor("c3", (C,))
    z = sm.tanh(sm.tanh(A @ U1 + c1) @ U2 + c2) @ U3 + c3
    L = -sm.sum(T * sm.log_softmax(z, axis=1))
    params = [U1, c1, U2, c2, U3, c3]
    X = rng.normal(size=(n, d))
    Y = np.eye(K)[rng.integers(0, K, n)]
    shapes = [(d, h1), (h1,), (h1, h2), (h2,), (h2, K), (K,)]
    theta = [rng.normal(size=s) * 0.1 for s in shapes]
    user = sm.compile({"loss": L, "grad": sm.grad(L, params)})
    mod = importlib.import_module("generated.mlp")
    named = {p.name: a for p, a in zip(params, theta)}
    return (f"tanh MLP {d}-{h1}-{h2}-{K} (n = {n})", lambda: mod.value_and_grad(*theta, X, Y, check_finite=False),
            lambda: user(A=X, T=Y, **named, check_finite=False))


CASES = {"logistic": logistic, "least_squares": least_squares, "softmax": softmax, "mlp": mlp}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    threads = [int(t) for t in args.threads.split(",")]
    rows = []
    for name in args.cases.split(","):
        label, catalog, user = CASES[name](rng)
        ref, got = catalog(), user()
        ok = np.allclose(ref[0], got["loss"], rtol=1e-9)  # the same numbers, or the row says so
        for t in threads:
            numba.set_num_threads(min(t, numba.config.NUMBA_NUM_THREADS))
            tc, tu = _timed([catalog, user], args.repeats)
            rows.append((label, t, tc, tu, ok))
    print(f"sm.compile against the catalog, value_and_grad; median of {args.repeats} calls; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numba {numba.__version__}, "
          f"threading layer {numba.threading_layer()}\n")
    print("| case | threads | catalog | sm.compile | user ÷ catalog | best: catalog, sm.compile, ratio |")
    print("|---|---|---|---|---|---|")
    for label, t, (tc, bc), (tu, bu), ok in rows:
        print(f"| {label} | {t} | {tc * 1e3:.2f} ms | {tu * 1e3:.2f} ms | {tu / tc:.2f}×"
              f"{'' if ok else ' (values differ!)'} | {bc * 1e3:.2f}, {bu * 1e3:.2f} ms, {bu / bc:.2f}× |")


if __name__ == "__main__":
    main()
