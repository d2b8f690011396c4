"""``fit``: the one-line way to fit a catalog model with symml's optimizers.

    fit("logistic_regression", (X, y), method="newton", lam=1.0)

Keyword arguments named like the derivation's hyper-parameters are hyper-parameters; the
others go to the method (lr, max_iter, tol, batch_size, ...). Pass ``options={...}`` for a
method option whose name a hyper-parameter already takes.

``method="auto"`` picks, in this order: the derived closed form (``closed_form``: least
squares, ridge; ``mle``: naive Bayes, the distributions), EM (``em_step``: the mixture),
proximal gradient (``prox_step``: lasso, elastic net), Newton (a ``hessian`` kernel), else
Adam (the MLPs). The Lagrangians of the duality catalog are saddles: fit them with
``method="kkt"`` (Newton on ∇L = 0) from a start of your choice.

>>> import numpy as np
>>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0.0, 1.0, 0.0, 1.0])
>>> r = fit("logistic_regression", (X, y), lam=1.0)
>>> r.method, r.converged
('newton', True)

Takes: a catalog name or Derivation, data, hyper-parameters. Gives: an OptimizeResult.
"""
from __future__ import annotations

from .methods import METHODS, auto_method, check_options as _check_options, options_of as _options_of
from .problem import Problem, resolve
from .result import DivergedError, OptimizeResult

__all__ = ["METHODS", "auto_method", "fit"]

def fit(name_or_derivation, data, method: str = "auto", *, init=None, sizes=None, seed: int = 0, columns=None,
        options: dict | None = None, raise_on_divergence: bool = True, **kwargs) -> OptimizeResult:
    """Fit a catalog model (or any Derivation) to data.

    Args:
        name_or_derivation: a catalog name such as "logistic_regression", or an sm.Derivation.
        data: the data tensors by name or in the derivation's order, e.g. (X, y).
        method: a key of :data:`METHODS` (gd, sgd, minibatch, momentum, nesterov, rmsprop,
            adam, newton, trust_region, kkt, prox, closed_form, mle, em, L-BFGS-B, Newton-CG,
            trust-ncg) or "auto".
        init: a start, by parameter name or flat.
        sizes: sizes the data do not fix, e.g. {"h1": 32, "h2": 16}.
        seed: seeds the default start and the shuffles.
        columns: the first data tensor's column names, for error messages.
        options: method options, e.g. {"lr": 0.1}.
        raise_on_divergence: raise DivergedError (carrying the result) if the fit diverged.
        **kwargs: hyper-parameters by name, then method options.

    Returns:
        OptimizeResult.

    Raises:
        ValueError: bad data, hyper-parameters or options (before any work); DivergedError.
    """
    d = resolve(name_or_derivation)
    if _is_dask(data):  # chunk kernels on the cluster; nothing row-sized comes to this process
        from ..dask import fit as dask_fit

        return dask_fit(d, data, "L-BFGS-B" if method == "auto" else method, init=init, sizes=sizes, seed=seed,
                        **{**kwargs, **(options or {})})
    hyper_names = {t.name for t in d.hyper}
    hyper = {k: v for k, v in kwargs.items() if k in hyper_names}
    opts = {k: v for k, v in kwargs.items() if k not in hyper_names}
    opts.update(options or {})
    if method != "auto" and method not in METHODS:
        raise ValueError(f"method: expected 'auto' or one of {', '.join(METHODS)}, got {method!r}")
    if method != "auto":
        _check_options(method, opts, hyper_names)
    problem = Problem(d, data, hyper, sizes=sizes, init=init, seed=seed, columns=columns)
    if method == "auto":
        method = auto_method(problem)
        _check_options(method, opts, hyper_names)
    solver = METHODS[method]
    if "seed" in _options_of(solver):
        opts.setdefault("seed", seed)
    result = solver(problem, **opts)
    result.info.setdefault("problem", problem)
    if result.diverged and raise_on_divergence:
        raise DivergedError(f"{d.name}: {method} diverged: {result.message}", result)
    return result


def _is_dask(data) -> bool:
    values = data.values() if isinstance(data, dict) else (data if isinstance(data, (tuple, list)) else [data])
    return any(type(v).__module__.partition(".")[0] == "dask" for v in values)
