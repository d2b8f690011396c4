"""Spelling: how printed fragments look in unicode and in LaTeX.

A printed fragment is a :class:`Piece`: its text plus what a printer needs in order to
place it next to others (a precedence for parentheses, whether it may touch its
neighbours without a space, whether it is a rank-0 value). The two :class:`Spelling`
classes turn the same structural request (transpose this, call ``diag`` on that,
juxtapose these, a fraction) into unicode or LaTeX. Name tables are data.

Takes: strings and pieces. Gives: pieces.
"""
from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, Sequence

import sympy as sp
from sympy.printing.conventions import split_super_sub
from sympy.printing.latex import translate as _latex_name
from sympy.printing.pretty.pretty_symbology import greek_unicode
from .names import ADJOINT_MARKS, NAME_ALIASES, RESERVED_LETTERS, TEXTBOOK_NAMES, textbook  # noqa: F401 - tables of data, read by name

# --------------------------------------------------------------------------- precedence

NEG = ADD = 10  # a sum, or a leading minus sign
BIGOP = 20  # Σ_i …: binds its whole right side, so it may end a product or a sum unparenthesized
HADAMARD = DIV = 50  # a ⊙ b, a/b
MATMUL = 60  # juxtaposition: AB, λw, 2x
POSTFIX = 90  # Aᵀ, A⁻¹, x², ‖x‖²
ATOM = 100  # names, numbers, calls, parenthesized groups


@dataclass(frozen=True)
class RightFactor:
    """A column chain ``coef · prefix · vector``: lets ``Ax + Aᵀx`` print as ``(A + Aᵀ)x``."""

    coef: Any
    prefix: "Piece"
    key: tuple
    vector: "Piece"


@dataclass(frozen=True)
class Piece:
    """A printed fragment.

    Attributes:
        text: the printed text.
        prec: binding strength; a piece is parenthesized where a stronger one is needed.
        ltight, rtight: whether juxtaposition may touch the piece on that side without a
            space (unicode only: ``2Xᵀ`` but ``Xᵀ diag(s) X``).
        scalar: the piece stands for a rank-0 value.
        chain: a matrix product (``xᵀAy``): a rank-0 chain is parenthesized before
            another factor, so ``(xᵀy)w`` does not read as ``xᵀ(yw)``.
        open_right: the piece extends to the right (``Σ_i x_i``), so nothing may follow it
            unparenthesized.
        n_scalars: rank-0 factors inside (orders the terms of a sum).
        right: set for a matrix-vector product, to factor sums that share the vector.
    """

    text: str
    prec: int = ATOM
    ltight: bool = True
    rtight: bool = True
    scalar: bool = False
    open_right: bool = False
    n_scalars: int = 0
    right: RightFactor | None = None
    chain: bool = False


# --------------------------------------------------------------------------- names


#: Operators printed as applied functions: key → (unicode, LaTeX).
OPERATORS = {
    "diag": ("diag", r"\operatorname{diag}"),
    "tr": ("tr", r"\operatorname{tr}"),
    "sum": ("sum", r"\operatorname{sum}"),
    "det": ("det", r"\det"),
    "logdet": ("log det", r"\log\det"),
    "logsumexp": ("logsumexp", r"\operatorname{logsumexp}"),
    "softmax": ("softmax", r"\operatorname{softmax}"),
    "conv2d": ("conv2d", r"\operatorname{conv2d}"),
    "conv2d_transpose": ("conv2d_transpose", r"\operatorname{conv2d\_transpose}"),
    "conv2d_weight": ("conv2d_weight", r"\operatorname{conv2d\_weight}"),
    "maxpool2d": ("maxpool2d", r"\operatorname{maxpool2d}"),
    "avgpool2d": ("avgpool2d", r"\operatorname{avgpool2d}"),
    "maxunpool2d": ("maxunpool2d", r"\operatorname{maxunpool2d}"),
    "avgunpool2d": ("avgunpool2d", r"\operatorname{avgunpool2d}"),
}

