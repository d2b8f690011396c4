"""symml.dask: a catalog model's kernels over Dask arrays chunked along rows.

A loss that is a sum over rows plus a regulariser (``CHUNKED`` in its generated module)
has chunk kernels: ``K_chunk`` gives the partial sums of kernel K over one block of rows,
``K_finish`` adds the regulariser once. Here each block of the row-chunked data runs
``K_chunk`` in a Dask task (the numba kernel, on the worker that holds the block), the
partial results are added by a tree reduction (``split_every`` at a time), and the client
calls ``K_finish``. The data never travel to the client; only parameters go out and
d-sized (or d²-sized) partial sums come back.

    >>> import numpy as np, dask.array as da
    >>> from symml import dask as smd
    >>> X = da.from_array(np.arange(12.0).reshape(6, 2) / 10, chunks=(2, 2))
    >>> y = da.from_array(np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0]), chunks=2)
    >>> v, (gw, gb) = smd.value_and_grad("logistic_regression", np.zeros(2), 0.0, X, y, 1.0)
    >>> bool(abs(float(v) - 6 * np.log(2)) < 1e-12)
    True

``fit`` runs L-BFGS-B, Newton-CG or Newton with these distributed kernels, or mini-batch
SGD that samples one block per step. ``sm.fit`` sends dask data here.

Needs the ``dask`` extra: ``pip install "symml[dask]"`` (dask[array] and distributed).

Takes: a catalog model name (or Derivation, or generated module), dask arrays chunked by
rows, parameters and hyper-parameters. Gives: numpy results equal to the in-memory kernels.
"""
from __future__ import annotations

import importlib
import inspect
import time
from types import ModuleType

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as e:  # pragma: no cover - the extra is missing
    raise ImportError("symml.dask needs Dask: pip install 'symml[dask]' (dask[array] and distributed)") from e

from .catalog import Derivation
from .evaluate import BindError, bind_dims
from .optim.methods import METHODS, check_options
from .optim.problem import Problem, kernel_module, resolve
from .optim.result import make_result

KERNELS = ("loss", "grad", "value_and_grad", "hessian", "hvp")


# --------------------------------------------------------------------------- worker side


def _chunk_call(module: str, fn: str, args: dict):
    """Run one chunk kernel on a worker (the module is imported there by name)."""
    kernel = getattr(importlib.import_module(module), fn)
    # Dask's workers are the parallelism: numba's threads in every worker would fight over the
    # cores (measured: OpenMP threads spinning in two workers turned 1 ms calls into 250 ms)
    extra = {"parallel": False} if "parallel" in inspect.signature(kernel).parameters else {}
    return kernel(**args, **extra)


def _add_parts(*parts):
    """The sum of results of one layout (numbers, arrays, tuples of them)."""
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(_add_parts(*xs) for xs in zip(*parts))
    total = first
    for p in parts[1:]:
        total = total + p
    return total


def _join_parts(per_row, *parts):
    """Results of consecutive blocks of rows: summed, except at the indices ``per_row`` (outputs
    with one row per row of the data), where they are put one after another."""
    return tuple(np.concatenate([p[j] for p in parts]) if j in per_row else _add_parts(*[p[j] for p in parts])
                 for j in range(len(parts[0])))


def _scale(part, s: float):
    return tuple(_scale(x, s) for x in part) if isinstance(part, tuple) else part * s


# --------------------------------------------------------------------------- client side


def _module_of(model) -> tuple[ModuleType, Derivation]:
    if isinstance(model, ModuleType):
        name = model.__name__.rpartition(".")[2]
        return model, resolve(name)
    d = resolve(model)
    mod = kernel_module(d)
    if mod is None:
        raise ValueError(f"{d.name}: symml.dask runs catalog models (generated modules); this derivation has none")
    return mod, d


def _params_of(fn) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p not in ("check_finite", "parallel")]


def _stand_in(a):
    """A zero-memory numpy array of a's shape and dtype (shape checks without computing a)."""
    return np.broadcast_to(np.zeros((), dtype=a.dtype), a.shape)


