"""Verification: every derivative kernel against central differences of the kernel it
differentiates (gradient against loss, Hessian and hvp against gradient).

In the spirit of ``jax.test_util.check_grads`` and ``torch.autograd.gradcheck``: a
seeded RNG draws sizes, points (at several scales) and random unit directions u; the
step is chosen per dtype and scaled by the point's magnitude; the analytic directional
derivative ⟨∇f, u⟩ (or H·u) is compared with (f(θ + hu) − f(θ − hu)) / 2h.

Tolerances (one table per dtype; relative error = |fd − exact| / max(|fd|, |exact|, floor)):

=========  ================  ===========  ===========  =====================
dtype      step h            rtol         floor        atol (grad vs loss)
=========  ================  ===========  ===========  =====================
float64    ε^(1/3) ≈ 6.1e-6  1e-6         1e-8         1e-7 · max(1, |L|)
float32    ε^(1/3) ≈ 4.9e-3  2e-2         1e-3         2e-3 · max(1, |L|)
=========  ================  ===========  ===========  =====================

The central-difference truncation error is O(h²·f‴) and the rounding error
O(ε·|f|/h); h = ε^(1/3) balances the two, leaving about ε^(2/3) (≈ 4e-11 in float64)
relative error on well-scaled problems, far below rtol. The difference of two losses
carries rounding noise proportional to |L|, hence the absolute floor for "grad vs loss".
A point that fails is retried with h/8 and h/64: truncation error and the chance of
stepping over a kink (relu, max pooling) shrink with h, a wrong derivative does not.

Takes: a catalog derivation and its generated module. Gives: a CheckReport.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from .catalog import Derivation, load
from .nodes import Dim

TOLERANCES = {
    np.float64: {"step": float(np.finfo(np.float64).eps) ** (1 / 3), "rtol": 1e-6, "floor": 1e-8, "atol": 1e-7},
    np.float32: {"step": float(np.finfo(np.float32).eps) ** (1 / 3), "rtol": 2e-2, "floor": 1e-3, "atol": 2e-3},
}

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


@dataclass
class CheckRow:
    kernel: str
    points: int
    worst: float
    ok: bool


@dataclass
class CheckReport:
    """The verification table of one derivation."""

    name: str
    dtype: str
    rows: list[CheckRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def __str__(self):
        lines = [f"{self.name} ({self.dtype})", f"  {'kernel':<28}{'points':>7}  {'worst rel err':>14}  result"]
        for r in self.rows:
            lines.append(f"  {r.kernel:<28}{r.points:>7}  {r.worst:>14.2e}  {'pass' if r.ok else 'FAIL'}")
        return "\n".join(lines)

    def _repr_html_(self):
        body = "".join(
            f"<tr><td>{r.kernel}</td><td>{r.points}</td><td>{r.worst:.2e}</td><td>{'pass' if r.ok else '<b>FAIL</b>'}</td></tr>"
            for r in self.rows
        )
        return (f"<b>{self.name}</b> ({self.dtype})<table><tr><th>kernel</th><th>points</th>"
                f"<th>worst rel err</th><th>result</th></tr>{body}</table>")


def sample_inputs(d: Derivation, rng, sizes: dict | None = None, scale: float = 1.0, dtype=np.float64) -> dict:
    """Random valid arguments for a derivation, by name, at random (or given) sizes."""
    env = _draw_sizes(d, rng, sizes)
    out = {}
    domains = getattr(d, "domains", {}) or {}
    for t in d.inputs:
        shape = tuple(int(s.xreplace(env)) if hasattr(s, "xreplace") else int(s) for s in t.shape)
        kind = domains.get(t.name, "positive" if (t in d.hyper) else "real")
        v = DOMAINS[kind](rng, shape, scale)
        out[t.name] = float(v) if not shape else np.asarray(v, dtype=dtype)
    return out


def _draw_sizes(d: Derivation, rng, sizes: dict | None) -> dict:
    """{Dim: int}: the given sizes, the others drawn from 2..5, redrawn until every input's
    shape is positive (a size such as ⌊(H − kh + 1)/2⌋ constrains H and kh together)."""
    syms = []
    for t in d.inputs:
        for s in t.shape:
            for sym in sorted(getattr(s, "free_symbols", ()), key=str):
                if isinstance(sym, Dim) and sym not in syms:
                    syms.append(sym)
    shapes = [s for t in d.inputs for s in t.shape if hasattr(s, "xreplace")]
    for _ in range(1000):
        env = {sym: int((sizes or {}).get(sym.name, rng.integers(2, 6))) for sym in syms}
        if all(int(s.xreplace(env)) >= 1 for s in shapes):
            return env
    raise ValueError(f"{d.name}: no sizes in 2..5 (with {sizes or {}}) make every input's shape positive; "
                     "pass sizes= that do")


def _rel(a, b, floor):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    den = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)), floor)
    return float(np.max(np.abs(a - b), initial=0.0)) / den


def check(target, *, points: int = 3, scales=(0.3, 1.0, 3.0), seed: int = 0, dtype=np.float64,
          module=None) -> CheckReport:
    """Finite-difference checks of every derivative kernel of a catalog derivation.

    Args:
        target: a derivation name or a Derivation.
        points: random points per scale.
        scales: standard deviations of the parameter draws.
        seed: the RNG seed (the same seed gives the same report).
        dtype: np.float64 or np.float32.
        module: the kernel module (default: generated.<name>).

    Returns:
        A CheckReport; ``report.ok`` is False if any kernel failed.
    """
    d = target if isinstance(target, Derivation) else load(target)
    mod = module or importlib.import_module(f"generated.{d.name}")
    tol = TOLERANCES[np.dtype(dtype).type]
    rng = np.random.default_rng(seed)
    report = CheckReport(d.name, np.dtype(dtype).name)
    worst: dict[str, float] = {}
    count: dict[str, int] = {}
    pnames = [p.name for p in d.params]

    def note(kernel, err):
        err = err if np.isfinite(err) else np.inf  # max(0.0, nan) is 0.0: a NaN must fail, not pass
        worst[kernel] = max(worst.get(kernel, 0.0), err)
        count[kernel] = count.get(kernel, 0) + 1

    for scale in scales:
        for _ in range(points):
            args = sample_inputs(d, rng, scale=scale, dtype=dtype)
            theta = [np.asarray(args[p], dtype=dtype) for p in pnames]
            rest = [args[t.name] for t in d.data + d.hyper]
            dirs = [rng.normal(size=np.shape(t)) for t in theta]
            norm = np.sqrt(sum(float(np.sum(u * u)) for u in dirs))
            dirs = [np.asarray(u / norm, dtype=dtype) for u in dirs]
            size = max(1.0, max(float(np.max(np.abs(t), initial=0.0)) for t in theta))

            def as_tuple(g):
                return g if isinstance(g, tuple) else (g,)

            def shifted(sign, h):
                return [np.asarray(t + sign * h * u, dtype=dtype) for t, u in zip(theta, dirs)]

            def best(err_at):
                # Retry with smaller steps before failing: truncation error (∝ h²) and the
                # chance of stepping over a kink (relu, max pooling; ∝ h) shrink with h, a
                # wrong derivative does not.
                err = err_at(tol["step"] * size)
                for shrink in (8.0, 64.0):
                    if err <= tol["rtol"]:
                        break
                    err = min(err, err_at(tol["step"] * size / shrink))
                return err

            if hasattr(mod, "loss") and hasattr(mod, "grad"):
                g = as_tuple(mod.grad(*theta, *rest))
                exact = sum(float(np.sum(gi * u)) for gi, u in zip(g, dirs))

                # the difference of two losses carries rounding noise ∝ |L|: a small directional
                # derivative of a large loss is compared with an absolute floor atol·max(1, |L|)
                noise = tol["atol"] / tol["rtol"] * max(1.0, abs(float(mod.loss(*theta, *rest))))

                def grad_err(h):
                    fd = (mod.loss(*shifted(1, h), *rest) - mod.loss(*shifted(-1, h), *rest)) / (2 * h)
                    return _rel(fd, exact, max(tol["floor"], noise))

                note("grad vs loss", best(grad_err))
                if hasattr(mod, "value_and_grad"):
                    v, g2 = mod.value_and_grad(*theta, *rest)
                    err = _rel(v, mod.loss(*theta, *rest), tol["floor"])
                    for a, b in zip(as_tuple(g2), g):
                        err = max(err, _rel(a, b, tol["floor"]))
                    note("value_and_grad vs loss, grad", err)
            if hasattr(mod, "grad") and (hasattr(mod, "hessian") or hasattr(mod, "hvp")):
                def fd_grad(h):
                    gp = as_tuple(mod.grad(*shifted(1, h), *rest))
                    gm = as_tuple(mod.grad(*shifted(-1, h), *rest))
                    return np.concatenate([np.ravel((a - b) / (2 * h)) for a, b in zip(gp, gm)])

                if hasattr(mod, "hessian"):
                    Hu = mod.hessian(*theta, *rest) @ np.concatenate([np.ravel(u) for u in dirs])
                    note("hessian vs grad", best(lambda h: _rel(fd_grad(h), Hu, tol["floor"])))
                if hasattr(mod, "hvp"):
                    hv = np.concatenate([np.ravel(x) for x in as_tuple(mod.hvp(*theta, *dirs, *rest))])
                    note("hvp vs grad", best(lambda h: _rel(fd_grad(h), hv, tol["floor"])))
    for k in worst:
        report.rows.append(CheckRow(k, count[k], worst[k], worst[k] <= tol["rtol"]))
    return report