_SUB_DIGITS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_TIGHT_NAME = re.compile(r"[^\W\d_][₀-₉′²]*")


# --------------------------------------------------------------------------- spellings


class Spelling(ABC):
    """How structure is written. :class:`Unicode` and :class:`Latex` implement it.

    The shared methods (products, transposes, applications) build on the abstract
    primitives, so a printer asks for structure and never for a format.
    """

    fmt = ""
    minus = "-"  # between terms, with its spaces; stripped for a leading sign
    odot = ""
    otimes = ""
    transpose_mark = ""
    inverse_mark = ""
    inverse_transpose_mark = ""
    identity = "I"
    ones = "1"
    nabla = ""
    delta = ""

    # -- primitives
    @abstractmethod
    def name(self, name: str) -> Piece:
        """A tensor, intermediate or dimension name."""

    @abstractmethod
    def paren(self, p: Piece) -> Piece:
        """``(p)``."""

    @abstractmethod
    def join(self, a: str, b: Piece, a_piece: Piece) -> str:
        """Juxtapose ``b`` after the text ``a`` (whose last piece is ``a_piece``)."""

    @abstractmethod
    def fraction(self, num: Piece, den: Piece) -> Piece:
        """``num / den``."""

    @abstractmethod
    def power(self, base: Piece, exp: Piece | int) -> Piece:
        """``base`` to an integer or printed exponent."""

    @abstractmethod
    def sqrt(self, p: Piece) -> Piece:
        """``√p``."""

    @abstractmethod
    def norm(self, p: Piece) -> Piece:
        """``‖p‖``."""

    @abstractmethod
    def subscript(self, base: Piece, indices: Sequence[str]) -> Piece:
        """An entry ``base_ij``."""

    @abstractmethod
    def big_sum(self, indices: Sequence[str], limits: Sequence[tuple], body: Piece) -> Piece:
        """``Σ_i body`` with ``limits`` the printed (low, high) of each index."""

    @abstractmethod
    def entries(self, body: Piece, indices: Sequence[str]) -> Piece:
        """The tensor whose entries are ``body``: ``[body]_ij``."""

    @abstractmethod
    def partial(self, f: str, wrt: Sequence[str]) -> str:
        """``∂f/∂w`` (one entry of ``wrt`` per order)."""

    @abstractmethod
    def equations(self, rows: Sequence[tuple[str, str]]) -> str:
        """Aligned equations ``lhs = rhs``."""

    # -- shared structure
    def number(self, value) -> Piece:
        """A non-negative number."""
        value = sp.sympify(value)
        if value.is_Integer:
            return Piece(str(value), scalar=True)
        if value.is_Rational:
            return replace(self.fraction(Piece(str(value.p)), Piece(str(value.q))), scalar=True)
        if value.is_Float:
            return Piece(f"{float(value):g}", scalar=True)
        return Piece(str(value), prec=ADD, ltight=False, rtight=False, scalar=True)

    def negate(self, p: Piece) -> Piece:
        inner = self.paren(p) if p.prec <= ADD else p
        return replace(inner, text=self.minus.strip() + inner.text, prec=NEG, ltight=False, right=None)

    def postfix(self, base: Piece, mark: str) -> Piece:
        if base.prec < ATOM:
            base = self.paren(base)
        return replace(base, text=base.text + mark, prec=POSTFIX, open_right=False, right=None, chain=False)

    def transpose(self, base: Piece) -> Piece:
        return self.postfix(base, self.transpose_mark)

    def call(self, name: str, *args: Piece) -> Piece:
        """``name(args)``, a function applied; a one-letter name may touch its neighbours."""
        tight = len(name) == 1
        return Piece(name + self.paren(Piece(", ".join(a.text for a in args))).text, ltight=tight, rtight=tight)

    def apply(self, op: str, *args: Piece) -> Piece:
        """An operator of :data:`OPERATORS` applied: ``diag(v)``, ``tr(A)``, ``log det(A)``."""
        return self.call(OPERATORS[op][self.fmt == "latex"], *args)

    def juxtapose(self, pieces: Sequence[Piece], hadamard: bool = False) -> Piece:
        """A product: a matrix chain, or (``hadamard``) ⊙ between non-scalar factors.

        A factor is parenthesized where it binds less tightly than the product, where it
        extends to the right (``Σ_i …``) and something follows, and where a rank-0
        matrix product would run into the next factor: ``(xᵀy)w``.
        """
        pieces = list(pieces)
        if len(pieces) == 1:
            return pieces[0]
        need = MATMUL if hadamard else POSTFIX
        fixed = []
        for k, p in enumerate(pieces):
            last = k == len(pieces) - 1
            if p.prec <= ADD:
                wrap = True
            elif p.open_right:
                wrap = not last
            else:
                wrap = p.prec < need or (p.scalar and p.chain and not last)
            fixed.append(self.paren(p) if wrap else p)
        text, used_odot = fixed[0].text, False
        for prev, p in zip(fixed, fixed[1:]):
            if hadamard and not prev.scalar and not p.scalar:
                text, used_odot = text + self.odot + p.text, True
            else:
                text = self.join(text, p, prev)
        return Piece(
            text,
            prec=HADAMARD if used_odot else MATMUL,
            ltight=fixed[0].ltight,
            rtight=fixed[-1].rtight,
            scalar=all(p.scalar for p in pieces),
            open_right=fixed[-1].open_right,
            chain=not hadamard,
        )

    def norm_squared(self, p: Piece) -> Piece:
        return self.power(self.norm(p), 2)

    def equation(self, lhs: str, rhs: str) -> str:
        return f"{lhs} = {rhs}"


