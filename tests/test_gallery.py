"""The printing gallery (symml.gallery): each derived result pinned to its unicode and LaTeX,
checked against central finite differences, and docs/gallery.md kept current.

The printed form is the expression that is evaluated: the numeric check runs ``sm.evaluate``
on the very node that printed, against finite differences of ``sm.evaluate`` of the loss
(for a Hessian, of its gradient, itself checked against the loss).
"""
from __future__ import annotations

import numpy as np
import pytest

import symml as sm
from symml import gallery as G
from symml.nodes import leaves

#: entry source → (unicode, LaTeX), as a careful person writes them.
PINNED = {
    'sm.grad(lam / 2 * (w @ w), w)': (
        'λw',
        '\\lambda w',
    ),
    'sm.grad(sm.trace(A @ A @ A), A)': (
        '3(A²)ᵀ',
        '3 \\left(A^{2}\\right)^{\\top}',
    ),
    'sm.grad(sm.log(sm.det(A)), A)': (
        'A⁻ᵀ',
        'A^{-\\top}',
    ),
    'sm.grad(sm.sum(sm.log(1 + sm.exp(-y * (X @ w)))), w)': (
        '−Xᵀ(y ⊙ σ(−y ⊙ Xw))',
        '-X^{\\top} \\left(y \\odot \\sigma\\left(-y \\odot X w\\right)\\right)',
    ),
    'sm.grad(-sm.sum(Y * (X @ W - sm.expand_dims(sm.log(sm.sum(sm.exp(X @ W), axis=1)), 1))), W)': (
        'Xᵀ(diag(Y𝟏) softmax(XW) − Y)',
        'X^{\\top} \\left(\\operatorname{diag}\\left(Y \\mathbf{1}\\right) \\operatorname{softmax}\\left(X W\\right) - Y\\right)',
    ),
    'sm.hessian(sm.sum((X @ W - Y) ** 2), W)': (
        '2XᵀX ⊗ I',
        '2 X^{\\top} X \\otimes I',
    ),
    'sm.grad(sm.logdet(K) / 2 + (t @ sm.solve(K, t)) / 2, K)': (
        '(K⁻¹ − (K⁻¹t)(K⁻¹t)ᵀ)/2',
        '\\frac{K^{-1} - \\left(K^{-1} t\\right) \\left(K^{-1} t\\right)^{\\top}}{2}',
    ),
    'sm.grad(sm.norm2(X @ w - y) + lam * sm.norm2(w), w)': (
        '2(Xᵀ(Xw − y) + λw)',
        '2 \\left(X^{\\top} \\left(X w - y\\right) + \\lambda w\\right)',
    ),
    'sm.hessian(sm.norm2(X @ w - y) + lam * sm.norm2(w), w)': (
        '2(XᵀX + λI)',
        '2 \\left(X^{\\top} X + \\lambda I\\right)',
    ),
    'sm.grad(sm.norm2(X @ w - y) + lam * sm.norm2(w), lam)': (
        '‖w‖²',
        '\\left\\lVert w \\right\\rVert^{2}',
    ),
    'sm.grad(sm.norm2(X @ w + b - y), b)': (
        '2 sum(Xw + b − y)',
        '2 \\operatorname{sum}\\left(X w + b - y\\right)',
    ),
    'sm.grad(sm.mean((X @ w - y) ** 2), w)': (
        '(2/n)Xᵀ(Xw − y)',
        '\\frac{2}{n} X^{\\top} \\left(X w - y\\right)',
    ),
    'sm.grad(sm.sum(r * (X @ w - y) ** 2), w)': (
        '2Xᵀ(r ⊙ (Xw − y))',
        '2 X^{\\top} \\left(r \\odot \\left(X w - y\\right)\\right)',
    ),
    'sm.hessian(sm.sum(r * (X @ w - y) ** 2), w)': (
        '2Xᵀ diag(r) X',
        '2 X^{\\top} \\operatorname{diag}\\left(r\\right) X',
    ),
    'sm.grad(sm.norm2(X @ w - y) / (2 * sigma2) + sm.norm2(w) / 2, w)': (
        'w + Xᵀ((Xw − y)/σ²)',
        'w + X^{\\top} \\frac{X w - y}{\\sigma^{2}}',
    ),
    'sm.grad(n * sm.log(sigma2) / 2 + sm.norm2(X @ w - y) / (2 * sigma2), sigma2)': (
        '(n/σ² − ‖Xw − y‖²/(σ²)²)/2',
        '\\frac{\\frac{n}{\\sigma^{2}} - \\frac{\\left\\lVert X w - y \\right\\rVert^{2}}{\\left(\\sigma^{2}\\right)^{2}}}{2}',
    ),
    'sm.grad(sm.norm2(w - mu0), w)': (
        '2(w − μ₀)',
        '2 \\left(w - \\mu_{0}\\right)',
    ),
    'sm.grad(y @ (X @ w), w)': (
        'Xᵀy',
        'X^{\\top} y',
    ),
    'sm.grad((X.T @ y) @ w, w)': (
        'Xᵀy',
        'X^{\\top} y',
    ),
    'sm.hessian(sm.sum((X @ W - Y) ** 2) + lam * sm.sum(W ** 2), W)': (
        '2(λI ⊗ I + XᵀX ⊗ I)',
        '2 \\left(\\lambda I \\otimes I + X^{\\top} X \\otimes I\\right)',
    ),
    'sm.grad(sm.sum((X @ W - Y) ** 2) / 2, W)': (
        'Xᵀ(XW − Y)',
        'X^{\\top} \\left(X W - Y\\right)',
    ),
    'sm.hessian(sm.norm2(X @ W @ c - y), W)': (
        '2XᵀX ⊗ ccᵀ',
        '2 X^{\\top} X \\otimes c c^{\\top}',
    ),
    'sm.grad(sm.sum(sm.sqrt(1 + (X @ w - y) ** 2)), w)': (
        'Xᵀ((Xw − y)/√((Xw − y)² + 1))',
        'X^{\\top} \\frac{X w - y}{\\sqrt{\\left(X w - y\\right)^{2} + 1}}',
    ),
    'sm.grad(sm.sum(sm.log(1 + (X @ w - y) ** 2)), w)': (
        '2Xᵀ((Xw − y)/((Xw − y)² + 1))',
        '2 X^{\\top} \\frac{X w - y}{\\left(X w - y\\right)^{2} + 1}',
    ),
    'sm.grad(sm.sum(sm.log(sm.exp(X @ w - y) + sm.exp(y - X @ w))), w)': (
        'Xᵀ((exp(Xw − y) − exp(y − Xw))/(exp(y − Xw) + exp(Xw − y)))',
        'X^{\\top} \\frac{\\exp\\left(X w - y\\right) - \\exp\\left(y - X w\\right)}{\\exp\\left(y - X w\\right) + \\exp\\left(X w - y\\right)}',
    ),
    'sm.grad(sm.sum(sm.log(eps + sm.exp(X @ w))), w)': (
        'Xᵀ(exp(Xw)/(ε + exp(Xw)))',
        'X^{\\top} \\frac{\\exp\\left(X w\\right)}{\\varepsilon + \\exp\\left(X w\\right)}',
    ),
    'sm.grad(sm.sum(sm.log(1 + sm.exp(X @ w)) - y * (X @ w)), w)': (
        'Xᵀ(σ(Xw) − y)',
        'X^{\\top} \\left(\\sigma\\left(X w\\right) - y\\right)',
    ),
    'sm.hessian(sm.sum(sm.log(1 + sm.exp(X @ w)) - y * (X @ w)), w)': (
        'Xᵀ diag(σ(Xw) ⊙ (1 − σ(Xw))) X',
        'X^{\\top} \\operatorname{diag}\\left(\\sigma\\left(X w\\right) \\odot \\left(1 - \\sigma\\left(X w\\right)\\right)\\right) X',
    ),
    'sm.hessian(sm.sum(sm.log(1 + sm.exp(-y * (X @ w)))), w)': (
        'Xᵀ diag(y² ⊙ σ(−y ⊙ Xw) ⊙ (1 − σ(−y ⊙ Xw))) X',
        'X^{\\top} \\operatorname{diag}\\left(y^{2} \\odot \\sigma\\left(-y \\odot X w\\right) \\odot \\left(1 - \\sigma\\left(-y \\odot X w\\right)\\right)\\right) X',
    ),
    'sm.grad(sm.sum(1 / (1 + sm.exp(-x))), x)': (
        'σ(x) ⊙ (1 − σ(x))',
        '\\sigma\\left(x\\right) \\odot \\left(1 - \\sigma\\left(x\\right)\\right)',
    ),
    'sm.grad(sm.sum(sm.log(1 / (1 + sm.exp(-(X @ w))))), w)': (
        'Xᵀσ(−Xw)',
        'X^{\\top} \\sigma\\left(-X w\\right)',
    ),
    'sm.grad(sm.sum(y * sm.exp(X @ w) / (1 + sm.exp(X @ w))), w)': (
        'Xᵀ(y ⊙ σ(Xw) ⊙ (1 − σ(Xw)))',
        'X^{\\top} \\left(y \\odot \\sigma\\left(X w\\right) \\odot \\left(1 - \\sigma\\left(X w\\right)\\right)\\right)',
    ),
    'sm.grad(sm.sum(sm.softplus(X @ w) - y * (X @ w)) + lam / 2 * (w @ w), w)': (
        'Xᵀ(σ(Xw) − y) + λw',
        'X^{\\top} \\left(\\sigma\\left(X w\\right) - y\\right) + \\lambda w',
    ),
    'sm.hessian(sm.sum(sm.softplus(X @ w) - y * (X @ w)) + lam / 2 * (w @ w), w)': (
        'Xᵀ diag(σ(Xw) ⊙ (1 − σ(Xw))) X + λI',
        'X^{\\top} \\operatorname{diag}\\left(\\sigma\\left(X w\\right) \\odot \\left(1 - \\sigma\\left(X w\\right)\\right)\\right) X + \\lambda I',
    ),
    'sm.grad(sm.sum(sm.exp(X @ w) - y * (X @ w)), w)': (
        'Xᵀ(exp(Xw) − y)',
        'X^{\\top} \\left(\\exp\\left(X w\\right) - y\\right)',
    ),
    'sm.hessian(sm.sum(sm.exp(X @ w) - y * (X @ w)), w)': (
        'Xᵀ diag(exp(Xw)) X',
        'X^{\\top} \\operatorname{diag}\\left(\\exp\\left(X w\\right)\\right) X',
    ),
    'sm.grad(sm.norm2(sm.tanh(X @ W) @ c - y), c)': (
        '2 tanh(XW)ᵀ (tanh(XW) c − y)',
        '2 \\tanh\\left(X W\\right)^{\\top} \\left(\\tanh\\left(X W\\right) c - y\\right)',
    ),
    'sm.grad(sm.norm2(sm.tanh(X @ W) @ c - y), W)': (
        '2Xᵀ((tanh(XW) c − y)cᵀ ⊙ (1 − tanh(XW)²))',
        '2 X^{\\top} \\left(\\left(\\tanh\\left(X W\\right) c - y\\right) c^{\\top} \\odot \\left(1 - \\tanh\\left(X W\\right)^{2}\\right)\\right)',
    ),
    'sm.grad(sm.log(sm.sum(sm.exp(x))), x)': (
        'softmax(x)',
        '\\operatorname{softmax}\\left(x\\right)',
    ),
    'sm.hessian(sm.log(sm.sum(sm.exp(x))), x)': (
        'diag(softmax(x)) − softmax(x) softmax(x)ᵀ',
        '\\operatorname{diag}\\left(\\operatorname{softmax}\\left(x\\right)\\right) - \\operatorname{softmax}\\left(x\\right) \\operatorname{softmax}\\left(x\\right)^{\\top}',
    ),
    'sm.grad(v @ (sm.exp(x) / sm.sum(sm.exp(x))), x)': (
        'v ⊙ softmax(x) − (vᵀ softmax(x)) softmax(x)',
        'v \\odot \\operatorname{softmax}\\left(x\\right) - \\left(v^{\\top} \\operatorname{softmax}\\left(x\\right)\\right) \\operatorname{softmax}\\left(x\\right)',
    ),
    'sm.jacobian(sm.softmax(x), x)': (
        'diag(softmax(x)) − softmax(x) softmax(x)ᵀ',
        '\\operatorname{diag}\\left(\\operatorname{softmax}\\left(x\\right)\\right) - \\operatorname{softmax}\\left(x\\right) \\operatorname{softmax}\\left(x\\right)^{\\top}',
    ),
    'sm.grad(-sm.sum(Y * sm.log_softmax(X @ W, axis=1)), W)': (
        'Xᵀ(diag(Y𝟏) softmax(XW) − Y)',
        'X^{\\top} \\left(\\operatorname{diag}\\left(Y \\mathbf{1}\\right) \\operatorname{softmax}\\left(X W\\right) - Y\\right)',
    ),
    'sm.grad(-sm.sum(sm.softmax(x) * sm.log_softmax(x)), x)': (
        '−softmax(x) ⊙ (x − logsumexp(x)) − softmax(x) + sum(softmax(x) ⊙ (x − logsumexp(x)) + softmax(x)) softmax(x)',
        '-\\operatorname{softmax}\\left(x\\right) \\odot \\left(x - \\operatorname{logsumexp}\\left(x\\right)\\right) - \\operatorname{softmax}\\left(x\\right) + \\operatorname{sum}\\left(\\operatorname{softmax}\\left(x\\right) \\odot \\left(x - \\operatorname{logsumexp}\\left(x\\right)\\right) + \\operatorname{softmax}\\left(x\\right)\\right) \\operatorname{softmax}\\left(x\\right)',
    ),
    'sm.hessian(-sm.sum(T * sm.log_softmax(X @ W, axis=1)), W)': (
        '[Σ_p X_pl (X_pi softmax(XW)_pm δ_jm − softmax(XW)_pj softmax(XW)_pm X_pi)]_ijlm',
        '\\left[\\sum_{p=0}^{n - 1} X_{pl} \\left(X_{pi} \\operatorname{softmax}\\left(X W\\right)_{pm} \\delta_{jm} - \\operatorname{softmax}\\left(X W\\right)_{pj} \\operatorname{softmax}\\left(X W\\right)_{pm} X_{pi}\\right)\\right]_{ijlm}',
    ),
    'sm.grad(-sm.sum(T * sm.log_softmax(X @ W, axis=1)), W)': (
        'Xᵀ(softmax(XW) − T)',
        'X^{\\top} \\left(\\operatorname{softmax}\\left(X W\\right) - T\\right)',
    ),
    'sm.grad(-sm.sum(T * (X @ W - sm.expand_dims(sm.log(sm.sum(sm.exp(X @ W), axis=1)), 1))), W)': (
        'Xᵀ(softmax(XW) − T)',
        'X^{\\top} \\left(\\operatorname{softmax}\\left(X W\\right) - T\\right)',
    ),
    'sm.grad(sm.sum(T * (sm.log(T) - sm.log_softmax(X @ W, axis=1))), W)': (
        'Xᵀ(softmax(XW) − T)',
        'X^{\\top} \\left(\\operatorname{softmax}\\left(X W\\right) - T\\right)',
    ),
    'sm.grad(sm.trace(A @ A @ A @ A), A)': (
        '4(A³)ᵀ',
        '4 \\left(A^{3}\\right)^{\\top}',
    ),
    'sm.grad(sm.sum(A @ A @ x), x)': (
        '(A²)ᵀ𝟏',
        '\\left(A^{2}\\right)^{\\top} \\mathbf{1}',
    ),
    'sm.grad(x @ A @ A @ x, x)': (
        '(A² + (A²)ᵀ)x',
        '\\left(A^{2} + \\left(A^{2}\\right)^{\\top}\\right) x',
    ),
    'sm.grad(sm.trace(A @ B), A)': (
        'Bᵀ',
        'B^{\\top}',
    ),
    'sm.grad(sm.trace(A.T @ A), A)': (
        '2A',
        '2 A',
    ),
    'sm.grad(sm.trace(A @ B @ A.T), A)': (
        'ABᵀ + AB',
        'A B^{\\top} + A B',
    ),
    'sm.grad(sm.sum(A ** 2), A)': (
        '2A',
        '2 A',
    ),
    'sm.grad(sm.det(A), A)': (
        'det(A) A⁻ᵀ',
        '\\det\\left(A\\right) A^{-\\top}',
    ),
    'sm.grad(sm.sum(sm.inv(sm.inv(A)) @ x), x)': (
        'Aᵀ𝟏',
        'A^{\\top} \\mathbf{1}',
    ),
    'sm.grad(x @ A @ v, A)': (
        'xvᵀ',
        'x v^{\\top}',
    ),
    'sm.grad(sm.sum(sm.outer(x, v) * A), A)': (
        'xvᵀ',
        'x v^{\\top}',
    ),
    'sm.grad(x @ A @ x, x)': (
        '(A + Aᵀ)x',
        '\\left(A + A^{\\top}\\right) x',
    ),
    'sm.hessian(x @ A @ x, x)': (
        'Aᵀ + A',
        'A^{\\top} + A',
    ),
    'sm.grad(x @ S @ x, x)': (
        '2Sx',
        '2 S x',
    ),
    'sm.hessian(x @ S @ x, x)': (
        '2S',
        '2 S',
    ),
    'sm.grad(sm.logdet(S), S)': (
        'S⁻¹',
        'S^{-1}',
    ),
    'sm.grad(sm.trace(sm.inv(S) @ B), B)': (
        'S⁻¹',
        'S^{-1}',
    ),
    'sm.grad((x - mu) @ sm.solve(S, x - mu), mu)': (
        '−2S⁻¹(x − μ)',
        '-2 S^{-1} \\left(x - \\mu\\right)',
    ),
    'sm.grad(sm.logdet(S) / 2 + (x - mu) @ sm.solve(S, x - mu) / 2, S)': (
        '(S⁻¹ − (S⁻¹(x − μ))(S⁻¹(x − μ))ᵀ)/2',
        '\\frac{S^{-1} - \\left(S^{-1} \\left(x - \\mu\\right)\\right) \\left(S^{-1} \\left(x - \\mu\\right)\\right)^{\\top}}{2}',
    ),
    'sm.grad(sm.sum((X @ X.T) * K), X)': (
        '2KX',
        '2 K X',
    ),
    'sm.hessian(sm.trace(W.T @ A @ W), W)': (
        'Aᵀ ⊗ I + A ⊗ I',
        'A^{\\top} \\otimes I + A \\otimes I',
    ),
    'sm.hessian(sm.trace(W @ W.T @ S), W)': (
        '2S ⊗ I',
        '2 S \\otimes I',
    ),
    "sm.grad(sm.sum(sm.softplus(sm.let('z', X @ w + b)) - y * sm.let('z', X @ w + b)) + lam / 2 * (w @ w), w)": (
        'Xᵀ δ_z + λw, where z = Xw + b, δ_z = σ(z) − y',
        'X^{\\top} \\delta_{z} + \\lambda w, \\quad \\text{where } z = X w + b, \\; \\delta_{z} = \\sigma\\left(z\\right) - y',
    ),
    "sm.hessian(sm.sum(sm.softplus(sm.let('z', X @ w + b)) - y * sm.let('z', X @ w + b)) + lam / 2 * (w @ w), w)": (
        'Xᵀ diag(σ(z) ⊙ (1 − σ(z))) X + λI, where z = Xw + b',
        'X^{\\top} \\operatorname{diag}\\left(\\sigma\\left(z\\right) \\odot \\left(1 - \\sigma\\left(z\\right)\\right)\\right) X + \\lambda I, \\quad \\text{where } z = X w + b',
    ),
    "sm.grad(sm.norm2(sm.let('r', X @ w - y)) / 2 + lam / 2 * (w @ w), w)": (
        'Xᵀr + λw, where r = Xw − y',
        'X^{\\top} r + \\lambda w, \\quad \\text{where } r = X w - y',
    ),
    "sm.hessian(sm.norm2(sm.let('r', X @ w - y)) / 2 + lam / 2 * (w @ w), w)": (
        'XᵀX + λI',
        'X^{\\top} X + \\lambda I',
    ),
    'sm.grad(sm.exp(-sm.norm2(x - v) / (2 * ell ** 2)), ell)': (
        '‖x − v‖² exp(−‖x − v‖²/(2ℓ²))/ℓ³',
        '\\frac{\\left\\lVert x - v \\right\\rVert^{2} \\exp\\left(-\\frac{\\left\\lVert x - v \\right\\rVert^{2}}{2 \\ell^{2}}\\right)}{\\ell^{3}}',
    ),
    'sm.grad(sm.exp(-sm.norm2(x - v) / (2 * ell ** 2)), x)': (
        '−exp(−‖x − v‖²/(2ℓ²)) (x − v)/ℓ²',
        '-\\frac{\\exp\\left(-\\frac{\\left\\lVert x - v \\right\\rVert^{2}}{2 \\ell^{2}}\\right) \\left(x - v\\right)}{\\ell^{2}}',
    ),
    'sm.grad((x @ w) / sm.sqrt(w @ w), w)': (
        '(1/√(wᵀw))x − (wᵀx/(wᵀw)^(3/2))w',
        '\\frac{1}{\\sqrt{w^{\\top} w}} x - \\frac{w^{\\top} x}{\\left(w^{\\top} w\\right)^{\\frac{3}{2}}} w',
    ),
    'sm.jacobian(sm.tanh(A @ x), x)': (
        'diag(1 − tanh(Ax)²) A',
        '\\operatorname{diag}\\left(1 - \\tanh\\left(A x\\right)^{2}\\right) A',
    ),
}

