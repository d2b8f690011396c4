"""ML primitives as SymPy ``Function`` classes.

Each primitive keeps, side by side: its derivative rule (``fdiff``), its LaTeX and
unicode spelling, and its numerically stable numpy form. Codegen's numba spellings
live in :mod:`symml.codegen.scalar` as a name table keyed by these classes.

Takes: SymPy scalar expressions. Gives: SymPy scalar expressions.
"""
from __future__ import annotations

import numpy as np
import sympy as sp


class MLFunction(sp.Function):
    """Base class: a one-argument real primitive with a stable numpy form."""

    nargs = 1
    latex_name = ""
    unicode_name = ""

    @classmethod
    def numpy(cls, x):  # pragma: no cover - overridden
        raise NotImplementedError

    def _latex(self, printer):
        return rf"{self.latex_name}\left({printer._print(self.args[0])}\right)"

    def _eval_is_real(self):
        return self.args[0].is_real


class sigmoid(MLFunction):
    """σ(x) = 1 / (1 + e^{-x}); σ' = σ(1 − σ)."""

    latex_name = r"\sigma"
    unicode_name = "σ"

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, x):
        if x == 0:
            return sp.Rational(1, 2)
        return None

    @classmethod
    def numpy(cls, x):
        x = np.asarray(x, dtype=float)
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class softplus(MLFunction):
    """softplus(x) = log(1 + e^{x}); softplus' = σ."""

    latex_name = r"\operatorname{softplus}"
    unicode_name = "softplus"

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    @classmethod
    def numpy(cls, x):
        x = np.asarray(x, dtype=float)
        return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


class log_sigmoid(MLFunction):
    """log σ(x) = −softplus(−x); its derivative is σ(−x)."""

    latex_name = r"\log\sigma"
    unicode_name = "log σ"

    def fdiff(self, argindex=1):
        return sigmoid(-self.args[0])

    @classmethod
    def numpy(cls, x):
        x = np.asarray(x, dtype=float)
        return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


class step(MLFunction):
    """The unit step (1 for x > 0, else 0): relu's derivative. Its own derivative is 0
    almost everywhere, which is what a gradient method needs."""

    latex_name = r"\mathbb{1}"
    unicode_name = "𝟙"

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _latex(self, printer):
        return rf"\mathbb{{1}}\left[{printer._print(self.args[0])} > 0\right]"

    @classmethod
    def numpy(cls, x):
        return (np.asarray(x) > 0).astype(float)


class relu(MLFunction):
    """relu(x) = max(x, 0); relu' = step (the subgradient 0 is taken at x = 0)."""

    latex_name = r"\operatorname{relu}"
    unicode_name = "relu"

    def fdiff(self, argindex=1):
        return step(self.args[0])

    @classmethod
    def numpy(cls, x):
        return np.maximum(np.asarray(x, dtype=float), 0.0)


#: numpy forms of the SymPy functions that may appear inside an elementwise map.
NUMPY_FUNCTIONS = {
    sp.exp: np.exp,
    sp.log: np.log,
    sp.tanh: np.tanh,
    sp.sinh: np.sinh,
    sp.cosh: np.cosh,
    sp.sin: np.sin,
    sp.cos: np.cos,
    sp.Abs: np.abs,
    sp.sign: np.sign,
    sp.Max: lambda *a: np.maximum.reduce(np.broadcast_arrays(*a)),
    sp.Min: lambda *a: np.minimum.reduce(np.broadcast_arrays(*a)),
    sp.loggamma: None,  # filled below when scipy is present
    sp.erf: None,  # filled below when scipy is present
}
try:  # scipy is optional for the core; erf appears in Gaussian CDFs only.
    from scipy import special as _special

    NUMPY_FUNCTIONS[sp.erf] = _special.erf
    NUMPY_FUNCTIONS[sp.loggamma] = _special.gammaln
