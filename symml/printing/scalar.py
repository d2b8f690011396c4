"""Print SymPy scalar expressions as a person writes them, in either spelling.

:class:`ScalarPrinter` is a SymPy ``Printer`` whose ``_print_<Class>`` methods return
:class:`~symml.printing.notation.Piece` objects instead of strings. It prints two kinds
of expression:

- the scalar expression of an elementwise ``Map``, whose placeholders ``_t0, _t1, ...``
  are *leaves*: pieces already printed (in matrix form) for the map's operands. Between
  two non-scalar factors a product is ⊙; a scalar times a tensor is juxtaposition;
- an index-notation entry built from ``Indexed``, ``Sum`` and ``KroneckerDelta``.

Terms and factors are ordered for reading, not as SymPy stores them: in a product the
numeric coefficient, then rank-0 factors, then other factors, then sums in parentheses;
in a sum the terms with fewer rank-0 factors first, positive before negative. A common
numeric factor is pulled out of a sum, and matrix-vector products that share their
vector are factored: ``Ax + Aᵀx`` prints ``(A + Aᵀ)x``. An unknown SymPy construct is
printed by SymPy's own printers, never raised.

Takes: SymPy expressions and leaf pieces. Gives: pieces.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping

import sympy as sp
from sympy.printing.printer import Printer

from .. import functions as F
from .notation import ADD, Piece, Spelling

#: Elementwise functions printed as ``name(arg)``: function → (unicode, LaTeX).
FUNCTION_NAMES = {
    sp.exp: ("exp", r"\exp"),
    sp.log: ("log", r"\log"),
    sp.tanh: ("tanh", r"\tanh"),
    sp.sinh: ("sinh", r"\sinh"),
    sp.cosh: ("cosh", r"\cosh"),
    sp.sin: ("sin", r"\sin"),
    sp.cos: ("cos", r"\cos"),
    sp.sign: ("sign", r"\operatorname{sign}"),
    sp.erf: ("erf", r"\operatorname{erf}"),
    sp.loggamma: ("log Γ", r"\log\Gamma"),
    sp.gamma: ("Γ", r"\Gamma"),
    sp.Max: ("max", r"\max"),
    sp.Min: ("min", r"\min"),
    sp.tan: ("tan", r"\tan"),
    sp.erfc: ("erfc", r"\operatorname{erfc}"),
    F.erfc: ("erfc", r"\operatorname{erfc}"),
    sp.Heaviside: ("H", "H"),  # the derivative of max/min: 1 above 0, ½ at 0, 0 below
    **{f: (f.unicode_name, f.latex_name) for f in F.ML_FUNCTIONS},
}

#: Relations of where's conditions: SymPy's operator → (unicode, LaTeX).
RELATIONS = {">": (">", ">"), ">=": ("≥", r"\geq"), "<": ("<", "<"), "<=": ("≤", r"\leq"), "==": ("=", "="),
             "!=": ("≠", r"\neq")}
COMPARE = 5  # a relation binds more loosely than a sum

#: Functions with their own layout; ``%s`` is the printed argument.
FUNCTION_TEMPLATES = {
    F.step: ("𝟙[%s > 0]", r"\mathbb{1}\left[%s > 0\right]"),
    sp.Abs: ("|%s|", r"\left|%s\right|"),
}

_SUPERSCRIPTS = str.maketrans("0123456789()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾")

#: Constants: SymPy class name → (unicode, LaTeX).
CONSTANTS = {"Pi": ("π", r"\pi"), "Exp1": ("e", "e"), "Infinity": ("∞", r"\infty"), "ImaginaryUnit": ("i", "i")}


class ScalarPrinter(Printer):
    """Print a SymPy scalar expression to a :class:`Piece`.

    Args:
        spelling: :data:`~symml.printing.notation.UNICODE` or ``LATEX``.
        leaves: symbol → piece; a leaf prints as its piece (an operand's matrix form, or
            the base of an ``Indexed``).

    >>> import sympy as sp
    >>> from symml.printing.notation import UNICODE, Piece
    >>> a, b = sp.symbols("a b")
    >>> leaves = {a: Piece("u"), b: Piece("v")}
    >>> ScalarPrinter(UNICODE, leaves).piece(2 * a * b - 2 * b).text
    '2(u ⊙ v − v)'
    """

    printmethod = "_symml_piece"  # nothing defines it: every class is printed here

    def __init__(self, spelling: Spelling, leaves: Mapping[sp.Symbol, Piece] | None = None):
        super().__init__()
        self.sp = spelling
        self.leaves = dict(leaves or {})
        self.latex = spelling.fmt == "latex"

    def piece(self, expr) -> Piece:
        """The printed piece of ``expr``."""
        return self._print(sp.sympify(expr))

    def _print(self, expr, **kwargs) -> Piece:
        if isinstance(expr, sp.Symbol) and expr in self.leaves:
            return self.leaves[expr]
        p = super()._print(expr, **kwargs)
        if not isinstance(p, Piece):  # pragma: no cover - every method returns a Piece
            p = Piece(str(p), prec=ADD, ltight=False, rtight=False)
        return replace(p, scalar=self._is_scalar(expr))

    # ----------------------------------------------------------------- facts

    def _is_scalar(self, e) -> bool:
        if not isinstance(e, sp.Basic):
            return True
        return all(self.leaves[s].scalar for s in e.free_symbols if s in self.leaves)

    def _is_addlike(self, e) -> bool:
        return e.is_Add or (e in self.leaves and self.leaves[e].prec <= ADD)

    def _n_scalars(self, term) -> int:
        """Rank-0 factors scaling a tensor term (0 for a rank-0 term)."""
        if self._is_scalar(term):
            return 0
        count = 0
        for f in sp.Mul.make_args(term):
            if f.is_number:
                continue
            leaf = self.leaves.get(f)
            if leaf is not None:
                count += leaf.n_scalars + (1 if leaf.scalar else 0)
            elif self._is_scalar(f):
                count += 1
        return count

    # ----------------------------------------------------------------- atoms

    def _print_Symbol(self, expr):
        return replace(self.sp.name(expr.name), scalar=True)

    def _print_Rational(self, expr):
        if expr < 0:
            return self.sp.negate(self.sp.number(-expr))
        return self.sp.number(expr)

    _print_Float = _print_Rational

    def _print_NumberSymbol(self, expr):
        names = CONSTANTS.get(type(expr).__name__)
        return Piece(names[self.latex]) if names else self.emptyPrinter(expr)

    _print_ImaginaryUnit = _print_Infinity = _print_NumberSymbol

    def _print_NegativeInfinity(self, expr):
        return self.sp.negate(self._print(-expr))

    # ----------------------------------------------------------------- sums

    def _print_Add(self, expr):
        c, p = numeric_content(expr)
        if c != 1 and p.is_Add:
            return self.product(c, [self._terms(p)], [])
        return self._terms(expr)

    def _terms(self, add) -> Piece:
        """The terms in reading order; matrix-vector products that share a vector factored."""
        terms = sorted(add.as_ordered_terms(), key=self._term_key)  # stable: ties keep SymPy's order
        groups: dict = {}
        for t in terms:
            c, right = self._right_factor(t)
            if right is not None:
                groups.setdefault(right.key, []).append((c, right))
        parts, grouped = [], set()
        for t in terms:
            _, right = self._right_factor(t)
            if right is not None and len(groups[right.key]) > 1:
                if right.key not in grouped:
                    grouped.add(right.key)
                    parts.append(self._group(groups[right.key]))
                continue
            neg = t.could_extract_minus_sign()
            parts.append((neg, self._print(-t if neg else t)))
        return self.join_terms(parts)

    def _term_key(self, t):
        """Tensor terms before scaled ones, positive before negative, open sums (Σ …) last."""
        opens = any(isinstance(f, sp.Sum) for f in sp.Mul.make_args(t))
        return self._n_scalars(t), t.could_extract_minus_sign(), opens

    def _right_factor(self, term):
        """(scalar coefficient, RightFactor) when ``term`` is a scaled matrix-vector product."""
        factors = sp.Mul.make_args(term)
        found = [f for f in factors if f in self.leaves and self.leaves[f].right is not None]
        if len(found) != 1 or not all(self._is_scalar(f) for f in factors if f is not found[0]):
            return None, None
        return sp.Mul(*[f for f in factors if f is not found[0]]), self.leaves[found[0]].right

    def join_terms(self, parts) -> Piece:
        """``parts`` is a list of (negative?, piece); the first sign prints as a leading minus."""
        if len(parts) == 1:
            neg, p = parts[0]
            return self.sp.negate(p) if neg else p
        minus = self.sp.minus.strip()
        text = ""
        for k, (neg, p) in enumerate(parts):
            if p.prec <= ADD:  # a negation, or a sum standing for one term
                wrap = k > 0 or neg
            else:  # Σ_i … runs to the end of the sum
                wrap = p.open_right and k < len(parts) - 1
            if wrap:
                p = self.sp.paren(p)
            if k == 0:
                text = (minus if neg else "") + p.text
            else:
                text += (self.sp.minus if neg else " + ") + p.text
        first_neg, first = parts[0]
        return Piece(text, prec=ADD, ltight=not first_neg and first.ltight, rtight=parts[-1][1].rtight,
                     open_right=parts[-1][1].open_right)

    def _group(self, members):
        """(c₁P₁ + c₂P₂)v for matrix-vector products ``c_k P_k v`` that share v."""
        totals = [(sp.sympify(c * rf.coef), rf) for c, rf in members]
        flip = all(t.could_extract_minus_sign() for t, _ in totals)
        inner = []
        for total, rf in totals:
            if flip:
                total = -total
            neg = total.could_extract_minus_sign()
            num, rest = (-total if neg else total).as_coeff_Mul()
            top, bottom = sp.fraction(rest)
            factors = ([] if top == 1 else [self._print(top)]) + [rf.prefix]
            inner.append((neg, self.product(num, factors, [] if bottom == 1 else [self._print(bottom)])))
        grouped = self.sp.juxtapose([self.sp.paren(self.join_terms(inner)), members[0][1].vector])
        return flip, grouped

    # ----------------------------------------------------------------- products

    def _print_Mul(self, expr):
        if any(f.is_Add and numeric_content(f)[0] != 1 for f in expr.args):
            tidy = sp.Mul(*expr.as_content_primitive())  # (2a + 2b)/(2n) → (a + b)/n
            if tidy != expr:
                return self._print(tidy)
        coef, factors = expr.as_coeff_mul()
        if len(factors) > 1:  # 1.0σ(z) is σ(z) (SymPy keeps a float 1 as a factor)
            factors = tuple(f for f in factors if not (f.is_Float and f == sp.Float(1))) or factors
        num, den = [], []
        for f in factors:
            if isinstance(f, sp.Pow) and f.exp.is_Rational and f.exp.is_negative:
                den.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp))
            else:
                num.append(f)
        num.sort(key=lambda f: (not self._is_scalar(f), self._is_addlike(f)))
        return self.product(coef, [self._print(f) for f in num], [self._print(f) for f in den])

    def product(self, coef, factors, den) -> Piece:
        """coef · Π factors / Π den, with the sign in front."""
        coef = sp.sympify(coef)
        neg = coef.is_negative is True
        if neg:
            coef = -coef
        p, q = (coef.p, coef.q) if coef.is_Rational else (coef, 1)
        numer = ([self.sp.number(p)] if p != 1 or not factors else []) + list(factors)
        body = self.sp.juxtapose(numer, hadamard=True)
        den = ([self.sp.number(q)] if q != 1 else []) + list(den)
        if den:
            body = self.sp.fraction(body, self.sp.juxtapose(den, hadamard=True))
        return self.sp.negate(body) if neg else body

    def _print_Pow(self, expr):
        b, e = expr.args
        if e.is_Rational and e.is_negative:
            return self.product(1, [], [self._print(sp.Pow(b, -e))])
        if e == sp.S.Half:
            return self.sp.sqrt(self._print(b))
        base = self._print(b)
        if e.is_Integer:
            return self.sp.power(base, int(e))
        return self.sp.power(base, self._print(e))

    # ----------------------------------------------------------------- functions

    def _print_Function(self, expr):
        args = [self._print(a) for a in expr.args]
        template = FUNCTION_TEMPLATES.get(expr.func)
        if template is not None:
            return Piece(template[self.latex] % ", ".join(a.text for a in args))
        names = FUNCTION_NAMES.get(expr.func)
        if names is not None:
            name = names[self.latex]
        else:
            fname = getattr(expr.func, "__name__", str(expr.func))
            name = r"\operatorname{%s}" % fname.replace("_", r"\_") if self.latex else fname
        return self.sp.call(name, *args)

    _print_Max = _print_Min = _print_Function  # lattice operations, not Function subclasses

    def _print_Heaviside(self, expr):  # H(x), whatever its value at 0 (an extra SymPy argument)
        return self.sp.call("H", self._print(expr.args[0]))

    def _print_polygamma(self, expr):
        """ψ(x) for k = 0 (the digamma), ψ⁽ᵏ⁾(x) above."""
        k, x = expr.args
        if k == 0:
            name = r"\psi" if self.latex else "ψ"
        elif self.latex:
            name = r"\psi^{(" + self._print(k).text + ")}"
        else:
            name = "ψ" + ("⁽" + str(k) + "⁾").translate(_SUPERSCRIPTS) if k.is_Integer else f"ψ^({k})"
        return self.sp.call(name, self._print(x))

    def _print_Relational(self, expr):
        names = RELATIONS.get(expr.rel_op)
        if names is None:  # pragma: no cover - SymPy's other relations are not built by symml
            return self.emptyPrinter(expr)
        lhs, rhs = (self._print(a) for a in expr.args)
        return Piece(f"{lhs.text} {names[self.latex]} {rhs.text}", prec=COMPARE, ltight=False, rtight=False)

    def _print_And(self, expr):
        return self._logic(expr.args, r" \wedge " if self.latex else " ∧ ")

    def _print_Or(self, expr):
        return self._logic(expr.args, r" \vee " if self.latex else " ∨ ")

    def _print_Not(self, expr):
        inner = self._print(expr.args[0])
        return Piece((r"\neg " if self.latex else "¬") + self.sp.paren(inner).text)

    def _logic(self, args, sep):
        parts = [self._print(a) for a in args]
        return Piece(sep.join(self.sp.paren(p).text if p.prec < COMPARE else p.text for p in parts),
                     prec=COMPARE - 1, ltight=False, rtight=False)

    def _print_BooleanTrue(self, expr):
        return Piece(r"\text{true}" if self.latex else "true")

    def _print_BooleanFalse(self, expr):
        return Piece(r"\text{false}" if self.latex else "false")

    def _print_Piecewise(self, expr):
        """sm.where: cases in LaTeX, ``where(cond, a, b)`` (nested for more branches) in unicode."""
        pairs = [(self._print(e), c) for e, c in expr.args]
        if self.latex:
            rows = [f"{p.text} & " + (r"\text{otherwise}" if c == sp.true else self._print(c).text) for p, c in pairs]
            return Piece(r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}")
        text = pairs[-1][0].text if pairs[-1][1] == sp.true else f"where({self._print(pairs[-1][1]).text}, " \
            f"{pairs[-1][0].text}, nan)"
        for p, c in reversed(pairs[:-1]):
            text = f"where({self._print(c).text}, {p.text}, {text})"
        return Piece(text)

    # ----------------------------------------------------------------- index notation

    def _index_text(self, i) -> str:
        text = self._print(i).text
        return text if self.latex else text.replace(" ", "").replace("−", "-")

    def _print_Indexed(self, expr):
        label = expr.base.label
        base = self.leaves.get(label) or self.sp.name(str(label))
        return self.sp.subscript(base, [self._index_text(i) for i in expr.indices])

    def _print_Sum(self, expr):
        body = self._print(expr.function)
        limits = list(reversed(expr.limits))
        names = [self._index_text(i) for i, _, _ in limits]
        bounds = [(self._print(lo).text, self._print(hi).text) for _, lo, hi in limits]
        return self.sp.big_sum(names, bounds, body)

    def _print_KroneckerDelta(self, expr):
        return self.sp.subscript(Piece(self.sp.delta), [self._index_text(i) for i in expr.args])

    # ----------------------------------------------------------------- anything else

    def emptyPrinter(self, expr):
        """SymPy's own one-line printers, with leaves spelled as their pieces."""
        try:
            if not isinstance(expr, sp.Basic):
                return Piece(str(expr), prec=ADD, ltight=False, rtight=False)
            syms = [s for s in expr.free_symbols if isinstance(s, sp.Symbol)]
            names = {s: self._print(s).text for s in syms}
            if self.latex:
                text = sp.latex(expr, symbol_names=names)
            else:
                text = sp.sstr(expr.xreplace({s: sp.Symbol(t) for s, t in names.items()}))
        except Exception:  # noqa: BLE001 - a printer must not raise at the user
            text = f"<{type(expr).__name__}>"
        return Piece(text, prec=ADD, ltight=False, rtight=False)


