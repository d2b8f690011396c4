"""Index notation: one entry of a tensor expression as a SymPy expression.

:class:`IndexBuilder` turns a graph node and a tuple of index expressions into a SymPy
scalar: ``Indexed`` entries of ``IndexedBase`` objects, ``Sum`` over index symbols with
symbolic ranges ``0 … n − 1``, and ``KroneckerDelta`` for identities:

- ``Tensor`` → ``X[i, j]``; ``Let`` → its name, indexed (``z[i]``); ``Eye`` → ``δ_ij``;
- ``Einsum`` → ``coef · Σ_{contracted} Π operand[...]``;
- ``Map`` → its SymPy expression with each placeholder replaced by the operand's entry;
- ``LogSumExp`` → ``log Σ_j exp(x[..., j, ...])``; ``Conv`` (forward and kernel
  gradient) → the defining sum;
- other structured nodes (``Inv``, ``Det``, ``LogDet``, pooling, the input gradient of
  a convolution) → an indexed application whose base prints in matrix form, such as
  ``(A⁻¹)_ij``.

Bases are labelled by placeholder symbols mapped to their nodes (``labels``); the printer
spells a label as the node's matrix form. Nothing here re-derives anything.

Takes: graph nodes. Gives: SymPy expressions and the labels they use.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import sympy as sp

from ..nodes import Dim, Expr, Eye, Let, Tensor, make_map, placeholder, walk
from ..simplify import softmax_argument
from .index_structural import StructuralEntries
from .notation import Piece, Spelling
from .scalar import constant_factor, print_scalar

#: Index names, in the order they are handed out.
INDEX_NAMES = "ijklmpqrstuvabcefgh"
#: Index names for a derivative's own axes (∂L/∂w_k), leaving i, j for sums.
OUTPUT_INDEX_NAMES = "klmpqrstuvabcefghij"

ADJOINT_PREFIX = ("delta_", "delta2_")  # calculus's adjoint names (symml.program), first and second order


class IndexBuilder(StructuralEntries):
    """Builds entries of the nodes of one graph, handing out distinct index names.

    Args:
        root: the expression whose entries will be built (its names are reserved, so an
            index never reads like a tensor or a dimension).
        expand_adjoints: print the body of calculus-made ``delta_*`` (and ``delta2_*``) intermediates instead
            of their names.
        names: Let uid → printed name (a program's unique names).

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, w = sm.tensor("X", (n, d)), sm.tensor("w", (d,))
    >>> b = IndexBuilder(X @ w)
    >>> entry = b.entry(X @ w, [b.index()])
    >>> entry.limits, sorted(node.name for node in b.labels.values())
    (((j, 0, d - 1),), ['X', 'w'])
    """

    def __init__(self, root: Expr, expand_adjoints: bool = False, names: dict | None = None):
        self.expand = expand_adjoints
        self.names = names or {}
        self.labels: dict[sp.Symbol, Expr] = {}
        self._label_of: dict[int, sp.Symbol] = {}
        self._used: set[str] = set()
        self._memo: dict = {}
        for node in walk([root]):
            if isinstance(node, (Tensor, Let)):
                self._used.add(node.name)
            for s in node.shape:
                self._used.update(str(x) for x in sp.sympify(s).free_symbols if isinstance(x, Dim))

    def index(self, names: str = INDEX_NAMES) -> sp.Symbol:
        """A fresh integer index symbol, preferring ``names`` in order."""
        for ch in names:
            if ch not in self._used:
                self._used.add(ch)
                return sp.Symbol(ch, integer=True)
        k = 1
        while f"i{k}" in self._used:
            k += 1
        self._used.add(f"i{k}")
        return sp.Symbol(f"i{k}", integer=True)

    def label(self, node: Expr) -> sp.Symbol:
        """The placeholder symbol that stands for ``node``'s matrix form."""
        sym = self._label_of.get(node.uid)
        if sym is None:
            sym = sp.Dummy(f"{type(node).__name__}{node.uid}")
            self._label_of[node.uid] = sym
            self.labels[sym] = node
        return sym

    # ----------------------------------------------------------------- entries

    def entry(self, node: Expr, idx: Sequence) -> sp.Expr:
        """The entry ``node[idx]`` as a SymPy expression."""
        idx = list(idx)
        key = (node.uid, tuple(idx))
        hit = self._memo.get(key)  # a shared subexpression is built once (its summed indices are unique)
        if hit is None:
            method = next(getattr(self, "_entry_" + c.__name__) for c in type(node).__mro__
                          if hasattr(self, "_entry_" + c.__name__))
            hit = self._memo[key] = method(node, idx)
        return hit

    def _indexed(self, node, idx):
        sym = self.label(node)
        return sp.IndexedBase(sym)[tuple(idx)] if idx else sym

    _entry_Expr = _entry_Tensor = _indexed

    def _entry_Let(self, node, idx):
        if self.expand and self.names.get(node.uid, node.name).startswith(ADJOINT_PREFIX):
            return self.entry(node.body, idx)
        return self._indexed(node, idx)

    def _entry_Eye(self, node, idx):
        return sp.KroneckerDelta(*idx)

    def _entry_Map(self, node, idx):
        expr = node.expr
        for e in expr.atoms(sp.exp):  # exp(x − logsumexp(x)) is an entry of softmax(x), printed as such
            if softmax_argument(e.args[0], node.operands, placeholder) is not None:
                expr = expr.xreplace({e: self._indexed(make_map(e, node.operands, node.shape), idx)})
        repl = {placeholder(k): self.entry(op, idx if op.ndim else []) for k, op in enumerate(node.operands)}
        return expr.xreplace(repl)

    def _entry_Einsum(self, node, idx):
        sym = dict(zip(node.out, idx))
        limits = []
        for label, size in enumerate(node.sizes):
            if label not in sym:
                sym[label] = self.index()
                limits.append((sym[label], 0, size - 1))
        coef, factors = sp.sympify(node.coef), []
        for op, sub in reading_order(node):
            c, f = constant_factor(self.entry(op, [sym[l] for l in sub]))
            coef *= c
            factors.append(f)
        # unevaluated, so the factors keep the operands' order: X_ij w_j, as in Xw
        body = sp.Mul(*factors, evaluate=False) if len(factors) > 1 else factors[0]
        if limits:
            body = sp.Sum(body, *reversed(limits))  # the first label is the outermost sum
        return coef * body

    def _entry_Solve(self, node, idx):
        """(A⁻¹c)_i = Σ_j (A⁻¹)_ij c_j: the solve as the sum it stands for."""
        from ..structured import Inv

        A, c = node.operands
        j = self.index()
        body = sp.Mul(self.entry(Inv.new(A), [idx[0], j]), self.entry(c, [j] + list(idx[1:])), evaluate=False)
        return sp.Sum(body, (j, 0, A.shape[1] - 1))

    def _entry_LogSumExp(self, node, idx):
        x = node.operands[0]
        j = self.index()
        full = idx[: node.axis] + [j] + idx[node.axis:]
        return sp.log(sp.Sum(sp.exp(self.entry(x, full)), (j, 0, x.shape[node.axis] - 1)))

    def _entry_Conv(self, node, idx):
        if node.slot == "y":  # y[b,o,p,q] = Σ_{c,u,v} x[b,c,p+u,q+v] k[o,c,u,v]
            x, k = node.operands
            b, o, p, q = idx
            c, u, v = self.index(), self.index(), self.index()
            body = self.entry(x, [b, c, p + u, q + v]) * self.entry(k, [o, c, u, v])
            summed, sizes = (c, u, v), (k.shape[1], k.shape[2], k.shape[3])
        elif node.slot == "k":  # k̄[o,c,u,v] = Σ_{b,p,q} x[b,c,p+u,q+v] ȳ[b,o,p,q]
            x, y = node.operands
            o, c, u, v = idx
            b, p, q = self.index(), self.index(), self.index()
            body = self.entry(x, [b, c, p + u, q + v]) * self.entry(y, [b, o, p, q])
            summed, sizes = (b, p, q), (y.shape[0], y.shape[2], y.shape[3])
        else:  # the input gradient sums over a clipped window: keep it as an application
            return self._indexed(node, idx)
        limits = [(s, 0, size - 1) for s, size in zip(summed, sizes)]
        return sp.Sum(body, *reversed(limits))


def reading_order(node) -> list:
    """(operand, labels) of an einsum as a chain is read: X_im W_mj, from the first output index.

    Rank-0 factors come first and identities last; the rest follow shared indices, starting
    from the operand that carries the first output index.
    """
    pairs = list(zip(node.operands, node.subs))
    scalars = [p for p in pairs if not p[1]]
    eyes = [p for p in pairs if p[1] and isinstance(p[0], Eye)]
    rest = [p for p in pairs if p[1] and not isinstance(p[0], Eye)]
    ordered = []
    follow = [node.out[0]] if node.out else []
    while rest:
        nxt = next((p for p in rest if set(p[1]) & set(follow)), rest[0])
        rest.remove(nxt)
        ordered.append(nxt)
        follow = [l for l in nxt[1] if l not in node.out] or list(nxt[1])
    return scalars + ordered + eyes


def render(expr: sp.Expr, labels: dict, spelling: Spelling, node_piece: Callable[[Expr], Piece],
           delta_taken: bool = False) -> Piece:
    """Print an entry built by :class:`IndexBuilder`, spelling each label by ``node_piece``.

    ``delta_taken``: δ names adjoints in the surrounding text (a program's equations), so the
    Kronecker delta prints as I_ij even where this entry reads no adjoint."""
    leaves = {sym: replace(node_piece(node), scalar=True, right=None, n_scalars=0) for sym, node in labels.items()}
    if expr.has(sp.KroneckerDelta) and (delta_taken or any(leaf.text.startswith(spelling.delta)
                                                          for leaf in leaves.values())):
        # δ already names an adjoint here: the Kronecker delta prints as the identity's entry I_ij
        eye = sp.Dummy("I")
        leaves[eye] = Piece(spelling.identity, scalar=True)
        expr = expr.replace(sp.KroneckerDelta, lambda *ij: sp.IndexedBase(eye)[ij])
    return print_scalar(expr, spelling, leaves)
