"""Verification: every derivative against central differences of what it differentiates.

One checker serves the catalog (each generated derivative kernel against the kernel it
differentiates: gradient against loss, Hessian and hvp against gradient), a user's own
expression (``sm.check(L, wrt=[w, b])``: ``sm.grad``/``sm.hessian``/``sm.hvp`` through
``sm.evaluate``), a compiled kernel (``kernel.check()``: each output that is a derivative
against central differences of the function it came from), and the test suite
(tests/fd.py is a thin layer over this module).

In the spirit of ``jax.test_util.check_grads`` and ``torch.autograd.gradcheck``: a
seeded RNG draws sizes, points (at several scales) and random directions u; the step is
chosen per dtype and scaled by the point's magnitude, h = step · max(1, ‖θ‖∞); the
analytic directional derivative ⟨∇f, u⟩ (or H·u, J·u) is compared with
(f(θ + hu) − f(θ − hu)) / 2h.

One tolerance table, :data:`TOLERANCES`, and one rule::

    |exact − fd|∞  ≤  atol · max(1, |f(θ)|∞)  +  rtol · max(|exact|∞, |fd|∞)

=========  ================  ======  ======
dtype      step h            rtol    atol
=========  ================  ======  ======
float64    ε^(1/3) ≈ 6.1e-6  1e-6    1e-7
float32    ε^(1/3) ≈ 4.9e-3  2e-2    2e-3
=========  ================  ======  ======

The reported error is |exact − fd|∞ / (max(|exact|, |fd|) + (atol/rtol)·max(1, |f|)), which
is at most rtol exactly when the rule holds. The central-difference truncation error is
O(h²·f‴) and the rounding error O(ε·|f|/h); h = ε^(1/3) balances the two, leaving about
ε^(2/3) (≈ 4e-11 in float64) relative error on well-scaled problems, far below rtol. The
difference of two values of f carries rounding noise proportional to |f|: that is the
atol term (f is the loss for a gradient, the gradient for a Hessian or an hvp).
A point that fails is retried with h/8 and h/64 (:data:`SHRINK`): truncation error and
the chance of stepping over a kink (relu, max pooling) shrink with h, a wrong derivative
does not.

Takes: a catalog derivation and its generated module, an expression, or a compiled
kernel. Gives: a CheckReport.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from .catalog import Derivation, load
from .nodes import Dim, Expr, Stage

#: the checks of a user's expressions (symml.verify_user registers itself: it builds on this module)
USER_CHECKS = Stage("symml.verify_user")

TOLERANCES = {
    np.float64: {"step": float(np.finfo(np.float64).eps) ** (1 / 3), "rtol": 1e-6, "atol": 1e-7},
    np.float32: {"step": float(np.finfo(np.float32).eps) ** (1 / 3), "rtol": 2e-2, "atol": 2e-3},
}

#: Step divisors tried in turn until a point passes (1: the step of the table only).
SHRINK = (1.0, 8.0, 64.0)


#: How to draw a valid value for a tensor with a declared domain.
DOMAINS = {
    "real": lambda rng, shape, s: rng.normal(scale=s, size=shape),
    "positive": lambda rng, shape, s: rng.uniform(0.5, 2.0, size=shape),
    "binary": lambda rng, shape, s: (rng.random(shape) < 0.5).astype(float),
    "sign": lambda rng, shape, s: np.where(rng.random(shape) < 0.5, -1.0, 1.0),
    "count": lambda rng, shape, s: rng.poisson(3.0, size=shape).astype(float),
    "onehot": lambda rng, shape, s: np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])],
    "simplex": lambda rng, shape, s: rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]),
    "spd": lambda rng, shape, s: _spd(rng, shape),
    "unit": lambda rng, shape, s: rng.uniform(0.05, 0.95, size=shape),
}


def _spd(rng, shape):
    A = rng.normal(size=shape)
    M = np.einsum("...ij,...kj->...ik", A, A)
    return M + shape[-1] * np.eye(shape[-1])


# --------------------------------------------------------------------------- the one checker


def tolerance(dtype=np.float64) -> dict:
    """The entry of :data:`TOLERANCES` for ``dtype``: step, rtol, atol."""
    dt = np.dtype(dtype).type
    if dt not in TOLERANCES:
        raise ValueError(f"no finite-difference tolerance for {np.dtype(dtype)}; "
                         f"expected one of {', '.join(np.dtype(k).name for k in TOLERANCES)}")
    return TOLERANCES[dt]


def _amax(a) -> float:
    a = np.asarray(a, dtype=float)
    return float(np.max(np.abs(a))) if a.size else 0.0


def rel_error(exact, fd, fscale: float, dtype=np.float64) -> float:
    """The error of ``exact`` against ``fd`` under the rule of :data:`TOLERANCES`, scaled so
    that it passes when at most rtol; inf for a shape mismatch or a non-finite value (a NaN
    must fail, and ``max(0.0, nan)`` is 0.0)."""
    tol = tolerance(dtype)
    a, b = np.asarray(exact, dtype=float), np.asarray(fd, dtype=float)
    if a.shape != b.shape or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    err = _amax(a - b) if a.size else 0.0
    return err / (max(_amax(a), _amax(b)) + tol["atol"] / tol["rtol"] * max(1.0, fscale))


def step_size(point: dict, wrt, dtype=np.float64) -> float:
    """h = step(dtype) · max(1, largest |entry| of the arrays being perturbed)."""
    return tolerance(dtype)["step"] * max([1.0] + [_amax(point[k]) for k in wrt])


def random_direction(point: dict, wrt, rng, dtype=np.float64, unit: bool = False) -> dict:
    """Standard-normal directions, one array per perturbed input (jointly of norm 1 if ``unit``)."""
    v = {k: rng.standard_normal(np.shape(point[k])) for k in wrt}
    if unit:
        norm = np.sqrt(sum(float(np.sum(x * x)) for x in v.values())) or 1.0
        v = {k: x / norm for k, x in v.items()}
    return {k: np.asarray(x, dtype=dtype) for k, x in v.items()}


def central_difference(fun, point: dict, v: dict, h: float):
    """(fun(x + h v) − fun(x − h v)) / 2h, with ``fun`` called on keyword arrays."""
    plus, minus = dict(point), dict(point)
    for k, vk in v.items():
        x = np.asarray(point[k])
        plus[k] = np.asarray(x + h * vk, dtype=x.dtype) if x.dtype.kind == "f" else x + h * vk
        minus[k] = np.asarray(x - h * vk, dtype=x.dtype) if x.dtype.kind == "f" else x - h * vk
    return (np.asarray(fun(**plus), dtype=float) - np.asarray(fun(**minus), dtype=float)) / (2.0 * h)


def jvp_error(fun, point: dict, v: dict, exact, *, dtype=np.float64, fscale: float | None = None,
              shrink=SHRINK) -> float:
    """The error (see :func:`rel_error`) of ``exact`` = D fun(point)[v] against central
    differences, retried with the step divided by each of ``shrink`` while it fails."""
    if fscale is None:
        fscale = _amax(fun(**point))
    h = step_size(point, list(v), dtype)
    rtol = tolerance(dtype)["rtol"]
    err = float("inf")
    for s in shrink:
        err = min(err, rel_error(exact, central_difference(fun, point, v, h / s), fscale, dtype))
        if err <= rtol:
            break
    return err


def directional(derivative, v: dict):
    """Σ_k D_k · v_k, contracting the trailing axes of each D_k (shape out + x_k.shape) with v_k."""
    total = None
    for k, vk in v.items():
        D, vk = np.asarray(derivative[k], dtype=float), np.asarray(vk, dtype=float)
        term = np.tensordot(D, vk, axes=vk.ndim) if vk.ndim else D * vk
        total = term if total is None else total + term
    return total


# --------------------------------------------------------------------------- reports


@dataclass
class CheckRow:
    kernel: str
    points: int
    worst: float
    ok: bool


@dataclass
class CheckReport:
    """The verification table of one derivation, expression or kernel."""

    name: str
    dtype: str
    rows: list[CheckRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)

    passed = ok

    def __str__(self):
        wide = max([28] + [len(r.kernel) + 2 for r in self.rows])
        lines = [f"{self.name} ({self.dtype})", f"  {'kernel':<{wide}}{'points':>7}  {'worst rel err':>14}  result"]
        for r in self.rows:
            lines.append(f"  {r.kernel:<{wide}}{r.points:>7}  {r.worst:>14.2e}  {'pass' if r.ok else 'FAIL'}")
        return "\n".join(lines)

    def _repr_html_(self):
        body = "".join(
            f"<tr><td>{r.kernel}</td><td>{r.points}</td><td>{r.worst:.2e}</td><td>{'pass' if r.ok else '<b>FAIL</b>'}</td></tr>"
            for r in self.rows
        )
        return (f"<b>{self.name}</b> ({self.dtype})<table><tr><th>kernel</th><th>points</th>"
                f"<th>worst rel err</th><th>result</th></tr>{body}</table>")


class _Tally:
    """Worst error and count per row, in first-seen order."""

    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype
        self.worst: dict[str, float] = {}
        self.count: dict[str, int] = {}

    def note(self, row: str, err: float):
        err = err if np.isfinite(err) else np.inf
        self.worst[row] = max(self.worst.get(row, 0.0), err)
        self.count[row] = self.count.get(row, 0) + 1

    def report(self) -> CheckReport:
        rtol = tolerance(self.dtype)["rtol"]
        rep = CheckReport(self.name, np.dtype(self.dtype).name)
        for k, w in self.worst.items():
            rep.rows.append(CheckRow(k, self.count[k], w, w <= rtol))
        return rep


# --------------------------------------------------------------------------- the catalog


def sample_inputs(d: Derivation, rng, sizes: dict | None = None, scale: float = 1.0, dtype=np.float64) -> dict:
    """Random valid arguments for a derivation, by name, at random (or given) sizes."""
    env = _draw_sizes(d.name, d.inputs, rng, sizes)
    out = {}
    domains = getattr(d, "domains", {}) or {}
    for t in d.inputs:
        shape = tuple(int(s.xreplace(env)) if hasattr(s, "xreplace") else int(s) for s in t.shape)
        default = "simplex" if getattr(t, "simplex", False) else "positive" if (t in d.hyper) else "real"
        kind = domains.get(t.name, default)
        v = DOMAINS[kind](rng, shape, scale)
        out[t.name] = float(v) if not shape else np.asarray(v, dtype=dtype)
    return out


def _draw_sizes(name: str, inputs, rng, sizes: dict | None, fixed: dict | None = None) -> dict:
    """{Dim: int}: the given (or ``fixed``) sizes, the others drawn from 2..5, redrawn until
    every input's shape is positive (a size such as ⌊(H − kh + 1)/2⌋ constrains H and kh together)."""
    syms = []
    for t in inputs:
        for s in t.shape:
            for sym in sorted(getattr(s, "free_symbols", ()), key=str):
                if isinstance(sym, Dim) and sym not in syms:
                    syms.append(sym)
    shapes = [s for t in inputs for s in t.shape if hasattr(s, "xreplace")]
    fixed = {k: int(v) for k, v in (fixed or {}).items()}
    for _ in range(1000):
        env = {sym: fixed[sym] if sym in fixed else int((sizes or {}).get(sym.name, rng.integers(2, 6))) for sym in syms}
        if all(int(s.xreplace(env)) >= 1 for s in shapes):
            return env
    raise ValueError(f"{name}: no sizes in 2..5 (with {sizes or {}}) make every input's shape positive; "
                     "pass sizes= that do")


