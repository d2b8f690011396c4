"""Linear support vector machines in the primal, with an intercept and an L2 penalty.

Squared hinge (``svm_primal``), differentiable once:

    z = Xw + b,   L(w, b) = Σᵢ max(0, 1 − yᵢzᵢ)² + (λ/2)‖w‖²,   yᵢ ∈ {−1, +1}
    ∇_w L = −2Xᵀ(y ⊙ max(0, 1 − y ⊙ z)) + λw,   ∂L/∂b = −2 Σᵢ yᵢ max(0, 1 − yᵢzᵢ)
    ∇²_w L = 2Xᵀ diag(y² ⊙ 𝟙[1 − y ⊙ z > 0]) X + λI

The gradient is continuous, its derivative is not: the Hessian above is the
generalized Hessian, which jumps where a margin yᵢzᵢ equals 1 (there it takes the
one-sided value of the inactive side, 𝟙[0 > 0] = 0).

Hinge (``svm_hinge``), not differentiable where a margin equals 1:

    L(w, b) = Σᵢ max(0, 1 − yᵢzᵢ) + (λ/2)‖w‖²
    g_w = −Xᵀ(y ⊙ 𝟙[1 − y ⊙ z > 0]) + λw,   g_b = −Σᵢ yᵢ 𝟙[1 − yᵢzᵢ > 0]

``grad`` is this subgradient: the gradient where every margin differs from 1, and at
yᵢzᵢ = 1 the subgradient 0 of max(0, ·) at 0 is taken for sample i.

scikit-learn: ``LinearSVC(loss="squared_hinge", C=C)`` minimises ½‖w‖² + C Σᵢ max(0, 1 −
yᵢzᵢ)², i.e. L/(λC) with λ = 1/C; it also penalises b (as a weight on a constant
feature of value intercept_scaling), which a large intercept_scaling makes negligible.

Reference: Hsieh et al., A dual coordinate descent method for large-scale linear SVM
(ICML 2008), eq. (1); Chapelle, Training a support vector machine in the primal (2007).
"""
import symml as sm

n, d = sm.dims("n d")
X = sm.tensor("X", (n, d))
y = sm.tensor("y", (n,))
w = sm.tensor("w", (d,))
b = sm.scalar("b")
lam = sm.scalar("lam")

z = X @ w + b
squared_hinge = sm.sum(sm.relu(1 - y * z) ** 2) + lam / 2 * sm.norm2(w)
hinge = sm.sum(sm.relu(1 - y * z)) + lam / 2 * sm.norm2(w)

derivations = [
    sm.Derivation(
        "svm_primal", squared_hinge, params=[w, b], data=[X, y], hyper=[lam],
        kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"), domains={"y": "sign"}, decision=z,
        notes={"hessian": "The generalized Hessian: it jumps where a margin yᵢzᵢ equals 1.",
               "hvp": "The generalized Hessian times v: it jumps where a margin yᵢzᵢ equals 1."},
        title="linear SVM, squared hinge with L2 penalty, in the primal",
    ),
    sm.Derivation(
        "svm_hinge", hinge, params=[w, b], data=[X, y], hyper=[lam],
        kernels=("loss", "grad", "value_and_grad"), domains={"y": "sign"}, decision=z,
        notes={"grad": "A subgradient: at a margin yᵢzᵢ = 1 the subgradient 0 is taken for sample i.",
               "value_and_grad": "(L, g) with g the subgradient of ``grad``."},
        title="linear SVM, hinge with L2 penalty, in the primal (subgradient)",
    ),
]
