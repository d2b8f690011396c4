"""The optimizers by name: the registry that ``sm.fit``, regularisation paths, Dask fits and
plots choose from, and the check of a method's options.

Takes: a method name and its options. Gives: the solver, or a ValueError naming the options.
"""
from __future__ import annotations

import inspect
from functools import partial

from . import exact, first_order, newton as second_order, proximal, scipy_adapter
from .problem import Problem

METHODS = {
    "gd": first_order.gd,
    "sgd": first_order.sgd,
    "minibatch": first_order.minibatch,
    "momentum": first_order.momentum,
    "nesterov": partial(first_order.momentum, nesterov=True),
    "rmsprop": first_order.rmsprop,
    "adam": first_order.adam,
    "newton": second_order.newton,
    "trust_region": second_order.trust_region,
    "kkt": second_order.kkt_newton,
    "prox": proximal.prox_gradient,
    "closed_form": exact.closed_form,
    "mle": exact.mle,
    "em": exact.em,
    **{m: partial(scipy_adapter.minimize, method=m) for m in ("L-BFGS-B", "Newton-CG", "trust-ncg")},
}

#: method="auto": the first kernel the derivation emits decides
AUTO = (("closed_form", "closed_form"), ("mle", "mle"), ("em_step", "em"), ("prox_step", "prox"),
        ("hessian", "newton"))


def auto_method(problem: Problem) -> str:
    """The method ``method="auto"`` picks for a problem."""
    return next((m for kernel, m in AUTO if problem.has(kernel)), "adam")


def options_of(solver) -> set[str]:
    """The keyword options a solver takes (first-order methods also take those of ``run``)."""
    fn = solver.func if isinstance(solver, partial) else solver
    params = inspect.signature(fn).parameters
    names = {k for k, p in params.items() if p.kind == p.KEYWORD_ONLY}
    if any(p.kind == p.VAR_KEYWORD for p in params.values()) and fn.__module__ == first_order.__name__:
        names |= {k for k, p in inspect.signature(first_order.run).parameters.items() if p.kind == p.KEYWORD_ONLY}
    return names - set(solver.keywords if isinstance(solver, partial) else ())


def check_options(method: str, opts: dict, hyper_names) -> None:
    """Raise a ValueError naming the first option ``method`` does not take, and the ones it does."""
    allowed = options_of(METHODS[method])
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise ValueError(f"{method}: unknown option {unknown[0]!r}; options: {', '.join(sorted(allowed))}"
                         + (f"; hyper-parameters: {', '.join(sorted(hyper_names))}" if hyper_names else ""))
