"""Kernel ridge regression through the Lagrange dual of ridge regression.

Ridge regression (no intercept) with the residuals r as variables, scaled by 1/λ:

    min ½‖w‖² + ‖r‖²/(2λ)   s.t.   y − Xw = r   (multipliers α, n)

∂L/∂w = 0 gives w = Xᵀα, ∂L/∂r = 0 gives r = λα; substituted back, the dual is

    max_α  q(α) = yᵀα − ½ αᵀXXᵀα − (λ/2) αᵀα,

unconstrained, whose stationarity gives α = (XXᵀ + λI)⁻¹y and w = Xᵀα = Xᵀ(XXᵀ + λI)⁻¹y,
the ridge solution (XᵀX + λI)⁻¹Xᵀy written with an n × n system. The dual sees X only in
XXᵀ, so ``kernelize`` gives kernel ridge regression, α = (K + λI)⁻¹y with K_ij =
exp(−γ‖xᵢ − xⱼ‖²), and predictions f(Z) = K(Z, X)α (``predict_rbf``).

The kernels minimise −q(α). scikit-learn: Ridge(alpha=λ, fit_intercept=False) has coef_ = w;
KernelRidge(alpha=λ, kernel="rbf", gamma=γ) has dual_coef_ = α.

Reference: Shawe-Taylor & Cristianini, Kernel Methods for Pattern Analysis, §2.2; Bishop, PRML, §6.1.
"""
import symml as sm
from symml.duality import dual, kernelize, lagrangian, rbf_kernel, solve_dual
from symml.duality.catalog import dual_derivation

n, d, m = sm.dims("n d m")
X, y, Z = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("Z", (m, d))
w, r = sm.tensor("w", (d,)), sm.tensor("r", (n,))
lam, gamma = sm.scalar("lam"), sm.scalar("gamma")

problem = lagrangian(sm.norm2(w) / 2 + sm.norm2(r) / (2 * lam), [w, r], eq={"alpha": (y - X @ w, r)})
linear = dual(problem)
alpha = linear.variables[0]
optimum = solve_dual(linear)                           # α = (XXᵀ + λI)⁻¹y, w = Xᵀα
rbf = kernelize(linear, rbf_kernel(gamma))
alpha_rbf = kernelize(optimum[alpha], rbf_kernel(gamma))   # (K + λI)⁻¹y
predict_rbf = kernelize(Z @ linear.recover[w], rbf_kernel(gamma), data=[X, Z])

common = dict(kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"))
derivations = [
    dual_derivation(linear, "ridge_dual", [X, y], hyper=[lam], **common,
                    extra={"closed_form": optimum[alpha], "recover_w": linear.recover[w]},
                    notes={"closed_form": "α = (XXᵀ + λI)⁻¹y, solved from the dual's stationarity.",
                           "recover_w": "w = Xᵀα, from ∂L/∂w = 0."},
                    title="ridge regression, Lagrange dual"),
    dual_derivation(rbf, "ridge_dual_rbf", [X, y], hyper=[lam, gamma], **common,
                    extra={"closed_form": alpha_rbf},
                    notes={"closed_form": "α = (K + λI)⁻¹y, K the RBF kernel matrix (KernelRidge's dual_coef_)."},
                    title="kernel ridge regression (RBF), kernelized Lagrange dual"),
]
