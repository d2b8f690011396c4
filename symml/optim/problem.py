"""A derivation bound to data and hyper-parameters: the flat problem every optimizer solves.

``Problem(derivation, data, hyper)`` checks its input once (:mod:`symml.optim.data`), finds
the derivation's kernel module (generated/<name>.py for the catalog; an ad-hoc derivation's
module is written to the kernel cache), and exposes the loss over one flat vector θ (p,): the
parameters flattened row-major and concatenated in the derivation's order, as
:class:`symml.layout.FlatLayout` lays them out for the generated scipy adapters too
(θ = [vec(w); b]). Full-data evaluations call the module's public kernels with
``check_finite=False`` (the data were checked once; the wrappers pick the parallel twins for
large inputs); the first-order loops run in the jitted adapter module of
:mod:`symml.optim.adapters`, built on first use.

Mini-batches. A stochastic step estimates ∇L from a batch of rows. :meth:`Problem.batch_rule`
finds, once, how: it evaluates the kernels on one row and on that row twice. If both give the
same value, L is a mean over rows plus a penalty (the lasso's 1/(2n) form), and a batch's
loss is already an unbiased estimate. Otherwise L = Σᵢ ℓᵢ + R(θ) is a sum. Then R and its
gradient are 2·K(row) − K(row, row), and a batch is scaled by n/B. A penalty R ≠ 0 must be
proportional to one hyper-parameter (λ/2‖w‖² in λ), found by doubling each in turn. That
hyper-parameter is scaled by B/n in batch calls, so that the penalty counts once per epoch.
Every catalog model has one of these forms.

Takes: a Derivation (or catalog name), data, hyper-parameters. Gives: θ-level callables.
"""
from __future__ import annotations

import importlib
from functools import cached_property

import numpy as np

from ..catalog import CatalogError, Derivation, catalog, load
from ..layout import FlatLayout
from ..nodes import as_expr, leaves
from . import adapters
from .data import check_data, check_hyper, default_init, param_shapes


def resolve(name_or_derivation) -> Derivation:
    """A Derivation from itself or a catalog name."""
    if isinstance(name_or_derivation, Derivation):
        return name_or_derivation
    if isinstance(name_or_derivation, str):
        try:
            return load(name_or_derivation)
        except CatalogError as e:
            raise ValueError(str(e)) from None
    raise TypeError(f"expected a catalog name or an sm.Derivation, got {type(name_or_derivation).__name__}")


def kernel_module(d: Derivation):
    """generated/<name> for a catalog derivation; None for an ad-hoc one (its kernels are then
    written into the adapter module)."""
    if d.source and d.name in catalog():
        try:
            return importlib.import_module(f"generated.{d.name}")
        except ImportError:
            raise ValueError(f"{d.name}: generated/{d.name}.py is missing; run `symml generate {d.name}`") from None
    return None


