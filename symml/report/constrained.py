"""Reports of constrained problems: the Lagrangian, the KKT conditions, stationarity solved, the dual.

A catalog derivation built by :mod:`symml.duality.catalog` keeps no reference to its
Problem or Dual; :func:`constrained_parts` finds them in the derivation's module. The
blocks print what :mod:`symml.duality` derived (``render``, ``kkt``, ``recover``) and say
why stationarity leaves a variable free, from the label of the dual constraint it left.

Takes: derivations, Problems and Duals. Gives: report blocks.
"""
from __future__ import annotations

import importlib
import re

from ..catalog import Derivation
from ..printing.notation import LATEX, UNICODE
from .doc import Display, Heading, Math, Para
from .formulas import Printers

__all__ = ["constrained_parts", "constrained_blocks", "math_out_of_text"]


def constrained_parts(d: Derivation):
    """(Problem, Dual) behind a catalog derivation, found in its derivation module; (None, None)
    for an unconstrained model. A dual derivation's loss is the dual's, node for node (nodes are
    interned), and its loss notes hold the dual's printout, which tells apart duals that share
    an objective (the hard- and soft-margin SVM)."""
    from ..duality import Dual, Problem

    if not d.source:
        return None, None
    try:
        module = importlib.import_module(f"derivations.{d.source}")
    except ImportError:  # pragma: no cover - a catalog derivation's module imports
        return None, None
    values = list(vars(module).values())
    duals = [v for v in values if isinstance(v, Dual) and v.loss is d.loss]
    if len(duals) > 1:
        duals = [D for D in duals if D.render("unicode") in d.notes.get("loss", "")] or duals[:1]
    if duals:
        return duals[0].problem, duals[0]
    problems = [v for v in values if isinstance(v, Problem) and v.L is d.loss]
    if problems:
        dual = next((v for v in values if isinstance(v, Dual) and v.problem is problems[0]), None)
        return problems[0], dual
    return None, None


def constrained_blocks(problem, dual, level: int) -> list:
    from ..duality import kkt

    def block(obj):
        return Display(Math(math_out_of_text(obj.render("latex")), obj.render("unicode")))

    out = [Heading("The problem and its Lagrangian", level), block(problem),
           Heading("KKT conditions", level), block(kkt(problem))]
    if dual is not None:
        pr = Printers()
        rows = [(pr.node(p), v) for p, v in dual.recover.items() if v is not None]
        rows += [(pr.node(m), v) for m, v in dual.eliminated.items()]
        out.append(Heading("Stationarity, solved", level))
        if rows:
            out += [Para(["Solving the stationarity conditions for the primal variables gives"]),
                    Display(pr.equations(rows))]
        for p, v in dual.recover.items():
            if v is None:
                out.append(Para(_undetermined(p, dual, pr)))
        out += [Heading("The dual", level), block(dual)]
    return out


#: ``\text{minimize over w, \xi}``: the variables' LaTeX inside \text, where pdflatex refuses it
_TEXT_HEAD = re.compile(r"\\text\{((?:maximize|minimize) over )((?:[^{}]|\{[^{}]*\})+)\}")


def math_out_of_text(latex: str) -> str:
    r"""Move the variables of a dual's or problem's heading out of ``\text{}``.

    NOTE(duality): Problem.render and Dual.render put printed LaTeX names inside \text{…};
    MathJax shows ``\xi`` there literally and pdflatex stops. Patch proposed upstream.

    >>> math_out_of_text(r"\text{minimize over w, \xi} &\quad f")
    '\\text{minimize over } w, \\xi &\\quad f'
    """
    return _TEXT_HEAD.sub(lambda m: r"\text{" + m.group(1) + "} " + m.group(2), latex)


def _undetermined(p, dual, pr: Printers) -> list:
    """Why stationarity leaves ``p`` free, from the label of the dual constraint it left."""
    first, second = f"∂L/∂{p.name} = 0", f"∂²L/∂{p.name}²"
    cons = [c for c in dual.constraints if first in c.label or second in c.label]
    shown = _join([Math(c.render("latex"), c.render("unicode")) for c in cons])
    if any(second in c.label for c in cons):
        return (["Stationarity in ", pr.node(p), " is homogeneous, so it does not fix ", pr.node(p),
                 ": the curvature condition becomes the dual constraint "] + shown +
                [", and at the dual optimum ", pr.node(p), " spans the null space of ",
                 Math(r"\nabla^{2}_{" + LATEX.name(p.name).text + "} L", f"∇²_{UNICODE.name(p.name).text}L"), "."])
    if cons:
        return ["The Lagrangian is affine in ", pr.node(p), ": it is bounded only where ",
                Math(rf"\partial L / \partial {LATEX.name(p.name).text} = 0", f"∂L/∂{UNICODE.name(p.name).text} = 0"),
                ", which becomes the dual constraint "] + shown + ["."]
    return ["Stationarity does not determine ", pr.node(p), "."]


def _join(items: list) -> list:
    out = []
    for k, it in enumerate(items):
        out += ([", "] if k else []) + [it]
    return out