NS = G.namespace()
VALUES = G.arrays(seed=1)
IDS = [f"{k}-{e.title}-{e.kind}" for k, e in enumerate(G.ENTRIES, 1)]


def _eval(expr, over=None):
    vals = dict(VALUES, **(over or {}))
    return np.asarray(sm.evaluate(expr, dims=G.SIZES, **{t.name: vals[t.name] for t in leaves(expr)}), float)


def _central_differences(f, name, h=1e-6):
    x0 = np.asarray(VALUES[name], float)
    base = _eval(f)
    J = np.zeros(base.shape + x0.shape)
    for idx in np.ndindex(x0.shape):
        xp, xm = x0.copy(), x0.copy()
        xp[idx] += h
        xm[idx] -= h
        J[(...,) + idx] = (_eval(f, {name: xp}) - _eval(f, {name: xm})) / (2 * h)
    return J


def test_gallery_holds_sixty_distinct_results_all_pinned():
    sources = [e.source for e in G.ENTRIES]
    assert len(sources) >= 60
    assert len(set(sources)) == len(sources)
    assert set(sources) == set(PINNED)


@pytest.mark.parametrize("entry", G.ENTRIES, ids=IDS)
def test_pinned_print(entry):
    result, _, _ = G.build(entry, NS)
    uni, tex = PINNED[entry.source]
    assert sm.pretty(result) == uni
    assert sm.latex(result) == tex


