"""Matrix notation of the structural nodes: extrema, reshape and vec, ⊗, cumsum, take,
one-hot and the QR factors.

:class:`StructuralPrinting` is a mixin of :class:`~symml.printing.matrix.MatrixPrinter`,
one ``_print_<Node>`` method per node class, dispatched on the class as the printer's
own methods are. Each prints as a named application (``max(X, axis=1)``, ``vec(X)``,
``take(E, y)``) or an operator (``A ⊗ B``); index notation falls back to the indexed
application, ``(max(X, axis=1))_i``.

Takes: graph nodes. Gives: pieces.
"""
from __future__ import annotations

from .notation import HADAMARD, Piece

#: operator → (unicode, LaTeX)
NAMES = {
    "max": ("max", r"\max"),
    "min": ("min", r"\min"),
    "vec": ("vec", r"\operatorname{vec}"),
    "reshape": ("reshape", r"\operatorname{reshape}"),
    "cumsum": ("cumsum", r"\operatorname{cumsum}"),
    "revcumsum": ("revcumsum", r"\operatorname{revcumsum}"),
    "take": ("take", r"\operatorname{take}"),
    "scatter_add": ("scatter_add", r"\operatorname{scatter\_add}"),
    "onehot": ("onehot", r"\operatorname{onehot}"),
    "scatter_argmax": ("scatter_argmax", r"\operatorname{scatter\_argmax}"),
    "scatter_argmin": ("scatter_argmin", r"\operatorname{scatter\_argmin}"),
    "qr_Q": ("qr_Q", r"\operatorname{qr}_{Q}"),
    "qr_R": ("qr_R", r"\operatorname{qr}_{R}"),
    "copyltu": ("copyltu", r"\operatorname{copyltu}"),
    "fold": ("foldl", r"\operatorname{foldl}"),
}

KRON = (" ⊗ ", r" \otimes ")


class StructuralPrinting:
    """The ``_print_`` methods of the structural nodes (mixed into MatrixPrinter)."""

    def _call(self, op: str, *args: Piece) -> Piece:
        return self.sp.call(NAMES[op][self.sp.fmt == "latex"], *args)

    def _axis_args(self, x, axis_name, axis):
        return [self._keyword(axis_name, axis)] if x.ndim > 1 else []

    def _print_ArgSelect(self, node):
        x, h = node.operands
        if h is x:  # max over several axes is a chain of one-axis maxima: print it as one
            axes, base = [node.axis], x
            while isinstance(base, type(node)) and base.kind == node.kind and base.operands[1] is base.operands[0]:
                axes = sorted([a + 1 if a >= base.axis else a for a in axes] + [base.axis])
                base = base.operands[0]
            if len(axes) == base.ndim:
                return self._call(node.kind, self.print_node(base))
            axis = axes[0] if len(axes) == 1 else "(" + ", ".join(map(str, axes)) + ")"
            return self._call(node.kind, self.print_node(base), self._keyword("axis", axis))
        # h read where x is extremal: max(h; x)
        text = self.print_node(h).text + "; " + self.print_node(x).text
        return self._call(node.kind, Piece(text), *self._axis_args(x, "axis", node.axis))

    def _print_ArgScatter(self, node):
        x, g = node.operands
        text = self.print_node(g).text + "; " + self.print_node(x).text
        return self._call("scatter_arg" + node.kind, Piece(text), *self._axis_args(x, "axis", node.axis))

    def _print_Reshape(self, node):
        x = node.operands[0]
        if node.ndim == 1:
            return self._call("vec", self.print_node(x))
        shape = self.sp.paren(Piece(", ".join(self.print_scalar_size(s) for s in node.shape)))
        return self._call("reshape", self.print_node(x), shape)

    def print_scalar_size(self, s) -> str:
        from .scalar import print_scalar

        return print_scalar(s, self.sp).text

    def _print_Kron(self, node):
        parts = []
        for op in node.operands:
            p = self.print_node(op)
            parts.append(self.sp.paren(p) if p.prec <= HADAMARD else p)
        op = KRON[self.sp.fmt == "latex"]
        return Piece(parts[0].text + op + parts[1].text, prec=HADAMARD, ltight=False, rtight=False)

    def _print_CumSum(self, node):
        x = node.operands[0]
        return self._call("revcumsum" if node.reverse else "cumsum", self.print_node(x),
                          *self._axis_args(x, "axis", node.axis))

    def _print_Take(self, node):
        E, y = node.operands
        extra = [self._keyword("axis", node.axis)] if node.axis else []
        return self._call("take", self.print_node(E), self.print_node(y), *extra)

    def _print_ScatterAdd(self, node):
        g, y = node.operands
        extra = [self._keyword("axis", node.axis)] if node.axis else []
        return self._call("scatter_add", self.print_node(g), self.print_node(y), *extra)

    def _print_OneHot(self, node):
        return self._call("onehot", self.print_node(node.operands[0]))

    def _print_QR(self, node):
        return self._call("qr_" + node.part, self.print_node(node.operands[0]))

    def _print_TriFold(self, node):
        return self._call(node.kind, self.print_node(node.operands[0]))
