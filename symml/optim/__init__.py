"""Fitting with generated kernels: optimizers, a scipy adapter, regularisation paths, datasets.

Every optimizer takes a :class:`Problem` (a derivation bound to data and hyper-parameters,
seen as a loss over one flat θ) and returns an :class:`OptimizeResult`; :func:`fit` is the
one-line way. First-order methods run their per-sample and mini-batch loops in numba
(:mod:`symml.optim.loops`), second-order ones call the hessian and hvp kernels. Transforms,
splits and metrics are scikit-learn's; :mod:`symml.sklearn` wraps the catalog's models as
estimators that work with them.
"""
from .exact import closed_form, em, mle
from .first_order import adam, gd, minibatch, momentum, rmsprop, sgd
from .fitting import METHODS, auto_method, fit
from .newton import kkt_newton, newton, trust_region
from .paths import RegularizationPath, alpha_max, regularization_path
from .proximal import prox_gradient
from .datasets import load_dataset
from .data import one_hot
from .problem import Problem
from .result import DivergedError, OptimizeResult
from .scipy_adapter import ScipyObjective, minimize, scipy_objective

__all__ = [
    "Problem", "OptimizeResult", "DivergedError", "fit", "METHODS", "auto_method",
    "gd", "sgd", "minibatch", "momentum", "rmsprop", "adam", "newton", "trust_region", "kkt_newton", "prox_gradient",
    "closed_form", "mle", "em", "scipy_objective", "ScipyObjective", "minimize",
    "regularization_path", "RegularizationPath", "alpha_max",
    "load_dataset", "one_hot",
]
