"""Name tables: how a tensor's name is spelled in print, and the lookup of a numbered one. :mod:`.notation` reads them.

Takes: nothing. Gives: dicts of names.
"""
from __future__ import annotations

import re

#: Names that mean a Greek letter but are not spelled as one (``lambda`` is a keyword).
NAME_ALIASES = {"lam": "lambda", "lamda": "lambda", "Lam": "Lambda", "Lamda": "Lambda"}

#: Names spelled as a textbook writes them: name → (unicode, LaTeX). A variance is σ², not σ₂.
#: Other names go through the general rule (Greek words become letters, digits subscripts:
#: mu0 → μ₀, W1 → W₁, lam → λ).
TEXTBOOK_NAMES = {
    "sigma2": ("σ²", r"\sigma^{2}"),
    "tau2": ("τ²", r"\tau^{2}"),
    "s2": ("s²", "s^{2}"),
    "eps": ("ε", r"\varepsilon"),
    "epsilon": ("ε", r"\varepsilon"),
    "ell": ("ℓ", r"\ell"),
    "inf": ("∞", r"\infty"),
}

#: Names a user's tensor may not print as, because printing gives the letter another
#: meaning: δ is the adjoint of backpropagation (δ_z) and the Kronecker delta (δ_ij). A
#: user's ``delta`` prints as its word.
RESERVED_LETTERS = {"delta": ("delta", r"\mathrm{delta}")}

#: The names calculus gives adjoints (:mod:`symml.program`): prefix → (unicode, LaTeX) of the
#: letter before the value's name. δ_z = ∂L/∂z; δ̄_z is the adjoint of z in a pass that
#: differentiates a derivative (a Hessian's, an hvp's). Longer prefixes first.
ADJOINT_MARKS = {"delta2_": ("δ̄", r"\bar{\delta}"), "delta_": ("δ", r"\delta")}


_NUMBERED = re.compile(r"(.+)_(\d+)")


def textbook(name: str) -> tuple[str, str] | None:
    """(unicode, LaTeX) of a textbook name, or of a Program's numbered one, else None:
    ``sigma2_2``, the second value named sigma2, is σ₂² and ``\\sigma_{2}^{2}`` (not σ₂₂)."""
    if name in TEXTBOOK_NAMES:
        return TEXTBOOK_NAMES[name]
    m = _NUMBERED.fullmatch(name)
    if not m or m.group(1) not in TEXTBOOK_NAMES:
        return None
    (uni, tex), k = TEXTBOOK_NAMES[m.group(1)], m.group(2)
    sub = k.translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
    if uni.endswith("²"):
        return uni[:-1] + sub + "²", tex[:-len("^{2}")] + "_{" + k + "}^{2}"
    return uni + sub, tex + "_{" + k + "}"
