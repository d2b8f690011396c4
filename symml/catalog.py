"""The catalog: derivation specs, ``sm.load``/``sm.catalog``, and generation of generated/.

A derivation file in derivations/ states a model's mathematics and ends with one
declarative ``Derivation(...)``: the loss, its parameters, data and hyper-parameters,
and the kernels to emit. This module derives the requested results (through
:mod:`symml.calculus`), names the kernels with the fixed vocabulary (``loss``, ``grad``,
``value_and_grad``, ``hessian``, ``hvp``, plus named extras) and writes each module
atomically. A module's header carries a hash of its inputs; identical input gives
identical bytes.

Takes: derivation modules. Gives: generated kernel modules and their text.
"""
from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import sympy as sp

from . import __version__
from .calculus import grad, hessian, hvp
from .codegen import CODEGEN_VERSION, KernelSpec, module_source, write_atomic
from .codegen.module import Chunking, flat_source, is_sealed, seal
from .decompose import NotDecomposable, SampleSplit, split_samples
from .nodes import Expr, Tensor, as_expr, const, fmt_shape, is_zero, leaves

ROOT = Path(__file__).resolve().parent.parent
DERIVATIONS = ROOT / "derivations"
GENERATED = ROOT / "generated"
STANDARD_KERNELS = ("loss", "grad", "value_and_grad", "hessian", "hvp")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


#: Emitted into every generated module right after its imports (stdlib only, imported inside the
#: functions): the module refuses to run if its text is not what symml wrote, and warns if its
#: derivation changed since. CRLF line ends (a Windows checkout) hash as LF.
INTEGRITY = '''
def _verify_source(path):
    """ImportError if this file's text does not match SYMML_SOURCE_HASH on its last line."""
    import hashlib
    import os

    if not (isinstance(path, str) and path.endswith(".py") and os.path.exists(path)):
        return  # run from bytecode or an archive: there is no text to compare
    with open(path, "rb") as f:
        text = f.read().replace(b"\\r\\n", b"\\n")
    body, sep, seal = text.rpartition(b"\\nSYMML_SOURCE_HASH = '")
    if not sep or hashlib.sha256(body + b"\\n").hexdigest().encode() + b"'\\n" != seal:  # nothing after it
        name = os.path.splitext(os.path.basename(path))[0]
        raise ImportError(f"{path} is truncated or was edited after generation (its text does not match the "
                          f"hash on its last line); regenerate it with `symml generate {name}`")


_verify_source(__file__)


def _warn_if_stale(path, derivation, digest):
    """A warning if the derivation this module was generated from has changed since."""
    import hashlib
    import os
    import warnings

    source = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(path))), derivation)
    if os.path.exists(source):
        with open(source, "rb") as f:
            if hashlib.sha256(f.read().replace(b"\\r\\n", b"\\n")).hexdigest() != digest:
                name = os.path.splitext(os.path.basename(path))[0]
                warnings.warn(f"{path} is stale: {derivation} changed after it was generated; "
                              f"regenerate it with `symml generate {name}`", stacklevel=2)
'''


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

    def __post_init__(self):
        if not _NAME.match(self.name or ""):
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
        try:
            return split_samples(self.loss, self.data, self.params + self.hyper)
        except NotDecomposable as e:
            self.chunk_refusal = str(e)
            return None

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

    def _chunk_specs(self, spec: KernelSpec) -> list[KernelSpec]:
        """``spec`` rebuilt as chunk + regulariser: [chunk spec, regulariser spec, composed spec]."""
        sp_ = self.sample_split
        k = spec.name
        zero = const(0)
        reg = sp_.reg_term if sp_.reg_term is not None else zero
        lead = self.params + (self.directions if k == "hvp" else [])
        fixed = [t for t in self.data if t not in sp_.rows]
        used_s = {t.uid for t in leaves(sp_.data_term)}
        used_r = {t.uid for t in leaves(reg)}
        reg_args = lead + [t for t in fixed + self.hyper if t.uid in used_r] + [sp_.n_total]
        if sp_.reg_term is None:
            reg_args = [sp_.n_total]
        chunk_args = [t for t in spec.args if t not in self.hyper or t.uid in used_s] + [sp_.n_total]
        chunk = KernelSpec(
            f"{k}_chunk", chunk_args, self._part_outputs(k, sp_.data_term),
            f"Partial sums of {k} over one block of rows, without the regulariser.\n\n"
            f"Sum it over blocks that partition the rows of {', '.join(t.name for t in sp_.rows)} and pass the "
            f"total to {k}_finish. {sp_.n_total.name} is the number of rows over all blocks.",
            spec.layout, spec.block_params, rows=tuple(t.name for t in sp_.rows))
        if sp_.reg_term is None:  # nothing to add: the kernel is its chunk kernel over all rows
            spec.compose = Chunking(chunk.name, None, sp_.n_total, sp_.rows[0], chunk_args, reg_args, [])
            return [spec, chunk]
        reg_outs = self._part_outputs(k, reg)
        regs = KernelSpec(f"{k}_reg", reg_args, reg_outs,
                          f"The regulariser's part of {k} (the terms that read no row of the data).",
                          spec.layout, spec.block_params, twin=False)
        add = [not is_zero(o) for o in reg_outs]
        spec.compose = Chunking(chunk.name, regs.name, sp_.n_total, sp_.rows[0], chunk_args, reg_args, add)
        return [spec, chunk, regs]

    # -- kernels
    def kernel_specs(self) -> list[KernelSpec]:
        specs = self._kernel_specs()
        if self.sample_split is None:
            return specs
        parts = []  # chunk and regulariser kernels, after the kernels users call first
        for spec in specs:
            if spec.name in STANDARD_KERNELS:
                parts += self._chunk_specs(spec)[1:]
        return specs + parts

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
            if not _NAME.match(name) or name in STANDARD_KERNELS:
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
        """Jupyter: the loss, the parameters with shapes, gradient and Hessian, the kernels."""
        from .report.display import derivation_latex

        return derivation_latex(self)

    def __repr__(self):
        return f"<Derivation {self.name}: params {', '.join(p.name for p in self.params)}; kernels {', '.join(self.kernels)}>"


