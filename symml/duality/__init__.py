"""Constrained problems: Lagrangians, KKT conditions and duals, derived symbolically.

- ``problem``: ``lagrangian(objective, wrt, eq=..., ineq=...)`` builds a ``Problem`` with
  one named multiplier tensor per constraint;
- ``derive``: ``kkt`` (the four groups of conditions), ``dual`` (solve stationarity for the
  primal variables, substitute back, collect the multipliers' constraints), ``eliminate``
  and ``solve_dual`` (closed forms for unconstrained multipliers);
- ``kernels``: the kernel trick on a derived dual (``kernelize``, linear/polynomial/RBF);
- ``conditions``, ``algebra``: printable conditions with numeric residuals, and the term
  algebra that makes xᵢᵀxⱼ visible;
- ``catalog``: catalog derivations from a dual or a Lagrangian.

Takes: graph nodes. Gives: graph nodes, conditions and derivations.
"""
from .conditions import Condition
from .derive import KKT, Dual, NoClosedForm, dual, eliminate, kkt, solve_dual
from .kernels import Kernel, KernelizeError, gram, kernelize, linear_kernel, polynomial_kernel, rbf_kernel
from .problem import Problem, lagrangian

__all__ = ["Condition", "NoClosedForm", "KKT", "Dual", "dual", "eliminate", "kkt", "solve_dual", "Kernel", "KernelizeError", "gram",
           "kernelize", "linear_kernel", "polynomial_kernel", "rbf_kernel", "Problem", "lagrangian"]