def _adjoint_of(name: str, fmt: int):  # (δ's spelling, v) for an adjoint name delta_v, delta2_v
    prefix = next((p for p in ADJOINT_MARKS if name.startswith(p) and len(name) > len(p)), None)
    return (ADJOINT_MARKS[prefix][fmt], name[len(prefix):]) if prefix else (None, name)


def _index_text(indices: Sequence[str]) -> str:
    """``ik`` for one-letter indices, else ``{i1,k}``."""
    return "".join(indices) if all(len(i) == 1 for i in indices) else "{" + ",".join(indices) + "}"


class Unicode(Spelling):
    """Unicode, one line: ``2Xᵀ(Xw − y)``."""

    fmt = "unicode"
    minus = " − "
    odot = " ⊙ "
    otimes = " ⊗ "
    transpose_mark = "ᵀ"
    inverse_mark = "⁻¹"
    inverse_transpose_mark = "⁻ᵀ"
    ones = "𝟏"
    nabla = "∇"
    delta = "δ"

    def name(self, name: str) -> Piece:
        text = self._name_text(name)
        tight = bool(_TIGHT_NAME.fullmatch(text))
        return Piece(text, ltight=tight, rtight=tight, prec=POSTFIX if textbook(name) and "²" in text else ATOM)

    def _name_text(self, name: str) -> str:
        if spelt := textbook(name):
            return spelt[0]
        mark, of = _adjoint_of(name, 0)
        if mark:  # δ_z, δ_δ_z; a second-order adjoint δ̄_z
            return mark + "_" + self._name_text(of)
        base, sups, subs = split_super_sub(name)
        base = NAME_ALIASES.get(base, base)
        text = TEXTBOOK_NAMES[base][0] if base in TEXTBOOK_NAMES else greek_unicode.get(base, base)  # ℓ₂, ε₁
        for s in subs:
            text += s.translate(_SUB_DIGITS) if s.isdigit() else "_" + self._name_text(s)
        for s in sups:
            text += s.translate(_SUP) if s.isdigit() else "^" + self._name_text(s)
        return text

    def paren(self, p: Piece) -> Piece:
        return replace(p, text=f"({p.text})", prec=ATOM, ltight=True, rtight=True, open_right=False, right=None,
                       chain=False)

    def join(self, a: str, b: Piece, a_piece: Piece) -> str:
        sep = "" if a_piece.rtight and b.ltight else " "
        return a + sep + b.text

    def fraction(self, num: Piece, den: Piece) -> Piece:
        if num.prec < MATMUL or num.open_right:
            num = self.paren(num)
        if den.prec < POSTFIX:
            den = self.paren(den)
        return Piece(f"{num.text}/{den.text}", prec=DIV, ltight=num.ltight, rtight=den.rtight,
                     scalar=num.scalar and den.scalar)

    def power(self, base: Piece, exp) -> Piece:
        if base.prec < ATOM:
            base = self.paren(base)
        if isinstance(exp, int) or (isinstance(exp, sp.Basic) and exp.is_Integer):
            return self.postfix(base, str(exp).translate(_SUP))
        exp_p = exp if isinstance(exp, Piece) else Piece(str(exp))
        e = exp_p.text if exp_p.prec >= ATOM and " " not in exp_p.text else f"({exp_p.text})"
        return self.postfix(base, "^" + e)

    def sqrt(self, p: Piece) -> Piece:
        inner = p if p.prec >= ATOM and p.ltight else self.paren(p)
        return Piece("√" + inner.text, rtight=inner.rtight)

    def norm(self, p: Piece) -> Piece:
        return Piece(f"‖{p.text}‖")

    def subscript(self, base: Piece, indices: Sequence[str]) -> Piece:
        if not (len(base.text) == 1 or (base.prec >= ATOM and base.text.endswith(")"))):
            base = self.paren(base)
        return Piece(f"{base.text}_{_index_text(indices)}", ltight=base.ltight, rtight=False)

    def big_sum(self, indices: Sequence[str], limits: Sequence[tuple], body: Piece) -> Piece:
        if body.prec <= ADD:
            body = self.paren(body)
        text = f"Σ_{_index_text(indices)} {body.text}"
        return Piece(text, prec=BIGOP, ltight=False, rtight=body.rtight, open_right=True)

    def entries(self, body: Piece, indices: Sequence[str]) -> Piece:
        return Piece(f"[{body.text}]_{_index_text(indices)}", rtight=False)

    def partial(self, f: str, wrt: Sequence[str]) -> str:
        order = len(wrt)
        top = "∂" + ("" if order == 1 else str(order).translate(_SUP))
        return f"{top}{f}/" + "".join("∂" + w for w in wrt)

    def equations(self, rows: Sequence[tuple[str, str]]) -> str:
        cols = {lhs: sum(not unicodedata.combining(ch) for ch in lhs) for lhs, _ in rows}  # δ̄: 2 chars, 1 column
        return "\n".join(f"{lhs}{' ' * (max(cols.values(), default=0) - cols[lhs])} = {rhs}" for lhs, rhs in rows)


