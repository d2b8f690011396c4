"""A derived result as a program: named assignments, then outputs.

``program_from_outputs({"loss": L, "grad": g})`` walks the graph once and names every
``sm.let`` intermediate (forward values, then the ``delta_*`` adjoints that calculus
creates), in dependency order. Printing shows the steps as equations; codegen emits
them as statements. Neither re-derives anything.

Takes: graph nodes. Gives: a Program.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .nodes import Expr, Let, Tensor, as_expr, walk


@dataclass(frozen=True)
class Step:
    """One named assignment ``name = node.body``."""

    name: str
    node: Let


@dataclass
class Program:
    """Inputs, named steps in dependency order, and named outputs."""

    inputs: list[Tensor]
    steps: list[Step]
    outputs: dict[str, Expr]
    names: dict[int, str] = field(default_factory=dict)  # Let uid → unique name

    def name_of(self, node: Expr) -> str | None:
        return self.names.get(node.uid)


def program_from_outputs(outputs) -> Program:
    """Build the program that computes ``outputs`` (an expression, or a dict name → expr)."""
    if not isinstance(outputs, dict):
        outputs = {"out": outputs}
    outputs = {k: as_expr(v) for k, v in outputs.items()}
    order = walk(list(outputs.values()))
    inputs = [n for n in order if isinstance(n, Tensor)]
    steps: list[Step] = []
    names: dict[int, str] = {}
    taken = {t.name for t in inputs}
    for node in order:
        if isinstance(node, Let):
            name = node.name
            k = 2
            while name in taken:
                name = f"{node.name}_{k}"
                k += 1
            taken.add(name)
            names[node.uid] = name
            steps.append(Step(name, node))
    return Program(inputs, steps, outputs, names)
