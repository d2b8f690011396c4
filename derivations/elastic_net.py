"""The elastic net: least squares with L1 and L2 penalties, by proximal gradient steps.

    F(w, b) = f(w, b) + αρ‖w‖₁,   f(w, b) = 1/(2n) ‖Xw + b − y‖² + α(1 − ρ)/2 ‖w‖²
    ∇_w f = Xᵀ(Xw + b − y)/n + α(1 − ρ)w,   ∂f/∂b = Σᵢ (xᵢᵀw + b − yᵢ)/n,
    ∇²_w f = XᵀX/n + α(1 − ρ)I

The kernels loss, grad, hessian and hvp are those of the smooth part f (the L2 term
included); ``objective`` is F. The L1 term is handled by its proximal operator,
soft-thresholding S_t(v) = sign(v)·max(|v| − t, 0), derived in :mod:`symml.prox`. One
proximal-gradient step with step size η (η ≤ 1/L, L = σ_max([X 𝟏])²/n + α(1 − ρ)) is

    w⁺ = S_{ηαρ}(w − η∇_w f),   b⁺ = b − η ∂f/∂b   (the intercept is not penalised).

scikit-learn: ``ElasticNet(alpha=α, l1_ratio=ρ)`` minimises exactly F: α and
ρ = l1_ratio ∈ [0, 1] are the same numbers.

Reference: Zou & Hastie, Regularization and variable selection via the elastic net
(2005); Parikh & Boyd, Proximal Algorithms (2014), §4.2.
"""
import symml as sm
from symml.prox import soft_threshold

n, d = sm.dims("n d")
X = sm.tensor("X", (n, d))
y = sm.tensor("y", (n,))
w = sm.tensor("w", (d,))
b = sm.scalar("b")
alpha, rho, eta = sm.scalar("alpha"), sm.scalar("rho"), sm.scalar("eta")

loss = sm.norm2(X @ w + b - y) / (2 * n) + alpha * (1 - rho) / 2 * sm.norm2(w)
grad_w, grad_b = sm.grad(loss, [w, b])

derivation = sm.Derivation(
    "elastic_net", loss, params=[w, b], data=[X, y], hyper=[alpha, rho, eta], penalty=alpha, step_size=eta,
    kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
    extra={
        "objective": loss + alpha * rho * sm.sum(sm.abs(w)),
        "prox_step": (soft_threshold(w - eta * grad_w, eta * alpha * rho), b - eta * grad_b),
    },
    notes={**dict.fromkeys(("loss", "grad", "value_and_grad", "hessian", "hvp"),
                           "Of the smooth part f; eta is unused, accepted so that every kernel\n"
                           "takes the same arguments (w, b, X, y, alpha, rho, eta)."),
           "objective": "F = f + αρ‖w‖₁ (scikit-learn's ElasticNet(alpha=α, l1_ratio=ρ)).",
           "prox_step": "One proximal-gradient step (w⁺, b⁺) = (S_{ηαρ}(w − η∇_w f), b − η ∂f/∂b)."},
    domains={"rho": "unit"},
    title="the elastic net, F = 1/(2n)‖Xw + b − y‖² + αρ‖w‖₁ + α(1 − ρ)/2‖w‖², with a proximal-gradient step",
)
