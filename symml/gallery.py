"""The printing gallery: derived results from outside the catalog, printed, and the page of them.

Each :class:`Entry` is a loss (or a function, for a Jacobian) written in the DSL, with the
variable it is differentiated by. :func:`build` derives it; tests/test_gallery.py pins its
unicode and LaTeX and checks it against finite differences; :func:`page` writes
docs/gallery.md, the source beside the result.

Run ``python -m symml.gallery`` to write the page, ``python -m symml.gallery --check`` to
fail (exit status 1) when docs/gallery.md is not what this module gives.

Takes: the DSL. Gives: derived expressions and a Markdown page.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Sizes used for numeric checks (the derivations themselves are symbolic).
SIZES = {"n": 5, "d": 3, "k": 2}
#: The inputs every entry may use: name → (shape in dimension names, kind of values).
INPUTS = {
    "X": (("n", "d"), "normal"), "y": (("n",), "normal"), "w": (("d",), "normal"), "b": ((), "normal"),
    "W": (("d", "k"), "normal"), "Y": (("n", "k"), "normal"), "x": (("d",), "normal"), "v": (("d",), "normal"),
    "mu": (("d",), "normal"), "c": (("k",), "normal"), "t": (("n",), "normal"), "r": (("n",), "positive"),
    "A": (("d", "d"), "invertible"), "B": (("d", "d"), "normal"), "S": (("d", "d"), "spd"),
    "K": (("n", "n"), "spd"), "lam": ((), "positive"), "alpha": ((), "positive"), "sigma2": ((), "positive"),
    "eps": ((), "positive"), "ell": ((), "positive"), "mu0": ((), "normal"), "T": (("n", "k"), "simplex"),
}
#: Inputs declared with a flag of sm.tensor: name → the keyword (set True).
_DECLARED = {"S": "positive_definite", "K": "positive_definite", "T": "simplex"}
PAGE = Path(__file__).resolve().parent.parent / "docs" / "gallery.md"


@dataclass(frozen=True)
class Entry:
    """One result: ``kind`` is "grad", "hessian" or "jacobian" of ``expr`` by ``wrt``."""

    title: str
    kind: str
    expr: str
    wrt: str

    @property
    def source(self) -> str:
        return f"sm.{self.kind}({self.expr}, {self.wrt})"


E = Entry
ENTRIES = [
    # --- the rows of issue 17's table
    E("half-λ penalty", "grad", "lam / 2 * (w @ w)", "w"),
    E("trace of a cube", "grad", "sm.trace(A @ A @ A)", "A"),
    E("log of a determinant", "grad", "sm.log(sm.det(A))", "A"),
    E("logistic loss, ±1 labels", "grad", "sm.sum(sm.log(1 + sm.exp(-y * (X @ w))))", "w"),
    E("softmax cross-entropy, written out", "grad",
      "-sm.sum(Y * (X @ W - sm.expand_dims(sm.log(sm.sum(sm.exp(X @ W), axis=1)), 1)))", "W"),
    E("least squares in a matrix parameter", "hessian", "sm.sum((X @ W - Y) ** 2)", "W"),
    E("Gaussian-process evidence", "grad", "sm.logdet(K) / 2 + (t @ sm.solve(K, t)) / 2", "K"),
    # --- linear and quadratic models
    E("ridge regression", "grad", "sm.norm2(X @ w - y) + lam * sm.norm2(w)", "w"),
    E("ridge regression", "hessian", "sm.norm2(X @ w - y) + lam * sm.norm2(w)", "w"),
    E("ridge, gradient in λ", "grad", "sm.norm2(X @ w - y) + lam * sm.norm2(w)", "lam"),
    E("least squares with an intercept", "grad", "sm.norm2(X @ w + b - y)", "b"),
    E("mean squared error", "grad", "sm.mean((X @ w - y) ** 2)", "w"),
    E("weighted least squares", "grad", "sm.sum(r * (X @ w - y) ** 2)", "w"),
    E("weighted least squares", "hessian", "sm.sum(r * (X @ w - y) ** 2)", "w"),
    E("Gaussian likelihood, in w", "grad", "sm.norm2(X @ w - y) / (2 * sigma2) + sm.norm2(w) / 2", "w"),
    E("Gaussian likelihood, in σ²", "grad", "n * sm.log(sigma2) / 2 + sm.norm2(X @ w - y) / (2 * sigma2)", "sigma2"),
    E("shrinkage towards μ₀", "grad", "sm.norm2(w - mu0)", "w"),
    E("a linear term", "grad", "y @ (X @ w)", "w"),
    E("a linear term, transposed", "grad", "(X.T @ y) @ w", "w"),
    E("multi-output ridge", "hessian", "sm.sum((X @ W - Y) ** 2) + lam * sm.sum(W ** 2)", "W"),
    E("multi-output least squares", "grad", "sm.sum((X @ W - Y) ** 2) / 2", "W"),
    E("a projected output", "hessian", "sm.norm2(X @ W @ c - y)", "W"),
    # --- robust losses
    E("pseudo-Huber", "grad", "sm.sum(sm.sqrt(1 + (X @ w - y) ** 2))", "w"),
    E("Cauchy loss", "grad", "sm.sum(sm.log(1 + (X @ w - y) ** 2))", "w"),
    E("log-cosh", "grad", "sm.sum(sm.log(sm.exp(X @ w - y) + sm.exp(y - X @ w)))", "w"),
    E("ε-smoothed log", "grad", "sm.sum(sm.log(eps + sm.exp(X @ w)))", "w"),
    # --- logistic and friends, from elementary forms
    E("logistic loss, written with exp", "grad", "sm.sum(sm.log(1 + sm.exp(X @ w)) - y * (X @ w))", "w"),
    E("logistic loss, written with exp", "hessian", "sm.sum(sm.log(1 + sm.exp(X @ w)) - y * (X @ w))", "w"),
    E("logistic loss, ±1 labels", "hessian", "sm.sum(sm.log(1 + sm.exp(-y * (X @ w))))", "w"),
    E("a hand-written sigmoid", "grad", "sm.sum(1 / (1 + sm.exp(-x)))", "x"),
    E("log of a hand-written sigmoid", "grad", "sm.sum(sm.log(1 / (1 + sm.exp(-(X @ w)))))", "w"),
    E("sigmoid as a ratio of exponentials", "grad", "sm.sum(y * sm.exp(X @ w) / (1 + sm.exp(X @ w)))", "w"),
    E("logistic loss with softplus", "grad", "sm.sum(sm.softplus(X @ w) - y * (X @ w)) + lam / 2 * (w @ w)", "w"),
    E("logistic loss with softplus", "hessian",
      "sm.sum(sm.softplus(X @ w) - y * (X @ w)) + lam / 2 * (w @ w)", "w"),
    E("Poisson regression", "grad", "sm.sum(sm.exp(X @ w) - y * (X @ w))", "w"),
    E("Poisson regression", "hessian", "sm.sum(sm.exp(X @ w) - y * (X @ w))", "w"),
    E("a tanh layer", "grad", "sm.norm2(sm.tanh(X @ W) @ c - y)", "c"),
    E("a tanh layer", "grad", "sm.norm2(sm.tanh(X @ W) @ c - y)", "W"),
    # --- softmax and log-sum-exp, from elementary forms
    E("log-sum-exp, written out", "grad", "sm.log(sm.sum(sm.exp(x)))", "x"),
    E("log-sum-exp, written out", "hessian", "sm.log(sm.sum(sm.exp(x)))", "x"),
    E("softmax, written out", "grad", "v @ (sm.exp(x) / sm.sum(sm.exp(x)))", "x"),
    E("softmax", "jacobian", "sm.softmax(x)", "x"),
    E("softmax cross-entropy", "grad", "-sm.sum(Y * sm.log_softmax(X @ W, axis=1))", "W"),
    E("entropy of a softmax", "grad", "-sm.sum(sm.softmax(x) * sm.log_softmax(x))", "x"),
    E("softmax cross-entropy, targets on the simplex", "grad", "-sm.sum(T * sm.log_softmax(X @ W, axis=1))", "W"),
    E("softmax cross-entropy, simplex targets, written out", "grad",
      "-sm.sum(T * (X @ W - sm.expand_dims(sm.log(sm.sum(sm.exp(X @ W), axis=1)), 1)))", "W"),
    E("softmax cross-entropy, simplex targets", "hessian", "-sm.sum(T * sm.log_softmax(X @ W, axis=1))", "W"),
    E("KL from simplex targets to a softmax", "grad", "sm.sum(T * (sm.log(T) - sm.log_softmax(X @ W, axis=1)))", "W"),
    # --- matrices
    E("trace of a fourth power", "grad", "sm.trace(A @ A @ A @ A)", "A"),
    E("a matrix square", "grad", "sm.sum(A @ A @ x)", "x"),
    E("a quadratic form in A²", "grad", "x @ A @ A @ x", "x"),
    E("trace of a product", "grad", "sm.trace(A @ B)", "A"),
    E("trace of AᵀA", "grad", "sm.trace(A.T @ A)", "A"),
    E("trace of ABAᵀ", "grad", "sm.trace(A @ B @ A.T)", "A"),
    E("Frobenius norm", "grad", "sm.sum(A ** 2)", "A"),
    E("determinant", "grad", "sm.det(A)", "A"),
    E("a double inverse", "grad", "sm.sum(sm.inv(sm.inv(A)) @ x)", "x"),
    E("bilinear form", "grad", "x @ A @ v", "A"),
    E("bilinear form, as an outer product", "grad", "sm.sum(sm.outer(x, v) * A)", "A"),
    E("quadratic form", "grad", "x @ A @ x", "x"),
    E("quadratic form", "hessian", "x @ A @ x", "x"),
    E("a symmetric quadratic form", "grad", "x @ S @ x", "x"),
    E("a symmetric quadratic form", "hessian", "x @ S @ x", "x"),
    E("log det of a covariance", "grad", "sm.logdet(S)", "S"),
    E("trace of an inverse", "grad", "sm.trace(sm.inv(S) @ B)", "B"),
    E("Mahalanobis distance", "grad", "(x - mu) @ sm.solve(S, x - mu)", "mu"),
    E("Gaussian likelihood, in Σ", "grad", "sm.logdet(S) / 2 + (x - mu) @ sm.solve(S, x - mu) / 2", "S"),
    E("a Gram matrix", "grad", "sm.sum((X @ X.T) * K)", "X"),
    E("a quadratic form in a matrix", "hessian", "sm.trace(W.T @ A @ W)", "W"),
    E("a symmetric form in a matrix", "hessian", "sm.trace(W @ W.T @ S)", "W"),
    # --- named intermediates (sm.let): printed with the definitions of the names they use
    E("logistic loss through sm.let", "grad",
      "sm.sum(sm.softplus(sm.let('z', X @ w + b)) - y * sm.let('z', X @ w + b)) + lam / 2 * (w @ w)", "w"),
    E("logistic loss through sm.let", "hessian",
      "sm.sum(sm.softplus(sm.let('z', X @ w + b)) - y * sm.let('z', X @ w + b)) + lam / 2 * (w @ w)", "w"),
    E("a named residual", "grad", "sm.norm2(sm.let('r', X @ w - y)) / 2 + lam / 2 * (w @ w)", "w"),
    E("a named residual", "hessian", "sm.norm2(sm.let('r', X @ w - y)) / 2 + lam / 2 * (w @ w)", "w"),
    # --- kernels and scales
    E("an RBF bump, in ℓ", "grad", "sm.exp(-sm.norm2(x - v) / (2 * ell ** 2))", "ell"),
    E("an RBF bump, in x", "grad", "sm.exp(-sm.norm2(x - v) / (2 * ell ** 2))", "x"),
    E("cosine of an angle", "grad", "(x @ w) / sm.sqrt(w @ w)", "w"),
    E("a tanh map", "jacobian", "sm.tanh(A @ x)", "x"),
]


def namespace(numeric: bool = False) -> dict:
    """The names an entry's source may use: ``sm``, the dimensions and the inputs."""
    import symml as sm

    n, d, k = sm.dims("n d k")
    dims = {"n": n, "d": d, "k": k}
    ns = {"sm": sm, **dims}
    for name, (shape, _) in INPUTS.items():
        flags = {_DECLARED[name]: True} if name in _DECLARED else {}
        ns[name] = sm.tensor(name, tuple(dims[s] for s in shape), **flags)
    return ns


