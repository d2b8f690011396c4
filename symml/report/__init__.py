"""Step-by-step derivation reports: ``sm.explain(obj)`` and ``symml show NAME --report``.

A report walks through a derivation the way a lecture note does: the loss; the parameters,
data and hyper-parameters with their shapes; the named intermediates; each chain-rule step
with the local derivative SymPy computed; the assembled gradient in matrix and index form;
the Hessian; for a constrained problem, its Lagrangian, KKT conditions, the solution of
stationarity and the dual; and the kernels it emits. Every formula is printed by
:mod:`symml.printing` from what the derivation derived (its gradients, Hessian blocks and
hvps, through :mod:`symml.calculus` and :mod:`symml.duality`), read through the
:class:`~symml.program.Program` whose step names the kernels use: nothing is derived or
named again here (see :mod:`symml.report.steps` for how the chain-rule steps are read off
the program).

:func:`explain` returns a :class:`Report`, which Jupyter renders (Markdown with MathJax) and
``print`` shows as unicode; :func:`report` returns the text in one format (md, tex, html,
text). Reports do no numeric work and compile nothing.

>>> import symml as sm
>>> r = explain(sm.load("least_squares"))
>>> print(r.render("text").splitlines()[0])
least_squares: ordinary least squares, L = ‖Xw + b − y‖²
>>> "∂L/∂w = 2Xᵀu" in str(r)
True

Takes: derivations, derived results, duals, fit results. Gives: reports.
"""
from __future__ import annotations

from pathlib import Path

from ..catalog import CatalogError, Derivation, load
from ..nodes import Einsum, Expr, Map, as_expr, walk
from ..printing.notation import LATEX, UNICODE
from ..program import program_from_outputs
from .doc import FORMATS, Code, Display, Document, Heading, Math, Para, Table
from .constrained import constrained_blocks, constrained_parts
from .formulas import Printers, index_math, loss_symbol, partial, space, stack
from .steps import chain_steps, has_steps
from ..spec import register_renderer
from .display import derivation_latex

register_renderer("latex", derivation_latex)  # Derivation._repr_latex_ (the spec imports no report)

__all__ = ["explain", "report", "Report"]

ROLES = ("parameter", "data", "hyper-parameter")
SUFFIXES = {".md": "md", ".tex": "tex", ".html": "html", ".txt": "text"}


class Report:
    """A rendered-on-demand report: ``render(fmt)``, ``save(path)``; Jupyter shows it as Markdown."""

    def __init__(self, document: Document):
        self.document = document

    def render(self, fmt: str = "md") -> str:
        """The report as "md" (MathJax), "tex" (pdflatex), "html" (a page) or "text" (unicode)."""
        return self.document.render(fmt)

    def save(self, path) -> Path:
        """Write the report; the format follows the suffix (.md, .tex, .html, .txt)."""
        path = Path(path)
        fmt = SUFFIXES.get(path.suffix)
        if fmt is None:
            raise ValueError(f"report.save: unknown suffix {path.suffix!r}; expected one of {', '.join(SUFFIXES)}")
        path.write_text(self.render(fmt), encoding="utf-8")
        return path

    def __str__(self):
        return self.render("text")

    def __repr__(self):
        return f"<Report {self.document.title!r}: {len(self.document.blocks)} blocks>"

    def _repr_markdown_(self):
        return self.render("md")


