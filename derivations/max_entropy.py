"""Maximum entropy under moment constraints gives the Gibbs (softmax) distribution.

Over K outcomes with features F (K, m) and target moments μ (m,):

    max −Σₖ pₖ log pₖ   s.t.   Σₖ pₖ = 1 (ν),   Fᵀp = μ (θ, m)

∂L/∂p = 0 reads log p + 1 = −(ν + 1 + Fθ) entry by entry, so p = exp(−(ν + 1 + Fθ)); the
dual function is q(ν, θ) = ν + Σₖ exp(−(ν + 1 + Fθ)ₖ) + μᵀθ, to minimise. Its ν is
eliminated in closed form (∂q/∂ν = 1 − Σp = 0), which leaves the log-partition function

    min_θ  q(θ) = μᵀθ + log Σₖ exp(−(Fθ)ₖ),     p = exp(−Fθ) / Σₖ exp(−(Fθ)ₖ) = softmax(−Fθ),

an exponential family, with ∇q(θ) = μ − Fᵀp: moment matching. Strong duality holds
(a concave objective, linear constraints, μ in the relative interior of the moment set).

Reference: Jaynes, Information theory and statistical mechanics (1957); Boyd & Vandenberghe,
Convex Optimization, §5.2.4 (entropy maximization).
"""
import symml as sm
from symml.duality import dual, eliminate, lagrangian
from symml.duality.catalog import dual_derivation

K, m = sm.dims("K m")
F, mu, p = sm.tensor("F", (K, m)), sm.tensor("mu", (m,)), sm.tensor("p", (K,))

problem = lagrangian(-sm.sum(p * sm.log(p)), [p], eq={"nu": (sm.sum(p), 1), "theta": (F.T @ p, mu)},
                     maximize=True)
D = dual(problem)                                        # q(ν, θ), p(ν, θ) = exp(−(ν + 1 + Fθ))
nu, theta = D.variables
gibbs = eliminate(D, nu)                                 # q(θ) = μᵀθ + log Σ exp(−Fθ), p = softmax(−Fθ)

derivation = dual_derivation(
    gibbs, "max_entropy", [F, mu], kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
    domains={"F": "unit"}, extra={"gibbs": gibbs.recover[p], "multiplier_nu": gibbs.eliminated[nu]},
    notes={"hessian": "Cov_p(f) = Fᵀdiag(p)F − (Fᵀp)(Fᵀp)ᵀ; it loses relative accuracy to cancellation where p is\n"
                      "nearly one-hot (|Fθ| of tens).",
           "gibbs": "p(θ) = exp(−Fθ)/Σₖ exp(−(Fθ)ₖ), the maximum-entropy distribution at the dual point θ.",
           "multiplier_nu": "ν(θ) = log Σₖ exp(−(Fθ)ₖ) − 1, the multiplier of Σp = 1."},
    title="maximum entropy s.t. Σp = 1, Fᵀp = μ: Lagrange dual (log-partition function)",
)
