"""Cold start to the first result (issue 18, item 4), each case in a fresh process with empty caches.

    python -m benchmarks.cold_start [--cases adhoc_logistic,adhoc_mlp,logistic_regression,...] [--root DIR] [--json]

``--root`` runs the cases against another checkout (its symml and its generated/), for a
before/after comparison from one script.

A case is a Python process started with an empty NUMBA_CACHE_DIR and SYMML_CACHE_DIR (fresh
temporary folders), which times its own stages:

- ``import``: numpy, numba and symml imported;
- ``build``: for an ``adhoc_*`` case the model written and ``sm.compile``d (derivation and
  codegen, no numba yet); for a catalog module, the generated module imported;
- ``first``: the first call of value_and_grad (or of the kernel), numba's compilation included;
- ``rest``: for a catalog module, the first call of every other kernel it has (loss, grad,
  hessian, hvp), so ``total`` is the module's whole cold compile.

Wall seconds and the process's CPU seconds are both printed: on a machine that other work
shares, wall time grows with the load, CPU time much less. Nothing is asserted.
The issue's targets: adhoc_logistic ≤ 1 s, adhoc_mlp ≤ 2 s, any catalog module ≤ 5 s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CLOCK = textwrap.dedent("""
    import json, os, time
    marks = []
    def mark(name):
        t = os.times()
        marks.append((name, time.perf_counter(), t.user + t.system))
    mark("start")
""")

IMPORTS = "import numpy as np\nimport numba\nimport symml as sm\nmark('import')\n"

ADHOC = {
    "adhoc_logistic": """
        n, d = sm.dims("n d")
        X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
        L = sm.sum(sm.softplus(X @ w) - y * (X @ w))
        k = sm.compile({"loss": L, "grad": sm.grad(L, w)})
        mark("build")
        rng = np.random.default_rng(0)
        k(X=rng.normal(size=(50, 3)), w=np.zeros(3), y=np.ones(50))
        mark("first")
    """,
    "adhoc_mlp": """
        n, d, h1, h2, K = sm.dims("n d h1 h2 K")
        X, Y = sm.tensor("X", (n, d)), sm.tensor("Y", (n, K))
        W1, b1 = sm.tensor("W1", (d, h1)), sm.tensor("b1", (h1,))
        W2, b2 = sm.tensor("W2", (h1, h2)), sm.tensor("b2", (h2,))
        W3, b3 = sm.tensor("W3", (h2, K)), sm.tensor("b3", (K,))
        z = sm.tanh(sm.tanh(X @ W1 + b1) @ W2 + b2) @ W3 + b3
        L = -sm.sum(Y * sm.log_softmax(z, axis=1))
        params = [W1, b1, W2, b2, W3, b3]
        k = sm.compile({"loss": L, "grad": sm.grad(L, params)})
        mark("build")
        rng = np.random.default_rng(0)
        shapes = {"W1": (6, 5), "b1": (5,), "W2": (5, 4), "b2": (4,), "W3": (4, 3), "b3": (3,)}
        vals = {k_: rng.normal(size=s) * 0.3 for k_, s in shapes.items()}
        k(X=rng.normal(size=(40, 6)), Y=np.eye(3)[rng.integers(0, 3, 40)], **vals)
        mark("first")
    """,
}

MODULE = """
    import importlib
    from symml.catalog import load
    from symml.verify import sample_inputs
    d = load({name!r})
    m = importlib.import_module("generated." + {name!r})
    mark("build")
    args = sample_inputs(d, np.random.default_rng(0))
    p = [args[t.name] for t in d.params]
    rest = [args[t.name] for t in d.data + d.hyper]
    kernels = [k for k in ("value_and_grad", "loss", "grad", "hessian") if hasattr(m, k)]
    getattr(m, kernels[0])(*p, *rest)
    mark("first")
    for k in kernels[1:]:
        getattr(m, k)(*p, *rest)
    if hasattr(m, "hvp"):
        m.hvp(*p, *p, *rest)
    mark("rest")
"""

REPORT = textwrap.dedent("""
    out = {}
    for (a, t0, c0), (b, t1, c1) in zip(marks, marks[1:]):
        out[b] = {"wall_s": t1 - t0, "cpu_s": c1 - c0}
    out["total"] = {"wall_s": marks[-1][1] - marks[0][1], "cpu_s": marks[-1][2] - marks[0][2]}
    print("COLD " + json.dumps(out))
""")

DEFAULT = ("adhoc_logistic", "adhoc_mlp", "logistic_regression", "softmax_regression", "mlp")


def case_code(name: str) -> str:
    body = ADHOC[name] if name in ADHOC else MODULE.format(name=name)
    return CLOCK + IMPORTS + textwrap.dedent(body) + REPORT


def run_case(name: str, root: Path = ROOT) -> dict:
    """One case in a fresh process with empty caches: its stages, wall and CPU seconds."""
    with tempfile.TemporaryDirectory() as nc, tempfile.TemporaryDirectory() as sc:
        env = {**os.environ, "NUMBA_CACHE_DIR": nc, "SYMML_CACHE_DIR": sc, "PYTHONPATH": str(root)}
        r = subprocess.run([sys.executable, "-c", case_code(name)], capture_output=True, text=True, env=env,
                           cwd=root)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("COLD ")), None)
    if r.returncode or line is None:
        raise RuntimeError(f"cold-start case {name} failed:\n{r.stderr[-2000:]}")
    return json.loads(line[5:])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(DEFAULT))
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout to run (default: this one)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    res = {}
    for name in a.cases.split(","):
        res[name] = run_case(name, a.root.resolve())
        if not a.json:
            stages = "  ".join(f"{k} {v['wall_s']:.2f}/{v['cpu_s']:.2f}" for k, v in res[name].items())
            print(f"{name:22s} {stages}   (wall/cpu s)", flush=True)
    if a.json:
        print(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
