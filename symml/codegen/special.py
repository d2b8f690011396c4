"""numba sources of the special functions a kernel may call: erf, erfc, log Γ, ψ and ψ⁽ᵏ⁾.

A generated module imports numpy and numba only, and numpy has none of these, so each is
written here as plain scalar code that numba compiles (and that plain Python runs too,
which is how the tests check them against scipy and mpmath without compiling).

- erfc(x) for x ≥ ½ is e^{−x²} · t · g(t) with t = 2/(2 + x) ∈ (0, ⅘], where g is smooth on
  [0, ⅘] and held as a Chebyshev series (24 terms, the last below 1e-17; computed for symml
  with mpmath at 40 digits by interpolation at Chebyshev nodes). e^{−x²} is taken as
  e^{−s²} e^{−(x−s)(x+s)} with s = x rounded to 1/16, so that s² is exact: the rounding of x²
  alone would cost 1e-13 relative at x = 26. For |x| < ½, erf is its Taylor series.
- log Γ shifts x up to 15 and sums Stirling's series; x < ½ goes through the reflection
  log|Γ(x)| = log π − log|sin πx| − log Γ(1 − x) (scipy's gammaln: the log of |Γ|).
- ψ⁽ᵏ⁾ (k ≥ 0) shifts x up by ψ⁽ᵏ⁾(x) = ψ⁽ᵏ⁾(x + 1) + (−1)^{k+1} k!/x^{k+1} until
  x ≥ 10 + k, then sums the asymptotic series through B₁₆ (its next term is below 1e-16
  there). A negative x goes through the reflection
  ψ⁽ᵏ⁾(x) = (−1)^k ψ⁽ᵏ⁾(1 − x) − π dᵏ/dxᵏ cot(πx), with cot(πx) taken at the fractional part
  of x (exact) and its k-th derivative as a polynomial in c = cot: d/dx P(c) = −π(1 + c²)P′(c).
  At the poles (x = 0, −1, −2, …) the result is nan, as scipy's is for x < 0.

Takes: nothing. Gives: ``SPECIAL_HELPERS`` (helper name → source) and
``SPECIAL_NEEDS`` (helper → the helpers it calls).
"""
from __future__ import annotations

# g(t) = erfcx(2/t − 2)/t on t ∈ [0, 4/5], as Σ c_j T_j(5t/2 − 1).
_ERFC_CHEBYSHEV = (
    0.4869974896593381, 0.24101444861760662, 0.03917158019801934, 0.0028202013162589696,
    -0.0003190025880142985, -7.762458294633769e-05, 3.904758903066749e-06, 2.10650100538356e-06,
    -1.1719156145292982e-07, -6.458612977687303e-08, 6.547928118976531e-09, 2.0176470623078224e-09,
    -3.982401175873028e-10, -4.976143621028692e-11, 2.2139448391600325e-11, -1.7358623533456646e-13,
    -1.026209787457525e-12, 1.4448991197160534e-13, 3.158979764424171e-14, -1.2428951674750446e-14,
    3.029717117316007e-16, 6.420513641085282e-16, -1.3256398419699006e-16, -1.1440456399668312e-17,
)


def _tuple_src(values, indent="        ") -> str:
    rows = [", ".join(repr(v) for v in values[k:k + 4]) for k in range(0, len(values), 4)]
    return "(\n" + ",\n".join(indent + r for r in rows) + ",\n" + indent[:-4] + ")"


