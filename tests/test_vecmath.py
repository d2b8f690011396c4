"""The vectorisable elementary functions (symml.codegen.vecmath) against mpmath at 50 digits.

Every function is held to 2 ulp of the exact value, rounded or not, over a dense sweep of its
range and random points across all binades (subnormals included), and to IEEE results at ±0,
±inf, NaN and at the edges of overflow and underflow. The helpers are compiled from their
emitted source text, in a loop over an array: the code a kernel runs. A last test checks that
such a loop is vectorised and calls nothing.
"""
from __future__ import annotations

import importlib.util
import math
import re
import sys

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from symml import functions as F
from symml.codegen import vecmath
from symml.codegen.scalar import FUNCTION_NAMES, HELPERS, ScalarPrinter

NAMES = ("exp", "expm1", "log", "log1p", "tanh", "sigmoid", "softplus")

#: The oracle, exact to 50 digits (mpmath's log1p and expm1 keep tiny arguments exact).
REF = {
    "exp": mp.exp,
    "expm1": mp.expm1,
    "log": mp.log,
    "log1p": mp.log1p,
    "tanh": mp.tanh,
    "sigmoid": lambda x: 1 / (1 + mp.exp(-x)),
    "softplus": lambda x: x + mp.log1p(mp.exp(-x)) if x > 0 else mp.log1p(mp.exp(x)),
}
TINY = 5e-324
DMAX = mp.mpf(np.finfo(np.float64).max)


def ulp_error(y: float, x: float, name: str) -> float:
    """|y − f(x)| in units of the last place of f(x) (of the subnormal spacing below 2⁻¹⁰²²)."""
    with mp.workdps(50):
        r = REF[name](mp.mpf(x))
        if abs(r) > DMAX * (1 + mp.mpf(2) ** -54):  # rounds to ±inf
            return 0.0 if y == (math.inf if r > 0 else -math.inf) else math.inf
        if not math.isfinite(y):
            return math.inf
        if r == 0:
            return abs(y) / TINY
        _, e = mp.frexp(r)
        return float(abs(mp.mpf(y) - r) / mp.ldexp(1, max(e - 53, -1074)))


def binades(rng, lo_exp: int, hi_exp: int, n: int, signs=(1.0, -1.0)) -> np.ndarray:
    """n points m·2ᵉ with m uniform in [1, 2) and e uniform in [lo_exp, hi_exp) (subnormals below −1022)."""
    e = rng.integers(lo_exp, hi_exp, n)
    return np.ldexp(rng.uniform(1.0, 2.0, n), e) * rng.choice(signs, n)


def sample(name: str) -> np.ndarray:
    rng = np.random.default_rng(sum(map(ord, name)))
    dense = {  # the whole range where the value is neither 0, ±1 nor inf, densely
        "exp": [(-745.2, 709.8)], "expm1": [(-40.0, 709.8), (-2.0, 2.0)], "log": [(0.0, 4.0), (0.0, 1e300)],
        "log1p": [(-1.0, 3.0), (-1e-3, 1e-3)], "tanh": [(-20.0, 20.0), (-1.0, 1.0)],
        "sigmoid": [(-745.0, 40.0), (-40.0, 40.0)], "softplus": [(-745.0, 40.0), (-40.0, 40.0)],
    }[name]
    parts = [np.linspace(lo, hi, 3001)[1:-1] for lo, hi in dense]
    parts += [rng.uniform(lo, hi, 1500) for lo, hi in dense]
    if name in ("log", "log1p"):
        parts += [binades(rng, -1074, 1024, 3000, signs=(1.0,)), 1.0 + rng.uniform(-1e-7, 1e-7, 500)]
        if name == "log1p":
            parts.append(binades(rng, -1074, 0, 1500, signs=(-1.0,)))
    else:
        parts.append(binades(rng, -1074, 10, 3000))
    if name in ("softplus", "exp", "expm1"):
        parts.append(binades(rng, -1074, 1024, 500))  # huge: softplus(x) = x, exp overflows
    return np.concatenate(parts)


def module(tmp_path_factory):
    """The helpers' source and one loop per function, imported from a real file."""
    src = vecmath.module_source()
    for f in NAMES:
        src += f"\n\n@njit\ndef loop_{f}(a):\n    out = np.empty(a.shape[0])\n" \
               f"    for i in range(a.shape[0]):\n        out[i] = _{f}(a[i])\n    return out\n"
    path = tmp_path_factory.mktemp("vecmath") / "vecmath_loops.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("vecmath_loops", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # numba's cache finds a function's module by name
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def vm(tmp_path_factory):
    return module(tmp_path_factory)


def call(vm, name, xs, dtype=np.float64):
    return getattr(vm, f"loop_{name}")(np.asarray(xs, dtype=dtype))


# ---------------------------------------------------------------- accuracy

@pytest.mark.compile
@pytest.mark.parametrize("name", NAMES)
def test_within_two_ulp_of_mpmath(vm, name):
    xs = sample(name)
    x = xs[(xs > 0) if name == "log" else (xs > -1) if name == "log1p" else slice(None)]
    y = call(vm, name, x)
    err = np.array([ulp_error(float(b), float(a), name) for a, b in zip(x, y)])
    i = int(np.argmax(err))
    assert len(x) >= 7000
    assert err[i] <= 2.0, f"{name}({x[i]!r}) = {y[i]!r}: {err[i]:.2f} ulp"


