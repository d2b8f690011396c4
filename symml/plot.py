"""Plots: loss landscapes beside their Taylor models, optimizer trajectories, decision boundaries.

- :func:`landscape`: the loss on a 2-D slice θ₀ + s·u + t·v through a point, beside the
  second-order Taylor model L(θ₀) + ∇Lᵀδ + ½δᵀ∇²Lδ built from the model's gradient and
  Hessian kernels, as contours and as 1-D cuts along u and v.
- :func:`record` runs one of symml's optimizers and keeps its path θ₀, θ₁, …;
  :func:`trajectories` draws several paths on a two-parameter problem's contours, and
  their loss-versus-iteration curves on a log scale. :func:`rosenbrock` is the classic test.
- :func:`decision_boundary`: a two-feature classifier's decision function f (the one its
  derivation declares) over the plane, its zero level set, and the data.

Every function returns a matplotlib ``Figure`` and never calls ``plt.show()``; figures are
made without pyplot, so nothing is kept in pyplot's global state (in a notebook, run
``%matplotlib inline`` once so that a returned figure displays). The arrays a figure
shows are attached to it as ``fig.symml_data``, so what is drawn can be checked. matplotlib
is imported only when a figure is drawn (the optional ``plot`` extra).

Takes: derivations, problems and OptimizeResults. Gives: figures.
"""
from __future__ import annotations

import numpy as np

from .catalog import Derivation
from .evaluate import evaluate
from .nodes import leaves

__all__ = ["landscape", "record", "trajectories", "decision_boundary", "decision_function", "rosenbrock"]

#: the optimizers :func:`record` can replay (deterministic given their options and seed)
REPLAYABLE = ("gd", "sgd", "minibatch", "momentum", "nesterov", "rmsprop", "adam", "newton", "trust_region", "kkt",
              "prox")


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - exercised where matplotlib is missing
        raise ImportError("symml.plot needs matplotlib: pip install 'symml[plot]' (or pip install matplotlib)") \
            from None
    return Figure(figsize=(width, height), layout="constrained")


def _problem(model, data, hyper, sizes):
    """A Problem from a Problem, an OptimizeResult (its problem), a Derivation or a catalog name."""
    from .optim import Problem
    from .optim.result import OptimizeResult

    if isinstance(model, OptimizeResult):
        problem = model.info.get("problem")
        if problem is None:
            raise ValueError("this OptimizeResult carries no problem (info['problem']); pass the model and data")
        return problem
    if isinstance(model, Problem):
        return model
    if isinstance(model, (str, Derivation)):
        return Problem(model, data, hyper or {}, sizes=sizes)
    raise TypeError(f"expected a catalog name, Derivation, Problem or OptimizeResult, got {type(model).__name__}")


def _theta(at, problem) -> np.ndarray:
    from .optim.result import OptimizeResult

    if at is None:
        return problem.theta0.copy()
    if isinstance(at, OptimizeResult):
        at = at.theta
    if isinstance(at, dict):
        return problem.pack({**problem.unpack(problem.theta0), **at})
    return problem._theta(np.asarray(at, dtype=np.float64).ravel()).copy()


# --------------------------------------------------------------------------- landscape


def _directions(directions, problem, theta, H, seed):
    """(2, p) unit directions: given, the coordinate axes (p = 2), the Hessian's two leading
    eigenvectors, or random orthonormal ones."""
    p = problem.size
    if directions is None:
        directions = "axes" if p == 2 else "hessian"
    if isinstance(directions, str):
        if directions == "axes" and p == 2:
            return np.eye(2)
        if directions == "hessian" and H is not None:
            vals, vecs = np.linalg.eigh((H + H.T) / 2)
            order = np.argsort(-np.abs(vals))
            return vecs[:, order[:2]].T.copy()
        if directions in ("random", "hessian"):
            Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((p, 2)))
            return Q.T.copy()
        raise ValueError(f"directions: expected 'axes' (two parameters only), 'hessian', 'random' or two arrays, "
                         f"got {directions!r}")
    U = np.array([problem.pack(u) if isinstance(u, dict) else np.ravel(u) for u in directions], dtype=np.float64)
    if U.shape != (2, p):
        raise ValueError(f"directions: expected two directions of {p} entries (like θ), got shape {U.shape}")
    norms = np.linalg.norm(U, axis=1)
    if np.any(norms == 0) or abs(U[0] @ U[1]) >= 0.999 * norms[0] * norms[1]:
        raise ValueError("directions: expected two non-zero, non-parallel directions")
    return U / norms[:, None]


