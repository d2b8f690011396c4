"""Peak memory and time of the Hessian of a multivariate Gaussian NLL over (μ, P).

    python -m benchmarks.gaussian_memory                     # this checkout, both sizes
    python -m benchmarks.gaussian_memory --checkout /work/main --sizes 4000x20

The loss is L = ½ Σᵢ (xᵢ − μ)ᵀP(xᵢ − μ) − (n/2) log det P, for X (n, d), μ (d,), P (d, d),
and the figure is for ``sm.hessian(L, [mu, P])``, all four blocks, computed by a kernel of
``sm.compile`` and by ``sm.evaluate``. Each (size, way) runs in a child process of its own,
with the checkout given on its PYTHONPATH, so two checkouts can be compared (before and
after a change of codegen). The child compiles and runs once at a tiny size, resets the
peak of its resident set (``/proc/self/clear_refs``, Linux), runs once at the measured
size, and reports the new peak (VmHWM) and the median time of a few calls. The peak counts
everything the process holds, numpy's and numba's arrays alike, on top of the inputs.

The problem needs O(n·d + d⁴) numbers: X, and the (d, d, d, d) block ∂²L/∂P². A graph
that keeps the sample axis inside the rank-4 block needs O(n·d⁴) instead; the report says
which. Nothing is asserted: this is a measurement, not a test.
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


def _vm(field: str) -> float:
    """A field of /proc/self/status in MB (VmHWM: the peak resident set; VmRSS: now)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident set
        return True
    except OSError:
        return False


def child(way: str, n: int, d: int, reps: int) -> dict:
    """Run in the child process: the measurement of one way at one size."""
    import numpy as np

    import symml as sm

    n_, d_ = sm.dims("n d")
    X, mu, P = sm.tensor("X", (n_, d_)), sm.tensor("mu", (d_,)), sm.tensor("P", (d_, d_))
    R = X - mu
    L = sm.sum((R @ P) * R) / 2 - n_ * sm.logdet(P) / 2
    H = sm.hessian(L, [mu, P])

    def draw(n, d, seed=0):
        rng = np.random.default_rng(seed)
        A = rng.standard_normal((d, d))
        return {"X": rng.standard_normal((n, d)), "mu": rng.standard_normal(d), "P": A @ A.T + d * np.eye(d)}

    if way == "compile":
        kernel = sm.compile(H)
        run = lambda a: kernel(**a)  # noqa: E731
    else:
        run = lambda a: sm.evaluate(H, **a)  # noqa: E731
    run(draw(7, 3))  # compile (or load from numba's cache) at a tiny size
    a = draw(n, d)
    inputs_mb = sum(v.nbytes for v in a.values()) / 2**20
    exact = _reset_peak()
    base = _vm("VmRSS")
    t0 = time.perf_counter()
    out = run(a)
    first = time.perf_counter() - t0
    peak = _vm("VmHWM")
    out_mb = sum(np.asarray(b).nbytes for row in out for b in row) / 2**20
    del out
    times = [first]
    for _ in range(reps - 1):
        t0 = time.perf_counter()
        run(a)
        times.append(time.perf_counter() - t0)
    return {"way": way, "n": n, "d": d, "peak_MB": round(peak, 1), "above_start_MB": round(peak - base, 1),
            "inputs_MB": round(inputs_mb, 2), "outputs_MB": round(out_mb, 2), "peak_reset": exact,
            "time_ms": round(1e3 * sorted(times)[len(times) // 2], 2)}


def measure(checkout: Path, way: str, n: int, d: int, reps: int, timeout: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    # run as a script, not with -m: the checkout on PYTHONPATH, not this folder, provides symml
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", way, str(n), str(d), "--reps", str(reps)]
    r = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        return {"way": way, "n": n, "d": d, "error": (r.stderr.strip().splitlines() or ["killed"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkout", default=str(ROOT), help="the symml checkout to measure (default: this one)")
    ap.add_argument("--sizes", default="4000x20,6000x50", help="n x d, comma-separated")
    ap.add_argument("--ways", default="compile,evaluate")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--child", nargs=3, metavar=("WAY", "N", "D"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        way, n, d = args.child
        print(json.dumps(child(way, int(n), int(d), args.reps)))
        return
    rows = []
    for size in args.sizes.split(","):
        n, d = (int(x) for x in size.lower().split("x"))
        for way in args.ways.split(","):
            row = measure(Path(args.checkout), way, n, d, args.reps, args.timeout)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\nHessian of the Gaussian NLL over (μ, P), checkout {args.checkout}")
    print("| n, d | way | peak RSS above start | peak RSS | time (median) | inputs | outputs |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['n']}, {r['d']} | {r['way']} | failed: {r['error']} | | | | |")
            continue
        print(f"| {r['n']}, {r['d']} | {r['way']} | {r['above_start_MB']:.0f} MB | {r['peak_MB']:.0f} MB | "
              f"{r['time_ms']:.2f} ms | {r['inputs_MB']:.1f} MB | {r['outputs_MB']:.1f} MB |")


if __name__ == "__main__":
    main()
