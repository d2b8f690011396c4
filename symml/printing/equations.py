"""Equations: a derived result printed as the sequence of named assignments it is.

``equations(outputs)`` builds the :class:`symml.program.Program` of ``outputs`` and prints
it: each step (forward values, then the adjoints ``δ_z`` of backpropagation, with the
automatic names of the program where the model names none), then each output;
``grad_W1`` prints as ``∂L/∂W₁``. :func:`program_equations` prints a Program already built,
with the left-hand sides it is given (``∂²L/∂w∂b`` from :func:`hessian_lhs`): printing reads
the program, it never derives or names again. ``index_form`` prints one entry of an
expression in index notation, with ``∂L/∂w_k`` (or ``∂²L/∂w_k∂b``) on the left when asked.

Takes: graph nodes and programs. Gives: strings.
"""
from __future__ import annotations

from ..nodes import Let, Tensor, as_expr, leaves
from ..program import Program, program_from_outputs
from . import matrix
from .index import INDEX_NAMES, OUTPUT_INDEX_NAMES, IndexBuilder, render
from .matrix import MatrixPrinter
from .notation import Piece, Spelling, spelling_for

#: Output-name prefixes that mean a derivative of the loss, with their order.
DERIVATIVE_PREFIXES = {"grad_": 1, "hessian_": 2, "hess_": 2}
#: Output names that mean the whole gradient or Hessian: name → order.
DERIVATIVE_NAMES = {"grad": 1, "hessian": 2, "hess": 2}


def output_lhs(name: str, spelling: Spelling, loss: str = "L") -> str:
    """The left-hand side for an output: ``loss`` → L, ``grad_W1`` → ∂L/∂W₁, else the name.

    >>> from symml.printing.notation import UNICODE
    >>> output_lhs("grad_W1", UNICODE), output_lhs("hessian_w", UNICODE), output_lhs("loss", UNICODE)
    ('∂L/∂W₁', '∂²L/∂w∂wᵀ', 'L')
    """
    f = spelling.name(loss).text
    if name == "loss":
        return f
    if name in DERIVATIVE_NAMES:
        nabla = Piece(spelling.nabla)
        head = nabla if DERIVATIVE_NAMES[name] == 1 else spelling.power(nabla, 2)
        return head.text + (" " if spelling.fmt == "latex" else "") + f
    for prefix, order in DERIVATIVE_PREFIXES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            w = spelling.name(name[len(prefix):])
            wrt = [w.text] if order == 1 else [w.text, spelling.transpose(w).text]
            return spelling.partial(f, wrt)
    return spelling.name(name).text


def hessian_lhs(p: str, q: str, spelling: Spelling, loss: str = "L", q_rank: int = 1) -> str:
    """∂²L/∂p∂qᵀ for a block of the Hessian (∂²L/∂b² for a scalar twice; no ᵀ on a scalar q).

    >>> from symml.printing.notation import UNICODE
    >>> hessian_lhs("w", "w", UNICODE), hessian_lhs("w", "b", UNICODE, q_rank=0), hessian_lhs("b", "b", UNICODE, q_rank=0)
    ('∂²L/∂w∂wᵀ', '∂²L/∂w∂b', '∂²L/∂b²')
    """
    f = spelling.name(loss).text
    wp, wq = spelling.name(p), spelling.name(q)
    if p == q and q_rank == 0:  # σ² squared is {σ²}² and (σ²)², never a double superscript
        if spelling.fmt == "latex":
            b = f"{{{wp.text}}}" if "^" in wp.text else wp.text
            return rf"\frac{{\partial^{{2}} {f}}}{{\partial {b}^{{2}}}}"
        return f"∂²{f}/∂{f'({wp.text})' if wp.text[-1:] in '⁰¹²³⁴⁵⁶⁷⁸⁹' else wp.text}²"
    return spelling.partial(f, [wp.text, spelling.transpose(wq).text if q_rank else wq.text])


def program_equations(prog: Program, fmt: str = "unicode", loss: str = "L", lhs: dict | None = None) -> str:
    """A Program, one equation per line: its steps, then its outputs.

    Args:
        prog: a Program (:func:`symml.program.program_from_outputs`).
        fmt: "unicode" or "latex".
        loss: the name of the differentiated function in ``∂L/∂W``-style lines.
        lhs: output name → the left-hand side to print (default: :func:`output_lhs`).
    """
    spelling = spelling_for(fmt)
    lhs = lhs or {}
    printer = MatrixPrinter(spelling, names=prog.names)
    rows = [(spelling.name(step.name).text, printer.print_node(step.node.body).text) for step in prog.steps]
    rows += [(lhs.get(name) or output_lhs(name, spelling, loss), printer.print_node(expr).text)
             for name, expr in prog.outputs.items()]
    return spelling.equations(rows)