def landscape(model, data=(), at=None, directions=None, *, hyper=None, radius: float = 1.0, resolution: int = 41,
              sizes=None, levels: int = 20, seed: int = 0):
    """The loss on a 2-D slice through a point, beside its second-order Taylor model.

    Args:
        model: a catalog name or Derivation (with ``data``, ``hyper``), a Problem, or an
            OptimizeResult (its problem; ``at`` defaults to its parameters).
        data: the data tensors, as for ``sm.fit``.
        at: the point θ₀: a dict by parameter name, a flat θ or an OptimizeResult.
        directions: "axes" (the parameters themselves, for two parameters; the default
            there), "hessian" (the two eigenvectors of ∇²L(θ₀) of largest |eigenvalue|; the
            default otherwise; random directions where the Hessian is not formed: more than
            200 parameters and no hessian kernel), "random", or two arrays shaped like θ (or
            dicts). They are normalised to unit length.
        hyper: the hyper-parameters by name.
        radius: the slice covers θ₀ + s·u + t·v for |s|, |t| ≤ radius.
        resolution: grid points per side (odd, so that θ₀ is on the grid).
        sizes, levels, seed: sizes the data do not fix; contour levels; the random directions' seed.

    Returns:
        A Figure: the loss's contours, the Taylor model's, and 1-D cuts along u and v.
        ``fig.symml_data`` holds s, t, loss and taylor grids (resolution, resolution), the
        cuts, θ₀, the directions, the gradient and the 2×2 curvature UᵀHUᵀ.
    """
    from .optim.result import OptimizeResult

    problem = _problem(model, data, hyper, sizes)
    theta = _theta(model if at is None and isinstance(model, OptimizeResult) else at, problem)
    if not (isinstance(radius, (int, float)) and np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius: expected a positive number, got {radius!r}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 5:
        raise ValueError(f"resolution: expected an int ≥ 5, got {resolution!r}")
    resolution += 1 - resolution % 2
    L0, g = problem.value_and_grad(theta)
    H = problem.hessian(theta) if problem.has("hessian") or problem.size <= 200 else None
    U = _directions(directions, problem, theta, H, seed)
    HU = np.array([H @ u if H is not None else problem.hvp(theta, u) for u in U])
    gU, C = U @ g, U @ HU.T  # the gradient and the curvature restricted to the slice
    C = (C + C.T) / 2

    def model_at(s, t):
        return L0 + s * gU[0] + t * gU[1] + 0.5 * (C[0, 0] * s * s + 2 * C[0, 1] * s * t + C[1, 1] * t * t)

    axis = np.linspace(-radius, radius, resolution)
    S, T = np.meshgrid(axis, axis)
    loss = np.array([[problem.value(theta + s * U[0] + t * U[1]) for s in axis] for t in axis])
    taylor = model_at(S, T)
    cut = np.linspace(-radius, radius, 201)
    cuts = {k: {"s": cut, "loss": np.array([problem.value(theta + c * U[j]) for c in cut]),
                "taylor": model_at(cut, 0 * cut) if j == 0 else model_at(0 * cut, cut)}
            for j, k in enumerate("uv")}

    fig = _figure(13, 4)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    finite = loss[np.isfinite(loss)]
    lo, hi = float(np.min(finite)), float(np.percentile(finite, 95))
    lv = np.linspace(lo, hi if hi > lo else lo + 1, levels)
    names = _axis_names(problem, U)
    for ax, Z, title in ((ax1, loss, "loss L"), (ax2, taylor, "Taylor model from the Hessian")):
        cs = ax.contour(S, T, Z, levels=lv, cmap="viridis")
        ax.clabel(cs, inline=True, fontsize=6, fmt="%.3g")
        ax.plot([0], [0], "k+", markersize=10)
        ax.set(title=title, xlabel=names[0], ylabel=names[1], aspect="equal")
    for k, color in zip("uv", ("C0", "C3")):
        ax3.plot(cuts[k]["s"], cuts[k]["loss"], color=color, label=f"L along {k}")
        ax3.plot(cuts[k]["s"], cuts[k]["taylor"], color=color, linestyle="--", label=f"Taylor along {k}")
    ax3.set(title="1-D cuts through θ₀", xlabel="distance from θ₀", ylabel="loss")
    ax3.legend(fontsize=8)
    fig.suptitle(f"{problem.derivation.name}: L(θ₀ + s·u + t·v) and L(θ₀) + ∇Lᵀδ + ½δᵀ∇²Lδ")
    fig.symml_data = {"s": axis, "t": axis, "loss": loss, "taylor": taylor, "cuts": cuts, "theta": theta,
                      "directions": U, "gradient": g, "curvature": C}
    return fig


def _axis_names(problem, U) -> tuple[str, str]:
    """"Δw[0]" for a coordinate axis, else "s (along u)"."""
    flat = problem.flat.entry_names()
    out = []
    for j, u in enumerate(U):
        hit = np.flatnonzero(np.abs(u) == 1.0)
        out.append(f"Δ{flat[hit[0]]}" if len(hit) == 1 and np.count_nonzero(u) == 1 else f"{'st'[j]} (along {'uv'[j]})")
    return out[0], out[1]


# --------------------------------------------------------------------------- trajectories


def rosenbrock(a: float = 1.0, b: float = 100.0):
    """The Rosenbrock function (a − x)² + b(y − x²)² as a Derivation over two scalars x, y.

    Its minimum is 0 at (a, a²), at the end of a long curved valley: the classic test of how
    optimizers cope with bad conditioning. It has no data: ``Problem(rosenbrock(), ())``.

    >>> import symml as sm
    >>> sm.pretty(rosenbrock().loss)
    '(1 − x)² + 100(y − x²)²'
    """
    from . import dsl

    x, y = dsl.scalar("x"), dsl.scalar("y")
    return Derivation("rosenbrock", (a - x) ** 2 + b * (y - x ** 2) ** 2, params=[x, y],
                      kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
                      title=f"Rosenbrock's function ({a:g} − x)² + {b:g}(y − x²)², minimum 0 at ({a:g}, {a * a:g})")


def record(problem, method: str = "gd", *, snapshots: int = 200, **options):
    """Run an optimizer and keep its path.

    The optimizers of :mod:`symml.optim` run their loops in numba and return the last
    iterate. Each one is deterministic given its options and seed, so the k-th iterate is
    the result of the same run stopped after k iterations: ``record`` runs once, then replays
    up to ``snapshots`` prefixes (every iteration when there are fewer).

    Args:
        problem: a :class:`~symml.optim.Problem`.
        method: one of gd, sgd, minibatch, momentum, nesterov, rmsprop, adam, newton,
            trust_region, kkt, prox.
        snapshots: the most iterates kept (the first and the last always are).
        **options: the method's options (lr, max_iter, tol, ...).

    Returns:
        The run's OptimizeResult, with ``info["path"]`` (m, p), the iterates θ_k, and
        ``info["path_iterations"]`` (m,), their k; ``info["problem"]`` is the problem.
    """
    from .optim.methods import METHODS, check_options as _check_options

    if method not in REPLAYABLE:
        raise ValueError(f"record: method must be one of {', '.join(REPLAYABLE)}, got {method!r}")
    if isinstance(snapshots, bool) or not isinstance(snapshots, int) or snapshots < 2:
        raise ValueError(f"snapshots: expected an int ≥ 2, got {snapshots!r}")
    _check_options(method, options, {t.name for t in problem.derivation.hyper})
    solver = METHODS[method]
    result = solver(problem, **options)
    if "lr" in result.info and "lr" not in options:
        options = {**options, "lr": result.info["lr"]}  # the rule chose it at θ₀: replays reuse it
    start = problem._theta(options["theta0"]).copy() if options.get("theta0") is not None else problem.theta0.copy()
    ks = np.unique(np.round(np.linspace(0, result.n_iter, min(snapshots, result.n_iter + 1))).astype(int))
    path = [start if k == 0 else result.theta if k == result.n_iter else
            solver(problem, **{**options, "max_iter": int(k)}).theta for k in ks]
    result.info.update(path=np.array(path), path_iterations=ks, problem=problem)
    return result


def trajectories(results, *, optimum=None, levels: int = 25, resolution: int = 121, margin: float = 0.15):
    """Several optimizers' paths on a two-parameter problem, and their loss curves.

    Args:
        results: OptimizeResults from :func:`record` (with ``info["path"]`` and the same
            two-parameter problem), as a dict label → result or a list (labelled by method).
        optimum: θ* (2,), drawn as a star; L* = L(θ*) is subtracted from the losses. By
            default L* is the least loss any run reached.
        levels, resolution, margin: contour levels, grid points per side, and the margin
            around the paths, as a fraction of their extent.

    Returns:
        A Figure: paths on contours of L (left), L − L* per iteration on a log scale (right).
        ``fig.symml_data`` holds the paths, the loss gaps, θ* and L*.
    """
    if isinstance(results, (list, tuple)):
        results = {r.method: r for r in results}
    if not isinstance(results, dict) or not results:
        raise TypeError("trajectories: expected a dict label → OptimizeResult, or a list of them, from sm.plot.record")
    problem = None
    for label, r in results.items():
        if "path" not in getattr(r, "info", {}):
            raise ValueError(f"trajectories: {label!r} has no path; run it with sm.plot.record(problem, method, ...)")
        problem = problem or r.info["problem"]
    if problem.size != 2:
        raise ValueError(f"trajectories: draws paths in a plane, so the problem needs two parameters; "
                         f"{problem.derivation.name} has {problem.size}")
    star = None if optimum is None else np.asarray(optimum, dtype=np.float64).ravel()
    L_star = problem.value(star) if star is not None else min(float(np.min(r.loss_history)) for r in results.values())
    pts = np.vstack([r.info["path"] for r in results.values()] + ([star[None]] if star is not None else []))
    lo, hi = pts.min(0), pts.max(0)
    pad = margin * np.maximum(hi - lo, 1e-3 * (1 + np.abs(hi)))
    xs, ys = (np.linspace(lo[k] - pad[k], hi[k] + pad[k], resolution) for k in range(2))
    XX, YY = np.meshgrid(xs, ys)
    ZZ = np.array([[problem.value(np.array([x, y])) for x in xs] for y in ys])
    gap = np.maximum(ZZ - min(L_star, float(ZZ.min())), 0) + 1e-12 * max(1.0, abs(L_star))
    fig = _figure(12, 5)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.contour(XX, YY, np.log10(gap), levels=levels, cmap="Greys", linewidths=0.6)
    paths, gaps = {}, {}
    floor = np.finfo(np.float64).eps * max(1.0, abs(L_star))
    for k, (label, r) in enumerate(results.items()):
        P = r.info["path"]
        color = f"C{k % 10}"
        ax1.plot(P[:, 0], P[:, 1], "-", color=color, marker=".", markersize=3, linewidth=1.2, label=label)
        ax1.plot(P[-1, 0], P[-1, 1], "o", color=color, markersize=6)
        gaps[label] = np.maximum(r.loss_history - L_star, floor)
        ax2.semilogy(np.arange(len(gaps[label])), gaps[label], color=color, label=f"{label} ({r.n_iter} it.)")
        paths[label] = P
    start = next(iter(results.values())).info["path"][0]
    ax1.plot(*start, "ks", markersize=6, label="start")
    if star is not None:
        ax1.plot(*star, "*", color="gold", markeredgecolor="k", markersize=14, label="optimum")
    names = _axis_names(problem, np.eye(2))
    ax1.set(title=f"{problem.derivation.name}: paths on contours of log(L − L*)", xlabel=names[0].lstrip("Δ"),
            ylabel=names[1].lstrip("Δ"))
    ax1.legend(fontsize=8)
    ax2.set(title="L − L* per iteration", xlabel="iteration (epoch)", ylabel="L − L*")
    ax2.set_xscale("symlog", linthresh=10)
    ax2.legend(fontsize=8)
    fig.symml_data = {"paths": paths, "gaps": gaps, "optimum": star, "loss_star": L_star}
    return fig


# --------------------------------------------------------------------------- decision boundaries


def decision_function(fit):
    """f(Z) → scores for a fitted two-feature model, from its derivation's decision function.

    The spec says what the scores are (``Derivation(decision=...)``): Xw + b for the linear
    classifiers, the outputs z for the MLPs and softmax regression. It is evaluated with the
    fitted parameters and the rows Z in place of its features X; two outputs give z₁ − z₀,
    more give (m, K) scores.

    Args:
        fit: an OptimizeResult from ``sm.fit`` (or :func:`record`).

    Returns:
        A function of Z (m, d) returning (m,) scores (class 1 where positive) or (m, K).
    """
    from .optim.result import OptimizeResult

    if callable(fit) and not isinstance(fit, OptimizeResult):
        return fit
    if not isinstance(fit, OptimizeResult) or "problem" not in fit.info:
        raise TypeError(f"decision_function: expected an OptimizeResult from sm.fit or a function f(Z) → scores, "
                        f"got {type(fit).__name__}")
    problem = fit.info["problem"]
    d = problem.derivation
    expr = d.decision
    if expr is None:
        raise TypeError(f"decision_function: {d.name} declares no decision function (Derivation(decision=...)); "
                        "pass a function f(Z) → scores (for a kernel SVM: sm.evaluate of its kernelized decision "
                        "function)")
    hyper = {t.name: float(h) for t, h in zip(d.hyper, problem.hyper)}
    X = next(t for t in leaves(expr) if t in d.data)  # the features (the spec checks there is one)
    used = {t.name for t in leaves(expr)}

    def f(Z):
        arrays = {k: v for k, v in {**fit.params, **hyper}.items() if k in used}
        out = np.asarray(evaluate(expr, **arrays, **{X.name: np.asarray(Z, dtype=np.float64)}), dtype=np.float64)
        if out.ndim == 2 and out.shape[1] == 2:
            return out[:, 1] - out[:, 0]
        return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out

    return f


def decision_boundary(fit, X, y, *, resolution: int = 200, margin: float = 0.1, margins=None, title: str | None = None):
    """A two-feature classifier's decision function, its zero set, and the data.

    Args:
        fit: an OptimizeResult from ``sm.fit`` (logistic regression, the SVM primal, an
            MLP, softmax regression) or a function f(Z) → scores (a kernel SVM's dual).
        X: (n, 2) features; y: (n,) labels (two classes: class 1 where f > 0) or integer
            classes (0 … K − 1) for K scores.
        resolution, margin: grid points per side; the margin around the data.
        margins: extra levels to draw dashed, e.g. (−1, 1) for an SVM's margins.
        title: the title (default: the model's name and its accuracy).

    Returns:
        A Figure. ``fig.symml_data`` holds the grid, the scores, the zero-level vertices
        ("boundary", a list of (k, 2) arrays), the function f and the accuracy on (X, y).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"decision_boundary: expected X (n, 2) and y (n,), got X {X.shape} and y {y.shape}")
    f = decision_function(fit)
    lo, hi = X.min(0), X.max(0)
    pad = margin * np.maximum(hi - lo, 1e-9)
    xs, ys = (np.linspace(lo[k] - pad[k], hi[k] + pad[k], resolution) for k in range(2))
    XX, YY = np.meshgrid(xs, ys)
    F = np.asarray(f(np.column_stack([XX.ravel(), YY.ravel()])), dtype=np.float64)
    classes = np.unique(y)
    fig = _figure(6, 5)
    ax = fig.subplots()
    if F.ndim == 1:
        F = F.reshape(XX.shape)
        bound = float(np.max(np.abs(F))) or 1.0
        ax.contourf(XX, YY, F, levels=np.linspace(-bound, bound, 21), cmap="RdBu_r", alpha=0.35)
        cs = ax.contour(XX, YY, F, levels=[0.0], colors="k", linewidths=1.5)
        if margins:
            ax.contour(XX, YY, F, levels=sorted(margins), colors="k", linestyles="--", linewidths=0.8)
        scores = np.asarray(f(X), dtype=np.float64)
        predicted = np.where(scores > 0, classes[-1], classes[0])
        segments = [_vertices(cs)]
    else:
        K = F.shape[1]
        F = F.reshape(XX.shape + (K,))
        ax.contourf(XX, YY, np.argmax(F, axis=-1), levels=np.arange(K + 1) - 0.5, cmap="tab10", alpha=0.25)
        segments = []
        for k in range(K):
            others = np.max(np.delete(F, k, axis=-1), axis=-1)
            segments.append(_vertices(ax.contour(XX, YY, F[..., k] - others, levels=[0.0], colors="k",
                                                 linewidths=1.2)))
        predicted = np.argmax(np.asarray(f(X)), axis=-1)
    for k, c in enumerate(classes):
        keep = y == c
        ax.scatter(X[keep, 0], X[keep, 1], s=14, color=f"C{k}", edgecolor="k", linewidth=0.3, label=f"y = {c:g}")
    accuracy = float(np.mean(predicted == y))
    name = fit.info["problem"].derivation.name if hasattr(fit, "info") and "problem" in fit.info else "model"
    ax.set(title=title or f"{name}: accuracy {accuracy:.3f}", xlabel="x₁", ylabel="x₂")
    ax.legend(fontsize=8, loc="best")
    fig.symml_data = {"x": xs, "y": ys, "scores": F, "boundary": [s for seg in segments for s in seg], "f": f,
                      "accuracy": accuracy}
    return fig


def _vertices(cs) -> list:
    """The vertices of a contour set's lines, one (k, 2) array per connected piece."""
    from matplotlib.path import Path

    out = []
    for path in cs.get_paths():
        if len(path.vertices) == 0:
            continue
        codes = path.codes if path.codes is not None else np.full(len(path.vertices), Path.LINETO)
        starts = list(np.flatnonzero(codes == Path.MOVETO)) or [0]
        for a, b in zip(starts, starts[1:] + [len(codes)]):
            keep = codes[a:b] != Path.CLOSEPOLY
            out.append(path.vertices[a:b][keep])
    return out
