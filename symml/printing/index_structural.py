"""Index notation of the structural nodes that have a short entry formula.

:class:`StructuralEntries` is a mixin of :class:`~symml.printing.index.IndexBuilder`:

- ``Take`` → ``E[y_i, j]`` (the label as an index);
- ``OneHot`` → ``δ_{k, y_i}``.

The other structural nodes (extrema, reshape, ⊗, cumsum, QR) keep the indexed
application, ``(max(X, axis=1))_i``, which the builder's fallback gives: a cumulative
sum written Σ_j would read as a full sum in unicode, which prints no limits.

Takes: graph nodes. Gives: SymPy expressions.
"""
from __future__ import annotations

import sympy as sp


class StructuralEntries:
    """``_entry_`` methods of the structural nodes (mixed into IndexBuilder)."""

    def _entry_Take(self, node, idx):
        E, y = node.operands
        ax = node.axis
        label = self.entry(y, idx[ax:ax + y.ndim])
        return self.entry(E, idx[:ax] + [label] + idx[ax + y.ndim:])

    def _entry_OneHot(self, node, idx):
        y = node.operands[0]
        return sp.KroneckerDelta(self.entry(y, idx[:-1]), idx[-1])
