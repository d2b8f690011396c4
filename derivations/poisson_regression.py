"""Poisson regression (log link) with an intercept and an L2 penalty on the weights.

    z = Xw + b,   L(w, b) = Σᵢ [exp(zᵢ) − yᵢ zᵢ] + (λ/2)‖w‖²,   yᵢ ∈ {0, 1, 2, ...}
    ∇_w L = Xᵀ(exp(z) − y) + λw,   ∂L/∂b = Σᵢ (exp(zᵢ) − yᵢ),
    ∇²_w L = Xᵀ diag(exp(z)) X + λI

Σᵢ [μᵢ − yᵢ log μᵢ] with μ = exp(z) is the negative log-likelihood of yᵢ ~ Poisson(μᵢ)
without the term Σᵢ log yᵢ!, which does not involve (w, b) and is dropped.

scikit-learn: ``PoissonRegressor(alpha=α)`` minimises (1/n) Σᵢ D(yᵢ, μᵢ)/2 + (α/2)‖w‖²
with the deviance D(y, μ) = 2[y log(y/μ) − y + μ]; D/2 = μ − y log μ + (terms in y
only), so its objective is L/n + const with λ = nα.

Reference: McCullagh & Nelder, Generalized Linear Models, 2nd ed., §6.2.
"""
import symml as sm

n, d = sm.dims("n d")
X = sm.tensor("X", (n, d))
y = sm.tensor("y", (n,))
w = sm.tensor("w", (d,))
b = sm.scalar("b")
lam = sm.scalar("lam")

z = X @ w + b
loss = sm.sum(sm.exp(z) - y * z) + lam / 2 * sm.norm2(w)

derivation = sm.Derivation(
    "poisson_regression", loss, params=[w, b], data=[X, y], hyper=[lam],
    kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
    domains={"y": "count"},
    title="Poisson regression (log link) with L2 penalty",
)
