"""Gaussian mixture with full covariances: negative log-likelihood, and EM updates derived.

Data X (n, d); K components with weights π = softmax(a), means M (K, d) and precisions
Σ_k⁻¹ = L_k L_kᵀ, L (K, d, d) lower triangular with a positive diagonal (scikit-learn's
``precisions_cholesky_`` is an upper-triangular factor of the same product; the loss holds for either):

    log N(xᵢ | μ_k, Σ_k) = Σ_j log L_kjj − (d/2) log 2π − ½ ‖L_kᵀ(xᵢ − μ_k)‖²
    ℓ_ik = log π_k + log N(xᵢ | μ_k, Σ_k),   L = −Σᵢ logsumexp_k ℓ_ik,   γ_ik = softmax_k(ℓ_i)_k
    ∇_μ_k L = −Σᵢ γ_ik L_k L_kᵀ(xᵢ − μ_k),   ∇_a L = n π − Σᵢ γᵢ   (γ: the responsibilities R)

The gradient w.r.t. L is taken entrywise over the full (K, d, d) array: every entry enters the
quadratic form, so only the lower triangle (with the upper one kept at zero) is meaningful.

EM (Bishop §9.2.2) maximises Q = Σᵢ Σ_k R_ik [log π_k + log N(xᵢ | μ_k, Σ_k)] for fixed R. Q
separates over components; for one, with responsibilities r (n,), mean μ and precision P:
∇_μ = P Σᵢ rᵢ(xᵢ − μ), zero iff Σᵢ rᵢ(xᵢ − μ) = 0 since P is invertible, so its P = I form is
solved entrywise; ∇_P = ½ N P⁻ᵀ − ½ Σᵢ rᵢ(xᵢ − μ̂)(xᵢ − μ̂)ᵀ is linear in P⁻¹ = Σ (``solve_inverse``);
the weights maximise Σ_k N_k log π_k − ν(Σ_k π_k − 1) (a Lagrange multiplier, as in naive Bayes).
The per-component forms are batched over k with ``vmap``:

    π_k = N_k / n,   μ_k = Σᵢ R_ik xᵢ / N_k,   Σ_k = Σᵢ R_ik (xᵢ − μ_k)(xᵢ − μ_k)ᵀ / N_k

``em_step`` is one full iteration from the current parameters: R from them (E-step), then these.

Reference: Bishop, Pattern Recognition and Machine Learning, §9.2; scikit-learn's GaussianMixture.
"""
import symml as sm
from symml.probability import mvn_logpdf, mvn_logpdf_chol, vmap
from symml.reparam import log_priors, precision_factors, random_from_data
from symml.stationarity import solve_inverse

n, d, K = sm.dims("n d K")
X = sm.tensor("X", (n, d))
M, a, L = sm.tensor("M", (K, d)), sm.tensor("a", (K,)), sm.tensor("L", (K, d, d))

ell = sm.let("ell", sm.log_softmax(a) + mvn_logpdf_chol(X, M, L))  # (n, K): ℓ_ik = log π_k N(xᵢ | μ_k, Σ_k)
loss = -sm.sum(sm.logsumexp(ell, axis=1))
R = sm.let("gamma", sm.softmax(ell, axis=1))  # the responsibilities γ_ik; the gradient prints through them

r, mu, P = sm.tensor("r", (n,)), sm.tensor("mu", (d,)), sm.tensor("P", (d, d))
Q_k = sm.sum(r * mvn_logpdf(X, mu, P))
mu_hat = sm.solve_entrywise(sm.grad(sm.substitute(Q_k, {P: sm.eye(d)}), mu), mu)
Sigma_hat = solve_inverse(sm.substitute(sm.grad(Q_k, P), {mu: mu_hat}), P)

Rt, pi, nu = sm.tensor("R", (n, K)), sm.tensor("pi", (K,)), sm.scalar("nu")
lagrangian = sm.sum(Rt * sm.log(pi)) - nu * (sm.sum(pi) - 1)
pi_of_nu = sm.solve_entrywise(sm.grad(lagrangian, pi), pi)  # π_k(ν) = N_k / ν
pi_hat = sm.substitute(pi_of_nu, {nu: sm.solve_scalar(sm.sum(pi_of_nu) - 1, nu)})
M_hat, S_hat = vmap((mu_hat, Sigma_hat), {r: (Rt, 1)})
closed_forms = {"weights": pi_hat, "means": M_hat, "covariances": S_hat}  # given responsibilities R

derivation = sm.Derivation(
    "gaussian_mixture", loss, params=[M, a, L], data=[X],
    kernels=("loss", "grad", "value_and_grad"), domains={"L": "positive"},
    extra={"responsibilities": R,
           "em_step": tuple(sm.substitute(e, {Rt: R}) for e in (pi_hat, M_hat, S_hat))},
    # the loss reads a = log π and L = cholesky(Σ⁻¹); EM starts from K rows of the data
    params_from_solution=lambda weights, means, covs: {"M": means, "a": log_priors(weights), "L": precision_factors(covs)},
    start=lambda data, shapes, rng: random_from_data(data["X"], shapes["a"][0], rng),
    notes={"loss": "L must be lower triangular with a positive diagonal; its upper triangle enters as given.",
           "grad": "The gradient w.r.t. L is entrywise over the full array; only its lower triangle is meaningful.",
           "responsibilities": "R (n, K), R_ik = p(component k | xᵢ): the E-step.",
           "em_step": "One EM iteration from (M, a, L): the E-step R, then the M-step (π, M, Σ) solved from\n"
                      "the stationarity of the expected complete-data log-likelihood. Returns the weights\n"
                      "(K,), means (K, d) and covariances (K, d, d); the next L is cholesky(inv(Σ_k))."},
    title="Gaussian mixture, full covariances: negative log-likelihood and EM step",
)
