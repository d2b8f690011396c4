"""symml's generated kernels, called as a user calls them.

Three variants, so that the cost of each layer is measured rather than guessed:

- ``symml``: the public wrapper with its defaults (argument checks, and whatever finite
  check the ``check_finite`` default does);
- ``symml[nocheck]``: the wrapper with ``check_finite=False`` (checks of names, ranks,
  sizes and dtypes only);
- ``symml[kernel]``: the private ``@njit`` function alone (serial or ``_par`` twin, as
  the wrapper would pick), i.e. no Python-level checking at all. Only used to measure
  what the checks cost; targets are judged on ``symml``.

Takes: a Case and its data. Gives: {variant: (fn, to_flat)}.
"""
from __future__ import annotations

import importlib

import numpy as np

from .cases import SIGNATURES, flat

NAME = "symml"


def available() -> str | None:
    """None when this implementation can run, else why not."""
    return None


def _args(case, data):
    params, rest = SIGNATURES[case.model]
    if case.kernel == "hvp":
        return [data[p] for p in params] + [data["v_" + p] for p in params] + [data[r] for r in rest]
    return [data[p] for p in params] + [data[r] for r in rest]


def _to_flat(kernel):
    if kernel == "value_and_grad":
        return lambda out: flat(out[0], *(out[1] if isinstance(out[1], tuple) else (out[1],)))
    if kernel == "hessian":
        return lambda out: flat(out)
    return lambda out: flat(*(out if isinstance(out, tuple) else (out,)))


def _private(mod, case, args):
    """The njit function the wrapper would call, and the arguments it would pass."""
    serial = getattr(mod, "_" + case.kernel)
    par = getattr(mod, "_" + case.kernel + "_par", None)
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    fn = par if par is not None and sum(a.size for a in arrays) >= mod.PARALLEL_MIN_SIZE else serial
    call = [float(a) if not isinstance(a, np.ndarray) else a for a in args]
    return fn, call


def build(case, data) -> dict:
    """{variant: (fn, to_flat)} for this case (fn takes no arguments)."""
    if not case.catalog:
        return {NAME: "no catalog module: a user's model runs through sm.compile (its own column)"}
    mod = importlib.import_module("generated." + case.model)
    public = getattr(mod, case.kernel)
    args = _args(case, data)
    fn, call = _private(mod, case, args)
    to_flat = _to_flat(case.kernel)
    out = {
        "symml": (lambda: public(*args), to_flat),
        "symml[nocheck]": (lambda: public(*args, check_finite=False), to_flat),
    }
    if case.kernel != "hessian":  # the private Hessian returns blocks, which the wrapper assembles
        out["symml[kernel]"] = (lambda: fn(*call), _kernel_flat(case.kernel))
    return out


def _kernel_flat(kernel):
    if kernel == "value_and_grad":
        return lambda out: flat(*out)
    return lambda out: flat(*(out if isinstance(out, tuple) else (out,)))