def check(target, wrt=None, *, points: int = 3, scales=(0.3, 1.0, 3.0), seed: int = 0, dtype=np.float64,
          module=None, sizes: dict | None = None, domains: dict | None = None, second_order: bool = True,
          inputs: dict | None = None, **arrays) -> CheckReport:
    """Finite-difference checks of every derivative: of a catalog model, of an expression,
    or of a compiled kernel.

    ``sm.check("logistic_regression")`` checks the generated kernels of a catalog model.
    ``sm.check(L, wrt=[w, b], **arrays)`` checks ``sm.grad`` (and, for a scalar L, the Hessian
    and hvp; ``second_order=False`` skips them, and a Hessian that cannot be formed, as
    through conv2d, leaves the hvp only) or, for a tensor-valued expression, the
    Jacobian, through ``sm.evaluate``; ``sm.check(kernel)`` is ``kernel.check()``.

    Args:
        target: a derivation name, a Derivation, an expression, or a kernel from sm.compile.
        wrt: for an expression, the tensors to differentiate with respect to (default: every
            input it reads).
        points: random points per scale (random directions, at given arrays).
        scales: standard deviations of the draws of real inputs.
        seed: the RNG seed (the same seed gives the same report).
        dtype: np.float64 or np.float32 (an expression is evaluated in float64).
        module: the kernel module of a catalog derivation (default: generated.<name>).
        sizes: sizes of dimensions, e.g. ``{"n": 4}``, for the random draws (default 2..5).
        domains: a domain per input name ("real", "positive", "spd", "unit", "binary", ...; see
            :data:`DOMAINS`), where the one inferred from the expression is not right.
            Inferred: "spd" for a matrix read by inv, solve, det or logdet; "positive" for a
            tensor read by log, sqrt, a fractional or negative power; "real" otherwise.
        inputs: arrays by name (as ``**arrays``, for names that clash with these keywords).
        **arrays: fixed arrays by name; inputs not given are drawn at random, at sizes that
            agree with the given ones. With every input given, the check runs at that point.

    Returns:
        A CheckReport; ``report.passed`` (``report.ok``) is False if any row failed.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
    >>> sm.check(sm.sum(sm.softplus(X @ w) - y * (X @ w)), wrt=[w]).passed
    True
    """
    given = {**(inputs or {}), **arrays}
    if isinstance(target, Expr):
        return USER_CHECKS.check_expression(target, wrt, given, points=points, scales=scales, seed=seed, dtype=dtype,
                                sizes=sizes, domains=domains, second_order=second_order)
    if hasattr(target, "check") and hasattr(target, "output_names"):
        return target.check(points=points, scales=scales, seed=seed, dtype=dtype, sizes=sizes, domains=domains,
                            **given)
    if not isinstance(target, (str, Derivation)):
        raise TypeError(f"sm.check takes a catalog name, a symml expression or a kernel from sm.compile, "
                        f"got {type(target).__name__}")
    if wrt is not None or given:
        raise TypeError("sm.check of a catalog model takes no wrt= or arrays: it draws its own; "
                        "to check your own expression pass the expression itself")
    return _check_catalog(target, points=points, scales=scales, seed=seed, dtype=dtype, module=module)


