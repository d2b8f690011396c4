"""The scalar printer spells SymPy expressions with Python's precedence (no numba needed)."""
import math

import pytest
import sympy as sp

from symml import functions as F
from symml.codegen.scalar import ScalarPrinter, UnsupportedConstruct

x, y, z = sp.symbols("x y z", positive=True)
NAMES = {x: "x", y: "y", z: "z"}
ENV = {"x": 1.7, "y": 0.45, "z": 2.3}


class _np:
    exp, log, sqrt, tanh, sinh, cosh, sin, cos, sign = (math.exp, math.log, math.sqrt, math.tanh, math.sinh,
                                                         math.cosh, math.sin, math.cos, lambda v: math.copysign(1, v))


@pytest.mark.parametrize("expr", [
    -x / y**2, x / (y * z), x / y / z, (x + y) / (y - z)**3, -x * y / z**2, x**-3, 1 / (1 + x)**2,
    x - (y - z), x - y * z, -(x + y) * z, x**2 / (2 * y**2), (x - y)**2 / (4 * z**2), x / (2 * y), sp.sqrt(x) / y,
    x**sp.Rational(3, 2), 2**x, x**y, sp.exp(-x) / (1 + sp.exp(-x)), sp.Max(x, y) - sp.Min(y, z),
])
def test_printed_source_evaluates_like_sympy(expr):
    src = ScalarPrinter(NAMES)(expr)
    env = {"np": _np, "abs": abs, "max": max, "min": min, "_exp": math.exp, "_log": math.log}
    got = eval(src, env, dict(ENV))  # the test's own oracle
    want = float(expr.subs({x: ENV["x"], y: ENV["y"], z: ENV["z"]}))
    assert math.isclose(got, want, rel_tol=1e-13), (src, got, want)


def test_unknown_function_is_refused_by_name():
    with pytest.raises(UnsupportedConstruct, match="besselj"):
        ScalarPrinter(NAMES)(sp.besselj(1, x))


def test_ml_primitives_use_stable_helpers():
    p = ScalarPrinter(NAMES)
    assert p(F.softplus(x)) == "_softplus(x)" and p.helpers == {"_softplus"}
