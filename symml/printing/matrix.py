"""Matrix notation: a tensor expression as a person writes it at a blackboard.

:class:`MatrixPrinter` dispatches on the node class (``_print_Einsum``, ``_print_Map``,
...), as SymPy's printers do. Contractions print as matrix products where one exists
(:mod:`symml.printing.chains`), elementwise maps through
:class:`~symml.printing.scalar.ScalarPrinter`, structured nodes as named applications.
A named intermediate (``sm.let``) always prints as its name. A node with no matrix form
prints in index notation (``[Σ_k A_ijk x_k]_ij``); a node that cannot be printed at all
prints as ``<Name shape=(...)>``: printing never raises at the user.

Takes: graph nodes. Gives: pieces and strings.
"""
from __future__ import annotations

from dataclasses import replace

import sympy as sp

from ..nodes import Einsum, Expr, Eye, Let, Map, fmt_shape, make_einsum, placeholder
from ..structured import Inv
from . import chains
from .chains import MDIAG, MDIAG_VDIAG, ONES, PLAIN, VDIAG
from .index import ADJOINT_PREFIX, IndexBuilder, render
from .notation import HADAMARD, MATMUL, RESERVED_LETTERS, Piece, RightFactor, Spelling
from ..simplify import softmax_argument
from .scalar import constant_factor, print_scalar
from .structural import StructuralPrinting

#: Set True (tests do) to raise instead of falling back when a node fails to print.
STRICT = False

#: Convolution slot → (operator, the order of its two operands in the printed call).
CONV_FORMS = {"y": ("conv2d", (0, 1)), "x": ("conv2d_transpose", (1, 0)), "k": ("conv2d_weight", (0, 1))}