class Problem:
    """A derivation's loss over one flat parameter vector θ, for given data and hyper-parameters.

    Args:
        derivation: an ``sm.Derivation`` or a catalog name.
        data: the data tensors by name (dict) or in the derivation's order, e.g. (X, y) with
            X (n, d), y (n,). One-hot tensors also accept a vector of class labels.
        hyper: the hyper-parameters by name, e.g. {"lam": 1.0}.
        sizes: sizes the data do not fix, e.g. {"h1": 32, "h2": 16} for an MLP.
        init: a starting point, by parameter name (or a flat θ); default :func:`default_init`.
        seed: seeds the default start.
        columns: names of the first data tensor's columns, for error messages.

    >>> import numpy as np
    >>> X, y = np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0])
    >>> pr = Problem("ridge", (X, y), {"lam": 0.0})
    >>> pr.param_names, pr.size
    (['w', 'b'], 2)
    >>> float(pr.value(np.array([2.0, 1.0])))
    0.0
    """

    def __init__(self, derivation, data, hyper=None, *, sizes=None, init=None, seed: int = 0, columns=None):
        self.derivation = d = resolve(derivation)
        self.data, env = check_data(d, data, sizes, columns)
        #: which data tensors carry the sample axis (mini-batches and subsets slice those)
        self.rows = adapters.row_sliced(d)
        first = next((a for a, s in zip(self.data, self.rows) if s), None)
        if first is None:  # no sample axis: the rows of the first data tensor, for messages
            first = self.data[0] if self.data and self.data[0].ndim else None
        self.n = int(first.shape[0]) if first is not None else 1
        self._bind(env, hyper, init, seed)
        self.module = kernel_module(d)

    def _bind(self, env: dict, hyper, init, seed: int) -> None:
        """Hyper-parameters, parameter shapes, the layout of θ and the start, given the sizes {Dim: int}."""
        d = self.derivation
        self.hyper = check_hyper(d, hyper)
        self.shapes = param_shapes(d, env, init if isinstance(init, dict) else None)
        self.param_names = [p.name for p in d.params]
        self.sizes = {str(k): int(v) for k, v in env.items()}
        self.flat = FlatLayout(self.param_names, self.shapes)
        self.layout = np.array(self.flat.array(), dtype=np.int64)  # what the jitted adapters read
        self.size = int(self.flat.size)
        self.seed = seed
        self.init_given = init is not None
        self.theta0 = self._start(init)

    # -- layout
    def _start(self, init) -> np.ndarray:
        defaults = default_init(self.derivation, self.shapes, self.seed) if init is None or isinstance(init, dict) \
            else None
        return self.flat.start(init, defaults)

    def pack(self, parts) -> np.ndarray:
        """θ from the parameters (a dict by name or a sequence in order)."""
        return self.flat.pack(parts)

    def unpack(self, theta) -> dict:
        """The parameters by name: arrays shaped as declared, floats for scalars (copies)."""
        return self.flat.unpack(theta)

    def has(self, kernel: str) -> bool:
        """Whether the derivation emits a kernel ("hessian", "hvp", "prox_step", ...)."""
        return kernel in self.derivation.kernels or kernel in self.derivation.extra

    @cached_property
    def jit(self):
        """The module of jitted adapters and loops (written and compiled on first use)."""
        return adapters.build(self.derivation, self.module)

    @property
    def kernels(self):
        """The module whose public kernels (loss, value_and_grad, hvp, ...) this problem calls."""
        return self.module if self.module is not None else self.jit

    def with_hyper(self, **changes) -> "Problem":
        """The same problem (same data, no new checks) with some hyper-parameters changed."""
        new = object.__new__(Problem)
        new.__dict__.update(self.__dict__)
        new.__dict__.pop("batch_rule", None)  # it depends on which hyper-parameters are zero
        names = [t.name for t in self.derivation.hyper]
        new.hyper = check_hyper(self.derivation, {**dict(zip(names, self.hyper)), **changes})
        return new

    def subset(self, rows) -> "Problem":
        """The same problem on some rows of the data (no new checks; hyper-parameters as they are)."""
        self.require_rows("a subset of rows")
        rows = np.asarray(rows, dtype=np.int64)
        new = object.__new__(Problem)
        new.__dict__.update(self.__dict__)
        for key in ("batch_rule", "data_tuple"):
            new.__dict__.pop(key, None)
        new.data = [np.ascontiguousarray(a[rows]) if s else a for a, s in zip(self.data, self.rows)]
        new.n = int(rows.shape[0])
        return new

    def require_rows(self, what: str) -> None:
        """A ValueError unless the data have a sample axis that ``what`` can split."""
        if not any(self.rows):
            raise ValueError(f"{self.derivation.name}: {what} needs a sample axis, a dimension on axis 0 of the data "
                             "that no parameter carries; here the parameters carry it (as a dual's do): use a "
                             "full-batch method (batch_size=None)")

    # -- evaluations over all rows (θ flat)
    def _theta(self, theta) -> np.ndarray:
        theta = np.ascontiguousarray(theta, dtype=np.float64)
        if theta.shape != (self.size,):
            raise ValueError(f"theta: expected shape ({self.size},), got {theta.shape}")
        return theta

    def kernel_args(self, kernel: str) -> list[str]:
        """The input names a public kernel takes: all inputs, or for an extra kernel those it uses."""
        d = self.derivation
        if kernel not in d.extra:
            return [t.name for t in d.inputs]
        outs = d.extra[kernel] if isinstance(d.extra[kernel], (tuple, list)) else [d.extra[kernel]]
        used = {t.uid for o in outs for t in leaves(as_expr(o))}
        return [t.name for t in d.inputs if t.uid in used]

    def call(self, kernel: str, theta=None, *directions):
        """A public kernel over all the data, with the parameters from θ (and hvp directions)."""
        fn = getattr(self.kernels, kernel, None)
        if fn is None or not self.has(kernel):
            raise ValueError(f"{self.derivation.name} has no {kernel} kernel; it emits "
                             f"{', '.join([*self.derivation.kernels, *self.derivation.extra])}")
        values = {t.name: a for t, a in zip(self.derivation.data, self.data)}
        values.update((t.name, float(h)) for t, h in zip(self.derivation.hyper, self.hyper))
        if theta is not None:
            values.update(self.unpack(self._theta(theta)))
        args = [values[k] for k in self.kernel_args(kernel)]
        if directions:
            P = len(self.shapes)
            args = args[:P] + list(directions) + args[P:]
        return fn(*args, check_finite=False)

    def value(self, theta) -> float:
        """L(θ)."""
        return float(self.call("loss", theta))

    def value_and_grad(self, theta) -> tuple[float, np.ndarray]:
        """(L(θ), ∇L(θ)) in one fused pass, ∇L flat like θ."""
        v, g = self.call("value_and_grad", theta)
        return float(v), self.pack(g if len(self.shapes) > 1 else (g,))

    def grad(self, theta) -> np.ndarray:
        """∇L(θ), flat like θ."""
        return self.value_and_grad(theta)[1]

    def hvp(self, theta, v) -> np.ndarray:
        """∇²L(θ)·v: the hvp kernel, else a central difference of gradients (exact for quadratics)."""
        theta, v = self._theta(theta), self._theta(v)
        if self.has("hvp"):
            h = self.call("hvp", theta, *self.unpack(v).values())
            return self.pack(h if len(self.shapes) > 1 else (h,))
        nv = float(np.linalg.norm(v))
        if nv == 0.0:
            return np.zeros_like(v)
        h = 6e-6 * max(1.0, float(np.max(np.abs(theta)))) / nv
        return (self.grad(theta + h * v) - self.grad(theta - h * v)) / (2 * h)

    def hessian(self, theta) -> np.ndarray:
        """∇²L(θ) (p, p): the hessian kernel, else p hvps (symmetrised)."""
        if self.has("hessian"):
            return np.asarray(self.call("hessian", theta))
        H = np.column_stack([self.hvp(theta, e) for e in np.eye(self.size)])
        return (H + H.T) / 2

    @cached_property
    def data_tuple(self) -> tuple:
        return tuple(self.data)

    def lipschitz(self, theta=None, iterations: int = 30) -> float:
        """An estimate of the largest |eigenvalue| of ∇²L at θ (power iteration on the hvp)."""
        theta = self.theta0 if theta is None else self._theta(theta)
        v = np.random.default_rng(self.seed).standard_normal(self.size)
        lam = 0.0
        for _ in range(iterations):
            v /= np.linalg.norm(v)
            hv = self.hvp(theta, v)
            new = float(np.linalg.norm(hv))
            if not np.isfinite(new) or new == 0.0:
                break
            v, done, lam = hv, abs(new - lam) <= 1e-3 * new, new
            if done:
                break
        return lam

    @cached_property
    def batch_rule(self) -> tuple[int, int]:
        """(mode, hidx): how a batch estimates ∇L (see the module docstring). 0: a mean over rows;
        1: a sum, scaled by n/B, with hyper[hidx] (hidx ≥ 0) scaled by B/n in batch calls."""
        rng = np.random.default_rng(12345)
        theta = self.theta0 + 0.05 * (1.0 + np.abs(self.theta0)) * rng.standard_normal(self.size)
        one, two = np.zeros(1, dtype=np.int64), np.zeros(2, dtype=np.int64)

        def probe(hyper):
            v1, g1 = self.jit.rows_value_and_grad(theta, self.data_tuple, hyper, self.layout, one)
            v2, g2 = self.jit.rows_value_and_grad(theta, self.data_tuple, hyper, self.layout, two)
            return np.append(g1, v1), np.append(g2, v2)

        a1, a2 = probe(self.hyper)
        scale = 1.0 + np.max(np.abs(a1)) + np.max(np.abs(a2))  # rounding is relative to the row's terms

        def close(a, b):
            return np.max(np.abs(a - b)) <= 1e-9 * scale

        if close(a1, a2):
            return 0, -1
        pen, row = 2 * a1 - a2, a2 - a1
        if close(pen[:-1], 0 * pen[:-1]):
            return 1, -1
        for j in range(len(self.hyper)):
            h = self.hyper.copy()
            h[j] = 2 * h[j] if h[j] != 0 else 1.0
            b1, b2 = probe(h)
            ratio = h[j] / self.hyper[j] if self.hyper[j] != 0 else np.inf
            if close(b2 - b1, row) and close(2 * b1 - b2, ratio * pen):
                return 1, j
        raise ValueError(f"{self.derivation.name}: mini-batches need a loss that is a mean or a sum over rows plus a "
                         "penalty proportional to one hyper-parameter; use a full-batch method (batch_size=None)")

    def __repr__(self):
        shapes = ", ".join(f"{k} {s}" for k, s in zip(self.param_names, self.shapes))
        return f"<Problem {self.derivation.name}: n = {self.n}, θ = [{shapes}] ({self.size})>"
