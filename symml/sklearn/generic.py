"""A scikit-learn regressor for any loss: a Derivation (catalog or ad hoc) or an ``sm.compile`` kernel.

``DerivationRegressor(model, prediction=f)`` fits the parameters of ``model`` to (X, y) and predicts
with ``f(params, X)`` (default: Xw + b, for a model whose parameters are w (d,) and b).

- A Derivation (or a catalog name) whose data are (X, y) is fitted by :func:`symml.optim.fit`
  with ``method`` and the hyper-parameters in ``hyper``.
- An ``sm.compile`` kernel must have the outputs ``loss`` and ``grad_<p>`` for each parameter p
  (``sm.compile({"loss": L, "grad_w": sm.grad(L, w), "grad_b": sm.grad(L, b)})``); its other
  inputs are the data, named by ``data`` (default "X", "y"), and the hyper-parameters in
  ``hyper``. It is minimised by scipy's L-BFGS-B from zeros, with the kernel's loss and gradient.

A Derivation holds SymPy objects, which neither pickle nor deep-copy; cloning shares it (it is
never changed), and to pickle a fitted estimator give ``model`` as a catalog name or as a
module-level function that builds the model.

Takes: a model, X (n, d), y (n,). Gives: params_ and predictions.
"""
from __future__ import annotations

import re

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from ..catalog import Derivation
from ..codegen.jit import CompiledKernel
from ..layout import FlatLayout
from ..optim import DivergedError, Problem
from ..optim.methods import METHODS, auto_method, options_of as _options_of
from ..optim.problem import resolve
from ._base import check_X, check_Xy, keep_result, seed_of

SHARED = ("model", "prediction")  # shared by clones, never copied


#: models built by a factory, and the jitted adapter module of each ad-hoc derivation, by id (the
#: object is kept with it, so an id is never reused): a clone, a cross-validation fold or a grid
#: point then reuses the kernels instead of generating them again
_BUILT: dict = {}
_JIT: dict = {}


def _build(model):
    if isinstance(model, (str, Derivation, CompiledKernel)):
        return model
    if callable(model):
        if model not in _BUILT:
            _BUILT[model] = model()
        built = _BUILT[model]
        if isinstance(built, (Derivation, CompiledKernel)):
            return built
        raise ValueError(f"DerivationRegressor: model() returned {type(built).__name__}; expected an sm.Derivation "
                         "or an sm.compile kernel")
    raise ValueError("DerivationRegressor: model must be a catalog name, an sm.Derivation, an sm.compile kernel or "
                     f"a function returning one of them, got {type(model).__name__}")


def _linear(params, X):
    if set(params) != {"w", "b"}:
        raise ValueError(f"DerivationRegressor: the parameters are {', '.join(params)}, not (w, b); pass "
                         "prediction=f(params, X)")
    return X @ params["w"] + params["b"]


def _dims(shape: str) -> list[str]:
    return [s for s in re.split(r"[(),\s]+", shape) if s]