@pytest.mark.parametrize("entry", G.ENTRIES, ids=IDS)
def test_printed_form_agrees_with_finite_differences(entry):
    result, f, wrt = G.build(entry, NS)
    if entry.kind == "hessian":
        g = sm.grad(f, wrt)
        np.testing.assert_allclose(_eval(g), _central_differences(f, entry.wrt), rtol=1e-6, atol=1e-7)
        f = g
    np.testing.assert_allclose(_eval(result), _central_differences(f, entry.wrt), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("source, left, right", [
    ("sm.hessian(sm.sum((X @ W - Y) ** 2), W)", "2 * X.T @ X", "np.eye(k)"),
    ("sm.hessian(sm.norm2(X @ W @ c - y), W)", "2 * X.T @ X", "np.outer(c, c)"),
    ("sm.hessian(sm.trace(W @ W.T @ S), W)", "2 * S", "np.eye(k)"),
])
def test_kronecker_print_is_the_row_major_vec_form(source, left, right):
    """A ⊗ B printed for a rank-4 Hessian is that Hessian reshaped to (dk, dk), row-major."""
    entry = next(e for e in G.ENTRIES if e.source == source)
    result, _, _ = G.build(entry, NS)
    assert "⊗" in sm.pretty(result)
    H = _eval(result)
    d, k = G.SIZES["d"], G.SIZES["k"]
    env = {**{name: VALUES[name] for name in ("X", "c", "S")}, "np": np, "k": k}
    expected = np.kron(eval(left, env), eval(right, env))  # the test's own text
    np.testing.assert_allclose(H.reshape(d * k, d * k), expected, rtol=1e-12, atol=1e-12)


def test_page_is_current():
    """docs/gallery.md is what `python -m symml.gallery` writes (rerun it after changing a print)."""
    assert G.PAGE.read_text(encoding="utf-8") == G.page()
    assert G.main(["--check"]) == 0


def test_page_shows_every_source_beside_its_result():
    text = G.page()
    for entry in G.ENTRIES:
        result, _, _ = G.build(entry, NS)
        assert f"`{entry.source}`" in text
        assert sm.pretty(result) in text


def test_check_reports_a_stale_page(tmp_path, capsys):
    stale = tmp_path / "gallery.md"
    stale.write_text("old\n", encoding="utf-8")
    assert G.main(["--check", "--output", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