except ImportError:  # pragma: no cover
    del NUMPY_FUNCTIONS[sp.erf]
    del NUMPY_FUNCTIONS[sp.loggamma]

ML_FUNCTIONS = (sigmoid, softplus, log_sigmoid, step, relu)
for _f in ML_FUNCTIONS:
    NUMPY_FUNCTIONS[_f] = _f.numpy


def drop_distributions(expr: sp.Expr) -> sp.Expr:
    """Replace DiracDelta terms (from derivatives of |x|, sign, step) by 0.

    They are zero almost everywhere, and a gradient kernel evaluates pointwise.
    """
    if expr.has(sp.DiracDelta):
        expr = expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    if expr.has(sp.Heaviside):
        expr = expr.replace(lambda e: isinstance(e, sp.Heaviside), lambda e: step(e.args[0]))
    return expr


def _sigmoid_complement(e):
    """1 − σ(x) → σ(−x) and σ(x) − 1 → −σ(−x), else None: the difference rounds to 0 for x > 37."""
    if not (e.is_Add and len(e.args) == 2):
        return None
    c, rest = e.as_coeff_Add()
    if c == 1 and rest.is_Mul and rest.args == (-1, rest.args[1]) and isinstance(rest.args[1], sigmoid):
        return sigmoid(-rest.args[1].args[0])
    if c == -1 and isinstance(rest, sigmoid):
        return -sigmoid(-rest.args[0])
    return None


def _log1p_expm1(e):
    """log(1 + u) → log1p(u), e^u − 1 → expm1(u), 1 − e^u → −expm1(u), else None."""
    from sympy.codegen.cfunctions import expm1, log1p

    if isinstance(e, sp.log) and e.args[0].is_Add:
        c, rest = e.args[0].as_coeff_Add()
        return log1p(rest) if c == 1 else None
    if e.is_Add and len(e.args) == 2:
        c, rest = e.as_coeff_Add()
        if c == -1 and isinstance(rest, sp.exp):
            return expm1(rest.args[0])
        if c == 1 and rest.is_Mul and rest.args == (-1, rest.args[1]) and isinstance(rest.args[1], sp.exp):
            return -expm1(rest.args[1].args[0])
    return None


def _logaddexp(e):
    """log(e^a + e^b + …) → logaddexp(logaddexp(a, b), …), else None (no overflow, no lost digits)."""
    from sympy.codegen.numpy_nodes import logaddexp

    if not (isinstance(e, sp.log) and e.args[0].is_Add and all(isinstance(t, sp.exp) for t in e.args[0].args)):
        return None
    args = [t.args[0] for t in e.args[0].args]
    out = args[0]
    for a in args[1:]:
        out = logaddexp(out, a)
    return out


def _rewrite(expr, rule):
    return expr.replace(lambda e: rule(e) is not None, rule)


def rewrite_stable(expr: sp.Expr) -> sp.Expr:
    """Rewrite the unstable spellings SymPy produces into stable primitives.

    1 − σ(x) → σ(−x) (σ′ = σ(1 − σ) is SymPy's spelling), log σ(x) → log_sigmoid(x),
    log(1 + e^x) → softplus(x), e^x/(1 + e^x) → σ(x), 1/(1 + e^{−x}) → σ(x),
    log(1 + u) → log1p(u), e^u − 1 → expm1(u), log(e^a + e^b) → logaddexp(a, b).
    """
    w = sp.Wild("w")
    expr = _rewrite(expr, _sigmoid_complement)
    expr = expr.replace(sp.log(sigmoid(w)), log_sigmoid(w))
    expr = expr.replace(sp.log(1 + sp.exp(w)), softplus(w))
    expr = expr.replace(sp.exp(w) / (1 + sp.exp(w)), sigmoid(w))
    expr = expr.replace(1 / (1 + sp.exp(w)), sigmoid(-w))
    expr = _rewrite(expr, _logaddexp)
    expr = _rewrite(expr, _log1p_expm1)
    return expr
