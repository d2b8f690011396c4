"""Binary logistic regression with an intercept and an L2 penalty on the weights.

    z = Xw + b,   L(w, b) = Σᵢ [softplus(zᵢ) − yᵢ zᵢ] + (λ/2)‖w‖²,   yᵢ ∈ {0, 1}
    ∇_w L = Xᵀ(σ(z) − y) + λw,   ∇²_w L = Xᵀ diag(σ(z) ⊙ (1 − σ(z))) X + λI

softplus(z) − yz is the negative log-likelihood of a Bernoulli(σ(z)) label, written
so that it stays finite for every z. Reference: Bishop, PRML, §4.3.2.
"""
import symml as sm

n, d = sm.dims("n d")
X = sm.tensor("X", (n, d))
y = sm.tensor("y", (n,))
w = sm.tensor("w", (d,))
b = sm.scalar("b")
lam = sm.scalar("lam")

z = X @ w + b
loss = sm.sum(sm.softplus(z) - y * z) + lam / 2 * sm.norm2(w)

derivation = sm.Derivation(
    "logistic_regression", loss, params=[w, b], data=[X, y], hyper=[lam],
    kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"), domains={"y": "binary"}, decision=z,
    title="binary logistic regression with L2 penalty",
)
