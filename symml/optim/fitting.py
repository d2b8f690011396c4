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

from ..progress import Status
from .methods import METHODS, auto_method, check_options as _check_options, options_of as _options_of
from .problem import Problem, resolve
from .result import DivergedError, OptimizeResult

__all__ = ["METHODS", "auto_method", "fit"]

def fit(name_or_derivation, data, method: str = "auto", *, init=None, sizes=None, seed: int = 0, columns=None,
        options: dict | None = None, raise_on_divergence: bool = True, progress: bool | None = None,
        **kwargs) -> OptimizeResult:
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
        progress: show a status line on stderr while a fit runs longer than a second (kernel
            calls so far and the last loss; for the first-order methods, whose epochs run in one
            compiled loop, what is running). None: only when stderr is a terminal.
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
    status = _watch(problem, method, opts, progress)
    try:
        result = solver(problem, **opts)
    finally:
        status.close()
        problem.__dict__.pop("call", None)
    result.info.setdefault("problem", problem)
    if result.diverged and raise_on_divergence:
        raise DivergedError(f"{d.name}: {method} diverged: {result.message}", result)
    return result


#: seconds a fit runs before its status line appears (short fits print nothing)
PROGRESS_DELAY = 1.0
#: methods whose iterations all run inside one numba loop (no Python between epochs)
COMPILED_LOOPS = ("gd", "sgd", "minibatch", "momentum", "nesterov", "rmsprop", "adam")


def _watch(problem: Problem, method: str, opts: dict, progress: bool | None) -> Status:
    """A status line for a running fit: every kernel call of the problem ticks it."""
    status = Status(f"{problem.derivation.name} ({method})", enabled=progress, delay=PROGRESS_DELAY)
    if not status.enabled:
        return status
    if method in COMPILED_LOOPS:
        epochs = opts.get("max_iter", "")
        status.update(f"up to {epochs} epochs over {problem.n} rows in the compiled loop; it reports when done",
                      force=True)
        return status
    call, counter = problem.call, {"calls": 0, "loss": None}
    with_loss = ("loss", "value_and_grad", "objective")

    def ticking(kernel, theta=None, *directions):
        out = call(kernel, theta, *directions)
        counter["calls"] += 1
        if kernel in with_loss:
            counter["loss"] = float(out if kernel != "value_and_grad" else out[0])
        loss = "" if counter["loss"] is None else f", L = {counter['loss']:.6g}"
        status.update(f"{counter['calls']} kernel calls{loss}")
        return out

    problem.__dict__["call"] = ticking  # copies (with_hyper, subset) share it
    return status


def _is_dask(data) -> bool:
    values = data.values() if isinstance(data, dict) else (data if isinstance(data, (tuple, list)) else [data])
    return any(type(v).__module__.partition(".")[0] == "dask" for v in values)
