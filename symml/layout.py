"""The flat parameter vector θ: one layout for the optimizers, the scipy adapters and codegen.

θ (p,) holds a model's parameters flattened row-major (C order) and concatenated in the
derivation's order: θ = [vec(W); c]. A :class:`FlatLayout` is that fact as an object, with
the parameters' names and shapes:

- with symbolic shapes (:meth:`FlatLayout.of` the parameter tensors), codegen spells its
  sizes into the ``_unpack`` of a generated module's scipy adapters (``fun``, ``jac``, …);
- with shapes bound to numbers, :class:`symml.optim.Problem` packs and unpacks θ with it,
  and :mod:`symml.optim.adapters` hands its int64 :meth:`~FlatLayout.array` to the jitted loops.

>>> import symml as sm
>>> d, K = sm.dims("d K")
>>> lay = FlatLayout.of([sm.tensor("W", (d, K)), sm.tensor("c", (K,))])
>>> lay.doc, lay.describe(), lay.size
('θ = [vec(W); c]', 'W (d, K); c (K,)', K*d + K)
>>> num = lay.bind({d: 2, K: 3})
>>> num.array()
[0, 6, 9, 2, 3, 3]
>>> num.unpack(num.pack({"W": [[1, 2, 3], [4, 5, 6]], "c": [7, 8, 9]}))["c"]
array([7., 8., 9.])

Takes: parameter tensors, or names and shapes. Gives: offsets, sizes, pack and unpack.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from .sizes import fmt_shape

__all__ = ["FlatLayout"]


def _count(shape: tuple):
    """The number of entries of a shape: an int for numbers, a SymPy expression otherwise."""
    if all(isinstance(s, (int, np.integer)) or (isinstance(s, sp.Integer)) for s in shape):
        out = 1
        for s in shape:
            out *= int(s)
        return out
    return sp.Mul(*shape)


@dataclass(frozen=True)
class FlatLayout:
    """θ = [vec(p₁); vec(p₂); …]: parameters flattened row-major and concatenated in order.

    Attributes:
        names: the parameters' names, in order.
        shapes: their shapes: tuples of ints, or of symbolic sizes (dimension symbols).
        ranks: their ranks (taken from the tensors, or the shapes' lengths).
    """

    names: tuple
    shapes: tuple

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "shapes", tuple(tuple(s) for s in self.shapes))
        if len(self.names) != len(self.shapes):
            raise ValueError(f"FlatLayout: {len(self.names)} names for {len(self.shapes)} shapes")

    @classmethod
    def of(cls, params) -> "FlatLayout":
        """The layout of parameter tensors, with their symbolic shapes."""
        return cls(tuple(p.name for p in params), tuple(tuple(p.shape) for p in params))

    def bind(self, sizes: dict) -> "FlatLayout":
        """The same layout with its dimensions bound to numbers ({Dim: int})."""
        subs = {k: int(v) for k, v in sizes.items()}
        shapes = []
        for shape in self.shapes:
            bound = [sp.sympify(s).subs(subs) for s in shape]
            if any(not b.is_Integer for b in bound):
                free = sorted({str(x) for b in bound for x in b.free_symbols})
                raise ValueError(f"FlatLayout: no size given for {', '.join(free)}")
            shapes.append(tuple(int(b) for b in bound))
        return FlatLayout(self.names, tuple(shapes))

    # -- sizes
    @property
    def ranks(self) -> tuple:
        return tuple(len(s) for s in self.shapes)

    @property
    def counts(self) -> tuple:
        """The number of entries of each parameter (1 for a scalar)."""
        return tuple(_count(s) for s in self.shapes)

    @property
    def offsets(self) -> tuple:
        """P + 1 offsets into θ: parameter i is θ[offsets[i]:offsets[i + 1]]."""
        out, at = [0], 0
        for c in self.counts:
            at = at + c
            out.append(at)
        return tuple(out)

    @property
    def size(self):
        """The length of θ (an int, or a SymPy expression for symbolic shapes)."""
        return self.offsets[-1]

    def dims(self) -> set:
        """The dimension symbols the shapes use (none once bound)."""
        return {x for s in self.shapes for e in s for x in sp.sympify(e).free_symbols}

    def array(self) -> list[int]:
        """The int64 layout the jitted adapters read: P + 1 offsets, then every parameter's shape."""
        if self.dims():
            raise ValueError("FlatLayout.array: the shapes are symbolic; bind them to numbers first")
        return [int(o) for o in self.offsets] + [int(x) for s in self.shapes for x in s]

    # -- words
    @property
    def doc(self) -> str:
        """θ as a reader writes it: "θ = [vec(W); c]"."""
        return "θ = [" + "; ".join(f"vec({k})" if len(s) > 1 else k for k, s in zip(self.names, self.shapes)) + "]"

    def describe(self) -> str:
        """The parameters with their shapes: "W (d, K); c (K,)"."""
        return "; ".join(f"{k} {fmt_shape(s)}" for k, s in zip(self.names, self.shapes))

    def entry_names(self) -> list[str]:
        """One name per entry of θ, in order: "w[0]", "w[1]", "b" (bound shapes only)."""
        return [k if not s else f"{k}[{', '.join(map(str, idx))}]"
                for k, s in zip(self.names, self.shapes) for idx in (np.ndindex(*s) if s else [()])]

    # -- numbers
    def pack(self, parts) -> np.ndarray:
        """θ from the parameters (a dict by name or a sequence in order)."""
        if isinstance(parts, dict):
            parts = [parts[k] for k in self.names]
        parts = list(parts)
        if not parts:
            return np.zeros(0)
        return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts])

    def unpack(self, theta) -> dict:
        """The parameters by name: arrays shaped as declared, floats for scalars (copies)."""
        theta = np.asarray(theta, dtype=np.float64)
        at, out = self.offsets, {}
        for i, (k, shape) in enumerate(zip(self.names, self.shapes)):
            part = theta[at[i]:at[i + 1]]
            out[k] = float(part[0]) if shape == () else part.reshape(shape).copy()
        return out

    def start(self, init, defaults) -> np.ndarray:
        """θ to start a fit from: ``init`` as parameters by name (those not given from
        ``defaults``, one array per parameter in order), a flat θ, or None (the defaults);
        ValueError, saying what was expected, for an unknown name, a wrong shape or length,
        NaN or inf."""
        if init is None:
            theta = self.pack(defaults)
        elif isinstance(init, dict):
            unknown = sorted(set(init) - set(self.names))
            if unknown:
                raise ValueError(f"init: unknown parameter {unknown[0]!r}; parameters: {', '.join(self.names)}")
            parts = [init.get(k, b) for k, b in zip(self.names, defaults)]
            for k, part, shape in zip(self.names, parts, self.shapes):
                if np.shape(part) != tuple(shape):
                    raise ValueError(f"init {k}: expected shape {tuple(shape)}, got {np.shape(part)}")
            theta = self.pack(parts)
        else:
            theta = np.array(init, dtype=np.float64).ravel()
            if theta.shape[0] != self.size:
                raise ValueError(f"init: expected a flat θ of length {self.size}, got {theta.shape[0]}")
        if not np.all(np.isfinite(theta)):
            raise ValueError("init: contains NaN or inf")
        return theta