def build(entry: Entry, ns: dict | None = None):
    """(result, function, wrt) of an entry: the derived expression, what it derives, the variable."""
    ns = ns if ns is not None else namespace()
    f = eval(entry.expr, {"__builtins__": {}}, ns)  # the gallery's own source text
    wrt = ns[entry.wrt]
    derive = getattr(ns["sm"], entry.kind)
    return derive(f, wrt), f, wrt


def arrays(seed: int = 0) -> dict:
    """Numeric values for every input, in each input's domain."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (shape, kind) in INPUTS.items():
        size = tuple(SIZES[s] for s in shape)
        if kind == "positive":
            out[name] = rng.uniform(0.5, 2.0, size)
        elif kind == "spd":
            m = rng.normal(size=size)
            out[name] = m @ m.T / size[0] + np.eye(size[0])
        elif kind == "simplex":  # rows on the probability simplex, as simplex=True declares
            out[name] = rng.dirichlet(np.ones(size[-1]), size=size[:-1])
        elif kind == "invertible":
            out[name] = 2 * np.eye(size[0]) + 0.3 * rng.normal(size=size)
        else:
            out[name] = 0.5 * rng.normal(size=size)
    return out


def page() -> str:
    """The Markdown text of docs/gallery.md."""
    from .printing import latex, pretty

    ns = namespace()
    lines = [
        "<!-- Written by `python -m symml.gallery`; do not edit. tests/test_gallery.py checks it is current. -->",
        "<script>window.MathJax = {tex: {inlineMath: [['$', '$']]}};</script>",
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js" async></script>',
        "",
        "# The printing gallery",
        "",
        "Results derived from expressions outside the catalog, as symml prints them. Each is pinned",
        "in tests/test_gallery.py and checked there against central finite differences of the",
        "expression it derives: the printed form is the expression that is evaluated.",
        "",
        "The inputs: `n, d, k = sm.dims(\"n d k\")`; " + ", ".join(
            f"`{name}` {('(' + ', '.join(shape) + ')') if shape else 'scalar'}"
            + (f" ({_DECLARED[name]}=True)" if name in _DECLARED else "")
            for name, (shape, _) in INPUTS.items()) + ".",
        "A rank-4 second derivative of a matrix parameter prints as a Kronecker product",
        "A ⊗ B: the matrix it is when its index pairs are flattened row-major (numpy's `reshape`),",
        "H[(i, j), (k, l)] = A[i, k] B[j, l].",
        "",
        "| # | what | expression | result |",
        "|---|---|---|---|",
    ]
    for k, entry in enumerate(ENTRIES, 1):
        result, _, _ = build(entry, ns)
        tex = latex(result).replace("|", r"\vert ")
        code = entry.source.replace("|", r"\|")
        lines.append(f"| {k} | {entry.title} | `{code}` | ${tex}$ <br> `{pretty(result)}` |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m symml.gallery", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/gallery.md is not current")
    parser.add_argument("--output", type=Path, default=PAGE, help="where to write the page")
    args = parser.parse_args(argv)
    text = page()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run `python -m symml.gallery` to rewrite it", file=sys.stderr)
            return 1
        print(f"{args.output} is current ({len(ENTRIES)} results)")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(ENTRIES)} results)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