SPECIAL_HELPERS = {
    "_erfc_tail": f'''
@njit(cache=True, inline="always")
def _erfc_tail(x):
    # erfc(x) for x >= 0.5: e^(-x^2) t g(t), t = 2/(2 + x), g a Chebyshev series on [0, 4/5]
    if x > 27.3:
        return 0.0  # below the smallest double
    c = {_tuple_src(_ERFC_CHEBYSHEV)}
    t = 2.0 / (2.0 + x)
    u = 2.5 * t - 1.0
    b1 = 0.0
    b2 = 0.0
    for j in range(len(c) - 1, 0, -1):
        b1, b2 = 2.0 * u * b1 - b2 + c[j], b1
    g = u * b1 - b2 + c[0]
    s = np.floor(x * 16.0) / 16.0  # s * s is exact
    return np.exp(-s * s) * np.exp(-(x - s) * (x + s)) * t * g
''',
    "_erf_series": '''
@njit(cache=True, inline="always")
def _erf_series(x):
    # erf(x) = 2/sqrt(pi) sum_n (-1)^n x^(2n+1) / (n! (2n + 1)), for |x| < 0.5 (25 terms: < 1e-30)
    x2 = x * x
    term = x
    total = x
    for n in range(1, 25):
        term *= -x2 / n
        total += term / (2 * n + 1)
    return 1.1283791670955126 * total
''',
    "_erf": '''
@njit(cache=True, inline="always")
def _erf(x):
    a = abs(x)
    if a < 0.5:
        return _erf_series(x)
    if np.isnan(x):
        return x
    v = 1.0 - _erfc_tail(a)
    return v if x > 0 else -v
''',
    "_erfc": '''
@njit(cache=True, inline="always")
def _erfc(x):
    if abs(x) < 0.5:
        return 1.0 - _erf_series(x)
    if np.isnan(x):
        return x
    return _erfc_tail(x) if x > 0 else 2.0 - _erfc_tail(-x)
''',
    "_lgamma": '''
@njit(cache=True)
def _lgamma(x):
    # log|Γ(x)|: reflection below 1/2, then shift up with log Γ(x) = log Γ(x + 1) − log x until
    # x ≥ 15, then Stirling's series through x⁻⁹ (its next term is below 1e-14 there).
    shift = 0.0
    if x < 0.5:
        if x == np.floor(x):
            return np.inf  # a pole of Γ
        r = x - np.floor(x)  # exact; |sin πx| = |sin πr|
        shift = np.log(np.pi / abs(np.sin(np.pi * r)))
        x = 1.0 - x
        sign = -1.0
    else:
        sign = 1.0
    acc = 0.0
    while x < 15.0:
        acc -= np.log(x)
        x += 1.0
    r = 1.0 / x
    r2 = r * r
    series = r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 * (1.0 / 1680.0 - r2 / 1188.0))))
    return shift + sign * (acc + (x - 0.5) * np.log(x) - x + 0.5 * np.log(2.0 * np.pi) + series)
''',
    "_polygamma": '''
@njit(cache=True)
def _polygamma(k, x):
    # ψ⁽ᵏ⁾(x), k >= 0 (k = 0: digamma). See symml/codegen/special.py for the method.
    if np.isnan(x):
        return x
    if x <= 0.0 and x == np.floor(x):
        return np.nan  # a pole
    sign = 1.0 if k % 2 == 1 else -1.0  # (-1)^(k+1)
    fact = 1.0  # k!
    for j in range(2, k + 1):
        fact *= j
    head = 0.0
    parity = 1.0
    if x < 0.0:
        # ψ⁽ᵏ⁾(x) = −π dᵏ/dxᵏ cot(πx) + (−1)^k ψ⁽ᵏ⁾(1 − x)
        c = 1.0 / np.tan(np.pi * (x - np.floor(x)))
        p = np.zeros(k + 2)  # dᵏ/dxᵏ cot(πx) = Σ p_j c^j
        p[1] = 1.0
        for _ in range(k):
            q = np.zeros(k + 2)
            for j in range(1, k + 2):  # d/dx (p_j c^j) = −π(1 + c²) j p_j c^(j−1)
                q[j - 1] -= np.pi * j * p[j]
                if j + 1 < k + 2:
                    q[j + 1] -= np.pi * j * p[j]
            p = q
        dcot = 0.0
        for j in range(k + 1, -1, -1):
            dcot = dcot * c + p[j]
        head = -np.pi * dcot
        parity = 1.0 if k % 2 == 0 else -1.0
        x = 1.0 - x
    acc = 0.0
    while x < 10.0 + k:
        if k == 0:
            acc -= 1.0 / x
        else:
            acc += sign * fact / x ** (k + 1)
        x += 1.0
    # asymptotic series: B_2j / (2j) x^-2j (k = 0), or B_2j (2j + k − 1)!/(2j)! x^-(2j+k) (k >= 1)
    b = (1.0 / 6.0, -1.0 / 30.0, 1.0 / 42.0, -1.0 / 30.0, 5.0 / 66.0, -691.0 / 2730.0, 7.0 / 6.0, -3617.0 / 510.0)
    r = 1.0 / x
    r2 = r * r
    if k == 0:
        tail = np.log(x) - 0.5 * r
        rp = 1.0
        for j in range(8):
            rp *= r2
            tail -= b[j] / (2 * j + 2) * rp
    else:
        fk1 = fact / k  # (k − 1)!
        rk = r ** k
        tail = fk1 * rk + 0.5 * fact * rk * r
        coef = fk1  # (2j + k − 1)!/(2j)! built up step by step
        rp = rk
        for j in range(1, 9):
            coef *= (2 * j + k - 2) * (2 * j + k - 1) / ((2 * j - 1) * (2 * j))
            rp *= r2
            tail += b[j - 1] * coef * rp
        tail *= sign
    return head + parity * (acc + tail)
''',
}

SPECIAL_NEEDS = {"_erf": ("_erf_series", "_erfc_tail"), "_erfc": ("_erf_series", "_erfc_tail")}
