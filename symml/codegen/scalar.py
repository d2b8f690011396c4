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
from .blas import BLAS_THREAD_HELPERS, GRAM_HELPERS, SMALL_DOT_HELPERS
from .factor import FACTOR_HELPERS
from .special import SPECIAL_HELPERS, SPECIAL_NEEDS
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
    sp.tan: "np.tan",
    sp.erf: "_erf",
    sp.erfc: "_erfc",
    F.erfc: "_erfc",
    sp.Heaviside: "_heaviside",
    F.gelu: "_gelu",
    F.gelu_tanh: "_gelu_tanh",
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
    "_step": '''
@njit(cache=True, inline="always")
def _step(x):
    return 1.0 if x > 0 else 0.0
''',
    "_heaviside": '''
@njit(cache=True, inline="always")
def _heaviside(x, h0):
    # the derivative of max/min: ½ at a tie (h0), as in JAX
    return 1.0 if x > 0 else (h0 if x == 0 else 0.0)
''',
    "_gelu": '''
@njit(cache=True, inline="always")
def _gelu(x):
    # x Φ(x) with Φ(x) = erfc(−x/√2)/2: no cancellation for negative x
    return 0.5 * x * _erfc(-0.7071067811865476 * x)
''',
    "_gelu_tanh": f'''
@njit(cache=True, inline="always")
def _gelu_tanh(x):
    # (x/2)(1 + tanh u) = x σ(2u), u = √(2/π)(x + 0.044715x³)
    return x * _sigmoid({float(2 * F._GELU_C)!r} * (x + {float(F._GELU_A)!r} * x * x * x))
''',
    **SPECIAL_HELPERS,  # erf, erfc, log Γ, ψ⁽ᵏ⁾ (special.py)
    **VECMATH_HELPERS,  # exp, expm1, log, log1p, tanh, sigmoid, softplus (vecmath.py)
    **GRAM_HELPERS,  # kernel-level helpers, kept next to the rule that emits them (blas.py)
    **BLAS_THREAD_HELPERS,
    **SMALL_DOT_HELPERS,
    **FACTOR_HELPERS,  # one factorisation for log det, det, solve and inverse (factor.py)
}

#: Helpers that call other helpers: emitting one emits these too.
HELPER_NEEDS = {**SPECIAL_NEEDS, "_gelu": ("_erfc",) + SPECIAL_NEEDS["_erfc"], "_gelu_tanh": ("_sigmoid",),
                "_log_sigmoid": ("_softplus",), "_logaddexp": ("_softplus",)}


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
        self._need(name)
        return f"{name}({', '.join(self(a) for a in e.args)})"

    def _need(self, name):
        if name.startswith("_"):
            self.helpers.add(name)
            self.helpers.update(HELPER_NEEDS.get(name, ()))

    def _print_polygamma(self, e):
        k, x = e.args
        if not (k.is_Integer and k >= 0):
            raise UnsupportedConstruct(f"codegen spells polygamma(k, x) for an integer k >= 0, got k = {k}")
        self._need("_polygamma")
        return f"_polygamma({int(k)}, {self(x)})"

    def _print_Heaviside(self, e):
        h0 = e.args[1] if len(e.args) > 1 else sp.S.Half
        self._need("_heaviside")
        return f"_heaviside({self(e.args[0])}, {self(h0)})"

    # where(cond, a, b): a conditional expression, so only the selected branch is computed
    def _print_Piecewise(self, e):
        *pairs, (last, last_cond) = e.args
        out = self(last) if last_cond == sp.true else f"({self(last)} if {self(last_cond)} else np.nan)"
        for value, cond in reversed(pairs):
            out = f"({self(value)} if {self(cond)} else {out})"
        return out

    def _print_Relational(self, e):
        return f"({self(e.lhs)} {e.rel_op} {self(e.rhs)})"

    def _print_And(self, e):
        return "(" + " and ".join(self(a) for a in e.args) + ")"

    def _print_Or(self, e):
        return "(" + " or ".join(self(a) for a in e.args) + ")"

    def _print_Not(self, e):
        return f"(not {self(e.args[0])})"

    def _print_BooleanTrue(self, e):
        return "True"

    def _print_BooleanFalse(self, e):
        return "False"


def scalar_block(expr: sp.Expr, names: dict, target: str, indent: str, tmp_prefix: str) -> tuple[list[str], set[str]]:
    """Statements computing ``expr`` into ``target`` with CSE temporaries.

    Returns the source lines and the helper functions they call.
    """
    expr = F.rewrite_stable(expr)
    lines: list[str] = []
    helpers: set[str] = set()
    _block(expr, dict(names), target, indent, sp.numbered_symbols(tmp_prefix), lines, helpers)
    return lines, helpers


def _block(expr, names, target, indent, tmp, lines, helpers):
    # A where (Piecewise) becomes an if/elif/else statement computed first, each branch with its own
    # CSE: nothing of a branch is hoisted out of it, so 1/x in where(x != 0, sin(x)/x, 1) is never
    # computed at x = 0 (numba raises on a float division by zero).
    found: list = []
    _outer_piecewise(expr, found)
    repl = {}
    for pw in found:
        sym = next(tmp)
        cond_printer = ScalarPrinter(names)
        for k, (value, cond) in enumerate(pw.args):
            if cond == sp.true:
                if k:
                    lines.append(f"{indent}else:")
                _block(value, names, f"{sym.name} = ", indent + ("    " if k else ""), tmp, lines, helpers)
                break
            lines.append(f"{indent}{'elif' if k else 'if'} {cond_printer(cond)}:")
            _block(value, names, f"{sym.name} = ", indent + "    ", tmp, lines, helpers)
        else:
            lines.append(f"{indent}else:")
            lines.append(f"{indent}    {sym.name} = np.nan")
        helpers |= cond_printer.helpers
        names[sym] = sym.name
        repl[pw] = sym
    expr = expr.xreplace(repl) if repl else expr
    subs, (reduced,) = sp.cse(expr, symbols=tmp, optimizations="basic")
    names = dict(names)
    printer = ScalarPrinter(names)
    for sym, value in subs:
        lines.append(f"{indent}{sym.name} = {printer(value)}")
        names[sym] = sym.name
    lines.append(f"{indent}{target}{printer(reduced)}")
    helpers |= printer.helpers


def _outer_piecewise(e, found):
    """The Piecewise subexpressions of ``e`` that no other Piecewise holds, in order of first appearance."""
    if isinstance(e, sp.Piecewise):
        if e not in found:
            found.append(e)
        return
    for a in e.args:
        _outer_piecewise(a, found)
