"""Elementary functions inside a numba loop: symml's vectorisable helpers against numba's own
spelling (``np.exp`` and the others in the loop: one libm call per element) and numpy's ufuncs.

For each function, an ``@njit`` loop writes f(a[i]) into out[i] over a float64 array of 10⁶
elements, at one thread; the figure is the best of several runs, in ns per element. A second
column states whether LLVM vectorised the loop: the packed register width of the loop's
arithmetic in the dispatcher's assembly (zmm: 8 doubles, ymm: 4, none: scalar code), and
whether a call is left in it. The "scalar loop" columns sum f(a[i]) in order, which LLVM does
not vectorise without fastmath: the cost of one call in a loop over rows whose body is not
vectorised (a fused kernel's row loop with inner loops over features).

Run: ``python -m benchmarks.vecmath [--n 1000000] [--repeat 15]`` (about 20 s, most of it
numba compiling). Not part of the test run; no figure here is asserted anywhere.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # one thread: the loops are serial, and so is numpy

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from symml.codegen import vecmath

#: Each function: its input range (a uniform sample), numba's spelling in a loop, numpy's ufunc form.
CASES = {
    "exp": ((-50.0, 50.0), "np.exp(v)", lambda a, out: np.exp(a, out=out)),
    "expm1": ((-5.0, 5.0), "np.expm1(v)", lambda a, out: np.expm1(a, out=out)),
    "log": ((1e-3, 1e3), "np.log(v)", lambda a, out: np.log(a, out=out)),
    "log1p": ((-0.5, 1e3), "np.log1p(v)", lambda a, out: np.log1p(a, out=out)),
    "tanh": ((-5.0, 5.0), "np.tanh(v)", lambda a, out: np.tanh(a, out=out)),
    # what symml emitted before: σ and softplus from np.exp and np.log1p (scalar.py's old helpers)
    "sigmoid": ((-20.0, 20.0), "1.0 / (1.0 + np.exp(-v)) if v >= 0 else np.exp(v) / (1.0 + np.exp(v))",
                lambda a, out: np.divide(1.0, 1.0 + np.exp(-a), out=out)),
    "softplus": ((-20.0, 20.0), "max(v, 0.0) + np.log1p(np.exp(-abs(v)))",
                 lambda a, out: np.logaddexp(0.0, a, out=out)),
}

LOOPS = '''

@njit
def symml_{f}(a, out):
    for i in range(a.shape[0]):
        out[i] = _{f}(a[i])


@njit
def numba_{f}(a, out):
    for i in range(a.shape[0]):
        v = a[i]
        out[i] = {spelling}


@njit
def symml_{f}_scalar(a, out):
    # a strict (unreordered) running sum: LLVM keeps this loop scalar, as in a loop over rows
    s = 0.0
    for i in range(a.shape[0]):
        s += _{f}(a[i])
    out[0] = s


@njit
def numba_{f}_scalar(a, out):
    s = 0.0
    for i in range(a.shape[0]):
        v = a[i]
        s += {spelling}
    out[0] = s
'''


def build(directory: Path):
    """A module with the helpers and two loops per function, imported from a real file (numba caches it)."""
    src = vecmath.module_source()
    src += "".join(LOOPS.format(f=f, spelling=c[1]) for f, c in CASES.items())
    path = directory / "vecmath_bench.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("vecmath_bench", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # numba's cache finds a function's module by name
    spec.loader.exec_module(mod)
    return mod


def best(fn, a, out, repeat: int) -> float:
    fn(a, out)  # compile, warm
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(a, out)
        ts.append(time.perf_counter() - t0)
    return min(ts) / a.shape[0] * 1e9


def vector_width(dispatcher) -> str:
    """The widest packed double arithmetic in the compiled loop, and whether it still calls out."""
    asm = dispatcher.inspect_asm(dispatcher.signatures[0])
    width = "none"
    for reg, name in (("xmm", "xmm (2)"), ("ymm", "ymm (4)"), ("zmm", "zmm (8)")):
        if re.search(r"v(mul|add|sub|fmadd\w*|div)pd\s+[^\n]*%" + reg, asm):
            width = name
    calls = sorted(set(re.findall(r"call\w*\s+\*?([\w.@]+)", asm)) - {"NRT_decref", "NRT_incref"})
    return width + (", calls " + " ".join(calls) if calls else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10**6)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        mod = build(Path(tmp))
        print(f"ns per element, n = {args.n}, 1 thread, best of {args.repeat}")
        print(f"{'':10} {'vectorisable loop':^29}  {'scalar loop':^15}")
        print(f"{'function':10} {'symml':>7} {'numba':>7} {'numpy':>7} {'ratio':>6}  {'symml':>7} {'numba':>7}  "
              "symml loop vectorised")
        for f, ((lo, hi), _, ufunc) in CASES.items():
            a = rng.uniform(lo, hi, args.n)
            out = np.empty_like(a)
            ours = getattr(mod, f"symml_{f}")
            t_ours = best(ours, a, out, args.repeat)
            t_numba = best(getattr(mod, f"numba_{f}"), a, out, args.repeat)
            t_numpy = best(ufunc, a, out, args.repeat)
            s_ours = best(getattr(mod, f"symml_{f}_scalar"), a, out, args.repeat)
            s_numba = best(getattr(mod, f"numba_{f}_scalar"), a, out, args.repeat)
            print(f"{f:10} {t_ours:7.2f} {t_numba:7.2f} {t_numpy:7.2f} {t_numba / t_ours:5.1f}×  {s_ours:7.2f} {s_numba:7.2f}  "
                  f"{vector_width(ours)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
