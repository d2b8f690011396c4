"""Symbolic sizes: dimension symbols (``sm.dims``), the coercion of a size a user gives, and
the names of tensors and dimensions.

Takes: names and sizes from the user. Gives: SymPy integer symbols and expressions.
"""
from __future__ import annotations

import keyword

import sympy as sp


class Dim(sp.Symbol):
    """A symbolic size: a positive integer symbol such as n or d."""

    def __new__(cls, name: str):
        return super().__new__(cls, name, integer=True, positive=True)


def dims(names: str) -> "Dim | tuple[Dim, ...]":
    """Create dimension symbols, as ``sympy.symbols`` does: one name gives one Dim, several
    names (or a trailing comma, ``"n,"``) a tuple.

    >>> n, d = dims("n d")
    >>> h = dims("h")
    >>> h
    h
    >>> dims("k,")
    (k,)
    """
    if not isinstance(names, str):
        raise TypeError(f"sm.dims takes a string of names such as 'n d', got {type(names).__name__}")
    parts = names.replace(",", " ").split()
    if not parts:
        raise ValueError("dims() needs at least one name, e.g. sm.dims('n d')")
    for p in parts:
        _check_name(p, "dimension")
    out = tuple(Dim(p) for p in parts)
    return out[0] if len(out) == 1 and "," not in names else out


def _check_name(name, what: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ValueError(
            f"invalid {what} name {name!r}: expected a Python identifier that is not a keyword "
            "and does not start with '_' (for example 'X', 'w', 'lam')"
        )
    return name


def as_dim(s) -> sp.Expr:
    """Coerce a size given by the user (Dim, int, SymPy integer expression)."""
    if isinstance(s, bool):
        raise TypeError(f"a size must be a dimension symbol or a positive int, got {s!r}")
    if isinstance(s, int):
        if s <= 0:
            raise ValueError(f"a size must be positive, got {s}")
        return sp.Integer(s)
    if isinstance(s, sp.Expr) and s.is_integer is not False and all(isinstance(f, Dim) for f in s.free_symbols):
        return s
    raise TypeError(
        f"a size must be a dimension from sm.dims(...) or a positive int, got {s!r} ({type(s).__name__})"
    )


def fmt_shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
