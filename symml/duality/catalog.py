"""Catalog entries for constrained problems: a dual, or a Lagrangian, as a Derivation.

- :func:`dual_derivation`: the parameters are the dual variables (multipliers) and the
  loss is the function the dual minimises (−q for the dual of a minimisation), so the
  standard kernels (loss, grad, hessian, …) are the dual objective's, derived by the
  same calculus, ready for scipy with bounds and the dual's equality constraints.
- :func:`lagrangian_derivation`: the parameters are the primal variables and the
  multipliers, and the loss is the Lagrangian: its gradient kernel is the KKT stationarity
  and equality residual, its Hessian the KKT matrix (PCA, where the KKT points are the
  eigenpairs; a Markov chain's stationary distribution).

The constraints are written into the title (``symml list``, ``symml show``) and the
printed dual or KKT conditions into the loss kernel's docstring.

Takes: :class:`~symml.duality.Dual` and :class:`~symml.duality.Problem`. Gives: Derivations.
"""
from __future__ import annotations

from ..catalog import Derivation
from .derive import Dual, kkt
from .problem import Problem

__all__ = ["dual_derivation", "lagrangian_derivation"]


def dual_derivation(D: Dual, name: str, data, hyper=(), extra=None, notes=None, title: str = "", **kw) -> Derivation:
    """A Derivation of the dual ``D`` (module docstring); ``kw`` goes to Derivation."""
    if not isinstance(D, Dual):
        raise TypeError(f"dual_derivation takes a Dual from sm.dual(...), got {type(D).__name__}")
    cons = "; ".join(str(c) for c in D.constraints)
    doc = {"loss": ("The negated dual function −q, to minimise.\n\n" if D.maximize else
                    "The dual function q, to minimise.\n\n") + D.render("unicode")}
    doc.update(notes or {})
    return Derivation(name, D.loss, params=list(D.variables), data=list(data), hyper=list(hyper),
                      extra=dict(extra or {}), notes=doc, title=title + (f", subject to {cons}" if cons else ""), **kw)


def lagrangian_derivation(problem: Problem, name: str, data, hyper=(), extra=None, notes=None, title: str = "",
                          dual: Dual | None = None, **kw) -> Derivation:
    """A Derivation of the Lagrangian of ``problem`` over its primal variables and multipliers
    (module docstring); ``dual``, if given, is printed in the loss kernel's docstring too."""
    if not isinstance(problem, Problem):
        raise TypeError(f"lagrangian_derivation takes a Problem from sm.lagrangian(...), got {type(problem).__name__}")
    text = "The Lagrangian L; its stationary points are the KKT points:\n\n" + kkt(problem).render("unicode")
    if dual is not None:
        text += "\n\nThe dual:\n\n" + dual.render("unicode")
    doc = {"loss": text}
    doc.update(notes or {})
    return Derivation(name, problem.L, params=list(problem.wrt) + problem.multipliers, data=list(data),
                      hyper=list(hyper), extra=dict(extra or {}), notes=doc, title=title, **kw)
