"""The lasso: least squares with an L1 penalty, by proximal gradient steps.

    F(w, b) = f(w, b) + α‖w‖₁,   f(w, b) = 1/(2n) ‖Xw + b − y‖²   (the smooth part)
    ∇_w f = Xᵀ(Xw + b − y)/n,   ∂f/∂b = Σᵢ (xᵢᵀw + b − yᵢ)/n,   ∇²_w f = XᵀX/n

The kernels loss, grad, hessian and hvp are those of the smooth part f; ``objective``
is F. ‖w‖₁ is handled by its proximal operator, soft-thresholding
S_t(v) = sign(v)·max(|v| − t, 0), derived in :mod:`symml.prox` from
argmin_x ½(x − v)² + t|x|. One proximal-gradient (ISTA) step with step size η is

    w⁺ = S_{ηα}(w − η∇_w f),   b⁺ = b − η ∂f/∂b   (the intercept is not penalised);

it converges for η ≤ 1/L, L = σ_max([X 𝟏])²/n.

scikit-learn: ``Lasso(alpha=α)`` minimises exactly F, so α is the same number.

Reference: Beck & Teboulle, A fast iterative shrinkage-thresholding algorithm (2009);
Hastie, Tibshirani & Wainwright, Statistical Learning with Sparsity, §2.2 and §5.3.
"""
import symml as sm
from symml.prox import soft_threshold

n, d = sm.dims("n d")
X = sm.tensor("X", (n, d))
y = sm.tensor("y", (n,))
w = sm.tensor("w", (d,))
b = sm.scalar("b")
alpha = sm.scalar("alpha")
eta = sm.scalar("eta")

loss = sm.norm2(X @ w + b - y) / (2 * n)
grad_w, grad_b = sm.grad(loss, [w, b])

derivation = sm.Derivation(
    "lasso", loss, params=[w, b], data=[X, y], hyper=[alpha, eta], penalty=alpha, step_size=eta,
    kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
    extra={
        "objective": loss + alpha * sm.sum(sm.abs(w)),
        "prox_step": (soft_threshold(w - eta * grad_w, eta * alpha), b - eta * grad_b),
    },
    notes={**dict.fromkeys(("loss", "grad", "value_and_grad", "hessian", "hvp"),
                           "Of the smooth part f; alpha and eta are unused, accepted so that every kernel\n"
                           "takes the same arguments (w, b, X, y, alpha, eta)."),
           "objective": "F = f + α‖w‖₁, the lasso objective (scikit-learn's Lasso(alpha=α)).",
           "prox_step": "One proximal-gradient step (w⁺, b⁺) = (S_{ηα}(w − η∇_w f), b − η ∂f/∂b)."},
    title="the lasso, F = 1/(2n)‖Xw + b − y‖² + α‖w‖₁, with a proximal-gradient step",
)