def _row_arrays(mod, values: dict, d: Derivation) -> dict:
    """The row-chunked data as dask arrays with one chunk across the other axes, aligned by rows."""
    out = {}
    for name in mod.ROW_ARGS:
        a = values[name]
        if isinstance(a, np.ndarray):
            a = da.asarray(a)
        if not isinstance(a, da.Array):
            raise ValueError(f"{name}: expected a dask array chunked along rows, got {type(a).__name__}")
        if any(np.isnan(s) for s in a.shape):
            raise ValueError(f"{name}: its number of rows is unknown (chunk sizes are NaN); "
                             f"call {name}.compute_chunk_sizes() first")
        if a.dtype.kind not in "fiu":
            raise ValueError(f"{name}: expected a float array, got dtype {a.dtype}")
        out[name] = a
    first = out[mod.ROW_ARGS[0]]
    rows = first.chunks[0] if first.ndim else ()
    for name, a in out.items():
        if a.shape[:1] != first.shape[:1]:
            raise ValueError(f"{name}: expected {first.shape[0]} rows (from {mod.ROW_ARGS[0]}), got {a.shape[0]}")
        spec = {0: rows, **{ax: -1 for ax in range(1, a.ndim)}}
        if a.chunks[0] != rows or any(len(c) > 1 for c in a.chunks[1:]):
            a = a.rechunk(spec)
        out[name] = a
    return out


def _bind(mod, d: Derivation, kernel: str, args, kwargs) -> dict:
    """The kernel's arguments by name, checked against each other from their shapes alone."""
    fn = getattr(mod, kernel)
    names = _params_of(fn)
    if len(args) > len(names):
        raise TypeError(f"{kernel}: expected at most {len(names)} arguments ({', '.join(names)}), got {len(args)}")
    values = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in names:
            raise TypeError(f"{kernel}: unknown argument {k!r}; arguments: {', '.join(names)}")
        if k in values:
            raise TypeError(f"{kernel}: argument {k!r} given twice")
        values[k] = v
    missing = [k for k in names if k not in values]
    if missing:
        raise TypeError(f"{kernel}: missing argument {missing[0]!r}; arguments: {', '.join(names)}")
    rows = _row_arrays(mod, values, d)
    values.update(rows)
    shapes = {k: (_stand_in(v) if k in rows else np.asarray(v)) for k, v in values.items()}
    inputs = [t for t in d.inputs if t.name in shapes] + [t for t in d.directions if t.name in shapes]
    inputs.sort(key=lambda t: -t.ndim)  # sizes come from the data first: "w: expected (d,) = (3,)"
    try:
        bind_dims(inputs, {t.name: shapes[t.name] for t in inputs})
    except BindError as e:
        raise ValueError(str(e)) from None
    return values


def run(model, kernel: str, *args, client=None, split_every: int = 8, **kwargs):
    """Kernel ``kernel`` of a catalog model over dask arrays chunked along rows.

    Args:
        model: a catalog name, a catalog Derivation or its generated module.
        kernel: one of the module's CHUNKED kernels (loss, grad, value_and_grad, hessian, hvp).
        *args, **kwargs: the kernel's arguments, as for the in-memory kernel; the row data
            (the module's ROW_ARGS) as dask arrays (numpy arrays are accepted as one block).
        client: a dask.distributed Client; default: Dask's current scheduler (the default
            client if one exists).
        split_every: how many partial results one reduction task adds.

    Returns:
        What the in-memory kernel returns, to rounding (the sums are added in another order).
    """
    mod, d = _module_of(model)
    if kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {', '.join(KERNELS)}, got {kernel!r}")
    if kernel not in getattr(mod, "CHUNKED", ()):
        why = "it does not emit it" if kernel not in d.kernels else "its loss is not a sum over rows"
        raise ValueError(f"{d.name}: {kernel} has no chunk form ({why}); chunked kernels: "
                         f"{', '.join(getattr(mod, 'CHUNKED', ())) or 'none'}")
    if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
        raise ValueError(f"split_every: expected an int ≥ 2, got {split_every!r}")
    return _compute(mod, kernel, _bind(mod, d, kernel, args, kwargs), client, split_every)


