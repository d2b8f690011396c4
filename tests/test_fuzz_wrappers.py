"""Fuzz the generated kernels' wrappers with hostile arguments (hypothesis).

Every call of a catalog kernel must either return the right result or raise a one-line
ValueError or TypeError that names an argument; anything else (another exception, a wrong
result, a changed input, a crash of the process) is a failure. The fuzzer starts from valid
arguments at random sizes (``symml.verify.sample_inputs``), computes the kernel's result on
them, then perturbs one argument:

- values that must give the same result: non-contiguous, Fortran-ordered, reversed or
  read-only views, nested lists, Python and numpy scalars of other widths, float32 copies;
- values that must be refused: other dtypes (int, uint, bool, complex, object, float16,
  strings), another rank, a wrong or zero size, arrays for scalars, None;
- NaN and ±inf: with ``check_finite=True`` refused; with the default (the wrapper scans the
  inputs only when an output is not finite) refused by name or a finite result that they did
  not reach; with ``check_finite=False`` passed through without any exception but a ValueError
  (the kernels never trust, but also never crash on, their inputs).

The draw is derandomized, so the run is the same every time. :func:`run` is the entry
point of ``benchmarks/stability_table.py``, which reports the figures over the whole catalog.
"""
from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symml.catalog import load
from symml.evaluate import bind_dims
from symml.verify import sample_inputs

#: Modules fuzzed in the test run: every rank from 0 to 4, derived sizes (cnn), square
#: matrices (kl_gaussian, the RBF Gram), extra kernels with their own argument lists.
MODULES = ("logistic_regression", "softmax_regression", "gaussian_mixture", "cnn", "kl_gaussian",
           "svm_dual_rbf", "distribution_normal", "markov_stationary")

SAME = ("noncontiguous", "fortran", "reversed", "readonly", "list", "float32_copy", "scalar_kind")
REFUSED = ("dtype", "rank", "size", "zero_size", "nonfinite_checked", "array_for_scalar", "none")
#: NaN or inf with the default check_finite=None: the wrapper scans the inputs only when an output
#: is not finite, so the call raises naming the argument, or returns a finite result it did not reach.
LAZY = ("nonfinite",)
PASSTHROUGH = ("nonfinite_unchecked",)
#: Inputs that the wrapper checks mishandle until patch 0001 (OverflowError escapes for
#: 10**400; a numeric string is read as a number): drawn only where the checks are patched.
PENDING_0001 = ("huge_int", "numeric_string")


@dataclass
class Stats:
    """What the fuzzer did: examples tried, results checked, inputs refused, crashes."""

    tried: int = 0
    same: int = 0
    refused: int = 0
    passthrough: int = 0
    crashes: list = field(default_factory=list)


STATS = Stats()


@lru_cache(maxsize=None)
def _kernels(name):
    """(module, [(kernel name, [argument tensors])]) of a catalog module."""
    mod = importlib.import_module(f"generated.{name}")
    return mod, [(s.name, list(s.args)) for s in load(name).kernel_specs()]


def checks_patched(mod) -> bool:
    """Whether the module's argument checks have patch 0001 (overflow and strings refused)."""
    # the checks live in the runtime (a module imports only the checks it calls)
    return "OverflowError" in inspect.getsource(importlib.import_module("generated._runtime")._scalar)


def _flat(out):
    if isinstance(out, tuple):
        return [x for o in out for x in _flat(o)]
    return [np.asarray(out)]


def _agree(out, ref, rtol):
    a, b = _flat(out), _flat(ref)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.shape != y.shape:
            return False
        scale = max(1.0, float(np.max(np.abs(y), initial=0.0))) if np.all(np.isfinite(y)) else 1.0
        if not np.allclose(x, y, rtol=rtol, atol=rtol * scale, equal_nan=True):
            return False
    return True


def _baseline(name, seed, sizes):
    d = load(name)
    rng = np.random.default_rng(seed)
    vals = sample_inputs(d, rng, sizes=sizes)
    for p in d.params:  # hvp directions are shaped like the parameters
        vals[f"v_{p.name}"] = rng.normal(size=np.shape(vals[p.name])) if np.ndim(vals[p.name]) else float(rng.normal())
    if d.sample_split is not None:  # chunk and regulariser kernels: the row count over all blocks
        vals[d.sample_split.n_total.name] = float(np.shape(vals[d.sample_split.rows[0].name])[0])
    return vals