# --------------------------------------------------------------------------- catalog


def _module_stems() -> list[str]:
    return sorted(p.stem for p in DERIVATIONS.glob("*.py") if _NAME.match(p.stem))


def _derivations_of(stem: str) -> list[Derivation]:
    """The derivations a file defines: ``derivation``, or a list ``derivations`` of variants."""
    module = importlib.import_module(f"derivations.{stem}")
    found = getattr(module, "derivations", None)
    if found is None:
        found = [getattr(module, "derivation", None)]
    for d in found:
        if not isinstance(d, Derivation):
            raise CatalogError(f"derivations/{stem}.py must define `derivation = sm.Derivation(...)` "
                               "or a list `derivations` of them")
        if not d.doc:
            d.doc = (module.__doc__ or "").strip()
        d.source = stem
    return list(found)


_INDEX: dict[str, str] = {}


def _index() -> dict[str, str]:
    """derivation name → the file (stem) that defines it."""
    if not _INDEX:
        for stem in _module_stems():
            for d in _derivations_of(stem):
                if d.name in _INDEX:
                    raise CatalogError(f"derivation {d.name!r} is defined twice")
                _INDEX[d.name] = stem
    return _INDEX


def catalog() -> list[str]:
    """The names of the catalog's derivations (a file may define several variants)."""
    return sorted(_index())


