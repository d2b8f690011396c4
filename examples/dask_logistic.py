"""Fit logistic regression on data larger than one worker's memory, with symml.dask.

    python examples/dask_logistic.py                # 2 × 10⁶ rows × 50 columns (763 MiB)
    python examples/dask_logistic.py --rows 200000  # a quick run

Two worker processes on loopback, each limited to 600 MB, so that no worker could hold the
data: every block of 50 000 rows is generated on a worker when a task needs it, reduced to
its partial sums by the numba chunk kernel, and dropped. The fit is L-BFGS-B through scipy
with the distributed value-and-gradient. The script prints the time per distributed pass,
the in-memory kernel's time on the same data (when the client can hold it), and each
worker's peak memory.
"""
from __future__ import annotations

import argparse
import resource
import time

import dask
import numpy as np


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def warm(d: int):
    from generated import logistic_regression as m

    m.value_and_grad_chunk(np.zeros(d), 0.0, np.ones((10, d)), np.ones(10), 10.0)


def main(argv=None):
    from distributed import Client, LocalCluster

    import symml as sm
    from symml import dask as smd

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--cols", type=int, default=50)
    p.add_argument("--block", type=int, default=50_000)
    p.add_argument("--memory-limit", default="600MB")
    p.add_argument("--no-in-memory", action="store_true", help="skip the in-memory comparison")
    a = p.parse_args(argv)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, memory_limit=a.memory_limit, silence_logs=40) as cluster, \
            Client(cluster) as client:
        X, y, w_true = smd.synthetic_logistic(a.rows, a.cols, a.block, seed=0)
        gib = a.rows * (a.cols + 1) * 8 / 2**30
        print(f"data: {a.rows:,} × {a.cols} ({gib:.2f} GiB) in {X.numblocks[0]} blocks of {a.block:,} rows; "
              f"2 workers limited to {a.memory_limit} each")
        w0 = np.zeros(a.cols)
        client.run(warm, a.cols)  # every worker loads the kernels (numba's disk cache) before the baseline
        base = client.run(peak_rss_mb)
        t = time.perf_counter()
        v, _ = smd.value_and_grad("logistic_regression", w0, 0.0, X, y, 1.0, client=client)
        one = time.perf_counter() - t
        print(f"one distributed value_and_grad (generating the blocks, then the kernel): {one:.2f} s")
        t = time.perf_counter()
        r = sm.fit("logistic_regression", (X, y), method="L-BFGS-B", client=client, lam=1.0)
        fit_s = time.perf_counter() - t
        calls = r.info["distributed_calls"]
        print(f"L-BFGS-B: {r.message}; {calls} distributed passes in {fit_s:.1f} s ({fit_s / calls:.2f} s a pass); "
              f"max |w − w_true| = {np.max(np.abs(r.params['w'] - w_true)):.4f}")
        peak = client.run(peak_rss_mb)
        for k in peak:
            print(f"worker {k}: peak RSS {peak[k]:.0f} MB (at start of the measured passes {base[k]:.0f} MB)")
        if not a.no_in_memory:
            from generated import logistic_regression as m

            Xn, yn = dask.compute(X, y, scheduler="threads")  # in this process, not on a worker
            m.value_and_grad(w0, 0.0, Xn, yn, 1.0)
            t = time.perf_counter()
            for _ in range(5):
                m.value_and_grad(w0, 0.0, Xn, yn, 1.0, check_finite=False)
            mem = (time.perf_counter() - t) / 5
            t = time.perf_counter()
            for _ in range(3):
                smd.synthetic_logistic(a.rows, a.cols, a.block, seed=0)[0].sum().compute()
            gen = (time.perf_counter() - t) / 3
            print(f"in-memory value_and_grad on the same data: {mem * 1e3:.1f} ms; generating the data alone "
                  f"(distributed): {gen:.2f} s")
        return r


if __name__ == "__main__":
    main()
