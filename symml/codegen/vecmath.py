"""Elementary functions that LLVM vectorises inside a kernel's loop.

numba spells ``np.exp``, ``np.log1p`` and the others inside a loop as calls to the C library,
one element at a time, and a call stops LLVM from vectorising the loop around it. The helpers
here compute the same functions from +, ×, ÷, comparisons and integer operations on the bits
of a float64 (``np.float64(x).view(np.int64)``, which numba lowers to a bit cast), with no
call and no branch that LLVM cannot turn into a select. Inlined into a loop over an array,
they become AVX2 or AVX-512 code, four or eight elements per instruction.

Each function reduces its argument to a short interval and evaluates a polynomial there:

- exp and expm1: x = k ln 2 + r with k = round(x / ln 2), |r| ≤ ln 2 / 2, then
  eʳ − 1 = r + r² q(r); the scale 2ᵏ is built from exponent bits as 2^⌊k/2⌋ · 2^(k − ⌊k/2⌋),
  so that results near overflow and results in the subnormal range are rounded once.
- log and log1p: x = 2ᵉ m with √½ ≤ m < √2, then log m = f − f²/2 + s (f²/2 + R(s²)) with
  f = m − 1 and s = f / (2 + f); log1p adds the rounding error of 1 + x back as c / (1 + x).
- tanh, sigmoid and softplus are written with these: tanh|x| = −e / (2 + e) with
  e = expm1(−2|x|), σ(x) from e^{−|x|}, softplus(x) = max(x, 0) + log1p(e^{−|x|}).

The polynomials q (degree 10, on |r| ≤ 0.3473) and R(z) = z P(z) (P of degree 6, on
0 ≤ z ≤ 0.02950) are minimax fits made with mpmath at 60 digits (the Remez exchange, absolute
error of q or P): the fit errors are 1.4e-18 and 3.1e-16, far below a float64 ulp of the
results. Measured against mpmath at 50 digits (tests/test_vecmath.py), every function is
within 2 ulp over its whole range, subnormals included, and gives IEEE results at ±0, ±inf
and NaN.

Each helper is compiled with its own flags, whatever the kernel that calls it uses:

- ``forceinline=True``: LLVM inlines the helper into the caller's loop (its own inliner leaves
  functions of this size as calls, which keeps the loop scalar);
- ``error_model="numpy"``: no ZeroDivisionError test before a division, a branch that would
  stop the vectorisation (no divisor here can be 0);
- ``fastmath={"contract"}`` and nothing more: a·b + c may become one FMA (one rounding instead
  of two; 1.7× faster here), but no reassociation, which would undo the exact two-sum steps
  (``(1 − P) + v``) and the rounding by SHIFT. Being set, the flags are not inherited from a
  fastmath kernel. The accuracy stated above holds with and without FMA hardware.

Polynomials are evaluated by Estrin's scheme, a dependency chain of log₂ n steps: in a loop over
rows that cannot be vectorised, a helper then costs about what the C library's call does.

The helpers are source text (``HELPERS``), emitted into generated modules like the other
scalar helpers (see :mod:`.scalar`); ``module_source`` writes them all as one importable
module, for tests and benchmarks. None of them calls another.

Takes: nothing. Gives: numba source text.
"""
from __future__ import annotations

# Constants shared by the sources, written once here and formatted into them.
_C = {
    "INV_LN2": "1.4426950408889634",     # 1 / ln 2
    "SHIFT": "6755399441055744.0",       # 1.5 · 2⁵²: t + SHIFT rounds t to an integer, kept in the low bits
    "SHIFT_BITS": "0x4338000000000000",  # the bits of SHIFT
    "LN2_HI": "0.6931471805598903",      # ln 2 to 42 bits: k · LN2_HI is exact for |k| < 2¹¹
    "LN2_LO": "5.497923018708371e-14",   # ln 2 − LN2_HI
    "SQRT_HALF_BITS": "0x3FE6A09E667F3BCD",  # the bits of √½
}

# q(r) = (eʳ − 1 − r) / r², highest degree first (Estrin).
_EXP_Q = ("2.0921760530870456e-09", "2.5105419804149396e-08", "2.7557252405291703e-07",
          "2.7557254911821743e-06", "2.4801587347865346e-05", "0.0001984126987520659",
          "0.0013888888888874177", "0.008333333333326025", "0.041666666666666685",
          "0.1666666666666667", "0.5")
# P(z) = (2 atanh(s) − 2s) / s³ with z = s², highest degree first.
_LOG_P = ("0.14620457332860837", "0.15331387377423508", "0.18182899539774808", "0.2222221098583677",
          "0.28571428626933976", "0.3999999999989726", "0.666666666666667")


