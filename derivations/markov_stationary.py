"""The stationary distribution of a Markov chain, solved through its (augmented) Lagrangian.

For a row-stochastic transition matrix P (K, K), π is stationary when πP = π and Σπ = 1:

    min ½‖Pᵀπ − π‖² + ½(𝟏ᵀπ − 1)²   s.t.   𝟏ᵀπ = 1   (multiplier ν)

The penalty ½(𝟏ᵀπ − 1)² vanishes on the feasible set (it is the augmented Lagrangian of
Hestenes and Powell, with ρ = 1): it leaves the solution alone and makes the quadratic
strictly convex, so ∂L/∂π = 0 is one linear solve, π(ν) = (1 − ν)M⁻¹𝟏 with
M = (I − P)(I − P)ᵀ + 𝟏𝟏ᵀ, nonsingular for an irreducible chain. The dual's stationarity
𝟏ᵀπ(ν) = 1 (Danskin: ∂q/∂ν is the constraint) gives ν and

    π = M⁻¹𝟏 / 𝟏ᵀM⁻¹𝟏,

the leading left eigenvector of P, normalised (eigenvalue 1, Perron–Frobenius); ν* = 0.

The kernels are the Lagrangian's, over (π, ν): ``grad`` is the KKT residual, ``hessian`` the
KKT matrix [[M, 𝟏], [𝟏ᵀ, 0]]; ``stationary`` is the closed form.

Reference: Nocedal & Wright, Numerical Optimization, §17.3 (augmented Lagrangian); Norris,
Markov Chains, §1.7 (invariant distributions).
"""
import symml as sm
from symml.duality import dual, lagrangian, solve_dual
from symml.duality.catalog import lagrangian_derivation

K = sm.dims("K")
P, pi = sm.tensor("P", (K, K)), sm.tensor("pi", (K,))

residual = P.T @ pi - pi                                 # πP − π, as a column
problem = lagrangian(sm.norm2(residual) / 2 + (sm.sum(pi) - 1) ** 2 / 2, [pi], eq={"nu": (sm.sum(pi), 1)})
D = dual(problem)                                        # π(ν) = (1 − ν) M⁻¹𝟏
nu = D.variables[0]
optimum = solve_dual(D)                                  # π = M⁻¹𝟏 / 𝟏ᵀM⁻¹𝟏

derivation = lagrangian_derivation(
    problem, "markov_stationary", [P], kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
    domains={"P": "simplex"},
    extra={"stationary": optimum[pi], "multiplier": optimum[nu]},
    notes={"stationary": "π = M⁻¹𝟏 / 𝟏ᵀM⁻¹𝟏 with M = (I − P)(I − P)ᵀ + 𝟏𝟏ᵀ: πP = π, Σπ = 1.\n"
                         "P must be row-stochastic and irreducible.",
           "multiplier": "ν*, the dual optimum (0 for a row-stochastic P)."},
    title="stationary distribution πP = π, Σπ = 1, through the Lagrangian",
)
