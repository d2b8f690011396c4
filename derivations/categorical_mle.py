"""The categorical (multinomial) maximum-likelihood estimate on the simplex, by a Lagrange multiplier.

With labels or responsibilities R (n, K) (one-hot rows, or any non-negative weights):

    max Σᵢ Σₖ Rᵢₖ log pₖ   s.t.   Σₖ pₖ = 1   (multiplier ν)

∂L/∂p = 0 gives pₖ = Nₖ/ν with Nₖ = Σᵢ Rᵢₖ (solved entry by entry); the dual function is
q(ν) = Σₖ Nₖ log(Nₖ/ν) + ν − Σᵢₖ Rᵢₖ, to minimise, and ∂q/∂ν = 1 − Σₖ pₖ(ν) = 0 gives
ν = Σᵢₖ Rᵢₖ (= n for one-hot rows), so

    p̂ₖ = Nₖ / Σⱼ Nⱼ = nₖ / N.

It is the class-prior step of naive Bayes (derivations/gaussian_naive_bayes.py) and the
mixture-weight M-step of EM (R the responsibilities). p ≥ 0 needs no multiplier: log p
keeps p > 0, so those constraints are inactive.

Reference: Murphy, Machine Learning: A Probabilistic Perspective, §3.4.3 (the multinomial MLE).
"""
import symml as sm
from symml.duality import dual, lagrangian, solve_dual
from symml.duality.catalog import dual_derivation

n, K = sm.dims("n K")
R, p = sm.tensor("R", (n, K)), sm.tensor("p", (K,))

problem = lagrangian(sm.sum(R, axis=0) @ sm.log(p), [p], eq={"nu": (sm.sum(p), 1)}, maximize=True)
D = dual(problem)                                        # p(ν) = Rᵀ𝟏/ν
nu = D.variables[0]
optimum = solve_dual(D)                                  # ν = Σ R, p = Rᵀ𝟏 / Σ R

derivation = dual_derivation(
    D, "categorical_mle", [R], kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
    domains={"R": "simplex", "nu": "positive"},
    extra={"mle": optimum[p], "recover_p": D.recover[p]},
    notes={"mle": "p̂ = Rᵀ𝟏 / Σᵢₖ Rᵢₖ, the maximum-likelihood class probabilities (nₖ/N for one-hot R).",
           "recover_p": "p(ν) = Rᵀ𝟏/ν, from ∂L/∂p = 0."},
    title="categorical MLE on the simplex: Lagrange dual, p̂ = nₖ/N",
)
