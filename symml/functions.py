"""ML primitives as SymPy ``Function`` classes.

Each primitive keeps, side by side: its derivative rule (``fdiff``), its LaTeX and
unicode spelling, and its numerically stable numpy form. Codegen's numba spellings
live in :mod:`symml.codegen.scalar` as a name table keyed by these classes.

Takes: SymPy scalar expressions. Gives: SymPy scalar expressions.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.functions.elementary.piecewise import ExprCondPair


def _scipy_special(name: str):
    """scipy.special's function ``name``, imported at the first use: importing scipy.special was a
    fifth of ``import symml`` (80 of 380 ms), and most sessions evaluate no special function."""
    from scipy import special

    return getattr(special, name)


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


class erfc(sp.erfc):
    """erfc(x) = 1 − erf(x), kept as written: SymPy's erfc turns erfc(−u) into 2 − erfc(u),
    which loses every digit where erfc(−u) is tiny (u < −6), so this one rewrites numbers only.
    Its derivative (−2e^{−x²}/√π) is SymPy's."""

    @classmethod
    def eval(cls, arg):
        return sp.erfc.eval(arg) if arg.is_number else None


_SQRT2 = sp.sqrt(2)
_GELU_C = sp.sqrt(2 / sp.pi)  # √(2/π), the tanh approximation's scale
_GELU_A = sp.Rational(44715, 1000000)  # its cubic coefficient, 0.044715


class gelu(MLFunction):
    """GELU(x) = x Φ(x) with Φ the standard normal CDF; GELU' = Φ(x) + x φ(x).

    Φ(x) is computed as erfc(−x/√2)/2, never as (1 + erf(x/√2))/2: for x = −8 the latter
    is 1 − 1 + 1e-15 and keeps no digit of the answer.
    """

    latex_name = r"\operatorname{GELU}"
    unicode_name = "GELU"

    def fdiff(self, argindex=1):
        x = self.args[0]
        return erfc(-x / _SQRT2) / 2 + x * sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)

    @classmethod
    def eval(cls, x):
        return sp.S.Zero if x == 0 else None

    @classmethod
    def numpy(cls, x):
        x = np.asarray(x, dtype=float)
        return 0.5 * x * _scipy_special("erfc")(-x / np.sqrt(2.0))


class gelu_tanh(MLFunction):
    """GELU's tanh approximation, (x/2)(1 + tanh u) with u = √(2/π)(x + 0.044715x³).

    (1 + tanh u)/2 = σ(2u), so it is x σ(2u), and σ is stable where 1 + tanh u cancels;
    its derivative is σ(2u) + 2x u′ σ(2u) σ(−2u).
    """

    latex_name = r"\operatorname{GELU}_{\tanh}"
    unicode_name = "GELUₜₐₙₕ"

    @staticmethod
    def inner(x):
        """2u = 2√(2/π)(x + 0.044715x³), the argument of σ."""
        return 2 * _GELU_C * (x + _GELU_A * x**3)

    def fdiff(self, argindex=1):
        x = self.args[0]
        v = self.inner(x)
        return sigmoid(v) + x * sp.diff(v, x) * sigmoid(v) * sigmoid(-v)

    @classmethod
    def eval(cls, x):
        return sp.S.Zero if x == 0 else None

    @classmethod
    def numpy(cls, x):
        x = np.asarray(x, dtype=float)
        return x * sigmoid.numpy(float(2 * _GELU_C) * (x + float(_GELU_A) * x**3))


def _piecewise(*pairs):
    """np.select over (value, condition) pairs, the last condition True: where's numeric form."""
    values = [np.asarray(v, dtype=float) for v, _ in pairs]
    conds = [np.asarray(c, dtype=bool) for _, c in pairs]
    shape = np.broadcast_shapes(*[a.shape for a in values + conds])
    return np.select([np.broadcast_to(c, shape) for c in conds], [np.broadcast_to(v, shape) for v in values], np.nan)


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
    sp.tan: np.tan,
    # Max/Min's derivatives are Heaviside steps, ½ at a tie (JAX's convention for maximum/minimum)
    sp.Heaviside: lambda x, h0=0.5: np.heaviside(x, h0),
    # log Γ, erf, erfc, ψ⁽ᵏ⁾ from scipy.special (a core dependency). gammaln is log|Γ(x)|, which
    # has the same derivative ψ(x) for negative x too; polygamma(0, x) is ψ(x), the digamma.
    sp.loggamma: lambda x: _scipy_special("gammaln")(x),
    sp.erf: lambda x: _scipy_special("erf")(x),
    sp.erfc: lambda x: _scipy_special("erfc")(x),
    erfc: lambda x: _scipy_special("erfc")(x),
    sp.polygamma: lambda k, x: _scipy_special("polygamma")(np.asarray(k).astype(int), x),
    # where(cond, a, b): SymPy's Piecewise of (value, condition) pairs, and its conditions
    sp.Piecewise: _piecewise,
    ExprCondPair: lambda value, cond: (value, cond),
    sp.StrictGreaterThan: np.greater,
    sp.GreaterThan: np.greater_equal,
    sp.StrictLessThan: np.less,
    sp.LessThan: np.less_equal,
    sp.Equality: np.equal,
    sp.Unequality: np.not_equal,
    sp.And: lambda *a: np.logical_and.reduce(np.broadcast_arrays(*a)),
    sp.Or: lambda *a: np.logical_or.reduce(np.broadcast_arrays(*a)),
    sp.Not: np.logical_not,
    type(sp.true): lambda: True,
    type(sp.false): lambda: False,
}

ML_FUNCTIONS = (sigmoid, softplus, log_sigmoid, step, relu, gelu, gelu_tanh)
for _f in ML_FUNCTIONS:
    NUMPY_FUNCTIONS[_f] = _f.numpy


def drop_distributions(expr: sp.Expr) -> sp.Expr:
    """Replace DiracDelta terms (from derivatives of |x|, sign, step, Heaviside) by 0.

    They are zero almost everywhere, and a gradient kernel evaluates pointwise. Heaviside
    steps (the derivatives of Max and Min) stay, with SymPy's value ½ at 0: at a tie of
    maximum(a, b) each operand gets half the gradient, as in JAX.
    """
    if expr.has(sp.DiracDelta):
        expr = expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
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