def _consistent(args, shapes) -> bool:
    """Whether argument shapes fit the kernel (every size ≥ 1): a resized array may still fit
    (x of distribution_normal is the only array with n; ⌊(H − 1)/2⌋ is the same for H = 5, 6)."""
    try:
        env = bind_dims(args, {t.name: np.zeros(shapes[t.name]) for t in args})
    except ValueError:
        return False
    return all(int(v) >= 1 for v in env.values()) and all(min(s, default=1) >= 1 for s in shapes.values())


def _mutate(kind, value, rank, draw):
    """(new value, the value the wrapper should read as float64; None when it must be refused)."""
    if rank == 0:
        if kind == "scalar_kind":
            new = draw(st.sampled_from([np.float32(value), np.float64(value), np.array(value), int(round(value)),
                                        np.int32(round(value)), np.float16(value)]))
            return new, float(new)
        if kind in ("array_for_scalar", "rank", "size", "zero_size"):
            return np.full(draw(st.integers(0, 3)), value), None
        if kind == "dtype":
            return draw(st.sampled_from([True, np.bool_(False), 1j, np.complex128(value), "x", [value],
                                         np.array(value, dtype=object), np.array(True), np.array([value])])), None
        if kind.startswith("nonfinite"):
            new = draw(st.sampled_from([np.nan, np.inf, -np.inf, np.float32(np.nan)]))
            return new, new
        if kind == "huge_int":
            return 10 ** 400, None
        if kind == "numeric_string":
            return draw(st.sampled_from([str(value), str(value).encode()])), None
        if kind == "none":
            return None, None
        return value, value  # the array-only perturbations leave a scalar as it is
    a = np.asarray(value, dtype=np.float64)
    if kind == "noncontiguous":
        return np.repeat(a, 2, axis=-1)[..., ::2], a
    if kind == "fortran":
        return np.asfortranarray(a), a
    if kind == "reversed":
        return a[::-1].copy()[::-1], a
    if kind == "readonly":
        r = a.copy()
        r.setflags(write=False)
        return r, a
    if kind == "list":
        return a.tolist(), a
    if kind == "float32_copy":
        r = a.astype(np.float32)
        return r, r.astype(np.float64)
    if kind == "dtype":
        dt = draw(st.sampled_from([np.int32, np.int64, np.uint8, np.bool_, np.complex128, np.complex64, object,
                                   np.float16, np.longdouble, "U3"]))
        if np.dtype(dt) == np.float64:  # long double is float64 on some platforms
            dt = np.float16
        return a.astype(dt), None
    if kind == "rank":
        return (a[..., None] if draw(st.booleans()) else a.reshape(-1) if rank > 1 else a[0]), None
    if kind in ("size", "zero_size"):
        shape = list(a.shape)
        ax = draw(st.integers(0, rank - 1))
        shape[ax] = 0 if kind == "zero_size" else max(0, shape[ax] + draw(st.sampled_from([-1, 1, 2])))
        return np.ones(shape), None
    if kind.startswith("nonfinite"):
        r = a.copy()
        r.flat[draw(st.integers(0, r.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return r, r
    if kind == "none":
        return None, None
    if kind == "huge_int":
        return np.full(a.shape, 10 ** 400, dtype=object).tolist(), None
    if kind == "numeric_string":
        return a.astype(str).tolist(), None
    if kind in ("scalar_kind", "array_for_scalar"):
        return float(a.flat[0]), None  # a number where an array is expected: a rank error
    raise AssertionError(kind)


def _names_target(msg: str, target: str) -> bool:
    """'X: …', '… (from X)', '… (from Kc, X)' or 'logdet: S0 is …': the message is about the argument."""
    t = re.escape(target)
    return bool(re.match(rf"{t}:", msg) or re.search(rf"\(from [^)]*(?<![\w]){t}(?![\w])", msg)
                or re.search(rf"(?<![\w]){t} (is|has) ", msg))


def fuzz_one(data, modules=MODULES, stats: Stats = STATS):
    """Draw one hostile call and check its outcome; records the outcome in ``stats``."""
    draw = data.draw
    name = draw(st.sampled_from(modules), label="module")
    mod, kernels = _kernels(name)
    kernel, args = draw(st.sampled_from(kernels), label="kernel")
    sizes = {k: draw(st.integers(1, 4)) for k in ("n", "d", "K", "h", "m", "O", "C", "N")}
    sizes.update(H=draw(st.integers(5, 8)), W=draw(st.integers(5, 8)), kh=2, kw=2)
    vals = _baseline(name, draw(st.integers(0, 2 ** 16)), sizes)
    fn = getattr(mod, kernel)
    try:
        fn(*[vals[t.name] for t in args])
    except ValueError:  # a valid draw that the kernel rightly refuses (a singular matrix, say)
        return
    target = draw(st.sampled_from(args), label="argument")
    kinds = SAME + REFUSED + LAZY + PASSTHROUGH + (PENDING_0001 if checks_patched(mod) else ())
    kind = draw(st.sampled_from(kinds), label="mutation")
    new, as_f64 = _mutate(kind, vals[target.name], target.ndim, draw)
    if kind == "size" and _consistent(args, {t.name: np.shape(new if t is target else vals[t.name]) for t in args}):
        return  # another valid size, not a hostile one
    call = [new if t is target else vals[t.name] for t in args]
    before = [np.array(v, copy=True) if isinstance(v, np.ndarray) else v for v in call]
    unchecked = kind == "nonfinite_unchecked"
    check = {"nonfinite_unchecked": False, "nonfinite_checked": True}.get(kind)
    where = f"{name}.{kernel}({target.name} <- {kind}: {new!r:.60})"
    stats.tried += 1
    try:
        out = fn(*call) if check is None else fn(*call, check_finite=check)
    except (ValueError, TypeError) as e:
        msg = str(e)
        if unchecked:  # a kernel may refuse what it cannot compute (the logdet of a non-SPD matrix)
            stats.passthrough += 1
            return
        if "\n" in msg or not _names_target(msg, target.name):
            stats.crashes.append((where, f"{type(e).__name__}: {msg}"))
            raise AssertionError(f"{where}: the message does not name {target.name}: {msg!r}") from None
        if kind in SAME and as_f64 is not None:
            stats.crashes.append((where, msg))
            raise AssertionError(f"{where} must be accepted, got {msg!r}") from None
        stats.refused += 1
        return
    except Exception as e:  # anything else reaching a user is a crash
        stats.crashes.append((where, f"{type(e).__name__}: {e}"))
        raise AssertionError(f"{where} raised {type(e).__name__}: {e}") from e
    for b, c in zip(before, call):
        if isinstance(b, np.ndarray):
            assert np.array_equal(b, c, equal_nan=True), f"{where} changed its input"
    if unchecked:
        stats.passthrough += 1
        return
    if kind in LAZY and all(np.all(np.isfinite(o)) for o in _flat(out)):
        stats.same += 1  # the NaN or inf did not reach the result
        return
    if kind not in SAME or as_f64 is None:
        stats.crashes.append((where, "accepted"))
        raise AssertionError(f"{where} was accepted; expected a ValueError naming {target.name}")
    # the reference: the same call with the value the wrapper should have read; a kernel whose
    # arrays are all float32 computes in float32
    ref = fn(*[as_f64 if t is target else vals[t.name] for t in args])
    arrays = [v for v, t in zip(call, args) if t.ndim]
    low = all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in arrays)
    if not _agree(out, ref, 1e-3 if low else 1e-12):
        stats.crashes.append((where, "wrong result"))
        raise AssertionError(f"{where} returned a different result")
    stats.same += 1


def run(examples: int, modules=MODULES) -> Stats:
    """Fuzz ``examples`` calls over ``modules`` (derandomized); returns the figures."""
    stats = Stats()

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def fuzz(data):
        fuzz_one(data, modules, stats)

    fuzz()
    return stats


@pytest.mark.compile
@settings(max_examples=300, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_wrappers_return_the_result_or_name_the_argument(data):
    fuzz_one(data)


@pytest.mark.compile
def test_fuzzer_exercised_every_outcome():
    """A short run must accept, refuse and pass through inputs, and crash never."""
    s = run(300)  # chunk and regulariser kernels are drawn too: 150 examples no longer reach every outcome
    assert s.tried >= 100 and s.same >= 20 and s.refused >= 30 and s.passthrough >= 3, s
    assert not s.crashes, s.crashes


@pytest.mark.compile
@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.xfail(
    not checks_patched(_kernels(m)[0]), strict=True,
    reason="pending patch 0001-wrapper-checks: OverflowError escapes, numeric strings are read")) for m in MODULES])
def test_huge_ints_and_numeric_strings_are_refused(name):
    """10**400 does not fit a float64 (float() raises OverflowError); "0.5" is not a number."""
    mod, kernels = _kernels(name)
    kernel, args = kernels[0]
    vals = _baseline(name, 0, None)
    for t in args:
        bad = [10 ** 400, "0.5", b"0.5"] if t.ndim == 0 else [
            np.full((1,) * t.ndim, 10 ** 400, dtype=object).tolist(), np.full((1,) * t.ndim, "0.5").tolist()]
        for b in bad:
            with pytest.raises(ValueError, match="^" + re.escape(t.name) + ":"):
                getattr(mod, kernel)(*[b if a is t else vals[a.name] for a in args])
