"""Support vector machines through their Lagrange dual: hard margin, soft margin, RBF kernel.

Soft margin (Cortes & Vapnik 1995), over w (d), b and slacks ξ (n), labels yᵢ ∈ {−1, +1}:

    min ½‖w‖² + C Σᵢ ξᵢ   s.t.   yᵢ(xᵢᵀw + b) ≥ 1 − ξᵢ (multipliers α),   ξᵢ ≥ 0 (multipliers μ)

``dual`` solves ∂L/∂w = 0 for w = Xᵀ(α ⊙ y); ∂L/∂b = −yᵀα and ∂L/∂ξ = C − α − μ do not
involve b and ξ, so they become the dual constraints yᵀα = 0 and (μ ≥ 0 eliminated) α ≤ C:

    max_α  Σᵢ αᵢ − ½ (α ⊙ y)ᵀXXᵀ(α ⊙ y)   s.t.   yᵀα = 0,   0 ≤ α ≤ C,      w = Xᵀ(α ⊙ y)

The hard margin (no ξ) has the same objective with 0 ≤ α. The intercept is not determined
by stationarity: complementary slackness gives b = yᵢ − xᵢᵀw for any 0 < αᵢ < C.
``kernelize`` replaces XXᵀ by K = exp(−γ‖xᵢ − xⱼ‖²); the decision function
f(Z) = Z Xᵀ(α ⊙ y) + b becomes K(Z, X)(α ⊙ y) + b (``decision_rbf``).

The kernels minimise −q(α). scikit-learn: SVC(kernel="linear" | "rbf", C=C, gamma=γ) solves the
same dual; its dual_coef_ holds αᵢyᵢ of the support vectors (αᵢ > 0).

Reference: Boyd & Vandenberghe, Convex Optimization, §5.5; Schölkopf & Smola, Learning with Kernels, §7.
"""
import symml as sm
from symml.duality import dual, kernelize, lagrangian, rbf_kernel
from symml.duality.catalog import dual_derivation

n, d, m = sm.dims("n d m")
X, y, Z = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("Z", (m, d))
w, b, xi = sm.tensor("w", (d,)), sm.scalar("b"), sm.tensor("xi", (n,))
C, gamma = sm.scalar("C"), sm.scalar("gamma")

soft = lagrangian(sm.norm2(w) / 2 + C * sm.sum(xi), [w, b, xi],
                  ineq={"alpha": (1 - xi, y * (X @ w + b)), "mu": -xi})
hard = lagrangian(sm.norm2(w) / 2, [w, b], ineq={"alpha": (1, y * (X @ w + b))})
soft_dual, hard_dual = dual(soft), dual(hard)
rbf_dual = kernelize(soft_dual, rbf_kernel(gamma))
alpha = soft_dual.variables[0]
decision_rbf = kernelize(Z @ soft_dual.recover[w] + b, rbf_kernel(gamma), data=[X, Z])

common = dict(kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"), domains={"y": "sign"})
derivations = [
    dual_derivation(soft_dual, "svm_dual", [X, y], extra={"recover_w": soft_dual.recover[w], "balance": y @ alpha},
                  notes={"recover_w": "w = Xᵀ(α ⊙ y), from ∂L/∂w = 0.",
                         "balance": "yᵀα, which the dual constrains to 0."},
                  title="linear soft-margin SVM, Lagrange dual", **common),
    dual_derivation(hard_dual, "svm_dual_hard", [X, y], extra={"recover_w": hard_dual.recover[w]},
                  notes={"recover_w": "w = Xᵀ(α ⊙ y), from ∂L/∂w = 0."},
                  title="linear hard-margin SVM, Lagrange dual", **common),
    dual_derivation(rbf_dual, "svm_dual_rbf", [X, y], hyper=[gamma], extra={"gram": rbf_kernel(gamma).gram(X)},
                  notes={"gram": "K = exp(−γ‖xᵢ − xⱼ‖²), the RBF kernel matrix (n, n)."},
                  title="RBF-kernel soft-margin SVM, kernelized Lagrange dual", **common),
]