def _n_total(mod, values) -> float:
    return float(values[mod.ROW_ARGS[0]].shape[0])


def _partials(mod, kernel: str, values: dict, blocks=None) -> list:
    """One delayed chunk-kernel call per block of rows (all blocks, or the given indices)."""
    fn = f"{kernel}_chunk"
    names = _params_of(getattr(mod, fn))
    small = {k: values[k] for k in names if k not in mod.ROW_ARGS and k != mod.N_TOTAL}
    small = {k: (dask.delayed(v) if isinstance(v, np.ndarray) and v.size > 64 else v) for k, v in small.items()}
    small[mod.N_TOTAL] = _n_total(mod, values)
    pieces = {k: values[k].to_delayed().ravel() for k in mod.ROW_ARGS if k in names}
    count = len(next(iter(pieces.values())))
    call = dask.delayed(_chunk_call, pure=True)
    return [call(mod.__name__, fn, {**small, **{k: p[i] for k, p in pieces.items()}})
            for i in (range(count) if blocks is None else blocks)]


def _reduce(mod, kernel, values, split_every):
    parts = _partials(mod, kernel, values)
    add = dask.delayed(_add_parts, pure=True)
    while len(parts) > 1:
        parts = [add(*parts[i:i + split_every]) if len(parts[i:i + split_every]) > 1 else parts[i]
                 for i in range(0, len(parts), split_every)]
    return parts[0]


def _compute(mod, kernel, values, client, split_every):
    """Chunk tasks, tree reduction, then the finish step on this process."""
    total = _reduce(mod, kernel, values, split_every)
    total = client.compute(total).result() if client is not None else total.compute()
    return _finish(mod, kernel, values, total)


def _finish(mod, kernel, values, total):
    fin = getattr(mod, f"{kernel}_finish")
    names = _params_of(fin)[1:]
    args = {k: (_n_total(mod, values) if k == mod.N_TOTAL else values[k]) for k in names}
    return fin(total, *args.values())


def loss(model, *args, **kwargs):
    """L over all rows (see :func:`run`)."""
    return run(model, "loss", *args, **kwargs)


def grad(model, *args, **kwargs):
    """∇L over all rows (see :func:`run`)."""
    return run(model, "grad", *args, **kwargs)


def value_and_grad(model, *args, **kwargs):
    """(L, ∇L) over all rows in one pass over the data (see :func:`run`)."""
    return run(model, "value_and_grad", *args, **kwargs)


def hessian(model, *args, **kwargs):
    """∇²L over all rows (see :func:`run`)."""
    return run(model, "hessian", *args, **kwargs)


def hvp(model, *args, **kwargs):
    """∇²L·v over all rows (see :func:`run`)."""
    return run(model, "hvp", *args, **kwargs)


# --------------------------------------------------------------------------- sm.compile kernels


def _adhoc_call(path: str, modname: str, fn: str, names: list, args: dict, extra: list):
    """Run one sm.compile chunk kernel on a worker: the cached module is imported from its file."""
    import sys
    from pathlib import Path

    from .codegen.jit import import_path, runtime_module

    if modname not in sys.modules:
        runtime_module()  # the worker's copy of the runtime, which the kernel module imports by name
    mod = sys.modules.get(modname) or import_path(Path(path), modname)
    kernel = getattr(mod, fn)
    # Dask's workers are the parallelism (see _chunk_call)
    threads = {"parallel": False} if "parallel" in inspect.signature(kernel).parameters else {}
    return tuple(kernel(*[args[k] for k in names], *extra, check_finite=False, **threads))


