"""Ordinary least squares with an intercept.

    L(w, b) = ‖Xw + b − y‖²
    ∇_w L = 2Xᵀ(Xw + b − y),   ∂L/∂b = 2 Σᵢ (xᵢᵀw + b − yᵢ),   ∇²_w L = 2XᵀX

Closed form (the normal equations), derived by solving ∇L = 0: ∂L/∂b = 0 gives
b = ȳ − x̄ᵀw; substituted into ∇_w L = 0 it leaves the centred normal equations

    w = (X_cᵀX_c)⁻¹X_cᵀy,   X_c = X − 𝟏x̄ᵀ,   b = ȳ − x̄ᵀw,

the same solution as (ÃᵀÃ)⁻¹Ãᵀy for Ã = [X 𝟏]. X_c must have full column rank (n > d).

Reference: Hastie, Tibshirani & Friedman, The Elements of Statistical Learning, §3.2.
"""
import symml as sm

n, d = sm.dims("n d")
X = sm.tensor("X", (n, d))
y = sm.tensor("y", (n,))
w = sm.tensor("w", (d,))
b = sm.scalar("b")

loss = sm.norm2(X @ w + b - y)
optimum = sm.stationary_point(loss, [b, w])

derivation = sm.Derivation(
    "least_squares", loss, params=[w, b], data=[X, y],
    kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
    extra={"closed_form": (optimum[w], optimum[b])},
    notes={"closed_form": "(w*, b*) minimising L: the normal equations, solved symbolically from ∇L = 0.\n"
                          "Needs X with full column rank after centring (n > d)."},
    title="ordinary least squares, L = ‖Xw + b − y‖²",
)