def _check_catalog(target, *, points, scales, seed, dtype, module) -> CheckReport:
    d = target if isinstance(target, Derivation) else load(target)
    mod = module or importlib.import_module(f"generated.{d.name}")
    rng = np.random.default_rng(seed)
    tally = _Tally(d.name, dtype)
    pnames = [p.name for p in d.params]
    as_tuple = lambda g: g if isinstance(g, tuple) else (g,)

    for scale in scales:
        for _ in range(points):
            args = sample_inputs(d, rng, scale=scale, dtype=dtype)
            theta = {p: np.asarray(args[p], dtype=dtype) for p in pnames}
            rest = [args[t.name] for t in d.data + d.hyper]
            u = random_direction(theta, pnames, rng, dtype, unit=True)

            def call(kernel, rest=rest):
                return lambda **th: kernel(*[th[p] for p in pnames], *rest)

            def flat(kernel, rest=rest):
                return lambda **th: np.concatenate([np.ravel(x) for x in as_tuple(kernel(*[th[p] for p in pnames], *rest))])

            if hasattr(mod, "loss") and hasattr(mod, "grad"):
                g = as_tuple(mod.grad(*theta.values(), *rest))
                exact = sum(float(np.sum(gi * u[p])) for gi, p in zip(g, pnames))
                tally.note("grad vs loss", jvp_error(call(mod.loss), theta, u, exact, dtype=dtype))
                if hasattr(mod, "value_and_grad"):
                    v, g2 = mod.value_and_grad(*theta.values(), *rest)
                    lv = mod.loss(*theta.values(), *rest)
                    err = rel_error(v, lv, _amax(lv), dtype)
                    for a, b in zip(as_tuple(g2), g):
                        err = max(err, rel_error(a, b, _amax(b), dtype))
                    tally.note("value_and_grad vs loss, grad", err)
            if hasattr(mod, "grad") and (hasattr(mod, "hessian") or hasattr(mod, "hvp")):
                fg = flat(mod.grad)
                fscale = _amax(fg(**theta))
                uflat = np.concatenate([np.ravel(u[p]) for p in pnames])
                if hasattr(mod, "hessian"):
                    Hu = mod.hessian(*theta.values(), *rest) @ uflat
                    tally.note("hessian vs grad", jvp_error(fg, theta, u, Hu, dtype=dtype, fscale=fscale))
                if hasattr(mod, "hvp"):
                    hv = np.concatenate([np.ravel(x) for x in as_tuple(mod.hvp(*theta.values(), *u.values(), *rest))])
                    tally.note("hvp vs grad", jvp_error(fg, theta, u, hv, dtype=dtype, fscale=fscale))
    return tally.report()