def run_kernel_flat(kernel, *, client=None, split_every: int = 8, dims: dict | None = None, **arrays) -> list:
    """:func:`run_kernel`'s outputs as a flat list, in the order of ``kernel.outputs``."""
    if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
        raise ValueError(f"split_every: expected an int ≥ 2, got {split_every!r}")
    c = kernel.chunks()
    rows = {}
    for name in c.rows:
        if name not in arrays:
            raise ValueError(f"missing input {name!r}: expected a dask array chunked along rows")
        a = arrays[name]
        a = da.asarray(a) if isinstance(a, np.ndarray) else a
        if not isinstance(a, da.Array):
            raise ValueError(f"{name}: expected a dask array chunked along rows, got {type(a).__name__}")
        if any(np.isnan(x) for x in a.shape):
            raise ValueError(f"{name}: its number of rows is unknown; call {name}.compute_chunk_sizes() first")
        rows[name] = a
    first = rows[c.rows[0]]
    for name, a in rows.items():
        if a.shape[0] != first.shape[0]:
            raise ValueError(f"{name}: expected {first.shape[0]} rows (from {c.rows[0]}), got {a.shape[0]}")
        spec = {0: first.chunks[0], **{ax: -1 for ax in range(1, a.ndim)}}
        if a.chunks[0] != first.chunks[0] or any(len(x) > 1 for x in a.chunks[1:]):
            rows[name] = a.rechunk(spec)
    small = {k: v for k, v in arrays.items() if k not in rows}
    small[c.n_total] = float(first.shape[0])
    stand = {k: _stand_in(v) for k, v in rows.items()}
    kernel._arguments({**small, **stand}, dims)  # names and sizes checked here, before any task runs
    ck = c.chunk
    names = list(ck.args)
    extra = ck._arguments({**small, **stand}, dims)[len(names):]  # size stand-ins, if any
    arg_small = {k: (dask.delayed(v) if isinstance(v, np.ndarray) and v.size > 64 else v)
                 for k, v in small.items() if k in names}
    pieces = {k: v.to_delayed().ravel() for k, v in rows.items() if k in names}
    count = len(next(iter(pieces.values())))
    call = dask.delayed(_adhoc_call, pure=True)
    parts = [call(str(ck.path), ck.module_name, ck.fn_name, names,
                  {**arg_small, **{k: p[i] for k, p in pieces.items()}}, extra) for i in range(count)]
    join = dask.delayed(_join_parts, pure=True)
    while len(parts) > 1:  # in order: a per-row output's blocks are put one after another
        parts = [join(c.per_row, *parts[i:i + split_every]) if len(parts[i:i + split_every]) > 1 else parts[i]
                 for i in range(0, len(parts), split_every)]
    total = tuple(client.compute(parts[0]).result() if client is not None else parts[0].compute())
    if c.reg is not None:  # the regulariser's part, once, on this process
        # a row factor's shape binds the size of its (zero) part here; the regulariser never reads it
        shaped = {k: v for k, v in stand.items() if k in c.reg.args}
        total = _add_parts(total, tuple(c.reg.call_flat(dims=dims, **small, **shaped)))
    return list(total)


def run_kernel(kernel, *, client=None, split_every: int = 8, dims: dict | None = None, **arrays):
    """An ``sm.compile`` kernel of a loss summed over rows, and its derivatives, over dask arrays.

    The kernel's chunk forms (``kernel.chunks()``, from the kernel's own module) run one task
    per block of rows; the partial results are added by a tree reduction and the
    regulariser's part once, on the client.

    Args:
        kernel: a CompiledKernel whose outputs are a scalar loss that sums over rows and
            derivatives of it (sm.grad, sm.hessian, sm.hvp).
        client: a dask.distributed Client; default: Dask's current scheduler.
        split_every: how many partial results one reduction task adds.
        dims: sizes that no argument binds, as for the kernel itself.
        **arrays: the kernel's arguments by name; the row data as dask arrays chunked along
            rows (numpy arrays are one block).

    Returns:
        What ``kernel(**arrays)`` returns, to rounding (the sums are added in another order).
    """
    from .codegen.jit import _rebuild

    flat = run_kernel_flat(kernel, client=client, split_every=split_every, dims=dims, **arrays)
    return _rebuild(kernel._tree, flat)


