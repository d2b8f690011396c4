"""Ordinary least squares with an intercept.

    L(w, b) = ‖Xw + b − y‖²
    ∇_w L = 2Xᵀ(Xw + b − y),   ∂L/∂b = 2 Σᵢ (xᵢᵀw + b − yᵢ),   ∇²_w L = 2XᵀX

Reference: Hastie, Tibshirani & Friedman, The Elements of Statistical Learning, §3.2.
"""
import symml as sm

n, d = sm.dims("n d")
X = sm.tensor("X", (n, d))
y = sm.tensor("y", (n,))
w = sm.tensor("w", (d,))
b = sm.scalar("b")

loss = sm.norm2(X @ w + b - y)

derivation = sm.Derivation(
    "least_squares", loss, params=[w, b], data=[X, y],
    kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
    title="ordinary least squares, L = ‖Xw + b − y‖²",
)