def numeric_content(expr: sp.Expr):
    """A numeric factor common to all terms, and the rest: ``2a − 2b`` → ``(2, a − b)``.

    A fractional factor is taken out of a sum only when no term keeps a coefficient, so
    ``a/2 + b/2`` gives ``(1/2, a + b)`` but ``a + b/2`` stays as it is.

    >>> import sympy as sp
    >>> a, b = sp.symbols("a b")
    >>> numeric_content(2 * a - 2 * b), numeric_content(a + b / 2), numeric_content(-a - b)
    ((2, a - b), (1, a + b/2), (-1, a + b))
    """
    c, p = expr.as_content_primitive()
    if p.is_Add and all(t.could_extract_minus_sign() for t in p.args):
        c, p = -c, -p
    if p.is_Add and not c.is_Integer and any(abs(t.as_coeff_Mul()[0]) != 1 for t in p.args):
        return sp.S.One, expr
    return c, p


def constant_factor(expr: sp.Expr):
    """The factor of ``expr`` made of numbers and dimensions, and the rest: ``2(a − b)/n`` → ``(2/n, a − b)``.

    >>> import sympy as sp
    >>> import symml as sm
    >>> n = sm.dims("n")
    >>> a, b = sp.symbols("a b")
    >>> constant_factor((2 * a - 2 * b) / n)
    (2/n, a - b)
    """
    from ..simplify import constant_part

    return constant_part(sp.sympify(expr))


def print_scalar(expr, spelling: Spelling, leaves=None) -> Piece:
    """Print ``expr`` with ``leaves`` (symbol → piece) in ``spelling``."""
    return ScalarPrinter(spelling, leaves).piece(expr)
