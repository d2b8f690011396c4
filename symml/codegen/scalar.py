"""Spell SymPy scalar expressions as numba-compatible Python source.

The spelling of each function is data (``FUNCTION_NAMES``), and each ML primitive has a
numerically stable helper (``HELPERS``) emitted once into every generated module that
uses it. Common subexpressions are eliminated with ``sympy.cse``.

Takes: SymPy scalar expressions. Gives: Python source strings.
"""
from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p
from sympy.codegen.numpy_nodes import logaddexp

from .. import functions as F
from .blas import BLAS_THREAD_HELPERS, GRAM_HELPERS
from .vecmath import HELPERS as VECMATH_HELPERS

#: SymPy function → how a generated kernel spells it.
FUNCTION_NAMES = {
    sp.exp: "_exp",  # the elementary functions of vecmath.py: vectorised inside loops, no libm call
    sp.log: "_log",
    sp.tanh: "_tanh",
    sp.sinh: "np.sinh",
    sp.cosh: "np.cosh",
    sp.sin: "np.sin",
    sp.cos: "np.cos",
    sp.Abs: "abs",
    sp.sign: "np.sign",
    sp.Max: "max",
    sp.Min: "min",
    sp.loggamma: "_lgamma",
    log1p: "_log1p",
    expm1: "_expm1",
    logaddexp: "_logaddexp",
    F.sigmoid: "_sigmoid",
    F.softplus: "_softplus",
    F.log_sigmoid: "_log_sigmoid",
    F.relu: "_relu",
    F.step: "_step",
}

#: Helpers emitted once into each module that uses them: the stable scalar functions (compiled
#: inline into the kernels that call them), and the Gram-product helpers of blas.py.
HELPERS = {
    "_log_sigmoid": '''
@njit(cache=True, forceinline=True, fastmath=False, error_model="numpy")
def _log_sigmoid(x):
    # log σ(x) = −softplus(−x) = min(x, 0) − log1p(e^{-|x|}).
    return -_softplus(-x)
''',
    "_logaddexp": '''
@njit(cache=True, inline="always")
def _logaddexp(a, b):
    # log(e^a + e^b) = max(a, b) + log1p(e^{-|a − b|}): no overflow, no digits lost to log(1 + tiny)
    m = max(a, b)
    if np.isinf(m):
        return m
    return m + _softplus(-abs(a - b))  # softplus(−|a − b|) = log1p(e^{−|a − b|})
''',
    "_logdet": '''
@njit(cache=True)
def _logdet(A):
    # (log det A, 0), or (nan, 1) for a symmetric A that is not positive definite, or (nan, 2) for a
    # non-symmetric A with det A <= 0. A symmetric A goes through Cholesky, 2 Σ log L_jj: half LU's
    # work, no sign to track, and it fails exactly when A is not SPD. A non-symmetric A (a
    # finite-difference step off the symmetric matrices, say) goes through LU.
    n = A.shape[0]
    if not np.all(np.isfinite(A)):
        return np.nan, 0  # NaN in, NaN out: the wrapper names the input that carried it
    for i in range(n):
        for j in range(i):
            if A[i, j] != A[j, i]:
                sign, val = np.linalg.slogdet(A)
                return (val, 0) if sign > 0 else (np.nan, 2)
    try:
        L = np.linalg.cholesky(np.ascontiguousarray(A))
    except Exception:
        return np.nan, 1
    s = 0.0
    for j in range(n):
        s += np.log(L[j, j])
    return 2.0 * s, 0
''',
    "_relu": '''
@njit(cache=True, inline="always")
def _relu(x):
    return x if x > 0 else 0.0
''',
    "_lgamma": '''
@njit(cache=True)
def _lgamma(x):
    # log Γ(x) for x > 0: shift up with log Γ(x) = log Γ(x + 1) − log x until x ≥ 15, then
    # Stirling's series through x⁻⁹ (its next term is below 1e-14 there).
    shift = 0.0
    while x < 15.0:
        shift -= np.log(x)
        x += 1.0
    r = 1.0 / x
    r2 = r * r
    series = r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 * (1.0 / 1680.0 - r2 / 1188.0))))
    return shift + (x - 0.5) * np.log(x) - x + 0.5 * np.log(2.0 * np.pi) + series
''',
    "_step": '''
@njit(cache=True, inline="always")
def _step(x):
    return 1.0 if x > 0 else 0.0
''',
    **VECMATH_HELPERS,  # exp, expm1, log, log1p, tanh, sigmoid, softplus (vecmath.py)
    **GRAM_HELPERS,  # kernel-level helpers, kept next to the rule that emits them (blas.py)
    **BLAS_THREAD_HELPERS,
}