def _fit_kernel(k: CompiledKernel, X, y, data, hyper, sizes, max_iter, tol):
    """Minimise a compiled kernel's loss over its parameters (the inputs with a grad_ output)."""
    params = [a for a in k.args if f"grad_{a}" in k.output_names]
    if "loss" not in k.output_names or not params:
        raise ValueError(f"DerivationRegressor: the kernel's outputs are {', '.join(k.output_names)}; expected loss "
                         "and grad_<p> for each parameter p")
    values = dict(zip(data, (X, y)))
    unknown = [a for a in k.args if a not in params and a not in values and a not in hyper]
    if unknown:
        raise ValueError(f"DerivationRegressor: the kernel's input {unknown[0]!r} is neither a parameter, nor data "
                         f"({', '.join(data)}), nor in hyper")
    env = dict(sizes)
    for name, a in values.items():
        for dim, size in zip(_dims(k.shapes[name]), np.shape(a)):
            env.setdefault(dim, size)
    shapes = {}
    for p in params:
        missing = [dim for dim in _dims(k.shapes[p]) if dim not in env and not dim.isdigit()]
        if missing:
            raise ValueError(f"DerivationRegressor: the size {missing[0]} of {p} is not fixed by the data; "
                             f"pass sizes={{{missing[0]!r}: ...}}")
        shapes[p] = tuple(int(env.get(dim, dim)) for dim in _dims(k.shapes[p]))
    layout = FlatLayout(params, [shapes[p] for p in params])

    def fun(theta):
        out = k(check_finite=False, **values, **{h: float(v) for h, v in hyper.items()}, **layout.unpack(theta))
        return float(out["loss"]), layout.pack([out[f"grad_{p}"] for p in params])

    res = minimize(fun, np.zeros(layout.size), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": tol, "ftol": 0.0})
    return layout.unpack(res.x), res


class DerivationRegressor(RegressorMixin, BaseEstimator):
    """Fit any symml loss to (X, y) the scikit-learn way (see the module docstring).

    There is no parameter map to state here: the estimator minimises exactly the loss it is
    given, with the hyper-parameters as given.

    Args:
        model: a catalog name, an sm.Derivation with data (X, y), an sm.compile kernel with
            outputs loss and grad_<p>, or a function of no arguments returning one of them.
        prediction: f(params, X) → predictions (n,); default Xw + b.
        method: the method of :func:`symml.optim.fit` for a Derivation ("auto" picks one).
        hyper: hyper-parameters by name, e.g. {"delta": 1.0}.
        sizes: sizes the data do not fix, e.g. {"h": 16}.
        data: the names of the kernel's two data inputs (kernels only).
        max_iter, tol: the method's iteration limit and tolerance (None: its defaults).
        random_state: seeds the start and any shuffles.

    Attributes:
        params_ (dict of the fitted parameters by name), n_iter_, fit_result_ (Derivations).
    """

    def __init__(self, model=None, prediction=None, method="auto", hyper=None, sizes=None, data=("X", "y"),
                 max_iter=None, tol=None, random_state=0):
        self.model = model
        self.prediction = prediction
        self.method = method
        self.hyper = hyper
        self.sizes = sizes
        self.data = data
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def __sklearn_clone__(self):
        params = self.get_params(deep=False)
        return type(self)(**{k: v if k in SHARED else clone(v, safe=False) for k, v in params.items()})

    def fit(self, X, y):
        if self.model is None:
            raise ValueError("DerivationRegressor: give model= (a Derivation, a catalog name or an sm.compile kernel)")
        model = _build(self.model)
        X, y = check_Xy(self, X, y, classifier=False)
        hyper, sizes = dict(self.hyper or {}), dict(self.sizes or {})
        if isinstance(model, CompiledKernel):
            self.params_, res = _fit_kernel(model, X, y, tuple(self.data), hyper, sizes, self.max_iter or 15000,
                                            1e-8 if self.tol is None else self.tol)
            self.n_iter_ = int(res.nit)
            return self
        r = self._fit_derivation(resolve(model), X, y, hyper, sizes)
        self.params_ = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in r.params.items()}
        return self

    def _fit_derivation(self, d, X, y, hyper, sizes):
        """sm.fit's steps, with the ad-hoc derivation's adapter module reused across fits."""
        seed = seed_of(self.random_state)
        problem = Problem(d, (X, y), hyper, sizes=sizes or None, seed=seed)
        cached = _JIT.get(id(d))
        if problem.module is None and cached is not None and cached[0] is d:
            problem.__dict__["jit"] = cached[1]
        method = auto_method(problem) if self.method == "auto" else self.method
        if method not in METHODS:
            raise ValueError(f"DerivationRegressor: method must be 'auto' or one of {', '.join(METHODS)}, "
                             f"got {method!r}")
        opts = {k: v for k, v in (("max_iter", self.max_iter), ("tol", self.tol)) if v is not None}
        solver = METHODS[method]
        if "seed" in _options_of(solver):
            opts["seed"] = seed
        result = solver(problem, **opts)
        if problem.module is None and "jit" in problem.__dict__:
            _JIT[id(d)] = (d, problem.__dict__["jit"])
        if result.diverged:
            raise DivergedError(f"{d.name}: {method} diverged: {result.message}", result)
        return keep_result(self, result)

    def predict(self, X):
        """prediction(params_, X), default Xw + b (n,)."""
        check_is_fitted(self)
        X = check_X(self, X, reset=False)
        return np.asarray((self.prediction or _linear)(self.params_, X), dtype=np.float64).reshape(X.shape[0])