# --------------------------------------------------------------------------- fitting


class DaskProblem(Problem):
    """A :class:`~symml.optim.Problem` whose data are dask arrays: every full-data kernel runs
    as chunk kernels on the cluster, so scipy's L-BFGS-B and Newton-CG and symml's Newton work
    unchanged. Nothing row-sized is ever gathered on the client."""

    def __init__(self, derivation, data, hyper=None, *, sizes=None, init=None, seed: int = 0, client=None,
                 split_every: int = 8):
        d = resolve(derivation)
        mod = kernel_module(d)
        if mod is None or not getattr(mod, "CHUNKED", ()):
            raise ValueError(f"{d.name}: distributed fitting needs chunk kernels; "
                             f"{'its loss is not a sum over rows' if mod is not None else 'it is not a catalog model'}")
        names = [t.name for t in d.data]
        given = dict(data) if isinstance(data, dict) else dict(zip(names, data))
        if set(given) != set(names):
            raise ValueError(f"data: expected {', '.join(names)}, got {', '.join(given) or 'nothing'}")
        self.derivation, self.module, self.client, self.split_every = d, mod, client, split_every
        rows = _row_arrays(mod, given, d)
        fixed = {k: np.asarray(v, dtype=np.float64) for k, v in given.items() if k not in rows}
        self.data = [rows.get(k, fixed.get(k)) for k in names]
        try:
            env = bind_dims(d.data, {k: _stand_in(v) if k in rows else v for k, v in zip(names, self.data)}, sizes)
        except BindError as e:
            raise ValueError(str(e)) from None
        self.n = int(rows[mod.ROW_ARGS[0]].shape[0])
        self._bind(env, hyper, init, seed)
        self.calls = 0  # distributed kernel calls made (each one pass over the data)

    @property
    def jit(self):
        raise ValueError("the in-memory loops need numpy data; with dask data use L-BFGS-B, Newton-CG, newton "
                         "or symml.dask.sgd")

    def subset(self, rows):
        raise ValueError("row subsets of dask data: use symml.dask.sgd, which samples blocks of rows")

    def _values(self, theta, directions=()):
        values = {t.name: a for t, a in zip(self.derivation.data, self.data)}
        values.update((t.name, float(h)) for t, h in zip(self.derivation.hyper, self.hyper))
        if theta is not None:
            values.update(self.unpack(self._theta(theta)))
        values.update((v.name, x) for v, x in zip(self.derivation.directions, directions))
        return values

    def call(self, kernel: str, theta=None, *directions):
        if kernel not in getattr(self.module, "CHUNKED", ()):
            raise ValueError(f"{self.derivation.name}: {kernel} has no chunk form for dask data")
        self.calls += 1
        return _compute(self.module, kernel, self._values(theta, directions), self.client, self.split_every)


