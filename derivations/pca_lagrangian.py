"""The first principal direction as a constrained maximum: the Lagrangian of max wᵀSw on the sphere.

For a symmetric S (d, d), a covariance matrix,

    max wᵀSw   s.t.   wᵀw = 1   (multiplier λ),     L(w, λ) = wᵀSw − λ(wᵀw − 1)

The KKT conditions are Sw = λw and wᵀw = 1: the stationary points are the unit eigenvectors,
and λ is the eigenvalue. So wᵀSw = λ there, and the maximum is the largest eigenvalue. The
dual makes the same point: sup_w L is finite only where S − λI ⪯ 0, so the dual is
min λ subject to λI ⪰ S, whose optimum is λ_max(S) (strong duality holds for this
non-convex problem: the S-lemma).

The kernels are the Lagrangian's, over (w, λ): ``grad`` is the KKT residual (2(Sw − λw),
1 − wᵀw), zero exactly at the eigenpairs (numpy.linalg.eigh), and ``hessian`` is the KKT matrix.

Reference: Bishop, Pattern Recognition and Machine Learning, §12.1.1 (maximum variance formulation).
"""
import symml as sm
from symml.duality import dual, kkt, lagrangian
from symml.duality.catalog import lagrangian_derivation

d = sm.dims("d")
S, w = sm.tensor("S", (d, d)), sm.tensor("w", (d,))

problem = lagrangian(w @ S @ w, [w], eq={"lam": (w @ w, 1)}, maximize=True, symmetric=[S])
conditions = kkt(problem)                                # Sw = λw, wᵀw = 1
D = dual(problem)                                        # min λ s.t. λI ⪰ S

derivation = lagrangian_derivation(
    problem, "pca_lagrangian", [S], kernels=("loss", "grad", "value_and_grad", "hessian", "hvp"),
    domains={"S": "spd"}, dual=D,
    title="PCA as max wᵀSw s.t. wᵀw = 1: Lagrangian, KKT Sw = λw",
)
