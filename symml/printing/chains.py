"""Read an ``Einsum`` as matrix notation: products of matrices and vectors.

An einsum has a matrix form when its index structure is a set of chains. Matrices are
edges between their two indices, vectors end a chain; walking from the first output
index gives ``A Bᵀ x`` (each matrix transposed when it is entered by its second index).
Around that core:

- rank-0 operands and closed chains are scalar factors in front (``xᵀy``, ``tr(AB)``,
  ``sum(v)``);
- a vector whose index is shared by more than two others is a diagonal matrix between
  them (``Xᵀ diag(s) X``); a matrix with a repeated index is its diagonal (``diag(A)``);
- an index summed by one operand only, or an output index no operand has, is a
  contraction with the ones vector (``X𝟏``, ``𝟏bᵀ``);
- an outer product is a column chain times a row chain (``x yᵀ``);
- operands that all carry the output's indices are a Hadamard product (``A ⊙ Bᵀ``).

This module is structural only: it names operands and orientations; the matrix printer
spells them.

Takes: an ``Einsum`` node. Gives: a :class:`ChainForm`, or ``None`` where no matrix
form exists.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..nodes import Einsum, Expr, Eye

PLAIN, VDIAG, MDIAG, MDIAG_VDIAG, ONES = "op", "vdiag", "mdiag", "mdiag_vdiag", "ones"


@dataclass
class Elem:
    """One factor of a chain: ``kind`` says how ``operand`` is read (see module doc)."""

    kind: str
    operand: Expr | None
    labels: list

    @property
    def is_vector(self) -> bool:
        return len(self.labels) == 1


@dataclass(frozen=True)
class Item:
    """An element placed in a chain, transposed or not."""

    elem: Elem
    transposed: bool = False


@dataclass
class ChainForm:
    """scalars · components · main, where components are ("chain" | "trace" | "sum", items)."""

    scalars: list = field(default_factory=list)
    components: list = field(default_factory=list)
    main: list | None = None
    hadamard: bool = False


def analyze(node: Einsum) -> ChainForm | None:
    """The matrix form of ``node``, or None.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X = sm.tensor("X", (n, d))
    >>> [(i.elem.operand.name, i.transposed) for i in analyze(X.T @ X).main]
    [('X', True), ('X', False)]
    """
    out = list(node.out)
    form = ChainForm(scalars=[op for op in node.operands if op.ndim == 0])
    hadamard = _hadamard_items(node)
    if hadamard is not None and (len(hadamard) > 1 or any(op.ndim > 2 for op in node.operands)):
        form.main, form.hadamard = hadamard, True
        return form
    elems: list[Elem] = []
    for op, sub in zip(node.operands, node.subs):
        if op.ndim > 2:
            return None
        if op.ndim == 2 and sub[0] == sub[1]:
            elems.append(Elem(MDIAG, op, [sub[0]]))
        elif op.ndim:
            elems.append(Elem(PLAIN, op, list(sub)))
    if not _split_diagonals(elems, out, len(node.sizes)):
        return None
    counts = _counts(elems, out)
    # a single operand summed over all its indices: sum(v), sum(A), tr(A)
    for e in list(elems):
        if all(counts[l] == 1 and l not in out for l in e.labels):
            elems.remove(e)
            form.components.append(("sum", [Item(e)]))
    counts = _counts(elems, out)
    for l, c in counts.items():
        if c == 1:
            elems.append(Elem(ONES, None, [l]))
    by_label: dict = {}
    for e in elems:
        for l in e.labels:
            by_label.setdefault(l, []).append(e)
    walked: list[list[Item]] = []
    for comp in _components(elems):
        if any(l in e.labels for e in comp for l in out):
            continue  # holds an output index: part of the main chain
        vectors = sorted((e for e in comp if e.is_vector), key=lambda e: e.kind != ONES)  # 𝟏ᵀXw, not wᵀXᵀ𝟏
        items = _walk_from_vector(vectors[0], by_label) if vectors else _cycle(comp[0], by_label)
        walked.append(items)
        form.components.append(("chain" if vectors else "trace", _drop_eyes(items)))
    if len(out) == 1:
        main = _walk(out[0], None, by_label)
    elif len(out) == 2:
        main = _walk(out[0], None, by_label)
        if not main or main[-1].elem.is_vector:  # an outer product: a column times a row
            main += [Item(i.elem, not i.transposed) for i in reversed(_walk(out[1], None, by_label))]
    elif out:
        return None
    if out:
        walked.append(main)
        form.main = _drop_eyes(main)
    placed = [id(i.elem) for items in walked for i in items]
    if sorted(placed) != sorted(id(e) for e in elems):  # not a union of chains: no matrix form
        return None
    return form


def _hadamard_items(node: Einsum) -> list[Item] | None:
    """Operands that each carry exactly the output indices (a ⊙ product), or None.

    A matrix may carry them swapped (it prints transposed); a higher rank may not.
    """
    out = list(node.out)
    items = []
    for op, sub in zip(node.operands, node.subs):
        if op.ndim == 0:
            continue
        sub = list(sub)
        if sub != out and (len(out) > 2 or len(sub) != len(out) or set(sub) != set(out) or len(set(sub)) < len(sub)):
            return None
        items.append(Item(Elem(PLAIN, op, sub), transposed=sub != out))
    return items


def _counts(elems, out) -> dict:
    counts: dict = {l: 1 for l in out}
    for e in elems:
        for l in e.labels:
            counts[l] = counts.get(l, 0) + 1
    return counts


def _split_diagonals(elems, out, n_labels) -> bool:
    """Turn a vector on an index shared three or more ways into diag(v) between two of them."""
    fresh = itertools.count(n_labels)
    while True:
        over = [l for l, c in _counts(elems, out).items() if c > 2]
        if not over:
            return True
        l = over[0]
        vectors = [e for e in elems if e.is_vector and e.labels[0] == l and e.kind in (PLAIN, MDIAG)]
        if not vectors:
            return False
        v = vectors[1] if len(vectors) > 1 else vectors[0]
        others = [e for e in elems if e is not v and l in e.labels]
        target = others[-1]
        new = ("split", next(fresh))
        target.labels[target.labels.index(l)] = new
        v.kind = VDIAG if v.kind == PLAIN else MDIAG_VDIAG
        v.labels = [l, new]


def _components(elems) -> list[list[Elem]]:
    comps: list[list[Elem]] = []
    for e in elems:
        joined = [c for c in comps if any(set(e.labels) & set(o.labels) for o in c)]
        merged = [e] + [x for c in joined for x in c]
        comps = [c for c in comps if not any(c is j for j in joined)] + [merged]
    order = {id(e): k for k, e in enumerate(elems)}
    for c in comps:
        c.sort(key=lambda e: order[id(e)])
    comps.sort(key=lambda c: order[id(c[0])])
    return comps


def _step(e: Elem, label):
    """Enter ``e`` by ``label``: (item, the label it leaves by, or None at a vector)."""
    if e.is_vector:
        return Item(e), None
    a, b = e.labels
    if a == label:
        return Item(e, False), b
    return Item(e, True), a


def _walk(label, prev: Elem | None, by_label) -> list[Item]:
    items: list[Item] = []
    seen: set[int] = set()
    while label is not None:
        nxt = [e for e in by_label.get(label, []) if e is not prev and id(e) not in seen]
        if not nxt:
            break
        e = nxt[0]
        seen.add(id(e))
        item, label = _step(e, label)
        items.append(item)
        prev = e
    return items


def _walk_from_vector(v: Elem, by_label) -> list[Item]:
    return [Item(v, True)] + _walk(v.labels[0], v, by_label)


def _cycle(e: Elem, by_label) -> list[Item]:
    items = [Item(e, False)]
    label, prev = e.labels[1], e
    while True:
        nxt = [x for x in by_label[label] if x is not prev]
        if not nxt or nxt[0] is e:
            return items
        item, label = _step(nxt[0], label)
        items.append(item)
        prev = nxt[0]


def _drop_eyes(items: list[Item]) -> list[Item]:
    """An identity between other factors changes nothing: I is printed only alone."""
    kept = [i for i in items if not (i.elem.kind == PLAIN and isinstance(i.elem.operand, Eye))]
    return kept if kept else items