def sgd(problem: DaskProblem, *, lr: float = 0.1, epochs: int = 5, momentum: float = 0.9, seed: int = 0,
        tol: float = 0.0):
    """Mini-batch SGD (heavy-ball momentum) that samples one block of rows per step.

    A block's partial sums, scaled by n / (rows in the block), are an unbiased estimate of the
    data term over all rows (a mean's 1/n already reads n_total); the regulariser is added
    once per step. One epoch is as many steps as there are blocks; the loss history is the
    full loss after each epoch (one distributed pass).
    """
    from .optim.result import count, positive
    lr, epochs = positive("lr", lr), count("epochs", epochs)
    if not 0.0 <= float(momentum) < 1.0:
        raise ValueError(f"momentum: expected a number in [0, 1), got {momentum!r}")
    mod = problem.module
    first = problem.data[[t.name for t in problem.derivation.data].index(mod.ROW_ARGS[0])]
    sizes = first.chunks[0]
    rng = np.random.default_rng(seed)
    theta = problem.theta0.copy()
    vel = np.zeros_like(theta)
    f0, g0 = problem.value_and_grad(theta)
    losses, gnorms = [f0], [float(np.linalg.norm(g0))]
    t0 = time.perf_counter()
    diverged = False
    for _ in range(epochs):
        for b in rng.permutation(len(sizes)):
            values = problem._values(theta)
            part = _partials(mod, "value_and_grad", values, [int(b)])[0]
            part = problem.client.compute(part).result() if problem.client is not None else part.compute()
            est = _finish(mod, "value_and_grad", values, _scale(part, problem.n / sizes[b]))
            g = problem.pack(est[1] if len(problem.shapes) > 1 else (est[1],))
            vel = momentum * vel - lr * g
            theta = theta + vel
        f, g = problem.value_and_grad(theta)
        losses.append(f)
        gnorms.append(float(np.linalg.norm(g)))
        if not np.isfinite(f):
            diverged = True
            break
        if gnorms[-1] <= tol * max(gnorms[0], 1e-300):
            break
    conv = bool(gnorms[-1] <= tol * max(gnorms[0], 1e-300)) if tol > 0 else False
    return make_result(problem, theta, losses, gnorms, len(losses) - 1, conv, diverged,
                       f"{len(losses) - 1} epochs of {len(sizes)} block steps", "dask-sgd",
                       seconds=time.perf_counter() - t0)


def fit(model, data, method: str = "L-BFGS-B", *, client=None, init=None, sizes=None, seed: int = 0,
        split_every: int = 8, **kwargs):
    """Fit a catalog model to dask data: L-BFGS-B, Newton-CG, trust-ncg, newton, or sgd.

    Keyword arguments named like hyper-parameters are hyper-parameters; the rest are the
    method's options (as for ``sm.fit``).
    """
    d = resolve(model)
    hyper_names = {t.name for t in d.hyper}
    hyper = {k: v for k, v in kwargs.items() if k in hyper_names}
    opts = {k: v for k, v in kwargs.items() if k not in hyper_names}
    allowed = ("L-BFGS-B", "Newton-CG", "trust-ncg", "newton", "sgd")
    if method not in allowed:
        raise ValueError(f"method: with dask data expected one of {', '.join(allowed)}, got {method!r}")
    problem = DaskProblem(d, data, hyper, sizes=sizes, init=init, seed=seed, client=client,
                          split_every=split_every)
    if method == "sgd":
        result = sgd(problem, seed=seed, **opts)
    else:
        check_options(method, opts, hyper_names)
        result = METHODS[method](problem, **opts)
    result.info.setdefault("problem", problem)
    result.info["distributed_calls"] = problem.calls
    return result


def synthetic_logistic(n: int, d: int, chunk_rows: int, seed: int = 0, *, noise: float = 1.0):
    """(X, y, w_true): a logistic-regression data set of n rows made block by block on the
    workers, never whole: X ~ N(0, 1), y ~ Bernoulli(σ(X w_true / noise)). For examples and tests."""
    w_true = np.random.default_rng(seed).normal(size=d) / np.sqrt(d) * 3.0
    bounds = list(range(0, n, chunk_rows)) + [n]
    rows = tuple(b - a for a, b in zip(bounds[:-1], bounds[1:]))

    def block(i):
        rng = np.random.default_rng([seed, i])
        X = rng.normal(size=(rows[i], d))
        p = 1.0 / (1.0 + np.exp(-(X @ w_true) / noise))
        return X, (rng.random(rows[i]) < p).astype(np.float64)

    make = dask.delayed(block, pure=True, nout=2)
    parts = [make(i) for i in range(len(rows))]
    X = da.concatenate([da.from_delayed(p[0], (r, d), np.float64) for p, r in zip(parts, rows)])
    y = da.concatenate([da.from_delayed(p[1], (r,), np.float64) for p, r in zip(parts, rows)])
    return X, y, w_true
