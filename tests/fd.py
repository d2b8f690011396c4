"""Finite-difference derivative checks, in the style of JAX's ``check_grads``.

A check draws random directions ``v`` from a seeded numpy Generator, takes the central
difference ``(f(x + h v) − f(x − h v)) / 2h`` and compares it with the derivative under
test applied to ``v`` (a Jacobian-vector product). Only ``f`` itself is trusted, so the
check is independent of how the derivative was obtained.

The step ``h`` is chosen per dtype and scaled by the point's magnitude: ``h = step ·
max(1, ‖x‖_∞)``. With ``step = ε^(1/3)`` the truncation error (∝ h²) and the rounding
error (∝ ε/h) of a central difference are balanced, so the difference is good to about
``ε^(2/3)`` relative: ~4e-11 in float64, ~2e-5 in float32.

One tolerance table, :data:`TOLERANCES`, says what "agrees" means per dtype::

    |jvp − fd|_∞  ≤  atol · max(1, |f(x)|_∞)  +  rtol · max(|jvp|_∞, |fd|_∞)

The ``atol`` term is the rounding noise of the difference quotient, which grows with the
size of ``f``'s values; the ``rtol`` term is the usual relative agreement. The margins
over ε^(2/3) leave room for curvature and for moderately conditioned inputs
(inverses, determinants).

Typical use::

    fd.check_grads(lambda **a: sm.evaluate(L, **a), point, {"w": g_value}, rng)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """Step factor and agreement tolerances for one floating-point dtype."""

    step: float
    rtol: float
    atol: float


def _cbrt_eps(dtype) -> float:
    return float(np.finfo(dtype).eps) ** (1.0 / 3.0)


#: The one tolerance table: step factor (ε^(1/3)), relative and absolute tolerance.
TOLERANCES: dict[np.dtype, Tolerance] = {
    np.dtype(np.float64): Tolerance(step=_cbrt_eps(np.float64), rtol=1e-6, atol=1e-7),
    np.dtype(np.float32): Tolerance(step=_cbrt_eps(np.float32), rtol=2e-2, atol=2e-3),
}


def tolerance(dtype=np.float64) -> Tolerance:
    """The entry of :data:`TOLERANCES` for ``dtype`` (a KeyError names the known dtypes)."""
    dt = np.dtype(dtype)
    if dt not in TOLERANCES:
        raise KeyError(f"no finite-difference tolerance for {dt}; known: {', '.join(map(str, TOLERANCES))}")
    return TOLERANCES[dt]


def step_size(point: Mapping[str, np.ndarray], wrt: Sequence[str], dtype=np.float64) -> float:
    """h = step(dtype) · max(1, largest |entry| of the arrays being perturbed)."""
    scale = max([1.0] + [float(np.max(np.abs(point[k]))) for k in wrt if np.size(point[k])])
    return tolerance(dtype).step * scale


def random_direction(point: Mapping[str, np.ndarray], wrt: Sequence[str], rng: np.random.Generator, dtype=np.float64):
    """Standard-normal directions, one array per perturbed input, in ``dtype``."""
    return {k: rng.standard_normal(np.shape(point[k])).astype(dtype) for k in wrt}


def central_difference(fun: Callable, point: Mapping[str, np.ndarray], v: Mapping[str, np.ndarray], h: float):
    """(fun(x + h v) − fun(x − h v)) / 2h, with ``fun`` called on keyword arrays."""
    plus = dict(point)
    minus = dict(point)
    for k, vk in v.items():
        plus[k] = point[k] + h * vk
        minus[k] = point[k] - h * vk
    fp = np.asarray(fun(**plus), dtype=float)
    fm = np.asarray(fun(**minus), dtype=float)
    return (fp - fm) / (2.0 * h)


def assert_close(an, fd, fscale: float, tol: Tolerance, what: str = "derivative"):
    """Assert ``an`` ≈ ``fd`` under the rule of :data:`TOLERANCES` (see the module docstring)."""
    an = np.asarray(an, dtype=float)
    fd = np.asarray(fd, dtype=float)
    if an.shape != fd.shape:
        raise AssertionError(f"{what}: shape {an.shape} differs from the finite difference's {fd.shape}")
    if not (np.all(np.isfinite(an)) and np.all(np.isfinite(fd))):
        raise AssertionError(f"{what}: non-finite values\nanalytic={an}\nfinite difference={fd}")
    err = float(np.max(np.abs(an - fd))) if an.size else 0.0
    ref = max(float(np.max(np.abs(an))) if an.size else 0.0, float(np.max(np.abs(fd))) if fd.size else 0.0)
    bound = tol.atol * max(1.0, fscale) + tol.rtol * ref
    if not err <= bound:
        raise AssertionError(
            f"{what} disagrees with central differences: max error {err:.3e} > bound {bound:.3e} "
            f"(atol={tol.atol}, rtol={tol.rtol}, |f|={fscale:.3e}, |ref|={ref:.3e})\n"
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

    def jvp(v):
        total = None
        for k, J in jacobians.items():
            J = np.asarray(J, dtype=float)
            vk = np.asarray(v[k], dtype=float)
            term = np.tensordot(J, vk, axes=vk.ndim) if vk.ndim else J * vk
            total = term if total is None else total + term
        return total

    return jvp


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
