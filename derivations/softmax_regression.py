"""Multinomial (softmax) logistic regression with an intercept and an L2 penalty on W.

    Z = XW + 1cᵀ,   P = softmax(Z) (row-wise),   Yᵢ one-hot over K classes
    L(W, c) = −Σᵢ Σ_k Y_ik log P_ik + (λ/2)‖W‖²_F
            = Σᵢ [logsumexp(Zᵢ) − YᵢᵀZᵢ] + (λ/2)‖W‖²_F
    ∇_W L = Xᵀ(P − Y) + λW,   ∇_c L = (P − Y)ᵀ1
    ∇²L[V] = Xᵀ R + λV  (and 1ᵀR for c),   R_ik = P_ik (S_ik − Σ_j P_ij S_ij),   S = XV + 1v_cᵀ

The log-likelihood is written with log_softmax (Z − logsumexp(Z)), which is finite for
every Z. The intercept c is not penalised. The `hessian` kernel returns a square
matrix of size dK + K over θ = (vec(W), c), with vec(W) in row-major (C) order:
θ[a·K + k] = W[a, k] and θ[dK + k] = c[k]; so H @ θ(V, v_c) equals the hvp kernel's
(V, v_c) flattened the same way. Per sample, the Hessian block in W is
(diag(pᵢ) − pᵢpᵢᵀ) ⊗ xᵢxᵢᵀ. The softmax is invariant to adding one vector to every
column of (W; cᵀ) (its gauge); λ > 0 fixes W, and c is fixed up to a constant shift.

Reference: Bishop, Pattern Recognition and Machine Learning, §4.3.4.
"""
import symml as sm

n, d, K = sm.dims("n d K")
X = sm.tensor("X", (n, d))
Y = sm.tensor("Y", (n, K), simplex=True)  # one-hot rows: Σ_k Y_ik = 1, so ∇_Z = P − Y
W = sm.tensor("W", (d, K))
c = sm.tensor("c", (K,))
lam = sm.scalar("lam")

Z = sm.let("Z", X @ W + c)
loss = -sm.sum(Y * sm.log_softmax(Z, axis=1)) + lam / 2 * sm.norm2(W)

derivation = sm.Derivation(
    "softmax_regression", loss, params=[W, c], data=[X, Y], hyper=[lam],
    kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
    domains={"Y": "onehot"}, decision=Z,
    title="multinomial logistic regression with L2 penalty",
)