#: The helpers a helper calls: emitted with it.
HELPER_DEPENDS = {"_log_sigmoid": ("_softplus",), "_logaddexp": ("_softplus",)}


class UnsupportedConstruct(TypeError):
    """A SymPy construct that codegen cannot spell."""


class ScalarPrinter:
    """Print a SymPy expression with given names for its symbols.

    Dispatches on the expression class (``_print_Add``, ``_print_Pow``...), the way
    SymPy's printers do.
    """

    def __init__(self, names: dict):
        self.names = names
        self.helpers: set[str] = set()

    def __call__(self, e) -> str:
        for cls in type(e).__mro__:
            meth = getattr(self, "_print_" + cls.__name__, None)
            if meth is not None:
                return meth(e)
        return self._print_function(e)

    def _print_Symbol(self, e):
        try:
            return self.names[e]
        except KeyError:
            raise UnsupportedConstruct(f"symbol {e} has no value in the kernel") from None

    def _print_Integer(self, e):
        return f"{int(e)}.0"

    def _print_Rational(self, e):
        return f"({int(e.p)}.0 / {int(e.q)}.0)"

    def _print_Float(self, e):
        return repr(float(e))

    def _print_NumberSymbol(self, e):
        return repr(float(e))

    def _print_Half(self, e):
        return "0.5"

    def _print_NegativeOne(self, e):
        return "-1.0"

    def _print_Add(self, e):
        terms = list(e.as_ordered_terms())
        out = self(terms[0])
        for t in terms[1:]:
            c, rest = t.as_coeff_Mul()
            if c < 0:
                out += " - " + self._wrap(-t, add=True)
            else:
                out += " + " + self._wrap(t, add=True)
        return out

    def _wrap(self, e, add=False):
        s = self(e)
        if e.is_Add or (not add and (e.is_Mul and e.could_extract_minus_sign())):
            return f"({s})"
        if s.startswith("-"):
            return f"({s})"
        return s

    def _divisor(self, e) -> str:
        """``e`` as the right operand of '/': parenthesised unless it is a name or a number."""
        s = self(e)
        return s if (e.is_Symbol or e.is_Number) and not s.startswith("-") else f"({s})"

    def _print_Mul(self, e):
        c, rest = e.as_coeff_Mul()
        if c == -1:
            return "-" + self._wrap(rest)
        num, den = [], []
        for f in e.as_ordered_factors():
            if f.is_Pow and f.exp.is_Number and f.exp < 0:
                den.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp))
            else:
                num.append(f)
        s = " * ".join(self._wrap(f) for f in num) if num else "1.0"
        if den:
            d = " * ".join(self._wrap(f) for f in den)
            # a divisor is one operand: x / (p * p), never x / p * p
            s += " / " + (d if len(den) == 1 and (den[0].is_Symbol or den[0].is_Number) else f"({d})")
        return s

    def _print_Pow(self, e):
        b, x = e.args
        if x == sp.Rational(1, 2):
            return f"np.sqrt({self(b)})"
        if x == -1:
            return f"1.0 / {self._divisor(b)}"
        if x == 2:
            s = self._wrap(b)
            return f"{s} * {s}"
        if x.is_Integer and x < 0:
            return f"1.0 / {self._divisor(sp.Pow(b, -x))}"
        if x.is_Integer:
            return f"{self._wrap(b)} ** {int(x)}"
        return f"{self._wrap(b)} ** {self._wrap(x)}"

    def _print_function(self, e):
        name = FUNCTION_NAMES.get(e.func)
        if name is None:
            raise UnsupportedConstruct(
                f"codegen cannot spell {type(e).__name__} in an elementwise expression; supported: "
                + ", ".join(sorted(f.__name__ for f in FUNCTION_NAMES))
            )
        if name.startswith("_"):
            self.helpers.add(name)
            self.helpers.update(HELPER_DEPENDS.get(name, ()))
        return f"{name}({', '.join(self(a) for a in e.args)})"


def scalar_block(expr: sp.Expr, names: dict, target: str, indent: str, tmp_prefix: str) -> tuple[list[str], set[str]]:
    """Statements computing ``expr`` into ``target`` with CSE temporaries.

    Returns the source lines and the helper functions they call.
    """
    expr = F.rewrite_stable(expr)
    subs, (reduced,) = sp.cse(expr, symbols=sp.numbered_symbols(tmp_prefix), optimizations="basic")
    names = dict(names)
    printer = ScalarPrinter(names)
    lines = []
    for sym, value in subs:
        lines.append(f"{indent}{sym.name} = {printer(value)}")
        names[sym] = sym.name
    lines.append(f"{indent}{target}{printer(reduced)}")
    return lines, printer.helpers
