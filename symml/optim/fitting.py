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

import numpy as np
import sympy as sp

from ..layout import FlatLayout
from ..progress import Status
from .methods import METHODS, auto_method, check_options as _check_options, options_of as _options_of
from .problem import Problem, resolve
from .result import DivergedError, OptimizeResult

__all__ = ["METHODS", "auto_method", "fit", "fit_kernel", "KernelProblem"]

def fit(name_or_derivation, data, method: str = "auto", *, init=None, sizes=None, seed: int = 0, columns=None,
        options: dict | None = None, raise_on_divergence: bool = True, progress: bool | None = None,
        **kwargs) -> OptimizeResult:
    """Fit a catalog model (or any Derivation) to data.

    Args:
        name_or_derivation: a catalog name such as "logistic_regression", or an sm.Derivation;
            or an ``sm.compile`` kernel of a loss and its gradient (see :func:`fit_kernel`).
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
    if _is_compiled(name_or_derivation):  # an sm.compile kernel of a loss and its gradient
        return fit_kernel(name_or_derivation, data, method, init=init, **{**kwargs, **(options or {})})
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


# --------------------------------------------------------------------------- sm.compile kernels


def _is_compiled(obj) -> bool:
    from ..codegen.jit import CompiledKernel

    return isinstance(obj, CompiledKernel)


class _Named:
    def __init__(self, name: str):
        self.name = name


class KernelProblem:
    """An ``sm.compile`` kernel of a loss L and ∇L over one flat θ, for the scipy optimizers.

    The parameters are the tensors the kernel's gradients are taken with respect to, in the
    order of its outputs; θ holds them flattened row-major and concatenated. The other
    arguments are data (arrays) and hyper-parameters (numbers), fixed for the fit. With dask
    row data, or a ``client``, every evaluation runs the kernel's chunk forms on the cluster
    (:func:`symml.dask.run_kernel`); otherwise the kernel runs in this process.
    """

    def __init__(self, kernel, data, hyper: dict, *, init=None, client=None, split_every: int = 8,
                 dims: dict | None = None):
        from ..codegen.plan import loss_of
        from ..decompose import NotDecomposable
        from ..calculus import origins

        exprs = [e for _, e in kernel.outputs]
        usage = ("sm.fit needs a kernel that returns the loss and its gradient, such as "
                 "sm.compile({'loss': L, 'grad': sm.grad(L, [w, b])})")
        try:
            L, _ = loss_of(exprs)
        except NotDecomposable:
            raise ValueError(f"{usage}; this kernel's outputs are not one loss and derivatives of it") from None
        self.loss_at = next((j for j, e in enumerate(exprs) if e is L), None)
        grads = {}
        for j, e in enumerate(exprs):
            for verb, of, t, _ in origins(e):
                if verb == "grad" and of is L and t.uid not in grads:
                    grads[t.uid] = (t, j)
        if self.loss_at is None or not grads:
            raise ValueError(f"{usage}; it returns {'no loss' if self.loss_at is None else 'no gradient'}")
        self.kernel, self.client, self.split_every, self.dims = kernel, client, split_every, dims
        self.params = [t for t, _ in grads.values()]
        self.grad_at = [j for _, j in grads.values()]
        self.param_names = [p.name for p in self.params]
        self.derivation = _Named(f"sm.compile kernel ({', '.join(kernel.output_names)})")
        names = [t.name for t in kernel.arg_tensors if t.ndim and t.name not in self.param_names]
        given = dict(data) if isinstance(data, dict) else dict(zip(names, data if isinstance(data, (tuple, list))
                                                                    else [data]))
        missing = [k for k in names if k not in given]
        if missing:
            raise ValueError(f"data: missing {missing[0]!r}; the kernel's data are {', '.join(names)}")
        scalars = [t.name for t in kernel.arg_tensors if not t.ndim and t.name not in self.param_names]
        unknown = sorted(set(hyper) - set(scalars))
        if unknown:
            raise ValueError(f"unknown option or hyper-parameter {unknown[0]!r}; the kernel's hyper-parameters: "
                             f"{', '.join(scalars) or 'none'}; options: max_iter, tol")
        gone = [k for k in scalars if k not in hyper]
        if gone:
            raise ValueError(f"missing hyper-parameter {gone[0]!r}: pass {gone[0]}=... to sm.fit")
        self.fixed = {**given, **{k: float(v) for k, v in hyper.items()}}
        self.distributed = client is not None or any(type(v).__module__.partition(".")[0] == "dask"
                                                     for v in given.values())
        self.shapes = self._shapes(given, init)
        self.flat = FlatLayout(self.param_names, self.shapes)
        self.layout = np.array(self.flat.offsets, dtype=np.int64)
        self.size = int(self.flat.size)
        self.theta0 = self._start(init)
        self.calls = 0

    def _shapes(self, given, init) -> list[tuple]:
        from ..evaluate import BindError, bind_dims

        init = init if isinstance(init, dict) else {}
        stand = {k: np.broadcast_to(np.zeros((), dtype=getattr(v, "dtype", np.float64)), np.shape(v))
                 for k, v in given.items()}
        tensors = [t for t in self.kernel.arg_tensors if t.name in stand]
        try:
            env = bind_dims(tensors, stand, self.dims)
        except BindError as e:
            raise ValueError(str(e)) from None
        shapes = []
        for p in self.params:
            if p.name in init:
                shapes.append(np.shape(init[p.name]))
                continue
            shape = [sp.sympify(s).subs(env) for s in p.shape]
            if any(not s.is_Integer for s in shape):
                raise ValueError(f"init: the data do not fix the size of {p.name}; give init={{{p.name!r}: ...}}")
            shapes.append(tuple(int(s) for s in shape))
        return shapes

    def _start(self, init) -> np.ndarray:
        return self.flat.start(init, [np.zeros(s) for s in self.shapes])

    def _theta(self, theta) -> np.ndarray:
        return np.asarray(theta, dtype=np.float64)

    def pack(self, parts) -> np.ndarray:
        return self.flat.pack(parts)

    def unpack(self, theta) -> dict:
        return self.flat.unpack(theta)

    def has(self, kernel: str) -> bool:
        return kernel in ("loss", "grad", "value_and_grad")

    def value_and_grad(self, theta):
        values = {**self.fixed, **self.unpack(theta)}
        self.calls += 1
        if self.distributed:
            from ..dask import run_kernel_flat

            outs = run_kernel_flat(self.kernel, client=self.client, split_every=self.split_every, dims=self.dims,
                                   **values)
        else:
            outs = self.kernel.call_flat(dims=self.dims, **values)
        return float(outs[self.loss_at]), self.pack([outs[j] for j in self.grad_at])


def fit_kernel(kernel, data, method: str = "auto", *, init=None, client=None, split_every: int = 8,
               dims: dict | None = None, tol: float = 1e-8, max_iter: int = 1000, options: dict | None = None,
               **hyper):
    """Fit the parameters of an ``sm.compile`` kernel of a loss and its gradient with L-BFGS-B.

    Args:
        kernel: ``sm.compile({"loss": L, "grad": sm.grad(L, [w, b])})`` or any kernel whose
            outputs include L and ∇L with respect to the parameters (the tensors its gradients
            are taken with respect to).
        data: the data arrays by name, or in the order of the kernel's array arguments
            that are not parameters. Dask arrays chunked by rows run on the cluster (the loss
            must be a sum over rows; see :func:`symml.dask.run_kernel`).
        method: "auto" or "L-BFGS-B".
        init: the start by parameter name (default zeros) or flat.
        client: a dask.distributed Client: the chunk forms run on it.
        split_every, dims: as for :func:`symml.dask.run_kernel`.
        tol, max_iter: the gradient tolerance (relative to ‖∇L(θ₀)‖) and scipy's maxiter.
        **hyper: the kernel's scalar arguments (hyper-parameters) by name.

    Returns:
        OptimizeResult; ``info["kernel_calls"]`` counts the passes over the data.
    """
    from .scipy_adapter import minimize

    if method not in ("auto", "L-BFGS-B"):
        raise ValueError(f"method: an sm.compile kernel is fitted with L-BFGS-B ('auto' or 'L-BFGS-B'), got "
                         f"{method!r}; for the other methods write the model as an sm.Derivation")
    problem = KernelProblem(kernel, data, hyper, init=init, client=client, split_every=split_every, dims=dims)
    result = minimize(problem, "L-BFGS-B", tol=tol, max_iter=max_iter, options=options)
    result.info["problem"] = problem
    result.info["kernel_calls"] = problem.calls
    result.info["distributed"] = problem.distributed
    return result
