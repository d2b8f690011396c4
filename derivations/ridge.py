"""Ridge regression: least squares with an L2 penalty on the weights (not the intercept).

    L(w, b) = ‖Xw + b − y‖² + λ‖w‖²
    ∇_w L = 2Xᵀ(Xw + b − y) + 2λw,   ∂L/∂b = 2 Σᵢ (xᵢᵀw + b − yᵢ),   ∇²_w L = 2(XᵀX + λI)

Closed form, derived by solving ∇L = 0 with the intercept eliminated first: ∂L/∂b = 0
gives b = ȳ − x̄ᵀw, and ∇_w L = 0 then reads (X_cᵀX_c + λI)w = X_cᵀy with X_c = X − 𝟏x̄ᵀ,
the centred form of (XᵀX + λI)⁻¹Xᵀy. For λ > 0 it exists for every X (also d > n).

scikit-learn: ``Ridge(alpha=α)`` minimises ‖y − Xw − b‖² + α‖w‖² with the intercept
unpenalised, so α = λ exactly (its coef_ is w, its intercept_ is b).

Reference: Hastie, Tibshirani & Friedman, The Elements of Statistical Learning, §3.4.1.
"""
import symml as sm

n, d = sm.dims("n d")
X = sm.tensor("X", (n, d))
y = sm.tensor("y", (n,))
w = sm.tensor("w", (d,))
b = sm.scalar("b")
lam = sm.scalar("lam")

loss = sm.norm2(X @ w + b - y) + lam * sm.norm2(w)
optimum = sm.stationary_point(loss, [b, w])

derivation = sm.Derivation(
    "ridge", loss, params=[w, b], data=[X, y], hyper=[lam],
    kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
    extra={"closed_form": (optimum[w], optimum[b])},
    notes={"closed_form": "(w*, b*) minimising L, solved symbolically from ∇L = 0 (intercept eliminated first).\n"
                          "sklearn.linear_model.Ridge(alpha=lam) gives the same (coef_, intercept_)."},
    title="ridge regression, L = ‖Xw + b − y‖² + λ‖w‖²",
)