class MatrixPrinter(StructuralPrinting):
    """Print graph nodes in matrix notation.

    Args:
        spelling: :data:`~symml.printing.notation.UNICODE` or ``LATEX``.
        names: Let uid → printed name (a program's unique names); default: each Let's name.

    >>> import symml as sm
    >>> from symml.printing.notation import UNICODE
    >>> n, d = sm.dims("n d")
    >>> X, w = sm.tensor("X", (n, d)), sm.tensor("w", (d,))
    >>> MatrixPrinter(UNICODE).doprint(X.T @ (X @ w))
    'XᵀXw'
    """

    def __init__(self, spelling: Spelling, names: dict | None = None):
        self.sp = spelling
        self.names = names or {}
        self._memo: dict[int, Piece] = {}
        self._active: set[int] = set()

    def doprint(self, expr: Expr) -> str:
        """The text of ``expr``; a Let at the top prints its definition, not its name."""
        return self.print_node(expr.body if isinstance(expr, Let) else expr).text

    def print_node(self, node: Expr) -> Piece:
        """The piece of one node (memoized: shared subexpressions print once)."""
        hit = self._memo.get(node.uid)
        if hit is not None:
            return hit
        if node.uid in self._active:  # a fallback asked for the node being printed
            return self.opaque(node)
        self._active.add(node.uid)
        try:
            piece = self._dispatch(node)
        except Exception:  # noqa: BLE001 - printing never raises; index form is always there
            if STRICT:
                raise
            piece = self.fallback(node)
        finally:
            self._active.discard(node.uid)
        piece = replace(piece, scalar=node.ndim == 0)
        self._memo[node.uid] = piece
        return piece

    def _dispatch(self, node: Expr) -> Piece:
        for cls in type(node).__mro__:
            method = getattr(self, "_print_" + cls.__name__, None)
            if method is not None:
                return method(node)
        return self.fallback(node)  # pragma: no cover - Expr has a method

    # ----------------------------------------------------------------- fallbacks

    def opaque(self, node: Expr) -> Piece:
        return Piece(f"<{type(node).__name__} shape={fmt_shape(node.shape)}>", ltight=False, rtight=False)

    def fallback(self, node: Expr) -> Piece:
        """Index notation of ``node``, or ``<Name shape=...>`` if even that fails."""
        try:
            return self.index_piece(node)
        except Exception:  # noqa: BLE001 - the last resort must not raise either
            if STRICT:
                raise
            return self.opaque(node)

    def index_piece(self, node: Expr) -> Piece:
        """``[entry]_ij``: the index form of ``node`` as a piece inside matrix notation."""
        builder = IndexBuilder(node, names=self.names)
        idx = [builder.index() for _ in range(node.ndim)]
        delta_taken = any(name.startswith(ADJOINT_PREFIX) for name in self.names.values())
        body = render(builder.entry(node, idx), builder.labels, self.sp, self.print_node, delta_taken)
        if not idx:
            return body
        return self.sp.entries(body, [str(i) for i in idx])

    _print_Expr = opaque  # a node kind this printer does not know

    # ----------------------------------------------------------------- leaves

    def _print_Tensor(self, node):
        word = RESERVED_LETTERS.get(node.name)
        if word is not None:  # δ means an adjoint or the Kronecker delta here
            return Piece(word[self.sp.fmt == "latex"], ltight=False, rtight=False)
        return self.sp.name(node.name)

    def _print_Let(self, node):
        return self.sp.name(self.names.get(node.uid, node.name))

    def _print_Eye(self, node):
        return Piece(self.sp.identity)

    # ----------------------------------------------------------------- elementwise

    def _print_Map(self, node):
        if not node.operands:  # a constant tensor
            value = print_scalar(node.expr, self.sp)
            if not node.ndim or node.expr == 0:
                return value
            ones = Piece(self.sp.ones)
            return ones if node.expr == 1 else self.sp.juxtapose([replace(value, scalar=True), ones])
        return self.map_piece(node.expr, node)

    def map_piece(self, expr: sp.Expr, node: Map) -> Piece:
        """The map's scalar expression ``expr`` (in its placeholders) with operands printed."""
        leaves = {placeholder(k): self.print_node(op) for k, op in enumerate(node.operands)}
        expr = self._softmax_leaves(expr, node, leaves)
        piece = print_scalar(expr, self.sp, leaves)
        if node.ndim and all(op.ndim == 0 for op in node.operands):  # a scalar broadcast
            piece = self.sp.juxtapose([replace(piece, scalar=True), Piece(self.sp.ones)], hadamard=True)
        return piece

    def _softmax_leaves(self, expr: sp.Expr, node: Map, leaves: dict) -> sp.Expr:
        """exp(x − logsumexp(x)) (how symml computes a softmax) prints as softmax(x)."""
        for e in expr.atoms(sp.exp):
            found = softmax_argument(e.args[0], node.operands, placeholder)
            if found is None:
                continue
            x, axis = found
            args = [self.print_node(x)]
            if x.ndim > 1 and axis != x.ndim - 1:
                args.append(self._keyword("axis", axis))
            leaf = placeholder(len(node.operands) + len(leaves))
            leaves[leaf] = self.sp.apply("softmax", *args)
            expr = expr.xreplace({e: leaf})
        return expr

    def operand(self, op: Expr):
        """(constant coefficient, piece): ``2(Xw − y)/n`` gives ``(2/n, Xw − y)``."""
        if isinstance(op, Map) and op.operands:
            c, rest = constant_factor(op.expr)
            if c != 1 or rest != op.expr:
                return c, replace(self.map_piece(rest, op), scalar=op.ndim == 0)
        return sp.S.One, self.print_node(op)

    # ----------------------------------------------------------------- contractions

    def _print_Einsum(self, node: Einsum):
        form = chains.analyze(node)
        if form is None:
            kron = self.kronecker(node)
            if kron is not None:
                return kron
            summed = self.row_sums(node)
            return self.print_node(summed) if summed is not None else self.index_piece(node)
        coef = sp.sympify(node.coef)
        if node.ndim == 0 and len(node.operands) == 1 and isinstance(node.operands[0], Map) and \
                node.operands[0].ndim == 0 and node.operands[0].operands:  # n · (1/σ²) is n/σ²
            op = node.operands[0]
            return replace(self.map_piece(coef * op.expr, op), scalar=True)
        pieces: list[Piece] = []
        for op in form.scalars:
            c, p = self.operand(op)
            coef *= c
            pieces.append(replace(p, scalar=True))
        for comp in form.components:
            c, p = self.component(comp)
            coef *= c
            pieces.append(replace(p, scalar=True))
        for c, p in (self.items(form.main or []) if not form.hadamard else map(self.item, form.main or [])):
            coef *= c
            pieces.append(p)
        piece = self.scaled(coef, pieces, hadamard=form.hadamard)
        n_scalars = len(form.scalars) + len(form.components) + (1 if coef.free_symbols else 0)
        piece = replace(piece, n_scalars=n_scalars)
        if node.ndim == 1 and form.main and not form.hadamard and len(pieces) > 1:
            last = form.main[-1]
            if last.elem.kind == PLAIN and not last.transposed and last.elem.operand.ndim == 1:
                prefix = self.sp.juxtapose(pieces[:-1])
                key = (last.elem.operand.uid, pieces[-1].text)
                piece = replace(piece, right=RightFactor(coef, prefix, key, pieces[-1]))
        return piece

    def kronecker(self, node: Einsum) -> Piece | None:
        """``c A ⊗ B`` for a rank-4 contraction that is a product of two matrices' entries.

        H_ijkl = c A_ik B_jl is the Kronecker product A ⊗ B of the (rows·cols)² matrix that
        H is when its index pairs (i, j) and (k, l) are flattened in row-major order (numpy's
        ``reshape``): the second derivative of a matrix parameter in vec form.
        """
        if node.ndim != 4:
            return None
        out = list(node.out)
        groups = {out[0]: 0, out[2]: 0, out[1]: 1, out[3]: 1}
        members: list[list] = [[], []]
        pending = [(o, list(s)) for o, s in zip(node.operands, node.subs)]
        while pending:
            progress = False
            for item in list(pending):
                _, s = item
                sides = {groups[l] for l in s if l in groups}
                if len(sides) > 1:
                    return None  # an operand ties the two factors together
                if sides or not s:
                    side = sides.pop() if sides else 0
                    members[side].append(item)
                    for l in s:
                        groups[l] = side
                    pending.remove(item)
                    progress = True
            if not progress:
                return None
        if not members[0] or not members[1]:
            return None
        if {l for _, s in members[0] for l in s} & {l for _, s in members[1] for l in s}:
            return None
        sizes = dict(enumerate(node.sizes))
        left = make_einsum([o for o, _ in members[0]], [s for _, s in members[0]], [out[0], out[2]], sizes)
        right = make_einsum([o for o, _ in members[1]], [s for _, s in members[1]], [out[1], out[3]], sizes)
        pieces = []
        for factor in (left, right):
            c, p = self.operand(factor)
            if c != 1:
                p = self.scaled(c, [p])
            pieces.append(self.sp.paren(p) if p.prec < MATMUL else p)
        body = Piece(pieces[0].text + self.sp.otimes + pieces[1].text, prec=HADAMARD, ltight=pieces[0].ltight,
                     rtight=pieces[1].rtight)
        return self._scaled_kron(sp.sympify(node.coef), body)

    def row_sums(self, node: Einsum):
        """The same contraction with each matrix summed over an index no other factor has
        held as one vector (Y𝟏), when that gives a matrix form: Σ_l Y_il S_ij = diag(Y𝟏) S."""
        counts: dict = {}
        for s in node.subs:
            for l in s:
                counts[l] = counts.get(l, 0) + 1
        ops, subs, changed = [], [], False
        for op, s in zip(node.operands, node.subs):
            private = [l for l in s if counts[l] == 1 and l not in node.out]
            if op.ndim == 2 and len(private) == 1 and len(set(s)) == 2:
                kept = [l for l in s if l != private[0]]
                vec = make_einsum([op], [list(s)], kept, dict(enumerate(node.sizes)))
                ops.append(Map.raw(placeholder(0), [vec], vec.shape))  # held apart: not flattened back
                subs.append(kept)
                changed = True
            else:
                ops.append(op)
                subs.append(list(s))
        if not changed:
            return None
        new = make_einsum(ops, subs, list(node.out), dict(enumerate(node.sizes)), node.coef)
        return new if isinstance(new, Einsum) and chains.analyze(new) is not None else None

    def _scaled_kron(self, coef, body: Piece) -> Piece:
        """``c A ⊗ B`` reads as (cA) ⊗ B: the coefficient binds to the first factor."""
        if coef == 1:
            return body
        neg = coef.could_extract_minus_sign()
        c = -coef if neg else coef
        lead = replace(print_scalar(c, self.sp), scalar=True)
        text = self.sp.join(lead.text, body, lead) if c != 1 else body.text
        out = Piece(text, prec=HADAMARD, ltight=lead.ltight if c != 1 else body.ltight, rtight=body.rtight)
        return self.sp.negate(out) if neg else out

    def scaled(self, coef, pieces, hadamard=False) -> Piece:
        """coef · pieces, the coefficient in front and its sign leading."""
        neg = coef.could_extract_minus_sign()
        if neg:
            coef = -coef
        lead = [] if coef == 1 else [replace(print_scalar(coef, self.sp), scalar=True)]
        if not lead and not pieces:
            lead = [Piece("1", scalar=True)]
        body = self.sp.juxtapose(lead + pieces, hadamard=hadamard)
        return self.sp.negate(body) if neg else body

    def items(self, items: list) -> list:
        """(coefficient, piece) of each factor of a chain, a run of one square matrix as its
        power: ``AᵀAᵀ`` prints ``(A²)ᵀ``, ``AAA`` prints ``A³``."""
        out, k = [], 0
        while k < len(items):
            run = 1
            it = items[k]
            e = it.elem
            if e.kind == PLAIN and e.operand.ndim == 2 and not isinstance(e.operand, (Eye, Inv)):
                while k + run < len(items) and items[k + run].elem.kind == PLAIN and \
                        items[k + run].elem.operand is e.operand and items[k + run].transposed == it.transposed:
                    run += 1
            if run == 1:
                out.append(self.item(it))
            else:
                c, p = self.operand(e.operand)
                p = self.sp.power(p, run)
                out.append((c ** run, self.sp.transpose(p) if it.transposed else p))
            k += run
        return out

    def item(self, item: chains.Item):
        """(coefficient, piece) of one chain element, oriented."""
        e = item.elem
        if e.kind == ONES:
            ones = Piece(self.sp.ones)
            return sp.S.One, self.sp.transpose(ones) if item.transposed else ones
        c, p = self.operand(e.operand)
        if e.kind == PLAIN and item.transposed:
            p = self.transposed(e.operand, p)
        elif e.kind == VDIAG:
            p = self.sp.apply("diag", p)
        elif e.kind == MDIAG:
            p = self.sp.apply("diag", p)
            p = self.sp.transpose(p) if item.transposed else p
        elif e.kind == MDIAG_VDIAG:
            p = self.sp.apply("diag", self.sp.apply("diag", p))
        return c, p

    def transposed(self, op: Expr, p: Piece) -> Piece:
        if isinstance(op, Eye):
            return p
        if isinstance(op, Inv):
            return self.sp.postfix(self.print_node(op.operands[0]), self.sp.inverse_transpose_mark)
        return self.sp.transpose(p)

    def component(self, comp):
        """(coefficient, piece) of a rank-0 factor: a chain xᵀAy, a trace, or a sum."""
        kind, items = comp
        if kind == "sum":
            e = items[0].elem
            if e.kind == MDIAG:
                c, p = self.operand(e.operand)
                return c, self.sp.apply("tr", p)
            op = e.operand
            if isinstance(op, Map) and op.operands:
                c, rest = constant_factor(op.expr)
                if rest.is_Pow and rest.exp == 2:
                    return c, self.sp.norm_squared(self.map_piece(rest.base, op))
            c, p = self.operand(op)
            return c, self.sp.apply("sum", p)
        coef, pieces = sp.S.One, []
        for c, p in self.items(items):
            coef *= c
            pieces.append(p)
        chain = self.sp.juxtapose(pieces)
        return coef, self.sp.apply("tr", chain) if kind == "trace" else chain

    # ----------------------------------------------------------------- structured nodes

    def _print_Inv(self, node):
        return self.sp.postfix(self.print_node(node.operands[0]), self.sp.inverse_mark)

    def _print_Solve(self, node):
        A, c = node.operands
        inv = self.sp.postfix(self.print_node(A), self.sp.inverse_mark)
        return self.sp.juxtapose([inv, self.print_node(c)])

    def _print_Det(self, node):
        return self.sp.apply("det", self.print_node(node.operands[0]))

    def _print_LogDet(self, node):
        return self.sp.apply("logdet", self.print_node(node.operands[0]))

    def _print_LogSumExp(self, node):
        x = node.operands[0]
        args = [self.print_node(x)]
        if x.ndim > 1:
            args.append(self._keyword("axis", node.axis))
        return self.sp.apply("logsumexp", *args)

    def _print_Conv(self, node):
        op, order = CONV_FORMS[node.slot]
        return self.sp.apply(op, *[self.print_node(node.operands[k]) for k in order])

    def _print_Pool(self, node):
        x, h = node.operands
        return self._pool(f"{node.kind}pool2d", node, h, x)

    def _print_PoolGrad(self, node):
        x, g = node.operands
        return self._pool(f"{node.kind}unpool2d", node, g, x)

    def _pool(self, op, node, values, selector):
        """``maxpool2d(h; x)``: pool ``values`` at the argmax windows of ``selector``."""
        text = self.print_node(values).text
        if node.kind == "max" and selector is not values:
            text += "; " + self.print_node(selector).text
        args = [Piece(text)]
        if node.size != 2:
            args.append(self._keyword("size", node.size))
        return self.sp.apply(op, *args)

    def _keyword(self, key: str, value) -> Piece:
        return Piece(rf"\mathrm{{{key}}}={value}" if self.sp.fmt == "latex" else f"{key}={value}")

