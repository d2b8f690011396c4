"""The generated kernels of one checkout, for a before/after comparison of codegen.

    NUMBA_CACHE_DIR=/tmp/nc_old python -m benchmarks.generated_ab /path/to/old/checkout
    NUMBA_CACHE_DIR=/tmp/nc_new python -m benchmarks.generated_ab .

prints, as JSON, the median time of a few catalog kernels under ROOT/generated (ms, or µs
where the key says so). Run it once per checkout, each in its own process with its own
numba cache, and alternate the runs. Nothing here is asserted.
"""
from __future__ import annotations

import importlib
import json
import sys
import time

import numpy as np


def median_ms(f, reps: int = 15) -> float:
    f()
    f()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def main(root: str) -> dict:
    sys.path.insert(0, root)
    gen = {name: importlib.import_module(f"generated.{name}")
           for name in ("logistic_regression", "least_squares", "softmax_regression", "mlp")}
    lr, ls = gen["logistic_regression"], gen["least_squares"]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100_000, 100))
    y = (rng.random(100_000) < 0.5).astype(float)
    w = rng.normal(size=100) * 0.1
    res = {
        "logistic vg (1e5,100)": median_ms(lambda: lr.value_and_grad(w, 0.1, X, y, 1.0)),
        "least squares vg (1e5,100)": median_ms(lambda: ls.value_and_grad(w, 0.1, X, y)),
        "logistic hessian (5000,100)": median_ms(lambda: lr.hessian(w, 0.1, X[:5000], y[:5000], 1.0)),
    }
    Xs, ys, ws = X[:1000, :10].copy(), y[:1000].copy(), w[:10].copy()
    res["logistic vg (1000,10) us"] = median_ms(lambda: lr.value_and_grad(ws, 0.1, Xs, ys, 1.0), 200) * 1e3
    K = 10
    Xm = rng.normal(size=(20_000, 100))
    Y = np.eye(K)[rng.integers(0, K, 20_000)]
    W, c = rng.normal(size=(100, K)) * 0.1, np.zeros(K)
    res["softmax vg (2e4,100,10)"] = median_ms(lambda: gen["softmax_regression"].value_and_grad(W, c, Xm, Y, 1.0))
    Xn = rng.normal(size=(10_000, 100))
    Yn = np.eye(10)[rng.integers(0, 10, 10_000)]
    sizes = [(100, 64), (64, 64), (64, 10)]
    params = []
    for a, b in sizes:
        params += [rng.normal(size=(a, b)) * 0.1, np.zeros(b)]
    res["mlp vg (1e4, 100-64-64-10)"] = median_ms(lambda: gen["mlp"].value_and_grad(*params, Xn, Yn))
    return res


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else ".")))
