"""The derivation spec: what a model of the catalog computes and which kernels it emits.

A derivation file in derivations/ states a model's mathematics and ends with one
declarative ``Derivation(...)``: the loss, its parameters, data and hyper-parameters, and
the kernels to emit. The spec validates itself, derives its results once (through
:mod:`symml.calculus`), splits its loss into a sum over rows plus a regulariser where it
can (:mod:`symml.decompose`), and lowers itself to kernel specs with the fixed vocabulary
(``loss``, ``grad``, ``value_and_grad``, ``hessian``, ``hvp``, their chunk forms, and
named extras). Finding derivations is :mod:`symml.catalog`'s job, writing their modules
:mod:`symml.build`'s.

Takes: tensor expressions. Gives: derived results and :class:`~symml.codegen.KernelSpec` lists.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Callable

from .calculus import grad, hessian, hvp
from .codegen import KernelSpec
from .codegen.plan import plan_kernels, split_rows
from .decompose import SampleSplit
from .nodes import Expr, Tensor, as_expr, const, fmt_shape, leaves

__all__ = ["Derivation", "CatalogError", "STANDARD_KERNELS", "NAME", "register_renderer"]

STANDARD_KERNELS = ("loss", "grad", "value_and_grad", "hessian", "hvp")
#: A derivation's name: it becomes a module name in generated/.
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

#: How a derivation shows itself in Jupyter, by kind ("latex"): registered by a later stage
#: (symml.report), so that the spec imports no printer.
_RENDERERS: dict[str, Callable] = {}


def register_renderer(kind: str, render: Callable) -> None:
    """Let ``render(derivation) -> str`` display derivations (kind "latex": ``_repr_latex_``)."""
    _RENDERERS[kind] = render


class CatalogError(ValueError):
    """An unknown or malformed derivation."""


@dataclass(eq=False)
class Derivation:
    """A model of the catalog: what it computes and which kernels to emit.

    Args:
        name: the module name, e.g. "logistic_regression".
        loss: a scalar expression.
        params: the tensors optimised over (kernel arguments come first, in this order).
        data: data tensors (next).
        hyper: hyper-parameters, rank 0 (last).
        kernels: which standard kernels to emit.
        extra: further kernels, name → expression (or tuple of expressions); arguments
            are the inputs the expression uses, in params, data, hyper order.
        title: one line for the module header.
        notes: extra docstring text per kernel name.
        domains: name → the set its values live in ("binary", "positive", "spd", "onehot",
            "simplex", "count", "sign", "unit"); verification draws inputs from it.
        doc: the formula and reference (the derivation file's docstring).
        source: the derivation file's stem (set by the catalog when it loads the file).

        The model facts below are read by generic code (optimizers, plots), so that none of
        it keeps a table keyed by model names; a user's own Derivation sets them the same way.

        params_from_solution: ``f(*outputs) -> {param name: array}``, the parameters from the
            outputs of the closed-form kernels (``closed_form``, ``mle``, ``em_step``) where those
            are not the parameters in order: naive Bayes solves for priors π̂ while its loss
            reads logits a = log π̂ (:mod:`symml.reparam` has such maps). Default: the outputs
            are the parameters, in order.
        start: ``f(data, shapes, rng) -> outputs`` (as the closed-form kernels give them, then
            through ``params_from_solution``) or ``{param name: array}``: a start computed from
            the data (``data`` and ``shapes`` by name, ``rng`` a numpy Generator), for EM when
            no ``init`` is given.
        step_size: the hyper-parameter that a ``prox_step`` kernel reads as its step size η
            (``sm.fit(method="prox")`` sets it at every step).
        penalty: the hyper-parameter that weighs the regulariser: what a regularisation path
            varies (default: the only hyper-parameter other than ``step_size``).
        decision: a classifier's decision function, an expression of the parameters, the
            hyper-parameters and one data tensor (the features): scores per row, class 1 where
            positive, or (rows, K) scores for K classes (``sm.plot.decision_boundary``).
    """

    name: str
    loss: Expr
    params: list
    data: list = field(default_factory=list)
    hyper: list = field(default_factory=list)
    kernels: tuple = ("loss", "grad", "value_and_grad")
    extra: dict = field(default_factory=dict)
    title: str = ""
    doc: str = ""
    notes: dict = field(default_factory=dict)
    domains: dict = field(default_factory=dict)
    source: str = ""
    params_from_solution: Callable | None = None
    start: Callable | None = None
    step_size: Tensor | None = None
    penalty: Tensor | None = None
    decision: Expr | None = None

    def __post_init__(self):
        if not NAME.match(self.name or ""):
            raise CatalogError(f"derivation name {self.name!r}: expected lowercase letters, digits and '_'")
        self.loss = as_expr(self.loss)
        if self.loss.ndim != 0:
            raise CatalogError(f"{self.name}: the loss must be a scalar, got shape {fmt_shape(self.loss.shape)}")
        for role in ("params", "data", "hyper"):
            ts = list(getattr(self, role))
            for t in ts:
                if not isinstance(t, Tensor):
                    raise CatalogError(f"{self.name}: {role} must be tensors from sm.tensor/sm.scalar, got {t!r}")
            setattr(self, role, ts)
        for t in self.hyper:
            if t.ndim:
                raise CatalogError(f"{self.name}: hyper-parameter {t.name} must be a scalar")
        unknown = [k for k in self.kernels if k not in STANDARD_KERNELS]
        if unknown:
            raise CatalogError(f"{self.name}: unknown kernel {unknown[0]!r}; standard kernels: {', '.join(STANDARD_KERNELS)}")
        declared = {t.uid for t in self.inputs}
        for t in leaves(self.loss):
            if t.uid not in declared:
                raise CatalogError(f"{self.name}: the loss uses {t.name}, which is not in params, data or hyper")
        self._check_facts(declared)

    def _check_facts(self, declared: set) -> None:
        """The model facts (params_from_solution, start, step_size, penalty, decision) are well formed."""
        for key in ("params_from_solution", "start"):
            if getattr(self, key) is not None and not callable(getattr(self, key)):
                raise CatalogError(f"{self.name}: {key} must be a function, got {type(getattr(self, key)).__name__}")
        hyper = {t.uid for t in self.hyper}
        for key in ("step_size", "penalty"):
            t = getattr(self, key)
            if t is not None and (not isinstance(t, Tensor) or t.uid not in hyper):
                raise CatalogError(f"{self.name}: {key} must be one of the hyper-parameters "
                                   f"({', '.join(h.name for h in self.hyper) or 'none'}), got {t!r}")
        if self.decision is not None:
            self.decision = as_expr(self.decision)
            used = leaves(self.decision)
            for t in used:
                if t.uid not in declared:
                    raise CatalogError(f"{self.name}: the decision function uses {t.name}, which is not in params, "
                                       "data or hyper")
            data = [t for t in used if t in self.data]
            if len(data) != 1 or not data[0].ndim or self.decision.ndim not in (1, 2) \
                    or self.decision.shape[0] != data[0].shape[0]:
                raise CatalogError(f"{self.name}: the decision function must read one data tensor (the features) "
                                   "and give one score, or a row of K scores, per row of it")

    @property
    def penalty_param(self) -> Tensor | None:
        """The hyper-parameter a regularisation path varies: ``penalty``, else the only one other
        than the step size (None when that is not one)."""
        if self.penalty is not None:
            return self.penalty
        rest = [t for t in self.hyper if t is not self.step_size]
        return rest[0] if len(rest) == 1 else None

    def to_params(self, outputs) -> dict | tuple:
        """The parameters from a closed-form kernel's outputs: by name (``params_from_solution``),
        else the outputs themselves, in the order of the parameters."""
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        if self.params_from_solution is None:
            return outputs
        out = self.params_from_solution(*outputs)
        missing = [p.name for p in self.params if not isinstance(out, dict) or p.name not in out]
        if missing:
            raise CatalogError(f"{self.name}: params_from_solution must return every parameter by name; "
                               f"missing {', '.join(missing)}")
        return out

    @property
    def inputs(self) -> list[Tensor]:
        return self.params + self.data + self.hyper

    # -- derived results (each computed once)
    @cached_property
    def grads(self) -> tuple:
        return grad(self.loss, self.params) if len(self.params) > 1 else (grad(self.loss, self.params[0]),)

    @cached_property
    def directions(self) -> list[Tensor]:
        return [Tensor._make((f"v_{p.name}", p.shape), (), p.shape, name=f"v_{p.name}") for p in self.params]

    @cached_property
    def hvps(self) -> tuple:
        if len(self.params) == 1:
            return (hvp(self.loss, self.params[0], self.directions[0]),)
        return hvp(self.loss, self.params, self.directions)

    @cached_property
    def hessian_blocks(self) -> list:
        if len(self.params) == 1:
            return [hessian(self.loss, self.params[0])]
        return [b for row in hessian(self.loss, self.params) for b in row]

    def grad_of(self, param) -> Expr:
        """The gradient with respect to one parameter (a tensor or its name)."""
        for p, g in zip(self.params, self.grads):
            if p is param or p.name == param:
                return g
        raise CatalogError(f"{self.name}: unknown parameter {param!r}; parameters: {', '.join(p.name for p in self.params)}")

    @cached_property
    def sample_split(self) -> SampleSplit | None:
        """The loss as a sum over the rows of its data plus a regulariser, or None (see
        :mod:`symml.decompose`; ``chunk_refusal`` then says why)."""
        split, why = split_rows(self.loss, self.data, self.params + self.hyper)
        if split is None:
            self.chunk_refusal = why
        return split

    def _part_outputs(self, kernel: str, part: Expr) -> list[Expr]:
        """The outputs of a standard kernel for one term of the loss (zero where a parameter is absent)."""
        present = {t.uid for t in leaves(part)}
        ps = [p for p in self.params if p.uid in present]
        pos = {p.uid: i for i, p in enumerate(ps)}
        if kernel == "loss":
            return [part]
        g = grad(part, ps) if ps else ()
        grads = [g[pos[p.uid]] if p.uid in pos else const(0, p.shape) for p in self.params]
        if kernel == "grad":
            return grads
        if kernel == "value_and_grad":
            return [part, *grads]
        if kernel == "hessian":
            h = hessian(part, ps) if ps else []
            return [h[pos[p.uid]][pos[q.uid]] if p.uid in pos and q.uid in pos else const(0, p.shape + q.shape)
                    for p in self.params for q in self.params]
        dirs = {p.uid: v for p, v in zip(self.params, self.directions)}
        hv = hvp(part, ps, [dirs[p.uid] for p in ps]) if ps else ()
        return [hv[pos[p.uid]] if p.uid in pos else const(0, p.shape) for p in self.params]

    # -- kernels
    def kernel_specs(self) -> list[KernelSpec]:
        """The module's kernels: the standard and extra kernels, then (through the planner of
        :mod:`symml.codegen.plan`, which sm.compile shares) the chunk and regulariser kernels
        of the standard ones when the loss is a sum over rows."""
        parts = {k: partial(self._part_outputs, k) for k in STANDARD_KERNELS}
        return plan_kernels(self._kernel_specs(), self.sample_split, self.data, self.hyper, parts)

    def _kernel_specs(self) -> list[KernelSpec]:
        rest = self.data + self.hyper
        specs = []
        single = len(self.params) == 1
        for k in self.kernels:
            if k == "loss":
                specs.append(KernelSpec("loss", self.params + rest, [self.loss], self._doc("loss"), "value"))
            elif k == "grad":
                specs.append(KernelSpec("grad", self.params + rest, list(self.grads), self._doc("grad"),
                                        "value" if single else "tuple"))
            elif k == "value_and_grad":
                specs.append(KernelSpec("value_and_grad", self.params + rest, [self.loss, *self.grads],
                                        self._doc("value_and_grad"), "pair"))
            elif k == "hessian":
                specs.append(KernelSpec("hessian", self.params + rest, self.hessian_blocks, self._doc("hessian"),
                                        "blocks", block_params=list(self.params)))
            elif k == "hvp":
                specs.append(KernelSpec("hvp", self.params + self.directions + rest, list(self.hvps),
                                        self._doc("hvp"), "value" if single else "tuple"))
        order = {t.uid: i for i, t in enumerate(self.inputs)}
        for name, value in self.extra.items():
            if not NAME.match(name) or name in STANDARD_KERNELS:
                raise CatalogError(f"{self.name}: extra kernel name {name!r} must be a new lowercase identifier")
            outs = list(value) if isinstance(value, (tuple, list)) else [value]
            outs = [as_expr(o) for o in outs]
            used = {t.uid for o in outs for t in leaves(o)}
            for uid in used:
                if uid not in order:
                    raise CatalogError(f"{self.name}: extra kernel {name!r} uses an undeclared tensor")
            args = [t for t in self.inputs if t.uid in used]
            specs.append(KernelSpec(name, args, outs, self.notes.get(name, name),
                                    "tuple" if isinstance(value, (tuple, list)) else "value"))
        return specs

    def _doc(self, kernel: str) -> str:
        head = {
            "loss": "The loss L.",
            "grad": "∇L, one array per parameter (" + ", ".join(p.name for p in self.params) + ").",
            "value_and_grad": "(L, ∇L) in one fused pass.",
            "hessian": "∇²L as a square matrix over the parameters, each flattened in row-major (C) order "
                       "and concatenated in the order " + ", ".join(p.name for p in self.params) + ".",
            "hvp": "∇²L·v for directions " + ", ".join(d.name for d in self.directions) + " (shaped like the parameters).",
        }[kernel]
        return head + ("\n\n" + self.notes[kernel] if kernel in self.notes else "")

    def _repr_latex_(self):
        """Jupyter: the loss, the parameters with shapes, gradient and Hessian, the kernels (as
        rendered by symml.report, a later stage, which registers its renderer here)."""
        render = _RENDERERS.get("latex")
        return render(self) if render is not None else None

    def __repr__(self):
        return f"<Derivation {self.name}: params {', '.join(p.name for p in self.params)}; kernels {', '.join(self.kernels)}>"
