"""Finite-difference derivative checks for the tests: a thin layer over :mod:`symml.verify`.

The library has one finite-difference checker and one tolerance table
(``symml.verify.TOLERANCES``), shared by ``symml check``, ``sm.check`` and
``kernel.check()``. This module gives the tests the same rule with assertions: a check
draws random directions ``v`` from a seeded numpy Generator, takes the central difference
``(f(x + h v) − f(x − h v)) / 2h`` with ``h = step · max(1, ‖x‖_∞)`` and compares it with
the derivative under test applied to ``v``::

    |jvp − fd|_∞  ≤  atol · max(1, |f(x)|_∞)  +  rtol · max(|jvp|_∞, |fd|_∞)

Unlike the library's checks, a test does not retry a failing point with smaller steps:
the tests stay as strict as the table.

Typical use::

    fd.check_grads(lambda **a: sm.evaluate(L, **a), point, {"w": g_value}, rng)
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from symml import verify


@dataclass(frozen=True)
class Tolerance:
    """Step factor and agreement tolerances for one floating-point dtype (a view of the library's table)."""

    step: float
    rtol: float
    atol: float
    dtype: type = np.float64


#: The library's tolerance table, by dtype.
TOLERANCES: dict[np.dtype, Tolerance] = {
    np.dtype(k): Tolerance(step=v["step"], rtol=v["rtol"], atol=v["atol"], dtype=k) for k, v in verify.TOLERANCES.items()
}


def tolerance(dtype=np.float64) -> Tolerance:
    """The entry of :data:`TOLERANCES` for ``dtype`` (a KeyError names the known dtypes)."""
    dt = np.dtype(dtype)
    if dt not in TOLERANCES:
        raise KeyError(f"no finite-difference tolerance for {dt}; known: {', '.join(map(str, TOLERANCES))}")
    return TOLERANCES[dt]


def step_size(point: Mapping[str, np.ndarray], wrt: Sequence[str], dtype=np.float64) -> float:
    """h = step(dtype) · max(1, largest |entry| of the arrays being perturbed)."""
    return verify.step_size(point, wrt, dtype)


def random_direction(point: Mapping[str, np.ndarray], wrt: Sequence[str], rng: np.random.Generator, dtype=np.float64):
    """Standard-normal directions, one array per perturbed input, in ``dtype``."""
    return verify.random_direction(point, wrt, rng, dtype)


def central_difference(fun: Callable, point: Mapping[str, np.ndarray], v: Mapping[str, np.ndarray], h: float):
    """(fun(x + h v) − fun(x − h v)) / 2h, with ``fun`` called on keyword arrays."""
    return verify.central_difference(fun, point, v, h)


def assert_close(an, fd, fscale: float, tol: Tolerance, what: str = "derivative"):
    """Assert ``an`` ≈ ``fd`` under the library's rule (``symml.verify.rel_error``)."""
    an = np.asarray(an, dtype=float)
    fd = np.asarray(fd, dtype=float)
    if an.shape != fd.shape:
        raise AssertionError(f"{what}: shape {an.shape} differs from the finite difference's {fd.shape}")
    if not (np.all(np.isfinite(an)) and np.all(np.isfinite(fd))):
        raise AssertionError(f"{what}: non-finite values\nanalytic={an}\nfinite difference={fd}")
    err = verify.rel_error(an, fd, fscale, tol.dtype)
    if not err <= tol.rtol:
        ref = max(float(np.max(np.abs(an))) if an.size else 0.0, float(np.max(np.abs(fd))) if fd.size else 0.0)
        bound = tol.atol * max(1.0, fscale) + tol.rtol * ref
        raise AssertionError(
            f"{what} disagrees with central differences: max error {float(np.max(np.abs(an - fd))):.3e} > bound "
            f"{bound:.3e} (atol={tol.atol}, rtol={tol.rtol}, |f|={fscale:.3e}, |ref|={ref:.3e})\n"
            f"analytic={an}\nfinite difference={fd}"
        )


def check_jvp(
    fun: Callable,
    point: Mapping[str, np.ndarray],
    jvp: Callable[[dict], np.ndarray],
    wrt: Sequence[str],
    rng: np.random.Generator,
    *,
    n_dirs: int = 2,
    dtype=np.float64,
    what: str = "jvp",
):
    """Check ``jvp(v)`` ≈ D fun(point)[v] for ``n_dirs`` random directions.

    Args:
        fun: ``fun(**arrays) -> array`` of any shape.
        point: the arrays (by name) at which to differentiate; all of fun's inputs.
        jvp: maps a direction (a dict name → array, for the names in ``wrt``) to an
            array of fun's output shape.
        wrt: the names of the inputs being perturbed.
        rng: a seeded numpy Generator.
    """
    tol = tolerance(dtype)
    point = {k: np.asarray(a, dtype=dtype) if k in wrt else a for k, a in point.items()}
    fscale = float(np.max(np.abs(np.asarray(fun(**point), dtype=float)), initial=0.0))
    h = step_size(point, wrt, dtype)
    for _ in range(n_dirs):
        v = random_direction(point, wrt, rng, dtype)
        fd = central_difference(fun, point, v, h)
        assert_close(jvp(v), fd, fscale, tol, what)


def jvp_of_jacobians(jacobians: Mapping[str, np.ndarray]) -> Callable[[dict], np.ndarray]:
    """v ↦ Σ_k J_k · v_k, contracting the trailing axes of each J_k (shape out + x_k.shape) with v_k."""
    return lambda v: verify.directional(jacobians, v)


def check_jacobians(fun, point, jacobians: Mapping[str, np.ndarray], rng, **kw):
    """Check Jacobians (shape ``out + x.shape``, one per input name) by central differences.

    A gradient is the Jacobian of a scalar function, so this also checks gradients.
    """
    check_jvp(fun, point, jvp_of_jacobians(jacobians), list(jacobians), rng, **kw)


check_grads = check_jacobians


def numeric_jacobian(fun: Callable, point: Mapping[str, np.ndarray], name: str, dtype=np.float64) -> np.ndarray:
    """The full Jacobian of ``fun`` in input ``name`` by central differences, entry by entry.

    Meant for tiny inputs only; returns shape ``out + x.shape``.
    """
    x = np.asarray(point[name], dtype=dtype)
    h = step_size(point, [name], dtype)
    cols = []
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = 1.0
        cols.append(central_difference(fun, point, {name: e}, h))
    out_shape = np.shape(cols[0]) if cols else ()
    J = np.stack(cols, axis=-1) if cols else np.zeros(out_shape + (0,))
    return J.reshape(out_shape + x.shape)