def load(name: str) -> Derivation:
    """The derivation called ``name``, defined in derivations/."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise CatalogError(f"invalid derivation name {name!r}: expected lowercase letters, digits and '_'")
    stem = _index().get(name)
    if stem is None:
        raise CatalogError(f"unknown derivation {name!r}; the catalog has: {', '.join(catalog())}")
    for d in _derivations_of(stem):
        if d.name == name:
            return d
    raise CatalogError(f"derivation {name!r} vanished from derivations/{stem}.py")  # pragma: no cover


def input_hash(name: str) -> str:
    """SHA-256 of what a generated module is a function of."""
    h = hashlib.sha256()
    h.update((DERIVATIONS / f"{_index()[name]}.py").read_bytes())
    h.update(f"symml={__version__};codegen={CODEGEN_VERSION};sympy={sp.__version__}".encode())
    return h.hexdigest()


def generated_source(name: str) -> str:
    """The text of generated/<name>.py, computed in memory."""
    d = load(name)
    first = d.doc.strip().splitlines()[0] if d.doc.strip() else d.title
    header = (
        f"{name}: {d.title or first}\n\n"
        f"Generated by symml {__version__} (codegen {CODEGEN_VERSION}, SymPy {sp.__version__}) from "
        f"derivations/{d.source}.py. Do not edit: regenerate with `symml generate {name}`.\n"
        f"Input hash: sha256:{input_hash(name)}\n\n"
        f"Kernels take (params..., data..., hyper...): "
        + ", ".join(f"{t.name} {fmt_shape(t.shape)}" for t in d.inputs)
    )
    flat = flat_source(d.params, d.data + d.hyper, list(d.kernels))
    text = module_source(header, d.kernel_specs())
    if flat:
        names = ["fun", "jac"] + [k for k, m in (("hess", "hessian"), ("hessp", "hvp")) if m in d.kernels]
        text = re.sub(r"^(__all__ = \[.*)\]$", lambda m: m.group(1) + ", " + ", ".join(repr(x) for x in names) + "]",
                      text, count=1, flags=re.M)
        text += "\n\n# scipy.optimize adapters over one flat parameter vector\n\n" + flat
    text = re.sub(r"^(__all__ = \[.*\])$", lambda m: m.group(1) + "\n\n\n" + _chunk_header(d), text, count=1,
                  flags=re.M)
    text = re.sub(r"^(from numba import [\w, ]+\n)", lambda m: m.group(1) + "\n\n" + INTEGRITY.strip() + "\n", text,
                  count=1, flags=re.M)
    rel = f"derivations/{d.source}.py"
    digest = hashlib.sha256((DERIVATIONS / f"{d.source}.py").read_bytes().replace(b"\r\n", b"\n")).hexdigest()
    text += (f"\n\nSYMML_INPUT_HASH = {input_hash(name)!r}\n"
             f"_warn_if_stale(__file__, {rel!r}, {digest!r})\n")
    return seal(text)


def _chunk_header(d: Derivation) -> str:
    """Module constants that say which kernels have a chunk form (read by symml.dask)."""
    sp_ = d.sample_split
    if sp_ is None:
        return (f"# No chunk kernels: {getattr(d, 'chunk_refusal', 'not a sum over samples')}.\n"
                "SAMPLE_DIM = None\nROW_ARGS = ()\nCHUNKED = ()")
    chunked = tuple(k for k in d.kernels if k in STANDARD_KERNELS)
    return ("# The loss is a sum over the rows of ROW_ARGS (axis 0, dimension SAMPLE_DIM) plus a regulariser:\n"
            "# each kernel K in CHUNKED has K_chunk (partial sums over a block of rows), K_reg and K_finish.\n"
            f"SAMPLE_DIM = {str(sp_.dim)!r}\nROW_ARGS = {tuple(t.name for t in sp_.rows)!r}\n"
            f"N_TOTAL = {sp_.n_total.name!r}\nCHUNKED = {chunked!r}")


def _whole(text: str) -> bool:
    """Sealed and intact, or complete in the format before seals (it ends with its input hash)."""
    return is_sealed(text) or re.search(r"\nSYMML_INPUT_HASH = '[0-9a-f]{64}'\n\Z", text) is not None


def generate(names=None, check: bool = False, out_dir: Path | None = None) -> list[tuple[str, str]]:
    """Write (or, with check, compare) generated modules. Returns [(name, status)].

    Status is "written", "unchanged", "stale" (its derivation or symml changed), "corrupt"
    (truncated or edited by hand: its text does not match its own hash) or "missing".
    """
    out_dir = Path(out_dir) if out_dir else GENERATED
    names = list(names) if names else catalog()
    results = []
    for name in names:
        text = generated_source(name)
        path = out_dir / f"{name}.py"
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old == text:
            results.append((name, "unchanged"))
        elif check:
            results.append((name, "missing" if old is None else "stale" if _whole(old) else "corrupt"))
        else:
            write_atomic(path, text)
            results.append((name, "written"))
    return results