def report(derivation, fmt: str = "md") -> str:
    """The report of a derivation (or anything :func:`explain` takes) as text in ``fmt``.

    Args:
        derivation: a Derivation or a catalog name.
        fmt: "md", "tex", "html" or "text".
    """
    if fmt not in FORMATS:
        raise ValueError(f"report format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return explain(derivation).render(fmt)


def explain(obj) -> Report:
    """A worked, step-by-step account of ``obj``.

    Args:
        obj: a Derivation or catalog name (the full derivation report); a tensor
            expression such as ``sm.grad(L, w)``, or a dict name → expression (its program,
            matrix and index form); a Problem, KKT or Dual from :mod:`symml.duality`; or an
            OptimizeResult from ``sm.fit`` (a fit summary).

    Returns:
        A :class:`Report`.
    """
    from ..duality import KKT, Dual, Problem
    from ..optim.result import OptimizeResult

    if isinstance(obj, str):
        try:
            obj = load(obj)
        except CatalogError as e:
            raise ValueError(str(e)) from None
    if isinstance(obj, Derivation):
        return Report(_derivation_document(obj))
    if isinstance(obj, (Problem, KKT, Dual)):
        problem, dual = (obj, None) if isinstance(obj, Problem) else (obj.problem, obj if isinstance(obj, Dual) else None)
        doc = Document("A constrained problem", [])
        doc.blocks += constrained_blocks(problem, dual, level=2)
        return Report(doc)
    if isinstance(obj, OptimizeResult):
        from .display import result_blocks

        return Report(Document(f"Fit: {obj.method}", result_blocks(obj)))
    if isinstance(obj, (Expr, dict, tuple, list)):
        return Report(_expression_document(obj))
    raise TypeError(f"sm.explain takes a Derivation or catalog name, an expression or dict of them, a Problem, KKT or "
                    f"Dual, or an OptimizeResult; got {type(obj).__name__}")


# --------------------------------------------------------------------------- a derivation


def _derivation_document(d: Derivation) -> Document:
    f = loss_symbol(d)
    auto = not has_steps(d.loss)  # the program then names the steps (symml.program's rule)
    prog = program_from_outputs({"loss": d.loss, **{f"grad_{p.name}": g for p, g in zip(d.params, d.grads)}})
    pr, plain = Printers(prog.names, f), Printers(loss=f)
    title = f"{d.name}: {d.title}" if d.title else d.name
    blocks = []
    if d.doc:
        blocks += [Code(d.doc)]
    blocks += [Heading("The loss"), Display(plain.equation(plain.name(f), d.loss)),
               Para(["In index notation:"]), Display(index_math(d.loss, name=f))]
    blocks += [Heading("Parameters, data and hyper-parameters"), _inputs_table(d, pr)]
    blocks += _intermediates_blocks(prog, pr, f, auto)
    blocks += _chain_blocks(prog, pr, f)
    blocks += _gradient_blocks(d, prog, pr, plain, f, auto)
    blocks += _hessian_blocks(d, plain, f)
    problem, dual = constrained_parts(d)
    if problem is not None:
        blocks += [Heading("The constrained problem")] + constrained_blocks(problem, dual, level=3)
    blocks += _kernel_blocks(d)
    number = iter(range(1, 100))
    for b in blocks:  # number the sections: the constrained one is there only for constrained problems
        if isinstance(b, Heading) and b.level == 2:
            b.text = f"{next(number)}. {b.text}"
    return Document(title, blocks)


def _inputs_table(d: Derivation, pr: Printers) -> Table:
    rows = []
    for role, ts in zip(ROLES, (d.params, d.data, d.hyper)):
        for t in ts:
            rows.append([pr.name(t.name), role, space(t), d.domains.get(t.name, "real")])
    return Table(["symbol", "role", "space", "values"], rows)


def _intermediates_blocks(prog, pr: Printers, f: str, auto: bool) -> list:
    forward = prog.forward
    out = [Heading("Named intermediates")]
    if not forward:
        return out + [Para(["None: ", pr.name(f), " is differentiated directly, one scalar derivative per "
                            "elementwise function, by SymPy."])]
    if auto:
        out.append(Para(["The derivation names no intermediates. Its program names the values that are handed "
                         "from one kind of operation to another (contractions z, elementwise maps u, structured "
                         "operations s) and their adjoints δ: the same derivative, in named steps, under the "
                         "names its kernels use."]))
    out.append(Display(pr.equations([(pr.name(s.name), s.node.body) for s in forward])))
    return out


def _chain_blocks(prog, pr: Printers, f: str) -> list:
    steps = chain_steps(prog)
    out = [Heading("The chain rule, step by step")]
    if not steps:
        return out + [Para(["No adjoints are named: each gradient below is the chain rule through the "
                            "loss's elementwise functions in one step, with SymPy's derivative of each."])]
    out.append(Para(["Backpropagation names the adjoint ", Math(r"\delta_{v} = \partial " + LATEX.name(f).text
                                                                + r" / \partial v", f"δ_v = ∂{f}/∂v"),
                     " of each intermediate ", Math("v", "v"), ", from the loss back to the parameters. Each adjoint "
                     "collects one contribution per use of ", Math("v", "v"), "."]))
    names = {s.node.uid: s.name for s in prog.steps}
    for cs in steps:
        v = cs.forward.name if cs.forward else cs.step.name[len("delta_"):]
        out.append(Display(pr.equation(pr.name(cs.step.name), cs.step.node.body)))
        if not cs.locals:
            out.append(Para(_seed(prog, cs, pr, f, v)))
        for loc in cs.locals:
            u = names.get(loc.upstream.uid, loc.upstream.name)[len("delta_"):]
            fwd = next((s for s in prog.steps if s.name == u), None)
            where = ["Through ", pr.equation(pr.name(u), fwd.node.body) if fwd else pr.name(u)]
            if loc.kind == "elementwise":
                local = pr.equation(partial(u, [(v, False)]), loc.factor)
                out.append(Para(where + [": the local derivative ", local, ", computed by SymPy, times ",
                                         pr.name(loc.upstream.name), " elementwise."]))
            elif loc.kind == "contraction":
                out.append(Para(where + [", linear in ", pr.name(v), ": the transposed product ", pr.node(loc.via),
                                         "."]))
            else:
                out.append(Para(where + [": the derivative rule of ", type(loc.via).__name__, " gives ",
                                         pr.node(loc.via), "."]))
    return out


def _seed(prog, cs, pr: Printers, f: str, v: str) -> list:
    """How the first adjoints come from the loss itself: the nodes of L that use v."""
    node = cs.forward.node if cs.forward else None
    users = [n for n in walk([prog.outputs["loss"]]) if node is not None and any(o is node for o in n.operands)]
    parts = ["The first adjoint, from the loss itself"]
    if users:
        parts += [": ", pr.name(f), " uses ", pr.name(v), " through "]
        for k, n in enumerate(users):
            parts += ([", " if k < len(users) - 1 else " and "] if k else []) + [pr.node(n)]
            parts.append(" (elementwise: SymPy differentiates it)" if isinstance(n, Map) else
                         " (a contraction)" if isinstance(n, Einsum) else f" (the rule of {type(n).__name__})")
    return parts + ["."]


def _gradient_blocks(d: Derivation, prog, pr: Printers, plain: Printers, f: str, auto: bool) -> list:
    rows = [(pr.lhs(k), v) for k, v in prog.outputs.items() if k != "loss"]
    out = [Heading("The gradient"), Para(["Assembled in matrix form:"]), Display(pr.equations(rows))]
    if auto and any(has_steps(g) for g in prog.outputs.values()):
        out += [Para(["With the steps substituted:"]),
                Display(plain.equations([(plain.lhs(f"grad_{p.name}"), g) for p, g in zip(d.params, d.grads)]))]
    out.append(Para(["In index notation:"]))
    out.append(Display(stack([index_math(g, name=f, wrt=p) for p, g in zip(d.params, d.grads)])))
    return out


def _hessian_blocks(d: Derivation, plain: Printers, f: str) -> list:
    out = [Heading("The Hessian")]
    ps = d.params
    if "hessian" in d.kernels:
        rows = []
        k = 0
        for i, p in enumerate(ps):
            for j, q in enumerate(ps):
                block = d.hessian_blocks[k]
                k += 1
                if j >= i:
                    rows.append((partial(f, [(p.name, False), (q.name, q.ndim > 0)]), block))
        out.append(Para(["The Jacobian of the gradient" + (", block by block (the blocks below the diagonal are "
                                                             "the transposes of those above):" if len(ps) > 1 else ":")]))
        out.append(Display(plain.equations(rows)))
        if ps[0].ndim <= 1:
            out += [Para(["In index notation:"]), Display(index_math(d.hessian_blocks[0], name=f, wrt=ps[0]))]
    elif "hvp" in d.kernels:
        hv = {f"hvp_{p.name}": h for p, h in zip(ps, d.hvps)}
        prog = program_from_outputs(hv)
        pr = Printers(prog.names, f)
        rows = [(pr.name(s.name), s.node.body) for s in prog.steps]
        rows += [(Math(rf"\left(\nabla^{{2}} {LATEX.name(f).text}\, v\right)_{{{LATEX.name(p.name).text}}}",
                       f"(∇²{f}·v)_{UNICODE.name(p.name).text}"), h) for p, h in zip(ps, prog.outputs.values())]
        out += [Para(["The Hessian is not formed. The hvp kernel computes ", Math(r"\nabla^{2} L\, v", "∇²L·v"),
                      " as the gradient of ", Math(r"\nabla L \cdot v", "∇L·v"), " (reverse over reverse), for "
                      "directions ", Math(", ".join(LATEX.name(v.name).text for v in d.directions),
                                          ", ".join(UNICODE.name(v.name).text for v in d.directions)),
                      " shaped like the parameters:"]), Display(pr.equations(rows))]
    else:
        out.append(Para(["Not emitted for this model: its kernels are first order."]))
    return out


def _kernel_blocks(d: Derivation) -> list:
    rows = []
    for spec in d.kernel_specs():
        args = Math(", ".join(LATEX.name(t.name).text for t in spec.args),
                    ", ".join(UNICODE.name(t.name).text for t in spec.args))
        rows.append([spec.name, args, spec.doc.strip().splitlines()[0] if spec.doc.strip() else ""])
    return [Heading("Kernels"),
            Para([f"generated/{d.name}.py holds one numba kernel per row, with signature (params, data, hyper); "
                  f"`symml check {d.name}` compares every derivative kernel with central differences."]),
            Table(["kernel", "arguments", "computes"], rows)]


# --------------------------------------------------------------------------- an expression


def _expression_document(obj) -> Document:
    if isinstance(obj, dict):
        outputs = obj
    elif isinstance(obj, (tuple, list)):
        outputs = {f"f{k + 1}": o for k, o in enumerate(obj)}
    else:
        outputs = {"f": obj}
    outputs = {k: as_expr(v) for k, v in outputs.items()}
    prog = program_from_outputs(outputs)
    pr = Printers(prog.names)
    blocks = []
    if prog.steps:
        blocks += [Heading("Steps"), Display(pr.equations([(pr.name(s.name), s.node.body) for s in prog.steps]))]
    blocks += [Heading("Matrix form"), Display(pr.equations([(pr.lhs(k), v) for k, v in outputs.items()]))]
    blocks += [Heading("Index notation"),
               Display(stack([index_math(v, name=k) for k, v in outputs.items()]))]
    shapes = [[pr.lhs(k), space(v)] for k, v in outputs.items()]
    blocks += [Heading("Shapes"), Table(["output", "space"], shapes)]
    return Document("An expression", blocks)
