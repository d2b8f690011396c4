"""symml: derive, print and compile the mathematics of machine-learning models.

>>> import symml as sm
>>> n, d = sm.dims("n d")
>>> X, w = sm.tensor("X", (n, d)), sm.tensor("w", (d,))
>>> sm.grad(sm.norm2(X @ w), w).shape
(d,)
"""
from ._version import __version__  # noqa: F401 - the package's version

# the stages that earlier ones call back into register themselves first (see symml.stages)
from . import simplify, conditions, printing  # noqa: E402,F401,I001

from .calculus import DerivativeError, grad, hessian, hvp, jacobian, substitute, taylor, value_and_grad
from .dsl import *  # noqa: F401,F403
from .dsl import __all__ as _dsl_all
from .evaluate import evaluate
from .nodes import Dim, Expr, dims
from .printing import equations, index_form, latex, pretty
from .parse import parse
from .codegen import compile
from .codegen.runtime import finish_compiling
from .catalog import Derivation, catalog, load
from .verify import check
from . import verify_user  # noqa: F401 - registers the checks of expressions and compiled kernels
from . import optim, plot
from .report import Report, explain, report
from .optim import fit, regularization_path, scipy_objective
from .duality import (
    KKT, Condition, Dual, Kernel, KernelizeError, Problem, dual, eliminate, gram, kernelize, kkt, lagrangian,
    linear_kernel, polynomial_kernel, rbf_kernel, solve_dual,
)
from .stationarity import NoClosedForm, solve_entrywise, solve_inverse, solve_linear, solve_scalar, stationary_point


__all__ = [
    "dims", "Dim", "Expr", "grad", "value_and_grad", "jacobian", "hessian", "hvp", "taylor", "substitute",
    "evaluate", "latex", "pretty", "index_form", "equations", "parse", "DerivativeError", "compile", "finish_compiling", "Derivation", "catalog", "load", "check", "stationary_point", "solve_linear", "solve_scalar", "solve_entrywise", "solve_inverse", "NoClosedForm",
    "lagrangian", "kkt", "dual", "eliminate", "solve_dual", "kernelize", "gram", "Kernel", "KernelizeError",
    "linear_kernel", "polynomial_kernel", "rbf_kernel", "Problem", "KKT", "Dual", "Condition",
    "optim", "fit", "scipy_objective", "regularization_path", "plot", "explain", "report", "Report", *_dsl_all,
]
