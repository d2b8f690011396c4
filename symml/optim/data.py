"""Checking what a user hands to an optimizer: data, hyper-parameters, sizes and a start.

Every check here runs before any kernel is compiled or called, and fails with a one-line
ValueError that names the tensor (and, for NaN, the column):

- data by name (a dict) or in the derivation's order (a sequence); one row per sample in
  every tensor that has the row dimension (compared first, before anything is converted);
- numbers only (ints and bools become float64; complex and object arrays are refused);
  NaN or inf is refused per column, pointing to scikit-learn's SimpleImputer;
- values inside the tensor's declared domain ("binary" labels in {0, 1}, "sign" in {−1, 1},
  "onehot" rows, "count" and "positive"); a 1-D vector of class labels given for a one-hot
  tensor is one-hot encoded (classes 0..K−1, K from sizes= or the largest label);
- hyper-parameters: every one given, finite real numbers, no unknown names.

Takes: a Derivation and user input. Gives: float64 arrays, floats and the bound sizes.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..catalog import Derivation
from ..evaluate import bind_dims, size_of
from ..nodes import Dim


def one_hot(labels, K: int | None = None) -> np.ndarray:
    """Class labels 0..K−1 (n,) as a one-hot matrix (n, K).

    >>> one_hot([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    """
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels: expected a vector of class labels (n,), got shape {y.shape}")
    if y.size and (y.dtype.kind not in "biuf" or not np.all(np.isfinite(y)) or np.any(y != np.round(y))
                   or y.min() < 0):
        raise ValueError("labels: expected class labels 0, 1, ..., K-1 (integers)")
    y = y.astype(np.int64)
    K = int(y.max()) + 1 if K is None else int(K)
    if y.size and y.max() >= K:
        raise ValueError(f"labels: label {int(y.max())} is out of range for K = {K} classes")
    out = np.zeros((y.shape[0], K))
    out[np.arange(y.shape[0]), y] = 1.0
    return out


def _as_dict(d: Derivation, data, what: str, tensors) -> dict:
    names = [t.name for t in tensors]
    if data is None:
        data = {}
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"{d.name}: unknown {what} {unknown[0]!r}; expected {', '.join(names) or 'none'}")
        missing = [k for k in names if k not in data]
        if missing:
            t = tensors[names.index(missing[0])]
            shape = "()" if not t.ndim else "(" + ", ".join(map(str, t.shape)) + ("," if t.ndim == 1 else "") + ")"
            raise ValueError(f"{d.name}: missing {what} {missing[0]!r} of shape {shape}; expected {', '.join(names)}")
        return dict(data)
    if isinstance(data, np.ndarray) or not hasattr(data, "__len__"):
        data = (data,)
    if len(data) != len(names):
        raise ValueError(f"{d.name}: expected {len(names)} {what} tensors ({', '.join(names) or 'none'}), "
                         f"got {len(data)}")
    return dict(zip(names, data))


def _check_rows(d: Derivation, given: dict) -> None:
    """Mismatched numbers of rows, found from the shapes alone (nothing is converted yet): data
    tensors whose axis 0 is the same dimension must agree on it."""
    seen: dict = {}
    for t in d.data:
        if not t.ndim:
            continue
        row = t.shape[0]
        shape = np.shape(given[t.name])
        if not shape:
            raise ValueError(f"{t.name}: expected an array with {row} rows, got a scalar")
        if row not in seen:
            seen[row] = (t.name, shape[0])
        elif shape[0] != seen[row][1]:
            first, count = seen[row]
            raise ValueError(f"{first} has {count} rows but {t.name} has {shape[0]}: every data tensor "
                             f"needs one row per sample (dimension {row})")


def _float_array(name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected real numbers, got an array of dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _check_finite(name: str, a: np.ndarray, columns=None) -> None:
    if np.isfinite(np.sum(a)) or np.all(np.isfinite(a)):
        return
    bad = ~np.isfinite(a)
    if a.ndim >= 2:
        flat = bad.reshape(a.shape[0], -1)
        col = int(np.flatnonzero(flat.any(axis=0))[0])
        label = f" ({columns[col]!r})" if columns is not None and col < len(columns) else ""
        raise ValueError(f"{name}: column {col}{label} contains NaN or inf in {int(flat[:, col].sum())} of "
                         f"{a.shape[0]} rows; impute it first (sklearn.impute.SimpleImputer) or drop those rows")
    raise ValueError(f"{name}: contains NaN or inf in {int(bad.sum())} of {a.size} entries; "
                     "impute or drop those rows first")


def _check_domain(d: Derivation, name: str, a: np.ndarray) -> None:
    kind = d.domains.get(name)
    bad = None
    if kind == "binary" and not np.all((a == 0) | (a == 1)):
        bad = "labels in {0, 1}"
    elif kind == "sign" and not np.all((a == -1) | (a == 1)):
        bad = "labels in {-1, +1}"
    elif kind == "onehot" and not (np.all((a == 0) | (a == 1)) and np.all(a.sum(axis=-1) == 1)):
        bad = "one-hot rows (or a vector of class labels 0..K-1)"
    elif kind == "count" and np.any(a < 0):
        bad = "non-negative counts"
    elif kind == "positive" and np.any(a <= 0):
        bad = "positive values"
    if bad:
        raise ValueError(f"{name}: {d.name} expects {bad} (domain {kind!r})")


def check_data(d: Derivation, data, sizes: dict | None = None, columns=None) -> tuple[list[np.ndarray], dict]:
    """The data as float64 C-contiguous arrays in the derivation's order, and the sizes {Dim: int}."""
    given = _as_dict(d, data, "data", d.data)
    _check_rows(d, given)
    arrays = {}
    for t in d.data:
        a = np.asarray(given[t.name])
        if d.domains.get(t.name) == "onehot" and t.ndim == 2 and a.ndim == 1:
            K = (sizes or {}).get(str(t.shape[1]))
            a = one_hot(a, K)
        a = _float_array(t.name, a)
        _check_finite(t.name, a, columns if t is d.data[0] else None)
        _check_domain(d, t.name, a)
        arrays[t.name] = a
    env = bind_dims(d.data, arrays, dims=None) if d.data else {}
    for k, v in (sizes or {}).items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"sizes: {k} must be a positive int, got {v!r}")
        key = Dim(str(k))
        if key in env and int(env[key]) != int(v):
            raise ValueError(f"sizes: {k} = {v}, but the data have {k} = {int(env[key])}")
        env[key] = int(v)
    return [arrays[t.name] for t in d.data], env


def check_hyper(d: Derivation, hyper) -> np.ndarray:
    """The hyper-parameters as a float64 vector in the derivation's order."""
    given = _as_dict(d, hyper, "hyper-parameter", d.hyper) if d.hyper or hyper else {}
    out = []
    for t in d.hyper:
        v = given[t.name]
        if isinstance(v, (bool, np.bool_, complex, np.complexfloating)) or np.ndim(v) != 0:
            raise ValueError(f"{t.name}: expected a real number, got {v!r}")
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{t.name}: expected a real number, got {type(v).__name__}") from None
        if not np.isfinite(v):
            raise ValueError(f"{t.name}: expected a finite number, got {v}")
        out.append(v)
    return np.array(out, dtype=np.float64)


def param_shapes(d: Derivation, env: dict, init: Mapping | None = None) -> list[tuple]:
    """Every parameter's shape from the sizes bound by the data, sizes= and an init."""
    env = dict(env)
    for p in d.params:
        if init is not None and p.name in init:
            a = np.shape(init[p.name])
            if len(a) != p.ndim:
                raise ValueError(f"init {p.name}: expected rank {p.ndim}, got shape {a}")
            for s, actual in zip(p.shape, a):
                if isinstance(s, Dim):
                    if s in env and int(env[s]) != actual:
                        raise ValueError(f"init {p.name}: shape {a} gives {s} = {actual}, but the data or "
                                         f"sizes give {s} = {int(env[s])}")
                    env[s] = actual
    shapes = []
    for p in d.params:
        free = sorted({str(s) for x in p.shape for s in getattr(x, "free_symbols", ()) if s not in env})
        if free:
            raise ValueError(f"{d.name}: the data do not fix the size {', '.join(free)} of parameter {p.name}; "
                             f"pass sizes={{{', '.join(repr(f) + ': ...' for f in free)}}} or init=")
        shape = tuple(size_of(x, env) for x in p.shape)
        if any(s < 1 for s in shape):
            raise ValueError(f"{d.name}: parameter {p.name} would have shape {shape}; check the sizes")
        shapes.append(shape)
    return shapes


def default_init(d: Derivation, shapes: list[tuple], seed: int) -> list[np.ndarray]:
    """A starting point: zeros, except where zeros would be a bad start.

    - a parameter with domain "positive" starts at ones, or at identity matrices when its last
      two sizes are equal (a stack of precision factors);
    - a parameter of rank ≥ 2 (a weight matrix, e.g. of an MLP, whose zero is a saddle point)
      starts at Glorot-normal values N(0, 2/(fan_in + fan_out)), seeded;
    - anything else (vectors, intercepts) starts at zero.
    """
    rng = np.random.default_rng(seed)
    out = []
    for p, shape in zip(d.params, shapes):
        if d.domains.get(p.name) == "positive":
            a = np.ones(shape)
            if len(shape) >= 2 and shape[-1] == shape[-2]:
                a = np.broadcast_to(np.eye(shape[-1]), shape).copy()
        elif len(shape) >= 2:
            a = rng.normal(scale=np.sqrt(2.0 / (shape[0] + shape[-1])), size=shape)
        else:
            a = np.zeros(shape)
        out.append(a)
    return out
