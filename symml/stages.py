"""Later stages that an earlier one calls back into, without importing them.

An earlier stage holds a :class:`Stage`; the later module fills it in when it is imported.
The graph (:mod:`symml.nodes`) reaches canonical forms, comparisons and display this way, and
codegen reaches verification. ``symml/__init__`` imports every such module before any node
is built, so a stage is always there when it is called.

Takes: a later module. Gives: the earlier stage's handle on it.
"""
from __future__ import annotations


class Stage:
    """A later stage that the graph calls back into without importing it.

    The stage's module registers itself when it is imported (:func:`register_stage`), and
    ``symml/__init__`` imports each of them before any node is built. So the graph depends on
    no later stage, and a rule still lives beside what it governs: canonical forms in
    :mod:`symml.simplify`, comparisons in :mod:`symml.conditions`, display in :mod:`symml.printing`.
    Codegen reaches verification (``kernel.check()``) the same way.
    """

    __slots__ = ("name", "module")

    def __init__(self, name: str):
        self.name, self.module = name, None

    def __getattr__(self, attr):  # reached only for the stage's own functions
        if self.module is None:
            raise RuntimeError(f"{self.name} is not loaded: import symml, which registers it")
        return getattr(self.module, attr)


def register_stage(stage: Stage, module) -> None:
    """Called by a later stage's module on import: ``register_stage(nodes.simplify, module)``."""
    stage.module = module