def _estrin(var: str, coeffs: tuple[str, ...], out: str, indent: str = "    ") -> str:
    """Estrin's scheme (pairs, then pairs of pairs): a dependency chain of ~log₂ n steps, not n,
    which is what a scalar loop over rows waits on."""
    c = list(coeffs[::-1])  # lowest degree first
    lines, terms, power, level = [], [], var, 0
    terms = [f"({c[i]} + {c[i + 1]} * {var})" if i + 1 < len(c) else c[i] for i in range(0, len(c), 2)]
    while len(terms) > 1:
        level += 1
        sq = f"{var}{2 ** level}_"
        lines.append(f"{indent}{sq} = {power} * {power}")
        nxt = []
        for i in range(0, len(terms), 2):
            nxt.append(f"({terms[i]} + {sq} * {terms[i + 1]})" if i + 1 < len(terms) else terms[i])
        terms, power = nxt, sq
    lines.append(f"{indent}{out} = {terms[0]}")
    return "\n".join(lines)


# Shared steps, pasted into the sources that need them (each helper is one function: no call).
_REDUCE_EXP = """\
    t = xc * {INV_LN2} + {SHIFT}
    kf = t - {SHIFT}
    rh = xc - kf * {LN2_HI}  # exact: kf · LN2_HI has 53 bits and lies within a factor 2 of xc
    rl = kf * -{LN2_LO}
    r = rh + rl
{q}
    k = np.float64(t).view(np.int64) - {SHIFT_BITS}
    k1 = k >> 1
    s1 = np.int64((k1 + 1023) << 52).view(np.float64)  # 2^⌊k/2⌋
    s2 = np.int64((k - k1 + 1023) << 52).view(np.float64)  # 2^(k − ⌊k/2⌋)""".format(
    q=_estrin("r", _EXP_Q, "q"), **_C)

_LOG_OF_U = """\
    b = np.float64(u).view(np.int64)
    e = (b - {SQRT_HALF_BITS}) >> 52  # u = 2ᵉ m with √½ ≤ m < √2
    m = np.int64(b - (e << 52)).view(np.float64)
    ef = np.int64(e + {SHIFT_BITS}).view(np.float64) - {SHIFT}  # float(e), without a conversion AVX2 lacks
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
{p}
    hfsq = 0.5 * f * f""".format(p=_estrin("z", _LOG_P, "p"), **_C)

#: E = e^{xc} for xc ≤ 0 as E = P·2ᵏ, with the rounding error of P in Pl (sigmoid and softplus add it back)
_E_WITH_ERROR = _REDUCE_EXP + """
    ep = rl + r * r * q
    v = rh + ep
    P = 1.0 + v
    Pl = ((1.0 - P) + v) + ((rh - v) + ep)
    E = P * s1 * s2"""

_DECORATOR = '@njit(cache=True, forceinline=True, fastmath={"contract"}, error_model="numpy")'