@pytest.mark.compile
def test_float32_arguments_give_the_float64_value(vm):
    x32 = np.asarray([-30.5, -3.25, -1e-3, 0.0, 1e-3, 0.75, 2.5, 17.0], dtype=np.float32)
    for name in NAMES:
        xs = x32[x32 > (-1 if name == "log1p" else 0 if name == "log" else -np.inf)]
        y = call(vm, name, xs, np.float32)
        assert y.dtype == np.float64
        assert max(ulp_error(float(b), float(a), name) for a, b in zip(xs, y)) <= 2.0, name


# ---------------------------------------------------------------- special values

INF, NAN = math.inf, math.nan
SPECIAL = {
    "exp": [(0.0, 1.0), (-0.0, 1.0), (INF, INF), (-INF, 0.0), (710.0, INF), (1e300, INF), (-746.0, 0.0),
            (-1e300, 0.0), (-745.1, 5e-324), (-709.5, math.exp(-709.5)), (709.78, math.exp(709.78))],
    "expm1": [(-INF, -1.0), (INF, INF), (-50.0, -1.0), (710.0, INF), (1e-320, 1e-320), (-1e-320, -1e-320)],
    "log": [(0.0, -INF), (-0.0, -INF), (-1.0, NAN), (-INF, NAN), (-5e-324, NAN), (INF, INF), (1.0, 0.0),
            (5e-324, math.log(5e-324)), (1.7976931348623157e308, math.log(1.7976931348623157e308))],
    "log1p": [(-1.0, -INF), (-2.0, NAN), (-INF, NAN), (INF, INF), (5e-324, 5e-324), (-5e-324, -5e-324),
              (1e300, math.log(1e300))],
    "tanh": [(INF, 1.0), (-INF, -1.0), (20.0, 1.0), (-1e4, -1.0), (5e-324, 5e-324), (-5e-324, -5e-324)],
    "sigmoid": [(INF, 1.0), (-INF, 0.0), (1e4, 1.0), (-1e4, 0.0), (0.0, 0.5), (-0.0, 0.5),
                (-745.0, 5e-324), (40.0, 1.0)],
    "softplus": [(INF, INF), (-INF, 0.0), (1e4, 1e4), (-1e4, 0.0), (1e300, 1e300), (40.0, 40.0),
                 (-700.0, math.exp(-700.0)), (-745.0, 5e-324), (0.0, math.log(2.0))],
}


@pytest.mark.compile
@pytest.mark.parametrize("name", NAMES)
def test_special_values(vm, name):
    cases = SPECIAL[name] + [(NAN, NAN)]
    got = call(vm, name, [x for x, _ in cases])
    for (x, want), y in zip(cases, got):
        if math.isnan(want):
            assert math.isnan(y), f"{name}({x}) = {y}, expected NaN"
        else:
            assert y == pytest.approx(want, rel=3e-16, abs=0.0), f"{name}({x}) = {y!r}, expected {want!r}"


@pytest.mark.compile
@pytest.mark.parametrize("name", ["expm1", "log1p", "tanh"])
def test_signed_zero_is_kept(vm, name):
    y = call(vm, name, [0.0, -0.0])
    assert list(np.signbit(y)) == [False, True] and list(y) == [0.0, 0.0]


# ---------------------------------------------------------------- the compiled loop

@pytest.mark.compile
@pytest.mark.parametrize("name", NAMES)
def test_loop_is_vectorised_and_calls_nothing(vm, name):
    loop = getattr(vm, f"loop_{name}")
    loop(np.ones(4))
    ir = loop.inspect_llvm(loop.signatures[0])
    # the loop's own function, not its Python wrapper (_ZN7cpython...)
    start = re.search(rf"define [^\n]*@_ZN(?!7cpython)\w*?loop_{name}B", ir).start()
    kernel = ir[start:ir.index("\n}\n", start)]
    assert re.search(r"<\d+ x double>", kernel), f"the loop over _{name} was not vectorised"
    calls = set(re.findall(r"call [^@]*@([\w.]+)", kernel)) - {"NRT_incref", "NRT_decref", "NRT_MemInfo_alloc_aligned"}
    assert not {c for c in calls if not c.startswith("llvm.")}, f"the loop over _{name} still calls {calls}"


# ---------------------------------------------------------------- the spelling (no numba)

def test_sources_are_the_helpers_the_printer_emits():
    x = sp.Symbol("x", real=True)
    p = ScalarPrinter({x: "x"})
    spelled = {f: p(f(x)) for f in (sp.exp, expm1, sp.log, log1p, sp.tanh, F.sigmoid, F.softplus)}
    assert [s.split("(")[0] for s in spelled.values()] == [f"_{n}" for n in NAMES]
    for name in NAMES:
        assert HELPERS[f"_{name}"] is vecmath.HELPERS[f"_{name}"]
    assert FUNCTION_NAMES[sp.exp] == "_exp"


def test_module_source_is_valid_python_without_libm_calls():
    src = vecmath.module_source()
    compile(src, "vecmath_helpers.py", "exec")
    body = src.split("from numba import njit", 1)[1]
    assert not re.search(r"np\.(exp|log|log1p|expm1|tanh)\(|\bmath\.", body)
