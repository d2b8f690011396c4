"""The least-norm solution of an underdetermined system, through the Lagrange dual.

For X (n, d) with n ≤ d and full row rank,

    min ‖w‖²   s.t.   Xw = y   (multipliers ν, n)

∂L/∂w = 2w + Xᵀν = 0 gives w = −Xᵀν/2; substituted back, the dual is

    max_ν  q(ν) = −¼ νᵀXXᵀν − yᵀν,

unconstrained, whose stationarity gives ν = −2(XXᵀ)⁻¹y and w = Xᵀ(XXᵀ)⁻¹y, the
Moore–Penrose solution X⁺y. Strong duality holds (a feasible convex quadratic problem):
q(ν*) = ‖w*‖². The kernels minimise −q(ν).

Reference: Boyd & Vandenberghe, Convex Optimization, §5.2.4 (least-norm solution of linear equations).
"""
import symml as sm
from symml.duality import dual, lagrangian, solve_dual
from symml.duality.catalog import dual_derivation

n, d = sm.dims("n d")
X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))

problem = lagrangian(sm.norm2(w), [w], eq={"nu": (X @ w, y)})
D = dual(problem)
nu = D.variables[0]
optimum = solve_dual(D)                                  # ν = −2(XXᵀ)⁻¹y, w = Xᵀ(XXᵀ)⁻¹y

derivation = dual_derivation(
    D, "least_norm", [X, y], kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
    extra={"closed_form": optimum[w], "multiplier": optimum[nu], "recover_w": D.recover[w]},
    notes={"closed_form": "w = Xᵀ(XXᵀ)⁻¹y, the least-norm solution of Xw = y (numpy.linalg.pinv(X) @ y).\n"
                          "X must have full row rank (n ≤ d).",
           "multiplier": "ν* = −2(XXᵀ)⁻¹y, the dual optimum.",
           "recover_w": "w = −Xᵀν/2, from ∂L/∂w = 0."},
    title="least-norm solution of Xw = y, Lagrange dual",
)
