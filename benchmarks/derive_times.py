"""How long symml takes to derive, in a fresh process (no warm SymPy cache).

Targets (issue: the core DSL): the gradient and Hessian of the L2-regularised logistic
loss in under 1 s; the gradient of a 3-layer MLP with respect to all six weight and
bias tensors in under 10 s. Sizes are symbolic, so these times do not depend on n or d.

Run: ``python -m benchmarks.derive_times``
"""
from __future__ import annotations

import json
import subprocess
import sys

CASES = {
    "logistic grad + hessian": """
import symml as sm
n, d = sm.dims("n d")
X, y, w, lam = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,)), sm.scalar("lam")
L = sm.sum(sm.softplus(X @ w) - y * (X @ w)) + lam / 2 * sm.norm2(w)
t0 = time.perf_counter()
g = sm.grad(L, w)
H = sm.hessian(L, w)
""",
    "3-layer MLP grad (6 tensors)": """
import symml as sm
n, d, h1, h2, K = sm.dims("n d h1 h2 K")
X, Y = sm.tensor("X", (n, d)), sm.tensor("Y", (n, K))
W1, b1 = sm.tensor("W1", (d, h1)), sm.tensor("b1", (h1,))
W2, b2 = sm.tensor("W2", (h1, h2)), sm.tensor("b2", (h2,))
W3, b3 = sm.tensor("W3", (h2, K)), sm.tensor("b3", (K,))
t0 = time.perf_counter()
H1 = sm.let("h1", sm.tanh(X @ W1 + b1))
H2 = sm.let("h2", sm.tanh(H1 @ W2 + b2))
Z = sm.let("z", H2 @ W3 + b3)
L = -sm.sum(Y * sm.log_softmax(Z, axis=1))
gs = sm.grad(L, [W1, b1, W2, b2, W3, b3])
""",
}

TEMPLATE = """
import time
t_import = time.perf_counter()
{body}
t1 = time.perf_counter()
print(t1 - t0)
"""


def run() -> dict:
    out = {}
    for name, body in CASES.items():
        times = []
        for _ in range(3):
            r = subprocess.run([sys.executable, "-c", TEMPLATE.format(body=body)], capture_output=True, text=True,
                               check=True)
            times.append(float(r.stdout.strip()))
        out[name] = {"best_s": min(times), "all_s": times}
    return out


if __name__ == "__main__":
    res = run()
    for k, v in res.items():
        print(f"{k:<32} {v['best_s'] * 1e3:8.1f} ms (fresh process, best of 3)")
    print(json.dumps(res))