class Latex(Spelling):
    """LaTeX: ``2 X^{\\top} \\left(X w - y\\right)``."""

    fmt = "latex"
    minus = " - "
    odot = r" \odot "
    otimes = r" \otimes "
    transpose_mark = r"^{\top}"
    inverse_mark = "^{-1}"
    inverse_transpose_mark = r"^{-\top}"
    ones = r"\mathbf{1}"
    nabla = r"\nabla"
    delta = r"\delta"

    def name(self, name: str) -> Piece:
        text = self._name_text(name)
        return Piece(text, prec=POSTFIX if textbook(name) and "^" in text else ATOM)

    def _name_text(self, name: str) -> str:
        if spelt := textbook(name):
            return spelt[1]
        mark, of = _adjoint_of(name, 1)
        if mark:
            return mark + "_{" + self._name_text(of) + "}"
        base, sups, subs = split_super_sub(name)
        base = NAME_ALIASES.get(base, base)
        text = TEXTBOOK_NAMES[base][1] if base in TEXTBOOK_NAMES else _latex_name(base)
        if len(base) > 1 and text == base:
            text = r"\mathrm{%s}" % base
        if subs:
            text += "_{" + ",".join(self._name_text(s) if not s.isdigit() else s for s in subs) + "}"
        if sups:
            text += "^{" + ",".join(self._name_text(s) if not s.isdigit() else s for s in sups) + "}"
        return text

    def paren(self, p: Piece) -> Piece:
        return replace(p, text=rf"\left({p.text}\right)", prec=ATOM, open_right=False, right=None, chain=False)

    def join(self, a: str, b: Piece, a_piece: Piece) -> str:
        return a + " " + b.text

    def fraction(self, num: Piece, den: Piece) -> Piece:
        return Piece(rf"\frac{{{num.text}}}{{{den.text}}}", prec=POSTFIX, scalar=num.scalar and den.scalar)

    def power(self, base: Piece, exp) -> Piece:
        if base.prec < ATOM:
            base = self.paren(base)
        e = exp.text if isinstance(exp, Piece) else str(exp)
        return self.postfix(base, "^{" + e + "}")

    def sqrt(self, p: Piece) -> Piece:
        return Piece(rf"\sqrt{{{p.text}}}")

    def norm(self, p: Piece) -> Piece:
        return Piece(rf"\left\lVert {p.text} \right\rVert")

    def subscript(self, base: Piece, indices: Sequence[str]) -> Piece:
        if base.prec < ATOM or (re.search(r"[_^]", base.text) and not base.text.endswith(")")):
            base = self.paren(base)
        sep = "" if all(len(i) == 1 for i in indices) else ","
        return Piece(f"{base.text}_{{{sep.join(indices)}}}")

    def big_sum(self, indices: Sequence[str], limits: Sequence[tuple], body: Piece) -> Piece:
        if body.prec <= ADD:
            body = self.paren(body)
        head = " ".join(rf"\sum_{{{i}={lo}}}^{{{hi}}}" for i, (lo, hi) in zip(indices, limits))
        return Piece(f"{head} {body.text}", prec=BIGOP, open_right=True)

    def entries(self, body: Piece, indices: Sequence[str]) -> Piece:
        sep = "" if all(len(i) == 1 for i in indices) else ","
        return Piece(rf"\left[{body.text}\right]_{{{sep.join(indices)}}}")

    def partial(self, f: str, wrt: Sequence[str]) -> str:
        order = len(wrt)
        top = r"\partial" + ("" if order == 1 else f"^{{{order}}}")
        return rf"\frac{{{top} {f}}}{{" + " ".join(r"\partial " + w for w in wrt) + "}"

    def equations(self, rows: Sequence[tuple[str, str]]) -> str:
        body = " \\\\\n".join(f"{lhs} &= {rhs}" for lhs, rhs in rows)
        return "\\begin{aligned}\n" + body + "\n\\end{aligned}"


UNICODE = Unicode()
LATEX = Latex()
SPELLINGS = {"unicode": UNICODE, "latex": LATEX}


def spelling_for(fmt: str) -> Spelling:
    """The spelling named ``fmt`` ("unicode" or "latex"), or a ValueError that lists both."""
    try:
        return SPELLINGS[fmt]
    except (KeyError, TypeError):
        raise ValueError(f"unknown format {fmt!r}: expected 'unicode' or 'latex'") from None


def name_text(name: str, fmt: str = "unicode") -> str:
    """A tensor or intermediate name as printed: Greek words become letters, digits subscripts.

    >>> name_text("lam"), name_text("W1"), name_text("delta_z"), name_text("lam", "latex")
    ('λ', 'W₁', 'δ_z', '\\\\lambda')
    """
    return spelling_for(fmt).name(name).text