def equations(outputs, fmt: str = "unicode", loss: str = "L") -> str:
    """The program that computes ``outputs``, one equation per line.

    Args:
        outputs: an expression, or a dict name → expression (``{"loss": L, "grad_W1": g}``).
        fmt: "unicode" (lines ``lhs = rhs``, aligned) or "latex" (an ``aligned`` block).
        loss: the name of the differentiated function in ``∂L/∂W``-style lines.

    Returns:
        The forward intermediates, then the adjoints ``δ_x``, then the outputs.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, w, y = sm.tensor("X", (n, d)), sm.tensor("w", (d,)), sm.tensor("y", (n,))
    >>> z = sm.let("z", X @ w)
    >>> print(equations({"grad_w": sm.grad(sm.sum(sm.softplus(z) - y * z), w)}))
    z     = Xw
    δ_z   = σ(z) − y
    ∂L/∂w = Xᵀ δ_z
    """
    return program_equations(program_from_outputs(outputs), fmt, loss)


def named_equations(items: dict, spelling: Spelling, loss: str = "L") -> str:
    """One aligned equation per item of ``items`` (name → expression); Lets print as names."""
    rows = []
    for name, expr in items.items():
        rows.append((output_lhs(str(name), spelling, loss), MatrixPrinter(spelling).doprint(as_expr(expr))))
    return spelling.equations(rows)


def index_form(expr, name: str | None = None, wrt=None, fmt: str = "unicode", expand_adjoints: bool = True) -> str:
    """One entry of ``expr`` in index notation, e.g. ``∂L/∂w_k = Σ_i X_ik (σ(z_i) − y_i)``.

    The entry is a SymPy expression (``Indexed`` entries, ``Sum`` over 0 … n − 1),
    printed in one line (unicode) or in LaTeX.

    Args:
        expr: any tensor expression.
        name: the name of the function; with ``wrt`` the left side is ``∂name/∂wrt_k``,
            without it ``name_k``. No left side when both are None.
        wrt: the tensor (or its name) differentiated by; an expression of twice its rank
            is a Hessian (``∂²L/∂w_k∂w_l``). A pair (p, q) of tensors is a block of the
            Hessian (``∂²L/∂w_k∂b``).
        fmt: "unicode" or "latex".
        expand_adjoints: print the definition of the ``delta_*`` intermediates that
            calculus names, rather than their names (user Lets always print as names).

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, w = sm.tensor("X", (n, d)), sm.tensor("w", (d,))
    >>> index_form(X @ w, name="z")
    'z_i = Σ_j X_ij w_j'
    """
    spelling = spelling_for(fmt)
    expr = as_expr(expr)
    top = expr.body if isinstance(expr, Let) else expr
    builder = IndexBuilder(expr, expand_adjoints=expand_adjoints)
    if wrt is not None and name is None:
        name = "L"
    idx = [builder.index(OUTPUT_INDEX_NAMES if wrt is not None else INDEX_NAMES) for _ in range(expr.ndim)]
    printer = MatrixPrinter(spelling)
    try:
        rhs = render(builder.entry(top, idx), builder.labels, spelling, printer.print_node).text
    except Exception:  # noqa: BLE001 - never a SymPy traceback at the user: say it in matrix form
        if matrix.STRICT:
            raise
        rhs = printer.print_node(top).text
    if name is None:
        return rhs
    names = [spelling.name(str(i)).text for i in idx]
    f = spelling.name(name)
    if wrt is None:
        lhs = spelling.subscript(f, names).text if names else f.text
    else:
        if isinstance(wrt, tuple) and len(wrt) == 2 and all(isinstance(t, Tensor) for t in wrt):
            p, q = wrt  # a block of the Hessian: p's indices, then q's
            parts = [(spelling.name(p.name), names[:p.ndim]), (spelling.name(q.name), names[p.ndim:])]
            if p is q and not p.ndim:
                lhs = hessian_lhs(p.name, p.name, spelling, name, 0)
            else:
                lhs = spelling.partial(f.text, [spelling.subscript(w, ix).text if ix else w.text for w, ix in parts])
            return spelling.equation(lhs, rhs)
        if not isinstance(wrt, Tensor):  # a name: find the tensor, to tell a Hessian from a gradient
            wrt = next((t for t in leaves(expr) if t.name == str(wrt)), str(wrt))
        w = spelling.name(wrt.name if isinstance(wrt, Tensor) else wrt)
        rank = wrt.ndim if isinstance(wrt, Tensor) else None
        if rank and expr.ndim == 2 * rank:
            parts = [names[:rank], names[rank:]]
        else:
            parts = [names]
        wrt_parts = [spelling.subscript(w, p).text if p else w.text for p in parts]
        lhs = spelling.partial(f.text, wrt_parts)
    return spelling.equation(lhs, rhs)