HELPERS = {
    "_exp": f'''
{_DECORATOR}
def _exp(x):
    # eˣ = 2ᵏ eʳ, branch-free: vectorised by LLVM inside a loop (see symml/codegen/vecmath.py).
    xc = x if x > -746.0 else -746.0  # below −745.2 the result rounds to 0, above 709.8 to inf
    xc = xc if xc < 710.0 else 710.0
{_REDUCE_EXP}
    y = (1.0 + (rh + (rl + r * r * q))) * s1 * s2
    return y if x == x else x
''',
    "_expm1": f'''
{_DECORATOR}
def _expm1(x):
    # eˣ − 1 = 2ᵏ ((eʳ − 1) + 1 − 2⁻ᵏ), branch-free; r + (1 − 2⁻ᵏ) is exact where the two cancel.
    xc = x if x > -40.0 else -40.0  # eˣ − 1 rounds to −1 below −38
    xc = xc if xc < 710.0 else 710.0
{_REDUCE_EXP}
    kc = k if k < 60 else 60  # 1 − 2⁻ᵏ rounds to 1 beyond k = 53
    c = 1.0 - np.int64((1023 - kc) << 52).view(np.float64)
    y = ((rh + c) + (rl + r * r * q)) * s1 * s2
    y = y if x != 0.0 else x  # ±0 keeps its sign
    return y if x == x else x
''',
    "_log": f'''
{_DECORATOR}
def _log(x):
    # log x = e ln 2 + log m, branch-free (see symml/codegen/vecmath.py).
    sub = x < 2.2250738585072014e-308  # subnormal: scale by 2⁵⁴ into the normal range first
    u = x * 18014398509481984.0 if sub else x
{_LOG_OF_U}
    ef = ef - 54.0 if sub else ef
    y = ef * {_C["LN2_HI"]} + (f - (hfsq - (s * (hfsq + z * p) + ef * {_C["LN2_LO"]})))
    y = y if x != 0.0 else -np.inf
    y = y if x >= 0.0 else np.nan
    return y if x < np.inf else x  # inf and NaN
''',
    "_log1p": f'''
{_DECORATOR}
def _log1p(x):
    # log(1 + x) = log u + c / u with u = 1 + x rounded and c = 1 + x − u exact, branch-free.
    u = 1.0 + x
    c = (x - (u - 1.0)) if u < 2.0 else (1.0 - (u - x))
{_LOG_OF_U}
    y = ef * {_C["LN2_HI"]} + (f - (hfsq - (s * (hfsq + z * p) + (ef * {_C["LN2_LO"]} + c / u))))
    y = y if x != 0.0 else x  # ±0 keeps its sign
    y = y if x != -1.0 else -np.inf
    y = y if x >= -1.0 else np.nan
    return y if x < np.inf else x  # inf and NaN
''',
    "_tanh": f'''
{_DECORATOR}
def _tanh(x):
    # tanh|x| = N / (2 + N) with N = expm1(2|x|) while tanh < 1/2 (|x| < atanh ½), and
    # 1 − N / (1 + N/2) with N = 2e^{{−2|x|}} beyond; ±1 beyond |x| = 19.1. One reduction and one
    # division, with the rounding errors of N and of the divisor (Nl, Dl) added back. Branch-free.
    a = abs(x)
    small = a < 0.5493061443340549  # atanh(1/2)
    xc = 2.0 * a if small else (-2.0 * a if a < 20.0 else -40.0)
{_REDUCE_EXP}
    kc = k if k < 60 else 60
    c = 1.0 - np.int64((1023 - kc) << 52).view(np.float64)  # 1 − 2⁻ᵏ
    ep = rl + r * r * q
    h = (rh + c) if small else (1.0 + rh)  # eʳ − 2⁻ᵏ or eʳ, scaled by 2ᵏ below
    hl = ((c - h) + rh) if small else ((1.0 - h) + rh)
    n = h + ep
    nl = hl + ((h - n) + ep)
    sc = s1 * s2 if small else 2.0 * s1 * s2
    N = n * sc
    Nl = nl * sc
    d0 = 2.0 if small else 1.0
    den = d0 + (N if small else 0.5 * N)
    Dl = ((d0 - den) + (N if small else 0.5 * N)) + (Nl if small else 0.5 * Nl)
    w = N / den
    w = w + (Nl - w * Dl) * ((1.0 - w) * 0.5 if small else 1.0 - 0.5 * w)  # 1 / den from w
    t = w if small else 1.0 - w
    t = t if a != 0.0 else x  # ±0 keeps its sign
    t = t if x >= 0.0 else -t
    return t if x == x else x
''',
    "_sigmoid": f'''
{_DECORATOR}
def _sigmoid(x):
    # σ(x) = 1 / (1 + E) for x ≥ 0 and E / (1 + E) below, with E = e^{{−|x|}} ≤ 1 (no overflow), the
    # rounding errors of E and of 1 + E (El, Dl) added back. Branch-free.
    a = abs(x)
    xc = -a if a < 746.0 else -746.0
{_E_WITH_ERROR}
    El = Pl * s1 * s2
    den = 1.0 + E
    Dl = ((1.0 - den) + E) + El
    neg = x < 0.0
    w = (E if neg else 1.0) / den
    y = w + ((El if neg else 0.0) - w * Dl) * ((1.0 - w) if neg else w)  # 1 / den from w
    return y if x == x else x
''',
    "_softplus": f'''
{_DECORATOR}
def _softplus(x):
    # log(1 + eˣ) = max(x, 0) + log1p(E) with E = e^{{−|x|}} ≤ 1: finite for every finite x. The
    # rounding error of E (El) joins that of 1 + E in log1p's correction c / u. Branch-free.
    a = abs(x)
    xc = -a if a < 746.0 else -746.0
{_E_WITH_ERROR}
    u = 1.0 + E
    c = (E - (u - 1.0)) + Pl * s1 * s2
{_LOG_OF_U}
    y = ef * {_C["LN2_HI"]} + (f - (hfsq - (s * (hfsq + z * p) + (ef * {_C["LN2_LO"]} + c / u))))
    y = (x if x > 0.0 else 0.0) + y
    return y if x == x else x
''',
}

def module_source(names=None) -> str:
    """An importable module (numpy and numba only) defining the helpers ``names`` (default: all),
    each as the function of the same name.

    >>> "def _sigmoid(x):" in module_source(["_sigmoid"])
    True
    """
    names = sorted(HELPERS if names is None else names)
    body = "\n\n\n".join(HELPERS[n].strip() for n in names)
    return '"""Vectorisable elementary functions (symml.codegen.vecmath)."""\nimport numpy as np\n' \
           'from numba import njit\n\n\n' + body + "\n"
